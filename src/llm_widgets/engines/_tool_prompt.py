"""Tools for a chat template that cannot render them (llama.cpp's `/props` says
`supports_tools: false`, e.g. SmolLM2's): the tools go into the system message as text, the answer
is constrained by a JSON schema to a call (or, with "auto", a plain answer), and the finished JSON
is parsed into `ToolCall`s. Pure functions: the engine sends and streams."""

from __future__ import annotations

import json
import secrets
from typing import Any

from .._format import shorten
from .._types import ToolCall
from ..errors import LLMWidgetsError


def _names(tools: list[dict[str, Any]]) -> list[str]:
    return [str(t["function"]["name"]) for t in tools]


def _chosen(tools: list[dict[str, Any]], choice: str) -> list[dict[str, Any]]:
    """The tools the model may call: all, or only the named one."""
    if choice in ("auto", "required"):
        return tools
    named = [t for t in tools if t["function"]["name"] == choice]
    if not named:
        raise LLMWidgetsError(f"tool_choice={choice!r} names none of the tools {_names(tools)}.")
    return named


def effective_choice(messages: list[dict[str, Any]], choice: str) -> str:
    """ "auto" right after tool results is "none": a small model held to JSON calls the same tool
    again and again (SmolLM2 did, round after round), so it answers from the results."""
    return (
        "none" if choice == "auto" and messages and messages[-1].get("role") == "tool" else choice
    )


def answer_schema(tools: list[dict[str, Any]], choice: str) -> dict[str, Any]:
    """The JSON schema of an answer: one object per callable tool (its const name, its own
    arguments), and with "auto" also `{"response": <text>}`."""
    defs: dict[str, Any] = {}
    options: list[dict[str, Any]] = []
    for tool in _chosen(tools, choice):
        function = tool["function"]
        parameters = dict(function.get("parameters") or {"type": "object"})
        defs.update(parameters.pop("$defs", {}))  # a pydantic model's refs: resolved at the top
        options.append(_object({"name": {"const": function["name"]}, "arguments": parameters}))
    if choice == "auto":
        options.append(_object({"response": {"type": "string"}}))
    schema: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
    return {**schema, "$defs": defs} if defs else schema


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def system_text(tools: list[dict[str, Any]], choice: str) -> str:
    """What the model is told: each tool's name, description and parameters, and how to answer."""
    lines = ["You can call these tools (functions):"]
    for tool in tools:
        function = tool["function"]
        lines.append(f"\n- {function['name']}: {function.get('description') or ''}".rstrip())
        lines.append(f"  Parameters (JSON schema): {json.dumps(function.get('parameters') or {})}")
    call = '{"name": "<tool name>", "arguments": {<its parameters>}}'
    if choice == "auto":
        how = (
            f"Answer with one JSON object only. To call a tool: {call}. To answer the user "
            'directly (also from tool results already given): {"response": "<your answer>"}.'
        )
    elif choice == "required":
        how = f"Call one of the tools now. Answer with one JSON object only: {call}."
    else:
        how = f'Call {choice} now. Answer with one JSON object only: {{"name": "{choice}", '
        how += '"arguments": {<its parameters>}}.'
    return "\n".join(lines) + "\n\n" + how


def prompt_messages(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]], choice: str
) -> list[dict[str, Any]]:
    """`messages` as a template without tools can render them: the tools in the (first) system
    message, earlier calls as the JSON the model wrote, results as user messages naming the call."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            written = []
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                names[str(call.get("id"))] = str(function.get("name"))
                written.append(_call_json(str(function.get("name")), function.get("arguments")))
            out.append({"role": "assistant", "content": "\n".join(written)})
        elif role == "tool":
            ident = str(message.get("tool_call_id"))
            name = names.get(ident, "the tool")
            text = f"Result of {name} (call {ident}): {message.get('content', '')}"
            out.append({"role": "user", "content": text})
        else:
            out.append(dict(message))
    if choice == "none":
        if messages and messages[-1].get("role") == "tool":  # not the JSON of the call again
            out[-1]["content"] += "\n\nNow answer the user in plain words from this result."
        return out
    text = system_text(tools, choice)
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0].get('content') or ''}\n\n{text}".lstrip()
    else:
        out.insert(0, {"role": "system", "content": text})
    return out


def _call_json(name: str, arguments: Any) -> str:
    try:
        value = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        value = arguments
    return json.dumps({"name": name, "arguments": value if value is not None else {}})


def parse_answer(text: str) -> tuple[list[ToolCall], str | None]:
    """The calls the JSON answer asks for, or its `response` text; LLMWidgetsError for an answer
    that is neither (cut short by max_tokens, or not JSON)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        partial = _partial_response(text)
        if partial is not None:
            return [], partial
        raise LLMWidgetsError(
            f"The model's tool answer is not valid JSON ({exc}); it was most likely cut short: "
            f"raise max_tokens (answer: {shorten(text)!r})."
        ) from None
    if isinstance(value, dict) and isinstance(value.get("response"), str):
        return [], value["response"]
    if (
        isinstance(value, dict)
        and isinstance(value.get("name"), str)
        and isinstance(value.get("arguments", {}), dict)
    ):
        arguments = json.dumps(value.get("arguments", {}))
        return [ToolCall(f"call_{secrets.token_hex(8)}", value["name"], arguments)], None
    raise LLMWidgetsError(
        'The model\'s tool answer is neither a call ({"name", "arguments"}) nor a response '
        f"(answer: {shorten(text)!r})."
    )


def _partial_response(text: str) -> str | None:
    """The text of a `{"response": "...` answer cut short by max_tokens, if it is one."""
    head, sep, rest = text.lstrip().partition('"response"')
    if head.strip() != "{" or not sep or not rest.lstrip().startswith(":"):
        return None
    rest = rest.lstrip()[1:].lstrip()
    if not rest.startswith('"'):
        return None
    body = rest[1:]
    for cut in range(min(len(body), 8) + 1):  # an escape cut in half: drop its start
        try:
            value = json.loads('"' + body[: len(body) - cut] + '"')
        except ValueError:
            continue
        return value if isinstance(value, str) else None
    return None
