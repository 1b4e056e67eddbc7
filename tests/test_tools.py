"""Tools: the model calls the notebook's own functions. The schema and checks on their own, then
the loop with the real SmolLM2, in the kernel (on each engine: on xllamacpp SmolLM2's template
cannot render tools, so they go into the prompt) and on llama-cpp-python's server, and the Chat's
cards with Approve / Deny."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Optional

import pydantic
import pytest
from harness.services import running_service

from llm_widgets import Chat, LLMKernelService, LLMWidgetsError, ToolCallRecord
from llm_widgets.demo import packaged_model_path
from llm_widgets.engines import _tool_prompt
from llm_widgets.engines.openai_compat import RemoteEngine
from llm_widgets.engines.xllamacpp import XllamacppEngine
from llm_widgets.jobs import Cancellation
from llm_widgets.request.tools import (
    ToolArgumentsError,
    as_tool,
    format_result,
    scrub,
    tool_settings,
)
from llm_widgets.runners.tool_loop import DECLINED
from llm_widgets.testing import capture_messages, send_from_frontend, wait_until
from llm_widgets.testing.openai_server import OpenAIServer, ServerFactory

WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
KERNEL_ENGINE = "llama-cpp-python"
CALLED: list[dict[str, Any]] = []


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict[str, Any]:
    """Get the current weather in a city.

    Args:
        city: The city's name.
        unit: The temperature unit.
    """
    CALLED.append({"city": city, "unit": unit})
    return {"city": city, "temperature": 21, "unit": unit, "sky": "sunny"}


def broken_weather(city: str) -> str:
    """Get the weather in a city."""
    raise ConnectionError(f"the weather service for {city} is down")


class Place(pydantic.BaseModel):
    city: str

    @pydantic.field_validator("city")
    @classmethod
    def known(cls, value: str) -> str:
        if value != "Atlantis":
            raise ValueError("only Atlantis is served")
        return value


def weather_at(place: Place) -> str:
    """Get the weather at a place."""
    CALLED.append({"place": place.city})
    return "sunny"


# -- a function as a tool (no model) -------------------------------------------------------------


def test_the_schema_comes_from_the_signature_and_the_docstring() -> None:
    def search(
        query: str,
        limit: int = 5,
        score: float = 0.5,
        exact: bool = False,
        kind: Literal["a", "b"] = "a",
        tag: Optional[str] = None,  # noqa: UP045 - the old spelling is what many notebooks use
        tags: list[str] | None = None,
        extra: dict[str, int] | None = None,
    ) -> list[str]:
        """Search the notes.

        Args:
            query: What to look for.
        """
        return []

    tool = as_tool(search).openai()
    assert tool["function"]["name"] == "search"
    assert tool["function"]["description"] == "Search the notes."
    params = tool["function"]["parameters"]
    assert params["required"] == ["query"] and params["additionalProperties"] is False
    props = params["properties"]
    assert props["query"] == {"type": "string", "description": "What to look for."}
    assert props["limit"] == {"type": "integer", "default": 5}
    assert props["score"]["type"] == "number" and props["exact"]["type"] == "boolean"
    assert props["kind"] == {"enum": ["a", "b"], "type": "string", "default": "a"}
    assert props["tag"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["tags"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert props["extra"]["anyOf"][0] == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }


def test_a_pydantic_parameter_is_described_and_built() -> None:
    tool = as_tool(weather_at)
    assert tool.parameters["properties"]["place"]["properties"]["city"]["type"] == "string"
    assert tool.call(tool.check('{"place": {"city": "Atlantis"}}')) == "sunny"
    with pytest.raises(ToolArgumentsError, match="only Atlantis"):
        tool.check('{"place": {"city": "Paris"}}')


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ('{"unit": "celsius"}', "missing city"),
        ('{"city": 3}', "must be a string"),
        ('{"city": "Paris", "unit": "kelvin"}', "must be one of"),
        ('{"city": "Paris", "shell": "rm -rf /"}', "no parameter 'shell'"),
        ("__import__('os').system('id')", "not JSON"),
        ('["Paris"]', "JSON object"),
    ],
)
def test_bad_arguments_are_refused_with_what_is_wrong(arguments: str, says: str) -> None:
    with pytest.raises(ToolArgumentsError, match=says):
        as_tool(get_weather).check(arguments)


def test_what_cannot_be_a_tool_is_refused() -> None:
    def star(*args: int) -> None: ...

    with pytest.raises(TypeError, match="args"):
        as_tool(star)
    with pytest.raises(TypeError):
        as_tool("print")
    with pytest.raises(ValueError, match="same name"):
        tool_settings([get_weather, get_weather], "auto", None, 8)
    with pytest.raises(ValueError, match="tool_choice"):
        tool_settings([get_weather], "eval", None, 8)
    with pytest.raises(ValueError, match="approve"):
        tool_settings([get_weather], "auto", "yes", 8)


def test_results_become_text_for_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas

    assert format_result("as is") == "as is"
    assert json.loads(format_result({"a": [1, 2]})) == {"a": [1, 2]}
    frame = pandas.DataFrame({"x": range(100), "y": ["v"] * 100})
    text = format_result(frame)
    assert text.startswith("DataFrame of shape 100 × 2") and "first 10 of 100 rows" in text
    long = format_result("x" * 10_000)
    assert len(long) < 4200 and "cut: the result has 10000 characters" in long
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnopqrstuvwxyz123456")
    monkeypatch.setenv("MY_SERVICE_API_KEY", "s3cr3t-value-42")
    leaked = "token hf_abcdefghijklmnopqrstuvwxyz123456 and key s3cr3t-value-42"
    assert "hf_abcdef" not in scrub(leaked) and "s3cr3t" not in format_result(leaked)


# -- the loop, with the real model: in the kernel and on a server ---------------------------------


@pytest.fixture
def server(llama_server: ServerFactory) -> OpenAIServer:
    """The shared llama-cpp-python server on SmolLM2."""
    return llama_server()


@pytest.fixture(
    params=[
        *(pytest.param(e, marks=pytest.mark.engine_only(e)) for e in ("xllamacpp", KERNEL_ENGINE)),
        "server",
    ]
)
def svc(request: pytest.FixtureRequest, svc: LLMKernelService) -> LLMKernelService:
    """conftest's service answering with SmolLM2, in the kernel (on each engine) or on
    llama-cpp-python's server."""
    if request.param != "server":
        svc.load_model(packaged_model_path(), n_ctx=2048, engine=request.param).wait(120)
    else:
        svc.connect(request.getfixturevalue("server").base_url)
    CALLED.clear()
    return svc


