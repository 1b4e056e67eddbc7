"""Tool calls in the shapes real small models write them: a call is certain with "required" or a
named tool on every engine (our own schema), a call written as bare, fenced or tagged JSON in a
free answer is run like any other, our instructions never leak into an answer, and what a tool
prints is kept with its call."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.services import running_service

from llm_widgets import LLMKernelService
from llm_widgets.demo import packaged_model_path
from llm_widgets.engines import _tool_prompt
from llm_widgets.testing.gguf_copy import QWEN3_STYLE_TEMPLATE, copy_gguf

WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
CALLED: list[dict[str, Any]] = []
NAMES = ["get_weather", "get_time"]


def get_weather(city: str, unit: str = "celsius") -> str:
    """Today's weather in a city.

    Args:
        city: the city's name
        unit: celsius or fahrenheit
    """
    CALLED.append({"city": city, "unit": unit})
    print(f"looking up {city}")
    print("a warning", file=sys.stderr)
    return f"21 °C and sunny in {city}"


def get_time(city: str) -> str:
    """The local time in a city.

    Args:
        city: the city's name
    """
    return "12:00"


CALL = '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}'


@pytest.mark.parametrize(
    "text",
    [
        CALL,
        f"  {CALL}\n",
        f"```json\n{CALL}\n```",
        f"```\n{CALL}\n```",
        f"<tool_call>\n{CALL}\n</tool_call>",
        f"<|python_tag|>{CALL}",
        f"[TOOL_CALLS][{CALL}]",
        '{"name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}}',
        json.dumps(
            {"name": "get_weather", "arguments": json.dumps({"city": "Paris", "unit": "celsius"})}
        ),
    ],
)
def test_a_call_written_as_json_is_a_call(text: str) -> None:
    assert _tool_prompt.may_be_written_call(text[: len(text) // 2])  # held while it comes
    [call] = _tool_prompt.written_calls(text, NAMES)
    assert call.name == "get_weather" and call.id.startswith("call_")
    assert json.loads(call.arguments) == {"city": "Paris", "unit": "celsius"}


def test_two_tagged_calls_are_two_calls() -> None:
    text = f"<tool_call>{CALL}</tool_call>\n<tool_call>" + CALL.replace("get_weather", "get_time")
    text += "</tool_call>"
    assert [c.name for c in _tool_prompt.written_calls(text, NAMES)] == NAMES


@pytest.mark.parametrize(
    "text",
    [
        f"Sure! {CALL}",  # prose around the JSON stays text
        f"{CALL} Hope that helps.",
        f"```json\n{CALL}\n```\nThat is the call.",
        '{"name": "send_mail", "arguments": {}}',  # not a passed tool
        '{"name": "get_weather", "arguments": ["Paris"]}',  # arguments not an object
        '{"name": "get_weather", "arguments": {}, "extra": 1}',  # not only a call
        '{"temperature": 21}',  # JSON, but no call
        '{"name": "get_weather", "arguments": {"city": "Par',  # cut short
        "It is sunny.",
    ],
)
def test_anything_else_stays_text(text: str) -> None:
    assert _tool_prompt.written_calls(text, NAMES) == []


@pytest.mark.parametrize("start", ["It", "Sure", "```python\nprint()", "<b>", "1."])
def test_an_answer_that_cannot_be_a_call_streams_at_once(start: str) -> None:
    assert not _tool_prompt.may_be_written_call(start)


def test_our_instructions_hold_no_placeholder_a_model_could_copy() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    for choice in ("auto", "required", "get_weather"):
        how = _tool_prompt.system_text(tools, choice).split("\n\n")[-1]
        assert "<" not in how and "..." not in how and "your answer" not in how, how


def _instruction_sentences() -> list[str]:
    """Every sentence of what we tell the model, to look for in its answers."""
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    texts = [_tool_prompt.system_text(tools, c) for c in ("auto", "required", "get_weather")]
    history = [*WEATHER, {"role": "tool", "tool_call_id": "x", "content": "21 °C"}]
    texts += [m["content"] for m in _tool_prompt.prompt_messages(history, tools, "none")]
    sentences = {s.strip() for t in texts for s in t.replace("\n", " ").split(". ")}
    return [s for s in sentences if len(s.split()) >= 4 and "weather in Paris" not in s]


@pytest.fixture(scope="module")
def qwen_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2 with a template that renders tools (Qwen's `<tools>` block and `<tool_call>` tags):
    llama.cpp says it supports tools, so nothing of ours is in the prompt."""
    return copy_gguf(
        packaged_model_path(),
        tmp_path_factory.mktemp("qwen-like") / "smollm2-qwen-template.gguf",
        chat_template=QWEN3_STYLE_TEMPLATE,
        name="SmolLM2 with a Qwen-style template",
    )


