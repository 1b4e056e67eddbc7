"""Thinking models: reasoning split from the answer on every engine and server, kept out of the
history, `think=` on / off, structured output with thinking off, the GGUF's sampling defaults,
and a base model without a chat template. Real llama.cpp on copies of SmolLM2 (written with
`gguf`, with a thinking chat template), llama-cpp-python's real server, and, for the one shape
no real server here emits (`delta.reasoning`), a stand-in speaking the real SSE wire format."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from harness.services import running_service

from llm_widgets import Chat, LLMKernelService
from llm_widgets._types import Thinking
from llm_widgets.demo import packaged_model_path
from llm_widgets.engines._chunks import DeltaReader
from llm_widgets.engines._thinking import ThinkSplitter, split_content
from llm_widgets.testing import capture_messages, wait_until
from llm_widgets.testing.gguf_copy import (
    OPENS_THINKING_TEMPLATE,
    QWEN3_STYLE_TEMPLATE,
    copy_gguf,
)
from llm_widgets.testing.openai_server import ServerFactory, _free_port

THOUGHT = "Three plus three is six."
# SmolLM2 made to think first: the grammar writes the think block, then a short answer
THINK_GRAMMAR = f'root ::= "<think>{THOUGHT}</think>" "It is " [a-z]{{2,8}} "."\n'
QUESTION = [{"role": "user", "content": "What is 3+3?"}]


def _split(text: str, size: int, **kw: Any) -> tuple[str, str]:
    splitter, pieces = ThinkSplitter(**kw), []
    for i in range(0, len(text), size):
        pieces += splitter.feed(text[i : i + size])
    pieces += splitter.finish()
    thinking = "".join(p for p in pieces if isinstance(p, Thinking))
    return thinking, "".join(p for p in pieces if not isinstance(p, Thinking))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize(
    ("text", "opened", "thinking", "answer"),
    [
        ("<think>\nSix, surely.\n</think>\n\nIt is six.", False, "Six, surely.\n", "It is six."),
        ("Six, surely.</think>\n\nIt is <b>six</b>.", True, "Six, surely.", "It is <b>six</b>."),
        ("No thinking; a < b and a <thin line.", False, "", "No thinking; a < b and a <thin line."),
        (
            "<|channel|>analysis<|message|>Add them.<|end|>"
            "<|start|>assistant<|channel|>final<|message|>It is 6.<|return|>",
            False,
            "Add them.",
            "It is 6.",
        ),
    ],
    ids=["think-block", "opened-by-template", "no-thinking", "harmony"],
)
def test_thinking_is_split_from_the_answer_at_any_chunk_boundary(
    text: str, opened: bool, thinking: str, answer: str, size: int
) -> None:
    assert _split(text, size, thinking=opened) == (thinking, answer)


def test_reasoning_deltas_of_both_shapes_become_thinking() -> None:
    reader = DeltaReader(chat=True)
    pieces = []
    for delta in (
        {"reasoning_content": "Hmm, "},
        {"reasoning": "six."},
        {"reasoning_content": "x", "reasoning": "x"},  # a server sending both: once
        {"content": "It is six."},
    ):
        pieces += reader.feed({"delta": delta, "finish_reason": None})
    assert [(type(p).__name__, p) for p in pieces] == [
        ("Thinking", "Hmm, "),
        ("Thinking", "six."),
        ("Thinking", "x"),
        ("str", "It is six."),
    ]


def test_stored_thinking_is_split_out_of_content() -> None:
    assert split_content("<think>I recall.</think>\n\nParis.") == ("Paris.", "I recall.")
    assert split_content("I recall.</think>Paris.") == ("Paris.", "I recall.")
    assert split_content("1 < 2") == ("1 < 2", "")


# -- real engines -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def thinking_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2 with a Qwen3-style thinking template and the model's own sampling defaults."""
    folder = tmp_path_factory.mktemp("thinking")
    return copy_gguf(
        packaged_model_path(),
        folder / "smollm2-thinking.gguf",
        chat_template=QWEN3_STYLE_TEMPLATE,
        metadata={"general.sampling.temp": 0.25, "general.sampling.top_k": 7},
        name="SmolLM2 thinking copy",
    )