def _ask(svc: LLMKernelService, tools: list[Any], **kwargs: Any) -> Any:
    kwargs.setdefault("tool_choice", tools[0].__name__)
    job = svc.generate_chat_completion(
        WEATHER, tools=tools, temperature=0.0, max_tokens=48, **kwargs
    )
    job.wait(120)
    return job


def test_the_model_calls_the_function_and_answers_from_its_result(svc: LLMKernelService) -> None:
    job = _ask(svc, [get_weather])
    assert job.state == "done"
    [record] = job.tool_calls
    assert isinstance(record, ToolCallRecord) and record.name == "get_weather"
    assert (
        record.arguments["city"].lower() == "paris"
        and [record.arguments | {"unit": record.arguments.get("unit", "celsius")}] == CALLED
    )
    assert record.status == "done" and record.error is None and record.seconds >= 0
    asked, result, answer = job.new_messages
    assert asked["role"] == "assistant" and asked["tool_calls"][0]["id"] == record.id
    assert json.loads(asked["tool_calls"][0]["function"]["arguments"]) == record.arguments
    assert result == {"role": "tool", "tool_call_id": record.id, "content": record.result}
    assert json.loads(record.result)["temperature"] == 21
    assert answer["role"] == "assistant" and "tool_calls" not in answer
    assert answer["content"].strip() and job.wait().endswith(answer["content"])


