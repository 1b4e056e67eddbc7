"""A model says what it cannot do: an embedding model is refused for chat and completion with a
clear message, before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy
import pytest
from harness.services import running_service

from llm_widgets import Chat, LLMKernelService
from llm_widgets.demo import packaged_model_path
from llm_widgets.errors import ModelFileError
from llm_widgets.testing import capture_messages
from llm_widgets.testing.gguf_copy import copy_gguf


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2 with a pooling type (mean) in its GGUF: what an embedding export of it looks
    like (Qwen3-Embedding is qwen3 with `pooling_type` in the same place)."""
    return copy_gguf(
        packaged_model_path(),
        tmp_path_factory.mktemp("embedder") / "smollm2-embed.gguf",
        metadata={"llama.pooling_type": numpy.uint32(1)},
        name="SmolLM2 embed copy",
    )


@pytest.fixture(scope="module")
def loaded(
    engine: str, embedder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LLMKernelService]:
    with running_service(cache_dir=tmp_path_factory.mktemp("hf-cache")) as service:
        service.load_model(embedder, n_ctx=512).wait(120)
        yield service


def test_an_embedding_model_says_so(loaded: LLMKernelService) -> None:
    facts = loaded.model
    assert facts is not None and facts.embedding and "embedding model" in facts.chat_format


@pytest.mark.parametrize("mode", ["chat", "completion"])
def test_an_embedding_model_is_refused_for_text(loaded: LLMKernelService, mode: str) -> None:
    job = (
        loaded.generate_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=4)
        if mode == "chat"
        else loaded.generate_completion("Once upon a time", max_tokens=4)
    )
    with pytest.raises(ModelFileError, match="SmolLM2 embed copy is an embedding model"):
        job.wait(60)
    assert job.state == "failed" and "500" not in (job.error or "") and job.text == ""


def test_the_chat_says_it_before_the_first_message(loaded: LLMKernelService) -> None:
    chat = Chat(loaded)
    assert "embedding model" in chat.model_note and "cannot chat" in chat.model_note
    chat.close()


def test_think_on_a_model_that_cannot_think_says_so(loaded: LLMKernelService) -> None:
    smollm2 = loaded  # (one service per module: the embedding copy makes way)
    smollm2.load_model(packaged_model_path(), n_ctx=2048).wait(120)
    asked = [{"role": "user", "content": "Hi"}]
    job = smollm2.generate_chat_completion(asked, think=True, max_tokens=4, temperature=0.0)
    job.wait(60)
    assert job.state == "done" and len(job.notes) == 1
    assert "cannot think" in job.notes[0] and "think=True" in job.notes[0]
    plain = smollm2.generate_chat_completion(asked, max_tokens=4, temperature=0.0)
    plain.wait(60)
    assert plain.notes == []  # nothing asked, nothing said
    chat = Chat(smollm2, think=True)
    try:
        sent = capture_messages(chat)
        chat.send("Hi").wait(60)
        notices = [m for _, m in sent if m.get("type") == "notice"]
        assert any(n["level"] == "info" and "cannot think" in n["text"] for n in notices), sent
    finally:
        chat.close()