@pytest.fixture
def svc(svc: LLMKernelService, engine: str) -> LLMKernelService:
    """conftest's service, its models loaded on each in-kernel engine in turn (xllamacpp:
    llama.cpp's own reasoning parser; llama-cpp-python: ours)."""
    return svc


@pytest.fixture
def lcp(svc: LLMKernelService, monkeypatch: pytest.MonkeyPatch) -> LLMKernelService:
    """conftest's service, for what only the llama-cpp-python engine does (it renders the
    template)."""
    monkeypatch.setenv("LLM_WIDGETS_ENGINE", "llama-cpp-python")
    return svc


def test_local_engine_splits_thinking_and_keeps_it_out_of_text(
    svc: LLMKernelService, thinking_gguf: Path
) -> None:
    facts = svc.load_model(thinking_gguf, n_ctx=1024).wait(120)
    assert facts.can_think and facts.sampling_defaults == {"temperature": 0.25, "top_k": 7}
    chunks: list[str] = []
    svc.on_completion_chunk(lambda job, piece: chunks.append(piece))
    job = svc.generate_chat_completion(QUESTION, grammar=THINK_GRAMMAR, max_tokens=40)
    answer = job.wait(120)
    svc.events.flush()
    assert job.reasoning == THOUGHT and answer.startswith("It is ") and "<think" not in answer
    assert list(job) == [p for p in chunks if not isinstance(p, Thinking)]
    assert "".join(p for p in chunks if isinstance(p, Thinking)) == THOUGHT
    assert job.stats is not None and job.stats.reasoning_tokens >= 3
    assert 0 < job.stats.reasoning_seconds < job.stats.total_time


def test_think_switch_reaches_the_template_and_history_stays_clean(
    lcp: LLMKernelService, thinking_gguf: Path
) -> None:
    """think=False renders the template's empty think block; an earlier turn's thinking goes
    to the template as reasoning_content (it reads it), never inside content."""
    lcp.load_model(thinking_gguf, n_ctx=1024).wait(120)
    engine: Any = lcp._models.require_engine()
    seen: list[str] = []
    template = engine._template
    original = template.formatter

    def spy(**kwargs: Any) -> Any:
        result = original(**kwargs)
        seen.append(result.prompt)
        return result

    template.formatter = spy
    history = QUESTION + [
        {"role": "assistant", "content": "<think>Easy sum.</think>It is six."},
        {"role": "user", "content": "And 4+4?"},
    ]
    lcp.generate_chat_completion(history, think=False, max_tokens=4).wait(120)
    lcp.generate_chat_completion(history, max_tokens=4).wait(120)
    off, default = seen
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert default.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>assistant\nIt is six.<|im_end|>" in default  # no thinking in content
    assert "Easy sum." not in default  # the template shows it only after the last user turn
    with pytest.raises(ValueError, match="think must be"):
        lcp.generate_chat_completion(QUESTION, think="very")


def test_template_that_opens_think_starts_the_output_inside_it(
    lcp: LLMKernelService, tmp_path: Path
) -> None:
    """Our parser's case (llama-cpp-python passes the text raw); on xllamacpp, llama.cpp's own
    parser knows the real templates that do this (DeepSeek-R1's)."""
    path = copy_gguf(
        packaged_model_path(), tmp_path / "r1.gguf", chat_template=OPENS_THINKING_TEMPLATE
    )
    lcp.load_model(path, n_ctx=1024).wait(120)
    grammar = f'root ::= "{THOUGHT}</think>" "It is six."\n'
    job = lcp.generate_chat_completion(QUESTION, grammar=grammar, max_tokens=40)
    assert job.wait(120) == "It is six." and job.reasoning == THOUGHT


def test_structured_output_runs_with_thinking_off(
    svc: LLMKernelService, thinking_gguf: Path
) -> None:
    svc.load_model(thinking_gguf, n_ctx=1024).wait(120)
    job = svc.generate_chat_completion(QUESTION, choices=["six", "seven"])
    job.wait(120)
    assert job.value in ("six", "seven") and job.reasoning == ""
    with pytest.raises(ValueError, match="thinking off"):
        svc.generate_chat_completion(QUESTION, choices=["six"], think=True)
    batch = svc.map(["1+1?", "2+2?"], choices=["two", "four"], cache=False)
    assert all(v in ("two", "four") for v in batch.wait(120))