def test_the_description_is_what_the_server_gets(server: OpenAIServer) -> None:
    engine = RemoteEngine(server.base_url, api_key=None)
    try:
        engine.open(None)
        settings = tool_settings([get_weather], "get_weather", None, 8)
        assert settings is not None
        body = engine._request("chat", {"tools": settings.openai(), "tool_choice": "get_weather"})
    finally:
        engine.unload()
    [tool] = body["tools"]
    assert tool["function"]["description"] == "Get the current weather in a city."
    assert tool["function"]["parameters"]["properties"]["city"]["description"] == "The city's name."
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_a_raising_tool_is_an_answer_not_a_failure(svc: LLMKernelService) -> None:
    job = _ask(svc, [broken_weather])
    assert job.state == "done"
    [record] = job.tool_calls
    assert record.status == "error" and "ConnectionError" in (record.error or "")
    assert job.new_messages[1]["content"].startswith("Error: ConnectionError: the weather service")


def test_a_declined_call_does_not_run_and_the_model_is_told(svc: LLMKernelService) -> None:
    seen: list[ToolCallRecord] = []
    job = _ask(svc, [get_weather], approve=lambda call: seen.append(call) or False)
    assert job.state == "done" and CALLED == []
    [record] = job.tool_calls
    assert seen == [record] and record.approved is False and record.status == "declined"
    assert job.new_messages[1]["content"] == DECLINED


def test_bad_arguments_are_refused_before_the_call(svc: LLMKernelService) -> None:
    job = _ask(svc, [weather_at])  # the model names a real city; the validator wants Atlantis
    [record] = job.tool_calls
    assert job.state == "done" and CALLED == []
    assert record.status == "error" and "only Atlantis is served" in (record.error or "")
    assert "Nothing ran" in job.new_messages[1]["content"]


def test_max_tool_rounds_ends_the_loop_and_says_so(svc: LLMKernelService) -> None:
    job = _ask(svc, [get_weather], max_tool_rounds=0)
    assert job.state == "done" and CALLED == []
    [record] = job.tool_calls
    assert record.status == "not run" and "max_tool_rounds (0)" in (record.error or "")
    assert "Stopped after 0 rounds of tool calls" in job.text
    assert job.stats is not None and job.stats.stop_reason == "max_tool_rounds"
    assert [m["role"] for m in job.new_messages] == ["assistant"]


def test_stop_while_a_call_waits_for_approval_ends_the_turn(svc: LLMKernelService) -> None:
    job = svc.generate_chat_completion(
        WEATHER, tools=[get_weather], tool_choice="get_weather", approve="ask", max_tokens=48
    )
    wait_until(lambda: job.tool_calls and job.tool_calls[0].status == "waiting", timeout=120)
    time.sleep(0.3)  # it keeps waiting: nobody answered
    assert job.state == "running" and CALLED == []
    job.cancel()  # nobody ever answers: only the Stop can end the turn
    assert job.join(60), "Stop did not end a turn waiting for approval"
    assert job.state == "cancelled"
    assert CALLED == [] and job.tool_calls[0].status == "stopped"
    assert job.new_messages[-1]["role"] == "tool"  # every call answered: the history stays valid
    assert not job.approve_tool_call(job.tool_calls[0].id)  # too late


def test_stop_while_the_function_runs_says_it_cannot_be_killed(svc: LLMKernelService) -> None:
    release = threading.Event()

    def slow_lookup(city: str) -> str:
        """Look a city up slowly."""
        release.wait(30)
        return "found"

    job = svc.generate_chat_completion(
        WEATHER, tools=[slow_lookup], tool_choice="slow_lookup", max_tokens=48
    )
    wait_until(lambda: job.tool_calls and job.tool_calls[0].status == "running", timeout=120)
    job.cancel()
    wait_until(lambda: "cannot be stopped" in job.tool_calls[0].note, timeout=5)
    assert job.state == "running"  # the turn ends only when the function returns
    release.set()
    job.join(10)
    assert job.state == "cancelled" and job.tool_calls[0].result == "found"


