"""Issue 27's smaller items, each as a user met it: the library's downloading file, a stale
"No model is loaded", a code fence left open in the Markdown export, a job shown in a cell, a
GPU asked for that the build does not have, a second model that replaces the first, a resume
that showed 0 B, a Compare answer cut at max_tokens, and accuracy rounded one way everywhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from llm_widgets import BatchRun, Chat, Compare, LLMKernelService, LocalLibrary, ModelCard
from llm_widgets.engines.gguf import gpu_note
from llm_widgets.jobs import BatchJob, CompareJob, DownloadJob, GenerationJob, LoadJob
from llm_widgets.testing import LocalHub, capture_messages, send_from_frontend, wait_until
from llm_widgets.testing.tiny_gguf import CHATML_TEMPLATE, write_tiny_gguf
from llm_widgets.widgets.chat._transcript import close_fences

REPO = "acme/tiny-GGUF"
FILE = "tiny.Q8_0.gguf"
MB = 1_000_000


def _notices(sent: list[tuple[float, dict[str, Any]]]) -> list[str]:
    return [m["text"] for _, m in sent if m.get("type") == "notice"]


# -- a. the library: a file that is downloading ----------------------------------------------------


def test_a_downloading_file_shows_as_downloading_and_a_refusal_is_said_once(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(4 * MB))
    local_hub.faults.throttle_bps = 200_000  # ~20 s: it is still downloading while we look
    library = LocalLibrary(service=service)
    sent = capture_messages(library)
    job = service.start_download(REPO, FILE)
    try:
        wait_until(lambda: job.bytes_done > 0, what="the download's first bytes")

        def row() -> dict[str, Any] | None:
            return next((m for m in library.models if m["filename"] == FILE), None)

        library.refresh()  # a scan while it downloads: its partial is on disk
        wait_until(
            lambda: (r := row()) is not None and r["downloading"], what="the row as downloading"
        )
        shown = row()
        assert shown is not None and not shown["stale"] and shown["partial"]
        assert library.local[0]["downloading"] is True  # what the view gets
        wait_until(
            lambda: (r := row()) is not None and r["bytes_done"] > shown["bytes_done"],
            what="the row's bytes following the transfer",
        )

        send_from_frontend(
            library, {"type": "discard", "repo_id": REPO, "filename": FILE, "request_id": "d1"}
        )
        assert "while it is downloading" in library.error
        refusals = [t for t in _notices(sent) if "while it is downloading" in t]
        assert refusals == [], "the refusal is on the error line only, not again as a notice"
        acks = [m for _, m in sent if m.get("type") == "ack"]
        assert acks and acks[-1]["ok"] is False
    finally:
        job.cancel()
        job.join(30)
    wait_until(
        lambda: (r := row()) is not None and not r["downloading"] and r["partial"],
        what="the cancelled download's partial, for Resume / Discard",
    )
    library.close()


# -- b. the Chat: "No model is loaded" goes once a model is ----------------------------------------


def test_a_stale_no_model_error_goes_when_a_model_loads(svc: LLMKernelService, tiny: Path) -> None:
    chat = Chat(svc)
    capture_messages(chat)
    send_from_frontend(chat, {"type": "send", "text": "hello?", "request_id": "r1"})
    assert chat.error.startswith("No model is loaded")
    svc.load_model(tiny, n_ctx=512).wait(60)
    wait_until(lambda: chat.error == "", what="the stale error cleared by the load")
    chat.close()


def test_another_error_stays_when_a_model_loads(svc: LLMKernelService, tiny: Path) -> None:
    chat = Chat(svc)
    chat.error = "The generation failed."
    svc.load_model(tiny, n_ctx=512).wait(60)
    assert chat.error == "The generation failed."
    chat.close()


# -- c. Markdown export: a cut code block is closed ------------------------------------------------


def test_an_answer_cut_inside_a_code_block_is_closed_in_the_markdown(svc: LLMKernelService) -> None:
    cut = "Here:\n\n```python\ndef f():\n    return 1"
    chat = Chat(
        svc,
        messages=[
            {"role": "user", "content": "code?"},
            {"role": "assistant", "content": cut},
            {"role": "user", "content": "thanks"},
            {"role": "assistant", "content": "You're welcome."},
        ],
    )
    text = chat.to_markdown()
    assert text.count("```") == 2  # opened and closed
    before, after = text.split("return 1", 1)
    assert after.lstrip("\n").startswith("```") and "**User:**" in after
    chat.close()


@pytest.mark.parametrize(
    ("text", "closed"),
    [
        ("a\n```\nb", "a\n```\nb\n```"),
        ("~~~~\n```\nx\n~~~", "~~~~\n```\nx\n~~~\n~~~~"),  # a shorter fence does not close
        ("```js\nx\n```\n\ntext", "```js\nx\n```\n\ntext"),  # already closed
        ("````\n```\n", "````\n```\n\n````"),
        ("inline ```code``` only", "inline ```code``` only"),
        ("  ```\nindented fence", "  ```\nindented fence\n```"),
    ],
)
def test_close_fences(text: str, closed: str) -> None:
    assert close_fences(text) == closed


# -- d. a job shown in a cell ----------------------------------------------------------------------


def test_a_batch_job_in_a_cell_says_how_far_it_got() -> None:
    job = BatchJob(list(range(240)))
    job._state = "running"
    job.completed, job.errors = 12, {3: "bad", 7: "worse"}
    shown = repr(job)
    assert shown.startswith("BatchJob(running, 12/240 items, 5%, 2 errors"), shown
    assert f"id={job.id}" in shown


def test_other_jobs_in_a_cell_say_how_far_they_got() -> None:
    download = DownloadJob(REPO, FILE, None)
    download._state, download.bytes_done, download.bytes_total = "running", 250 * MB, 1000 * MB
    assert repr(download).startswith(f"DownloadJob(running, {REPO}/{FILE}, 250.0 MB of 1.0 GB, 25%")
    load = LoadJob("/models/tiny.gguf")
    load._state, load.load_progress = "running", 40.0
    assert repr(load).startswith("LoadJob(running, tiny.gguf, 40%")
    answer = GenerationJob("chat", [], {})
    answer._state, answer.error = "failed", "The model ran out of context.\nmore"
    assert repr(answer).startswith("GenerationJob(failed, chat, 0 characters, error: The model")
    compare = CompareJob(["a", "b"], ["p1", "p2", "p3"])
    compare._state = "running"
    compare.answers[0][0].state = "done"
    assert repr(compare).startswith("CompareJob(running, 3 prompts x 2 models, 1/6 answers, 16%")


# -- e. n_gpu_layers on a build without a GPU ------------------------------------------------------


def test_gpu_note_says_what_was_asked() -> None:
    assert gpu_note(99, gpu=False) == (
        "n_gpu_layers=99 asked, but this llama.cpp build has no GPU: running on the CPU"
    )
    assert gpu_note(99, gpu=True) == gpu_note(None, gpu=False) == gpu_note(0, gpu=False) == ""


def _gpu_build() -> bool:
    from llm_widgets.engines.choice import resolve_engine

    if resolve_engine("auto") == "xllamacpp":
        from llm_widgets.engines.xllamacpp import can_offload

        return can_offload()
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


@pytest.fixture
def two_models(service: LLMKernelService, local_hub: LocalHub, tmp_path: Path) -> list[ModelCard]:
    """Two tiny models downloaded, a card each."""
    cards = []
    for seed, name in enumerate(("first.Q8_0.gguf", "second.Q8_0.gguf")):
        path = write_tiny_gguf(tmp_path / name, seed=seed, chat_template=CHATML_TEMPLATE)
        local_hub.add_file(REPO, name, path.read_bytes())
        service.start_download(REPO, name).wait(30)
        cards.append(ModelCard(REPO, name, service=service, n_ctx=256))
    return cards


def test_a_gpu_asked_for_on_a_cpu_build_is_said_on_the_card(
    service: LLMKernelService, two_models: list[ModelCard]
) -> None:
    if _gpu_build():
        pytest.skip("this llama.cpp build has a GPU: n_gpu_layers is followed")
    card = two_models[0]
    sent = capture_messages(card)
    job = card.load_model(n_gpu_layers=99)
    facts = job.wait(60)
    note = "n_gpu_layers=99 asked, but this llama.cpp build has no GPU: running on the CPU"
    assert facts.gpu_note == note and facts.gpu_layers == 0
    assert card.model_info["gpu_note"] == note  # the view shows it under the facts
    assert any(note in n for n in job.notes) and note in repr(job)
    assert any(note in t for t in _notices(sent))
    # a new context of it asks the same again (and says so); another model, asked nothing, not
    assert service.create_context(n_ctx=128).gpu_note == note
    assert two_models[1].load_model().wait(60).gpu_note == ""


# -- f. a second model replaces the first: said ----------------------------------------------------


def test_loading_a_second_model_says_the_first_was_unloaded(
    service: LLMKernelService, two_models: list[ModelCard]
) -> None:
    first, second = two_models
    first_sent, second_sent = capture_messages(first), capture_messages(second)
    first.load_model().wait(60)
    assert first.load_status == "loaded"
    job = second.load_model()
    job.wait(60)
    assert job.replaced == "first.Q8_0.gguf"
    assert job.notes == ["Unloaded first.Q8_0.gguf to load second.Q8_0.gguf."]
    wait_until(lambda: first.load_status == "unloaded", what="the first card unloaded")
    assert "first.Q8_0.gguf was unloaded to load second.Q8_0.gguf" in _notices(first_sent)
    assert "Unloaded first.Q8_0.gguf to load second.Q8_0.gguf." in _notices(second_sent)
    # the first load replaced nothing and says nothing of it
    assert not any("Unloaded" in t for t in _notices(first_sent))


# -- g. a resume shows the bytes on disk from the start -------------------------------------------


def test_a_resume_never_shows_zero_bytes(service: LLMKernelService, local_hub: LocalHub) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(3 * MB))
    local_hub.faults.throttle_bps = 1 * MB
    card = ModelCard(REPO, FILE, service=service)
    capture_messages(card)
    card.start_download()
    wait_until(lambda: card.bytes_done > 300_000, what="some bytes before the cancel")
    card.cancel_download()
    wait_until(lambda: card.status == "cancelled", what="the cancel")
    kept = card.bytes_done
    assert kept > 0
    seen: list[tuple[str, int]] = []
    card.observe(lambda change: seen.append((card.status, change["new"])), "bytes_done")
    local_hub.faults.throttle_bps = None
    card.start_download().wait(30)
    assert card.status == "done"
    shown_while_resuming = [b for status, b in seen if status in ("queued", "running")]
    assert 0 not in shown_while_resuming, seen


# -- h. Compare: a cut answer is marked ------------------------------------------------------------


def test_a_compare_answer_cut_at_max_tokens_is_marked(svc: LLMKernelService, tiny: Path) -> None:
    job = svc.compare([tiny], ["Say a long thing"], max_tokens=2, temperature=0.0, cache=False)
    job.wait(120)
    assert job.answers[0][0].stop_reason == "length"
    grid = Compare(job=job, service=svc)
    wait_until(lambda: grid.cells and grid.cells[0][0]["state"] == "done", what="the cell done")
    assert grid.cells[0][0]["cut"] is True
    grid.close()


# -- i. accuracy: one rounding rule ----------------------------------------------------------------


def test_accuracy_reads_the_same_in_the_widget_and_when_printed(svc: LLMKernelService) -> None:
    reviews = [{"text": f"review {i}", "label": "positive"} for i in range(40)]
    job = BatchJob(reviews)
    answers = ["positive"] * 33 + ["negative"] * 7  # 82.5 %: the rounding decides
    job.texts, job.results = list(answers), list(answers)
    job.completed = 40
    job._state = "done"
    run = BatchRun(job, expected="label", service=svc)
    wait_until(lambda: run.correct == 33, what="the run shown")
    printed = (
        f"{sum(a == r['label'] for a, r in zip(answers, reviews, strict=True)) / len(reviews):.0%}"
    )
    assert run.accuracy_text == f"33 of 40 right ({printed})" == "33 of 40 right (82%)"
    assert run.accuracy == 33 / 40 and "33 of 40 right (82%)" in repr(run)
    run.close()