def test_model_sampling_defaults_apply_unless_set(
    svc: LLMKernelService, thinking_gguf: Path, engine: str
) -> None:
    svc.load_model(thinking_gguf, n_ctx=1024).wait(120)
    backend: Any = svc._models.require_engine()
    sent: list[dict[str, Any]] = []
    if engine == "llama-cpp-python":
        create = backend._llm.create_chat_completion

        def spy(messages: Any, **kwargs: Any) -> Any:
            sent.append(kwargs)
            return create(messages, **kwargs)

        backend._llm.create_chat_completion = spy
    else:  # what goes to llama.cpp's server
        request = backend._client._request

        def spy(mode: str, params: dict[str, Any]) -> Any:
            body = request(mode, params)
            sent.append({**body, **body["extra_body"]})
            return body

        backend._client._request = spy
    svc.generate_chat_completion(QUESTION, max_tokens=2).wait(120)
    svc.generate_chat_completion(QUESTION, max_tokens=2, temperature=0.9, think=False).wait(120)
    assert (sent[0]["temperature"], sent[0]["top_k"]) == (0.25, 7)
    assert (sent[1]["temperature"], sent[1]["top_k"]) == (0.9, 7)  # the user's value wins
    if engine == "xllamacpp":  # think= reaches llama.cpp's template as its kwargs
        assert "chat_template_kwargs" not in sent[0]
        assert sent[1]["chat_template_kwargs"] == {"enable_thinking": False}
    chat = Chat(svc, top_p=0.5)
    assert chat.model_defaults == {"temperature": 0.25, "top_k": 7}
    assert chat.temperature == 0.25 and chat.top_p == 0.5  # set by the user: kept


def test_chat_keeps_thinking_beside_the_answer_live_and_restored(
    svc: LLMKernelService, thinking_gguf: Path
) -> None:
    svc.load_model(thinking_gguf, n_ctx=1024).wait(120)
    chat = Chat(svc, generation_params={"grammar": THINK_GRAMMAR})
    sent = capture_messages(chat)
    svc.events.flush()
    assert chat.can_think
    answer = chat.send("What is 3+3?").wait(120)
    svc.events.flush()
    assert chat.messages[-1] == {
        "role": "assistant",
        "content": answer,
        "reasoning_content": THOUGHT,
    }
    chunks = [m for _, m in sent if m["type"] == "chunk"]
    assert "".join(m.get("thinking", "") for m in chunks) == THOUGHT
    assert "".join(m["text"] for m in chunks) == answer
    assert chat.last_stats["reasoning_seconds"] > 0
    assert "<details><summary>Thought</summary>" in chat.to_markdown()
    # the next turn sends the thinking only as reasoning_content
    job = chat.send("And 4+4?")
    job.wait(120)
    assert all("<think>" not in m["content"] for m in job.request)
    restored = Chat(
        svc, messages=[QUESTION[0], {"role": "assistant", "content": "<think>Hm.</think>Six."}]
    )
    assert restored.messages[-1] == {
        "role": "assistant",
        "content": "Six.",
        "reasoning_content": "Hm.",
    }


def test_base_model_without_template_says_so_and_chat_offers_completion(
    svc: LLMKernelService, tmp_path: Path
) -> None:
    path = copy_gguf(packaged_model_path(), tmp_path / "base.gguf", chat_template=None)
    facts = svc.load_model(path, n_ctx=1024).wait(120)
    assert not facts.has_chat_template and "no chat template" in facts.chat_format
    chat = Chat(svc)
    assert "no chat template" in chat.model_note and "use completion" in chat.model_note
    chat.mode, chat.max_tokens = "completion", 8
    job = chat.send("The capital of France is")
    job.wait(120)
    assert job.mode == "completion" and job.request == "The capital of France is"


# -- servers ----------------------------------------------------------------------------------


def test_remote_think_tags_are_split_and_think_is_sent(
    lcp: LLMKernelService, llama_server: ServerFactory, thinking_gguf: Path
) -> None:
    """llama-cpp-python's server passes `<think>` through in the text; `think=` goes out as
    chat_template_kwargs / reasoning_effort (the server accepts the fields)."""
    lcp.connect(llama_server(thinking_gguf).base_url)
    job = lcp.generate_chat_completion(QUESTION, grammar=THINK_GRAMMAR, max_tokens=40, think="low")
    answer = job.wait(120)
    assert job.reasoning == THOUGHT and answer.startswith("It is ") and "<" not in answer


