"""Structured output (a JSON schema, a pydantic model, a list of labels) and batch runs
(`service.map`) on the real SmolLM2 on each in-kernel engine, and on a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas
import pydantic
import pytest

from llm_widgets import (
    BatchRun,
    LLMKernelService,
    OutputParseError,
)
from llm_widgets.testing import capture_messages, send_from_frontend, wait_until
from llm_widgets.testing.openai_server import ServerFactory

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
PEOPLE = [
    "John is 31 years old.",
    "Mary, aged 25, lives in Paris.",
    "The baker, Tom, turned 58 last week.",
    "Alice is a 40-year-old engineer.",
    "Bob (19) plays the guitar.",
    "Our neighbour Carla is 72.",
    "Dmitri, 33, moved to Berlin.",
    "Eve is twenty-two.",
    "Farid was born 45 years ago.",
    "Grace is 8 years old.",
    "Hugo, a 61 year old sailor.",
    "Ines is 29 and loves tea.",
    "Jonas celebrated his 50th birthday.",
    "Kim is 37.",
    "Lena is a student, 21 years old.",
    "Marco is 66 and retired.",
    "Nora, 14, wins the chess cup.",
    "Omar is 52.",
    "Paula, 38, teaches maths.",
    "Quentin is 90 years old.",
]
REVIEWS = [
    f"{opening} {thing}."
    for opening in ("I loved the", "Terrible", "Great value,", "Never again:", "Happy with the")
    for thing in (
        "coffee maker",
        "headphones",
        "running shoes",
        "desk lamp",
        "backpack",
        "kettle",
        "phone case",
        "blender",
        "umbrella",
        "keyboard",
    )
]
KEY = "sk-compare-5d1e9a"  # the queueing server test_compare.py uses: one server for both
CLASSIFY = "Is this review positive or negative? Review: {input}"


class Person(pydantic.BaseModel):
    name: str
    age: int


# -- structured output -------------------------------------------------------------------------


def test_schema_constrained_answers_parse_for_varied_inputs(
    smollm2_service: LLMKernelService,
) -> None:
    for text in PEOPLE:
        job = smollm2_service.generate_chat_completion(
            [{"role": "user", "content": f"Extract the person's name and age: {text}"}],
            response_format=PERSON,
            temperature=0.0,
            max_tokens=80,
        )
        job.wait(60)
        assert job.value == json.loads(job.text), text
        assert isinstance(job.value["name"], str) and isinstance(job.value["age"], int), text


def test_a_pydantic_model_gives_an_instance(smollm2_service: LLMKernelService) -> None:
    job = smollm2_service.generate_chat_completion(
        [{"role": "user", "content": "Extract: Mary is 25."}],
        response_format=Person,
        temperature=0.0,
        max_tokens=80,
    )
    job.wait(60)
    assert isinstance(job.value, Person) and job.value.age == 25


def test_completion_takes_a_schema_too(smollm2_service: LLMKernelService) -> None:
    job = smollm2_service.generate_completion(
        "A JSON object describing a person:", response_format=PERSON, max_tokens=80
    )
    job.wait(60)
    assert set(job.value) >= {"name", "age"}


def test_choices_return_only_the_labels(smollm2_service: LLMKernelService) -> None:
    labels = ["spam", "ham", "unsure"]
    for text in ("WIN A FREE IPHONE NOW!!!", "Lunch at noon?", "Click here for cheap pills"):
        job = smollm2_service.generate_chat_completion(
            [{"role": "user", "content": f"Spam or ham? {text}"}], choices=labels, temperature=1.0
        )
        job.wait(60)
        assert job.value in labels and job.text == job.value


def test_an_answer_cut_short_fails_with_the_text_kept(
    smollm2_service: LLMKernelService, engine: str
) -> None:
    job = smollm2_service.generate_chat_completion(
        [{"role": "user", "content": "Extract: John is 31."}],
        response_format=PERSON,
        max_tokens=3,
    )
    with pytest.raises(OutputParseError) as info:
        job.wait(60)
    assert info.value.text == job.text and "not valid JSON" in str(info.value)
    # llama.cpp's server sends none of a JSON answer cut after 3 tokens (measured: '' for
    # `json_schema` and for `response_format` alike); llama-cpp-python streams what came
    assert job.text != "" or engine == "xllamacpp"
    assert job.state == "failed" and job.value is None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"response_format": "json"}, TypeError),
        ({"response_format": PERSON, "choices": ["a"]}, ValueError),
        ({"choices": []}, ValueError),
        ({"choices": "spam"}, TypeError),
        ({"choices": ["a", "a"]}, ValueError),
        ({"choices": ["a", 3]}, ValueError),
    ],
)
def test_bad_formats_are_refused_at_the_call(
    smollm2_service: LLMKernelService, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        smollm2_service.generate_chat_completion([{"role": "user", "content": "hi"}], **kwargs)


# -- batch runs --------------------------------------------------------------------------------


def test_a_batch_stopped_then_resumed_runs_only_the_rest_and_matches_a_full_run(
    smollm2_service: LLMKernelService, tmp_path: Path
) -> None:
    assert len(REVIEWS) == 50
    run = dict(prompt=CLASSIFY, choices=["positive", "negative"], temperature=0.0)
    full = smollm2_service.map(REVIEWS, cache=tmp_path / "full", **run).wait(300)
    assert all(r in ("positive", "negative") for r in full)

    first = smollm2_service.map(REVIEWS, cache=tmp_path / "resumed", **run)
    wait_until(lambda: first.completed >= 20, timeout=120)
    first.cancel()
    partial = first.wait(30)
    assert first.state == "cancelled"
    done = first.completed
    assert 20 <= done < 50 and sum(r is not None for r in partial) == done

    second = smollm2_service.map(REVIEWS, cache=tmp_path / "resumed", **run)
    results = second.wait(300)
    assert second.reused == done and second.completed == 50 and not second.errors
    assert results == full


def test_a_failing_item_does_not_stop_the_run(smollm2_service: LLMKernelService) -> None:
    rows = [{"text": "good"}, {"oops": "no text key"}, {"text": "bad"}]
    job = smollm2_service.map(rows, prompt="Say one word about: {text}", max_tokens=4, cache=False)
    results = job.wait(120)
    assert job.state == "done" and list(job.errors) == [1] and "text" in job.errors[1]
    assert results[0] and results[1] is None and results[2]
    assert job.progress == 100.0


def test_inputs_from_pandas_and_results_to_pandas(smollm2_service: LLMKernelService) -> None:
    frame = pandas.DataFrame({"name": ["Ann", "Ben"], "age": [30, 40]})
    job = smollm2_service.map(
        frame,
        prompt="Write a JSON person: {name} is {age}.",
        response_format=Person,
        temperature=0.0,
        max_tokens=60,
        cache=False,
    )
    results = job.wait(120)
    assert all(isinstance(p, Person) for p in results)
    table = job.to_pandas()
    assert list(table.columns) == ["input", "output", "error"] and len(table) == 2
    series = smollm2_service.map(pandas.Series(["hi", "yo"]), max_tokens=2, cache=False)
    assert len(series.wait(60)) == 2


def test_map_checks_its_arguments(smollm2_service: LLMKernelService) -> None:
    with pytest.raises(TypeError):
        smollm2_service.map("one string")
    with pytest.raises(TypeError):
        smollm2_service.map([1, 2])
    with pytest.raises(ValueError):
        smollm2_service.map(["a"], temperature=9)
    with pytest.raises(ValueError):
        smollm2_service.map(["a"], concurrency=0)
    job = smollm2_service.map(
        ["a"], concurrency=2, cache=False
    )  # the kernel's model: one at a time
    with pytest.raises(ValueError, match="server"):
        job.wait(30)


def test_the_widget_shows_progress_and_stop_and_resume_work(
    smollm2_service: LLMKernelService, tmp_path: Path
) -> None:
    widget = BatchRun.map(
        REVIEWS,
        service=smollm2_service,
        prompt=CLASSIFY,
        choices=["positive", "negative"],
        temperature=0.0,
        cache=tmp_path,
    )
    sent = capture_messages(widget)
    wait_until(lambda: widget.completed >= 5, timeout=120)
    assert widget.total == 50 and widget.status == "running" and widget.recent
    assert 0 < widget.progress < 100 and widget.tokens_per_second > 0
    send_from_frontend(widget, {"type": "stop", "request_id": "s"})
    first = widget.job
    first.join(30)
    wait_until(lambda: widget.status == "cancelled", timeout=10)
    send_from_frontend(widget, {"type": "resume", "request_id": "r"})
    assert widget.job is not first
    widget.job.wait(300)
    wait_until(lambda: widget.status == "done", timeout=10)
    assert widget.completed == 50 and widget.reused == first.completed and widget.progress == 100
    assert widget.resumed  # "resumed: N done before", not "N reused from an earlier run"
    assert widget.tokens_per_item < 8  # labels: a few tokens each, the view shows items/s only
    assert [m["ok"] for _, m in sent if m["type"] == "ack"] == [True, True]
    assert "50/50 done" in repr(widget)
    send_from_frontend(widget, {"type": "resume", "extra": 1})
    assert widget.error.startswith("Ignored")


def test_the_widget_marks_answers_against_a_true_label_kept_beside_the_input(
    smollm2_service: LLMKernelService,
) -> None:
    rows = [
        {"text": "I love it, works perfectly.", "label": "positive"},
        {"text": "Broke after a day, awful.", "label": "negative"},
        {"text": "Great value, very happy.", "label": "positive"},
    ]
    widget = BatchRun.map(
        rows,
        service=smollm2_service,
        prompt="Is this review positive or negative? Review: {text}",
        choices=["positive", "negative"],
        temperature=0.0,
        cache=False,
        expected="label",
    )
    labels = widget.job.wait(120)
    wait_until(lambda: widget.status == "done", timeout=10)
    assert not widget.resumed
    assert len(widget.recent) == 3
    for shown, row, label in zip(widget.recent, rows, labels, strict=True):
        assert shown["input"] == row["text"]  # the label is not part of the input shown
        assert shown["expected"] == row["label"]
        assert shown["correct"] is (label == row["label"])
    assert widget.correct == sum(label == r["label"] for label, r in zip(labels, rows, strict=True))
    with pytest.raises(TypeError):
        BatchRun(widget.job, expected=3)  # type: ignore[arg-type]


def test_batch_on_a_server(
    smollm2_service: LLMKernelService, tmp_path: Path, llama_server: ServerFactory
) -> None:
    """The same run through a server (grammar sent in the request: llama.cpp's servers honour
    it), one request at a time; then the local model again."""
    server = llama_server(api_key=KEY, interrupt_requests=False)  # requests queue, none cut off
    remote = LLMKernelService()  # beside the module's service: its engine's threads stay
    try:
        remote.connect(server.base_url, api_key=KEY)
        job = remote.map(
            REVIEWS[:6], prompt=CLASSIFY, choices=["positive", "negative"], cache=tmp_path
        )
        results = job.wait(120)
        assert all(r in ("positive", "negative") for r in results), job.errors
        people = remote.map(
            PEOPLE[:3],
            prompt="Extract the person: {input}",
            response_format=Person,
            temperature=0.0,
            max_tokens=60,
            concurrency=2,
            cache=False,
        )
        assert all(isinstance(p, Person) for p in people.wait(120)), people.errors
    finally:
        remote.shutdown()