# -- the engine that cannot choose, batch runs, the Chat -------------------------------------------


@pytest.mark.engine_only(KERNEL_ENGINE)
def test_the_kernel_engine_refuses_a_free_choice_naming_the_engines_that_can(
    tmp_path: Path,
) -> None:
    with running_service(cache_dir=tmp_path) as service:
        service.load_model(packaged_model_path(), n_ctx=2048, engine=KERNEL_ENGINE).wait(120)
        job = service.generate_chat_completion(WEATHER, tools=[get_weather], max_tokens=8)
        with pytest.raises(LLMWidgetsError, match="xllamacpp.*connect"):
            job.wait(60)
        assert "llama-cpp-python#1338" in (job.error or "")


def test_a_batch_run_records_each_items_calls(svc: LLMKernelService) -> None:
    cities = ["Paris", "Rome"]
    job = svc.map(
        cities,
        prompt="What is the weather in {input}?",
        tools=[get_weather],
        tool_choice="get_weather",
        cache=False,
        max_tokens=64,  # a call written as indented JSON takes ~40 tokens
        temperature=0.0,
    )
    results = job.wait(240)
    assert all(isinstance(r, str) and r for r in results) and not job.errors, (results, job.errors)
    for index, city in enumerate(cities):
        [record] = job.tool_calls[index]
        assert record.name == "get_weather" and record.status == "done"
        assert city.lower() in record.arguments["city"].lower()