class _ReasoningServer(ThreadingHTTPServer):
    """A stand-in for vLLM >= 0.10 / Ollama: `delta.reasoning` in a real SSE stream."""

    requests: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    server: _ReasoningServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # /v1/models
        self._json({"object": "list", "data": [{"id": "thinker", "object": "model"}]})

    def do_POST(self) -> None:  # /v1/chat/completions, streamed
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        deltas = [{"role": "assistant", "content": ""}, {"reasoning": "Three plus "}]
        deltas += [{"reasoning": "three."}, {"content": "It is "}, {"content": "six."}]
        for i, delta in enumerate(deltas):
            finish = "stop" if i == len(deltas) - 1 else None
            chunk = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "thinker",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_delta_reasoning_lands_in_job_reasoning(lcp: LLMKernelService) -> None:
    stand_in = _ReasoningServer(("127.0.0.1", _free_port()), _Handler)
    stand_in.requests = []
    thread = threading.Thread(target=stand_in.serve_forever, daemon=True)
    thread.start()
    try:
        lcp.connect(f"http://127.0.0.1:{stand_in.server_address[1]}/v1")
        history = QUESTION + [
            {"role": "assistant", "content": "<think>Old.</think>Six."},
            {"role": "user", "content": "Sure?"},
        ]
        job = lcp.generate_chat_completion(history, think=True)
        assert job.wait(30) == "It is six." and job.reasoning == "Three plus three."
        body = stand_in.requests[-1]
        assert body["chat_template_kwargs"] == {"enable_thinking": True}
        assert body["messages"][1] == {"role": "assistant", "content": "Six."}
        lcp.generate_chat_completion(QUESTION, think="high").wait(30)
        assert stand_in.requests[-1]["reasoning_effort"] == "high"
    finally:
        lcp.disconnect()
        stand_in.shutdown()
        stand_in.server_close()


def test_stop_is_prompt_while_the_model_writes_bytes_that_do_not_decode(
    lcp: LLMKernelService, tmp_path: Path
) -> None:
    """A tiny random model under a GGUF chat template writes bytes that stay undecoded for many
    tokens (no chunk comes): Stop is checked after every token all the same."""
    from llm_widgets.testing.tiny_gguf import write_tiny_gguf

    model = write_tiny_gguf(
        tmp_path / "t.gguf", n_ctx=4096, chat_template=QWEN3_STYLE_TEMPLATE, n_embd=128, n_layer=3
    )
    lcp.load_model(model).wait(60)
    job = lcp.generate_chat_completion(
        [{"role": "user", "content": "Hello there"}], max_tokens=4000
    )
    wait_until(lambda: job.state == "running", timeout=60, what="the generation job running")
    time.sleep(1)  # tokens are being generated
    job.cancel()
    assert job.join(60), "Stop waited for text that never came"
    assert job.state == "cancelled" and job.stop_reason == "aborted"


@pytest.mark.engine_only("xllamacpp")
def test_a_llama_cpp_servers_sampling_defaults_apply_unless_set(
    tmp_path: Path, thinking_gguf: Path
) -> None:
    """On a server, the model's defaults are what llama.cpp's server reports (/props: the GGUF's
    own, the server's for the rest); the Chat shows them and samples with them."""
    from llm_widgets.engines.xllamacpp import XllamacppEngine

    with running_service(cache_dir=tmp_path / "cache") as svc:
        server = XllamacppEngine()  # llama.cpp's own server, on 127.0.0.1 with a key
        server.load(thinking_gguf, n_ctx=1024)
        key = server._http.headers["authorization"].removeprefix("Bearer ")
        try:
            facts = svc.connect(f"{server._http.base_url}/v1", api_key=key)
            assert facts.sampling_defaults["temperature"] == 0.25
            assert facts.sampling_defaults["top_k"] == 7
            assert facts.sampling_defaults["top_p"] == 0.95  # the server's own default
            chat = Chat(svc)
            assert chat.model_defaults == facts.sampling_defaults and chat.temperature == 0.25
            job = chat.send("Hi")
            job.wait(120)
            assert job.state == "done"
            svc.disconnect()
        finally:
            server.unload()
