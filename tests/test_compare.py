"""Comparisons (`service.compare`, the Compare widget) on real models: the packaged SmolLM2 and a
second GGUF written here, in the kernel one after the other, and SmolLM2 on llama-cpp-python's
server; the model loaded before comes back, Stop then the same call resumes from the cache, a
failing model or prompt is recorded, blind picks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas
import pytest

from llm_widgets import Compare, LLMKernelService, ServerModel
from llm_widgets.demo import packaged_model_path
from llm_widgets.engines.openai_compat import server_name
from llm_widgets.testing import send_from_frontend, wait_until
from llm_widgets.testing.gguf_copy import copy_gguf
from llm_widgets.testing.holds import NEVER_ENDS
from llm_widgets.testing.openai_server import ServerFactory, _free_port
from llm_widgets.testing.tiny_gguf import write_not_gguf

PROMPTS = ["What is the capital of France?", "Name a colour.", "Say hello."]
COLUMNS = [
    "prompt",
    "model",
    "text",
    "value",
    "completion_tokens",
    "ttft",
    "tokens_per_second",
    "error",
]
KEY = "sk-compare-5d1e9a"


@pytest.fixture(scope="module")
def smol() -> str:
    return str(packaged_model_path())


def test_every_model_answers_every_prompt_and_the_model_before_comes_back(
    svc: LLMKernelService, smol: str, tiny: Path, tmp_path: Path
) -> None:
    svc.load_model(tiny, n_ctx=1024).wait(60)
    bad = write_not_gguf(tmp_path / "broken.gguf")
    job = svc.compare([smol, tiny, bad], PROMPTS, max_tokens=8, temperature=0.0, cache=False)
    results = job.wait(300)
    assert job.state == "done" and job.progress == 100.0
    assert len(results) == 3 and all(len(row) == 3 for row in results)
    assert all(isinstance(row[0], str) and row[0] for row in results)  # SmolLM2
    assert all(isinstance(row[1], str) for row in results)  # the tiny model
    assert all(row[2] is None for row in results)  # the broken file: recorded, the rest went on
    assert set(job.errors) == {(i, 2) for i in range(3)} and job.models[2] == "broken"
    assert svc.is_loaded(tiny) and svc.model is not None and svc.model.n_ctx == 1024

    table = job.to_pandas()
    assert list(table.columns) == COLUMNS and len(table) == 9
    answered = table[table.error.isna()]
    assert len(answered) == 6 and (answered.completion_tokens > 0).all()
    assert (answered.tokens_per_second > 0).all() and (answered.ttft > 0).all()
    assert list(table.model[:3]) == job.models and job.models[1:] == ["tiny", "broken"]
    summary = job.summary()
    assert [s["failed"] for s in summary] == [0, 0, 3] and summary[0]["tokens_per_second"] > 0


def test_stop_then_the_same_call_goes_on_from_the_cache(
    svc: LLMKernelService, smol: str, tiny: Path, tmp_path: Path
) -> None:
    prompts = [f"Write a sentence about the number {n}." for n in range(6)]
    run: dict[str, Any] = dict(max_tokens=16, temperature=0.0, cache=tmp_path / "cache")
    first = svc.compare([smol, tiny], prompts, **run)
    wait_until(lambda: sum(r[0] is not None for r in first.results) >= 2, timeout=120)
    first.cancel()
    first.wait(60)
    assert first.state == "cancelled"
    done = sum(a is not None for row in first.results for a in row)
    assert 2 <= done < 12
    assert svc.model is None  # nothing was loaded before: nothing stays loaded, after a Stop too

    second = svc.compare([smol, tiny], prompts, **run)
    results = second.wait(300)
    assert second.reused == done and not second.errors
    assert all(a is not None for row in results for a in row)
    reused = [a for row in second.answers for a in row if a.reused]
    assert all(a.completion_tokens > 0 and a.tokens_per_second for a in reused)  # figures kept
    assert svc.model is None


def test_choices_with_a_label_column_give_an_agreement(
    svc: LLMKernelService, smol: str, tiny: Path
) -> None:
    frame = pandas.DataFrame(
        {
            "text": ["I love it, wonderful!", "Awful, it broke at once."],
            "label": ["positive", "negative"],
        }
    )
    job = svc.compare(
        [smol, tiny],
        frame,
        prompt="Is this review positive or negative? {text}",
        choices=["positive", "negative"],
        label="label",
        temperature=0.0,
        cache=False,
    )
    results = job.wait(120)
    assert all(v in ("positive", "negative") for row in results for v in row)
    for s in job.summary():
        hits = [
            row[job.models.index(s["model"])] == lab
            for row, lab in zip(results, frame.label, strict=True)
        ]
        assert s["agreement"] == sum(hits) / 2
    assert job.to_pandas().prompt.iloc[0].endswith("I love it, wonderful!")


def test_a_models_own_sampling_defaults_apply_unless_set(
    svc: LLMKernelService, tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a Chat or map(): where the call sets nothing, each answer samples with the
    model's own defaults (its GGUF's); a structured answer is asked for as one."""
    tuned = copy_gguf(
        tiny,
        tmp_path / "tuned.gguf",
        metadata={"general.sampling.temp": 0.25, "general.sampling.top_k": 7},
    )
    facts = svc.load_model(tuned).wait(60)  # the comparison's load re-uses this engine
    assert facts.sampling_defaults == {"temperature": 0.25, "top_k": 7}
    engine: Any = svc._models.require_engine()
    sent: list[dict[str, Any]] = []
    stream_chat = engine.stream_chat

    def spy(messages: Any, **params: Any) -> Any:
        sent.append(params)
        return stream_chat(messages, **params)

    monkeypatch.setattr(engine, "stream_chat", spy)
    first = svc.compare([tuned], ["Say hello."], max_tokens=2, cache=False)
    assert first.wait(60) and not first.errors
    svc.compare(
        [tuned], ["Yes or no?"], choices=["yes", "no"], temperature=0.9, max_tokens=4, cache=False
    ).join(60)
    assert len(sent) == 2
    assert (sent[0]["temperature"], sent[0]["top_k"]) == (0.25, 7)
    assert (sent[1]["temperature"], sent[1]["top_k"]) == (0.9, 7)  # the call's value wins
    assert sent[1]["structured"] is True and not sent[0].get("structured")
    assert svc.is_loaded(tuned)