@pytest.fixture(scope="module")
def on_engine(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`on_engine(path)`: a service with that model loaded on `engine` (one at a time)."""
    with running_service(cache_dir=tmp_path_factory.mktemp("hf-cache")) as service:

        def load(path: Path) -> LLMKernelService:
            if not service.is_loaded(path):
                service.load_model(path, n_ctx=2048).wait(120)
            return service

        yield load


@pytest.mark.parametrize("template", ["smollm2", "qwen-like"])
@pytest.mark.parametrize("choice", ["required", "get_weather"])
def test_a_call_is_certain_when_one_is_asked_for(
    on_engine: Any, qwen_like: Path, template: str, choice: str
) -> None:
    """Whether or not the template renders tools, "required" and a named tool make a call, the
    function runs with checked arguments, its printed output is kept, the model answers."""
    service = on_engine(packaged_model_path() if template == "smollm2" else qwen_like)
    CALLED.clear()
    job = service.generate_chat_completion(
        WEATHER, tools=[get_weather, get_time], tool_choice=choice, temperature=0.0, max_tokens=64
    )
    job.wait(120)
    assert job.state == "done", job.error
    assert job.tool_calls, job.new_messages
    first = job.tool_calls[0]
    assert first.status in ("done", "error"), first
    if first.name == "get_weather" and first.status == "done":
        assert first.arguments["city"] and CALLED
        assert first.output == f"looking up {first.arguments['city']}\na warning\n"
    assert job.new_messages[-1]["role"] == "assistant"


@pytest.mark.engine_only("xllamacpp")  # (llama-cpp-python refuses "auto" among tools)
def test_no_text_of_our_instructions_appears_in_an_answer(on_engine: Any) -> None:
    """SmolLM2 (no tools in its template: ours are in the prompt), asked with "auto" and after a
    call's result: neither "<your answer>" nor any sentence we wrote comes back."""
    sentences = _instruction_sentences()
    service = on_engine(packaged_model_path())
    answers = []
    for choice in ("auto", "required"):
        job = service.generate_chat_completion(
            WEATHER, tools=[get_weather], tool_choice=choice, temperature=0.0, max_tokens=96
        )
        job.wait(120)
        assert job.state == "done", job.error
        answers.append(job.text)
    for answer in answers:
        assert "<your answer>" not in answer and "<tool name>" not in answer, answer
        leaked = [s for s in sentences if s.lower() in answer.lower()]
        assert not leaked, (leaked, answer)


# -- a server that leaves a written call as text ------------------------------------------------

FENCED_CALL = (
    'root ::= "```json\\n{\\"name\\": \\"get_weather\\", \\"arguments\\": {\\"city\\": '
    '\\"Paris\\"}}\\n```"'
)
BARE_CALL = 'root ::= "{\\"name\\": \\"get_weather\\", \\"arguments\\": {\\"city\\": \\"Paris\\"}}"'
TAGGED_CALL = (
    'root ::= "<tool_call>{\\"name\\": \\"get_weather\\", \\"arguments\\": {\\"city\\": '
    '\\"Paris\\"}}</tool_call>"'
)
PROSE_AROUND = (
    'root ::= "Here: {\\"name\\": \\"get_weather\\", \\"arguments\\": {\\"city\\": \\"Paris\\"}}"'
)


def _ask_server(llama_server: Any, grammar: str, **params: Any) -> Any:
    """Ask llama-cpp-python's server about the weather, its answer steered by `grammar`."""
    CALLED.clear()
    with running_service() as service:
        service.connect(llama_server().base_url)
        job = service.generate_chat_completion(
            WEATHER,
            tools=[get_weather],
            tool_choice="auto",
            temperature=0.0,
            max_tokens=64,
            grammar=grammar,
            **params,
        )
        job.wait(120)
    return job


@pytest.mark.parametrize(
    "grammar", [FENCED_CALL, BARE_CALL, TAGGED_CALL], ids=["fenced", "bare", "tagged"]
)
def test_a_call_a_server_left_as_text_is_run(llama_server: Any, grammar: str) -> None:
    """llama-cpp-python's server parses no call out of a free answer: the model (steered by a
    grammar into the shape) writes the call as text; it runs, with a record, and the answer of
    the next round is held to the one round allowed."""
    job = _ask_server(llama_server, grammar, max_tool_rounds=1)
    assert job.state == "done", job.error
    record = job.tool_calls[0]
    assert record.name == "get_weather" and record.status == "done"
    assert record.arguments == {"city": "Paris"}
    assert CALLED == [{"city": "Paris", "unit": "celsius"}]
    assert record.output.startswith("looking up Paris")
    asked = job.new_messages[0]
    assert asked["role"] == "assistant" and asked["tool_calls"][0]["id"] == record.id
    assert "get_weather" not in asked["content"]  # the JSON is the call, not text shown
    assert job.new_messages[1] == {
        "role": "tool",
        "tool_call_id": record.id,
        "content": record.result,
    }


def test_prose_around_a_call_stays_text(llama_server: Any) -> None:
    job = _ask_server(llama_server, PROSE_AROUND)
    assert job.state == "done" and job.tool_calls == [] and not CALLED
    assert job.text.startswith("Here: {") and job.new_messages[0]["content"] == job.text