def test_the_chat_asks_on_a_card_and_keeps_the_calls_in_its_messages(
    svc: LLMKernelService,
) -> None:
    chat = Chat(svc, tools=[get_weather], tool_choice="get_weather", approve="ask")
    assert chat.tool_names == ["get_weather"]
    sent = capture_messages(chat)
    job = chat.send("What is the weather in Paris?")
    calls = lambda: [m["call"] for _, m in sent if m["type"] == "tool_call"]  # noqa: E731
    wait_until(lambda: any(c["status"] == "waiting" for c in calls()), timeout=120)
    call_id = calls()[-1]["id"]
    send_from_frontend(chat, {"type": "approve", "call_id": 7})  # a bad message: refused
    svc.events.flush()
    assert job.tool_calls[0].status == "waiting" and "call_id" in chat.error
    send_from_frontend(chat, {"type": "approve", "call_id": call_id})
    job.wait(120)
    svc.events.flush()
    assert [c["status"] for c in calls()][-2:] == ["running", "done"]
    assert calls()[-1]["approved"] is True and "21" in calls()[-1]["result"]
    roles = [m["role"] for m in chat.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert chat.messages[1]["tool_calls"][0]["id"] == call_id
    assert chat.messages[2]["tool_call_id"] == call_id

    restored = Chat(svc, messages=chat.messages)  # a saved conversation, with its calls
    assert restored.messages == chat.messages
    assert "Calls `get_weather(" in restored.to_markdown()

    job = chat.send("And in Rome?")  # Deny: the model is told, nothing runs
    wait_until(lambda: job.tool_calls and job.tool_calls[0].status == "waiting", timeout=120)
    before = len(CALLED)
    send_from_frontend(chat, {"type": "deny", "call_id": job.tool_calls[0].id})
    job.wait(120)
    assert len(CALLED) == before and job.tool_calls[0].status == "declined"
    assert chat.messages[-2] == {
        "role": "tool",
        "tool_call_id": job.tool_calls[0].id,
        "content": DECLINED,
    }


def test_a_connections_key_is_masked_in_what_goes_back() -> None:
    engine = RemoteEngine("http://127.0.0.1:9/v1", api_key="sk-only-in-this-call-123")
    try:
        assert engine.redact("key=sk-only-in-this-call-123.") == "key=***."
    finally:
        engine.unload()


def test_a_token_or_key_given_to_the_package_is_masked_in_every_tool_result(
    tmp_path: Path,
) -> None:
    """Not only the environment's: the token passed to a service and the keys passed to any
    connection, in any result a tool sends back."""
    service = LLMKernelService(cache_dir=tmp_path / "cache", token="tok-given-to-the-service-9")
    other = RemoteEngine("http://127.0.0.1:9/v1", api_key="key-of-an-earlier-connection-7")
    other.unload()
    try:
        leaked = format_result(
            {"token": "tok-given-to-the-service-9", "old": "key-of-an-earlier-connection-7"}
        )
        assert "tok-given" not in leaked and "key-of-an" not in leaked
        assert json.loads(leaked) == {"token": "***", "old": "***"}
    finally:
        service.shutdown()


# -- a template that cannot render tools (SmolLM2's, on xllamacpp): the tools go into the prompt --


def _weather_tools() -> list[dict[str, Any]]:
    settings = tool_settings([get_weather, weather_at], "auto", None, 8)
    assert settings is not None
    return settings.openai()


def test_the_answer_schema_allows_exactly_the_chosen_calls() -> None:
    tools = _weather_tools()
    required = _tool_prompt.answer_schema(tools, "required")
    names = [o["properties"]["name"] for o in required["anyOf"]]
    assert names == [{"const": "get_weather"}, {"const": "weather_at"}]
    weather = required["anyOf"][0]["properties"]["arguments"]
    assert weather["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]
    refs = {"$defs": {"P": {"type": "string"}}, "properties": {"p": {"$ref": "#/$defs/P"}}}
    with_refs = _tool_prompt.answer_schema([{"function": {"name": "f", "parameters": refs}}], "f")
    assert with_refs["$defs"] == refs["$defs"]  # at the top, where "#/$defs/P" resolves
    assert "$defs" not in with_refs["properties"]["arguments"]
    named = _tool_prompt.answer_schema(tools, "get_weather")
    assert named["properties"]["name"] == {"const": "get_weather"} and "anyOf" not in named
    auto = _tool_prompt.answer_schema(tools, "auto")
    assert auto["anyOf"][-1]["properties"] == {"response": {"type": "string"}}
    with pytest.raises(LLMWidgetsError, match="names none of the tools"):
        _tool_prompt.answer_schema(tools, "get_time")


def test_the_prompt_describes_the_tools_and_keeps_the_history_renderable() -> None:
    history = [
        {"role": "system", "content": "Be brief."},
        *WEATHER,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "21 degrees"},
    ]
    sent = _tool_prompt.prompt_messages(history, _weather_tools(), "required")
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    system = sent[0]["content"]
    assert system.startswith("Be brief.\n\n") and "Get the current weather in a city." in system
    assert '"city"' in system and "Call one of the tools now" in system
    assert json.loads(sent[2]["content"]) == {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert sent[3]["content"] == "The result of get_weather: 21 degrees"
    assert history[0]["content"] == "Be brief."  # the caller's messages are left as they were
    assert _tool_prompt.prompt_messages(WEATHER, _weather_tools(), "none") == WEATHER
    assert _tool_prompt.effective_choice(history, "auto") == "none"  # answers from the results
    assert _tool_prompt.effective_choice(WEATHER, "auto") == "auto"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"name": "get_weather", "arguments": {"ci', "not valid JSON"),
        ("Paris is sunny.", "not valid JSON"),
        ('{"city": "Paris"}', "neither a call"),
        ('{"name": "get_weather", "arguments": [1]}', "neither a call"),
    ],
)
def test_a_bad_tool_answer_is_a_clear_error(text: str, says: str) -> None:
    with pytest.raises(LLMWidgetsError, match=says):
        _tool_prompt.parse_answer(text)


def test_a_tool_answer_becomes_calls_or_text() -> None:
    [call], text = _tool_prompt.parse_answer(
        '{"name": "get_weather", "arguments": {"city": "Rome"}}'
    )
    assert (
        text is None
        and call.name == "get_weather"
        and json.loads(call.arguments) == {"city": "Rome"}
    )
    assert call.id.startswith("call_") and len(call.id) == 21
    assert _tool_prompt.parse_answer('{"response": "It is \\"sunny\\"."}') == ([], 'It is "sunny".')
    assert _tool_prompt.parse_answer('{"response": "Cut sh\\u00') == ([], "Cut sh")  # max_tokens


@pytest.fixture(scope="module")
def smollm2_xllamacpp() -> Iterator[XllamacppEngine]:
    engine = XllamacppEngine()
    engine.load(packaged_model_path(), n_ctx=2048)
    yield engine
    engine.unload()


@pytest.mark.engine_only("xllamacpp")
def test_smollm2s_template_renders_no_tools_so_the_prompt_carries_them(
    smollm2_xllamacpp: XllamacppEngine,
) -> None:
    engine = smollm2_xllamacpp
    assert engine.supports_tools is False  # llama.cpp's /props: chat_template_caps
    abort = Cancellation()
    plain = "".join(engine.stream_chat(WEATHER, abort=abort, max_tokens=1))
    without = engine.last_stats
    pieces = list(
        engine.stream_chat(
            WEATHER, abort=abort, tools=_weather_tools(), tool_choice="required", max_tokens=64
        )
    )
    assert plain is not None and pieces == []  # a call streams no text
    assert without is not None and engine.last_stats is not None
    assert engine.last_stats.prompt_tokens > without.prompt_tokens + 100  # the tools' description
    [call] = engine.last_tool_calls
    tool = next(t for t in [as_tool(get_weather), as_tool(weather_at)] if t.name == call.name)
    if tool.name == "get_weather":  # weather_at's validator refuses what a model sends
        assert tool.check(call.arguments)["city"]


@pytest.mark.engine_only("xllamacpp")
def test_required_makes_a_call_on_the_default_engine_and_the_model_answers(
    tmp_path: Path,
) -> None:
    with running_service(cache_dir=tmp_path) as service:
        service.load_model(packaged_model_path(), n_ctx=2048, engine="xllamacpp").wait(120)
        CALLED.clear()
        job = _ask(service, [get_weather], tool_choice="required")
        assert job.state == "done"
        assert len(job.tool_calls) == 1, job.new_messages
        [record] = job.tool_calls
        assert record.name == "get_weather" and record.status == "done"
        assert record.arguments["city"].lower() == "paris" and len(CALLED) == 1
        asked, result, answer = job.new_messages
        assert asked["tool_calls"][0]["id"] == record.id == result["tool_call_id"]
        assert answer["role"] == "assistant" and answer["content"].strip()
        assert not answer["content"].lstrip().startswith("{")  # the text, not the JSON

        auto = _ask(service, [get_weather], tool_choice="auto")
        assert auto.state == "done"
        if auto.tool_calls:  # a call (then an answer from its result) ...
            assert auto.tool_calls[0].name == "get_weather"
            assert auto.new_messages[0]["tool_calls"][0]["id"] == auto.tool_calls[0].id
        else:  # ... or an answer at once: text, not JSON
            [only] = auto.new_messages
            assert only["content"].strip() and not only["content"].lstrip().startswith("{")

        cut = service.generate_chat_completion(
            WEATHER, tools=[get_weather], tool_choice="required", max_tokens=4
        )
        with pytest.raises(LLMWidgetsError, match="not valid JSON.*max_tokens"):
            cut.wait(60)
        assert cut.state == "failed" and "Traceback" not in (cut.error or "")