def test_server_models_answer_with_their_own_connection_and_a_dead_one_is_recorded(
    svc: LLMKernelService, tiny: Path, llama_server: ServerFactory
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    server = llama_server(api_key=KEY, interrupt_requests=False)  # requests queue, none cut off
    job = svc.compare(
        [
            ServerModel(server.base_url, "smollm2", api_key=KEY),
            {"base_url": dead, "model": "nothing"},
            tiny,
        ],
        [PROMPTS[0], [{"role": "user", "content": "Say yes."}]],
        max_tokens=8,
        temperature=0.0,
        concurrency=2,
        cache=False,
    )
    results = job.wait(300)
    assert job.state == "done"
    assert all(isinstance(row[0], str) and row[0] for row in results), job.errors
    assert set(job.errors) == {(0, 1), (1, 1)} and all(isinstance(row[2], str) for row in results)
    assert job.models[0] == f"smollm2 @ {server_name(server.base_url)}"
    assert svc.server is None and svc.model is None  # the service's own connection untouched
    assert KEY not in repr(job.to_pandas().to_dict()) and KEY not in repr(job.request)


def test_local_models_while_connected_and_the_connection_comes_back(
    svc: LLMKernelService, tiny: Path, llama_server: ServerFactory
) -> None:
    server = llama_server(api_key=KEY, interrupt_requests=False)
    svc.connect(server.base_url, api_key=KEY)
    events: list[str] = []
    svc.on_model_loaded(lambda facts: events.append(f"loaded {facts.backend}"))
    svc.on_model_unloaded(lambda: events.append("unloaded"))
    job = svc.compare([tiny], PROMPTS[:2], max_tokens=4, cache=False)
    results = job.wait(120)
    assert job.state == "done" and all(isinstance(row[0], str) for row in results)
    svc.events.flush()
    assert svc.server == server.base_url and svc.model is not None
    assert svc.model.backend == "remote" and events[-1] == "loaded remote"
    answer = svc.generate_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=4)
    assert answer.wait(60) and answer.state == "done"  # the same connection, still open
    svc.disconnect()
    assert svc.model is None  # nothing local had answered before the connection


def test_a_prompt_that_cannot_be_made_fails_for_every_model_and_the_rest_goes_on(
    svc: LLMKernelService, tiny: Path
) -> None:
    rows = [{"text": "fine"}, {"other": "no text"}]
    job = svc.compare([tiny], rows, prompt="Say: {text}", max_tokens=4, cache=False)
    results = job.wait(60)
    assert results[0][0] is not None and results[1] == [None]
    assert "text" in job.errors[(1, 0)]


def test_compare_checks_its_arguments(svc: LLMKernelService, tiny: Path) -> None:
    with pytest.raises(TypeError):
        svc.compare(tiny, PROMPTS)  # one model, not a list
    with pytest.raises(ValueError):
        svc.compare([], PROMPTS)
    with pytest.raises(TypeError):
        svc.compare([42], PROMPTS)
    with pytest.raises(ValueError):
        svc.compare([{"base_url": "http://127.0.0.1:1/v1"}], PROMPTS)  # no model name
    with pytest.raises(TypeError):
        svc.compare([tiny], [1, 2])
    with pytest.raises(ValueError):
        svc.compare([tiny], PROMPTS, label="label")  # strings have no label column
    with pytest.raises(ValueError):
        svc.compare([tiny], PROMPTS, temperature=9)
    with pytest.raises(ValueError):
        svc.compare([tiny], PROMPTS, concurrency=0)


def test_blind_picks_then_the_names_and_the_tally(
    svc: LLMKernelService, smol: str, tiny: Path
) -> None:
    widget = Compare(
        models=[smol, tiny], prompts=PROMPTS[:2], blind=True, max_tokens=4, cache=False
    )
    seen: list[list[list[dict[str, Any]]]] = []
    widget.observe(lambda change: seen.append(change["new"]), "cells")
    widget.job.wait(120)
    wait_until(lambda: widget.status == "done", timeout=10)
    assert widget.models == ["A", "B"] and not widget.revealed and widget.tally == []
    assert "tiny" not in repr(widget.get_state())
    # while it ran, no cell told which column was being written; at the end, answers without
    # figures (speeds tell a small model from a big one)
    told = [g for g in seen[:-1] if any(c["state"] != "pending" or c["text"] for r in g for c in r)]
    assert widget.completed == 4 and not told and seen  # the grid changed once: at the end
    assert all(c["state"] == "done" for row in widget.cells for c in row)
    assert any(c["text"] for row in widget.cells for c in row)
    assert {c["completion_tokens"] for row in widget.cells for c in row} == {-1}
    assert {s["tokens_per_second"] for s in widget.summary} == {-1.0}
    send_from_frontend(widget, {"type": "pick", "row": 0, "column": 1, "request_id": "p1"})
    send_from_frontend(widget, {"type": "pick", "row": 5, "column": 0})
    assert "No answer" in widget.error
    wait_until(lambda: widget.picks == [1, -1], timeout=10)
    assert not widget.revealed
    send_from_frontend(widget, {"type": "pick", "row": 1, "column": 0, "request_id": "p2"})
    wait_until(lambda: widget.revealed, timeout=10)  # every row has a pick
    assert sorted(widget.models) == sorted(widget.job.models) and sum(widget.tally) == 2
    # the figures are back (the random tiny model may stop at once: 0 tokens, no speed)
    assert all(c["completion_tokens"] >= 0 for row in widget.cells for c in row)
    assert any(s["tokens_per_second"] > 0 for s in widget.summary)
    table = widget.job.to_pandas()
    assert table.vote.sum() == 2 and len(table) == 4
    picked_b = widget.models[1]
    assert bool(table[(table.prompt == PROMPTS[0]) & (table.model == picked_b)].vote.iloc[0])
    assert widget.job.tally()[picked_b] >= 1
    send_from_frontend(widget, {"type": "pick", "row": 0, "column": 0})
    assert "revealed" in widget.error  # no picks once the names are out


def test_the_widget_stops_and_resumes(svc: LLMKernelService, tiny: Path, tmp_path: Path) -> None:
    prompts = [f"Count to {n}." for n in range(8)]
    # every answer runs its whole max_tokens (a grammar that cannot end): the widget's count,
    # which follows the job through the event thread, is seen long before the run could end
    widget = Compare(
        models=[tiny], prompts=prompts, max_tokens=1500, grammar=NEVER_ENDS, cache=tmp_path
    )
    wait_until(lambda: widget.completed >= 1, timeout=60)
    send_from_frontend(widget, {"type": "stop", "request_id": "s"})
    first = widget.job
    first.join(30)
    wait_until(lambda: widget.status == "cancelled", timeout=10)
    send_from_frontend(widget, {"type": "resume", "request_id": "r"})
    assert widget.job is not first
    widget.job.wait(120)
    wait_until(lambda: widget.status == "done", timeout=10)
    done_before = sum(row[0] is not None for row in first.results)
    assert 1 <= done_before < 8 and widget.completed == 8 and widget.reused == done_before
    assert [c["state"] for row in widget.cells for c in row] == ["done"] * 8
    assert all(c["completion_tokens"] > 0 and c["ttft"] >= 0 for row in widget.cells for c in row)
    assert widget.summary[0]["failed"] == 0 and widget.summary[0]["tokens_per_second"] > 0
    assert "8/8" in repr(widget)


def test_a_model_given_twice_gets_a_name_of_its_own(svc: LLMKernelService, tiny: Path) -> None:
    job = svc.compare([tiny, tiny], ["Say hi."], max_tokens=2, cache=False)
    assert job.models == ["tiny", "tiny #2"]
    job.wait(60)
    assert list(job.to_pandas().model) == ["tiny", "tiny #2"] and not job.errors
