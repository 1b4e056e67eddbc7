"""Tools in the prompt, the answer held to our own JSON schema: for a chat template that cannot
render tools (llama.cpp's `/props` says `supports_tools: false`, e.g. SmolLM2's), and on every
engine for a round that must make a call ("required" or a tool's name: llama.cpp's template path
does not enforce that for every model). The tools go into the system message as text, the answer
is constrained to a call (or, with "auto", a plain answer), and the finished JSON is parsed into
`ToolCall`s. Also: a call a model wrote its own way in a free answer (bare JSON, a ```json fence,
its family's tags), which llama.cpp's parsers leave as text."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any, Protocol

from .._format import shorten
from .._types import Thinking, ToolCall
from ..errors import LLMWidgetsError
from ..jobs import Cancellation


class _Engine(Protocol):
    last_tool_calls: list[ToolCall]

    def stream_chat(
        self, messages: list[dict[str, Any]], *, abort: Cancellation, **params: Any
    ) -> Iterator[str]: ...


def needs_call(choice: str | None) -> bool:
    """Whether a round with this tool_choice must make a call ("required", or a tool's name)."""
    return choice not in (None, "auto", "none")


def stream_in_prompt(
    engine: _Engine, messages: list[dict[str, Any]], abort: Cancellation, params: dict[str, Any]
) -> Iterator[str]:
    """One round with the tools in the prompt: thinking streams live, the JSON answer is held
    back and parsed; a `{"response": ...}` is yielded whole, calls go to `last_tool_calls`."""
    tools, choice = params.pop("tools"), params.pop("tool_choice", None) or "auto"
    choice = effective_choice(messages, choice)
    sent = prompt_messages(messages, tools, choice)
    if choice == "none":
        yield from engine.stream_chat(sent, abort=abort, **params)
        return
    params["json_schema"] = answer_schema(tools, choice)
    parts: list[str] = []
    for piece in engine.stream_chat(sent, abort=abort, **params):
        if isinstance(piece, Thinking):
            yield piece
        else:
            parts.append(piece)
    if abort.is_set():
        return
    calls, answer = parse_answer("".join(parts))
    engine.last_tool_calls = calls
    if answer:
        yield answer


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
    """What the model is told: each tool's name, description and parameters, and how to answer.
    No placeholder a small model could copy into its answer (SmolLM2 answered "<your answer>")."""
    lines = ["You can call these tools (functions):"]
    for tool in tools:
        function = tool["function"]
        lines.append(f"\n- {function['name']}: {function.get('description') or ''}".rstrip())
        lines.append(f"  Parameters (JSON schema): {json.dumps(function.get('parameters') or {})}")
    call = (
        'a JSON object with the key "name", the tool\'s name, and the key "arguments", an object '
        "with its parameters"
    )
    if choice == "auto":
        how = (
            f"To call a tool, reply with {call}. To reply to the user instead, also after tool "
            'results, reply with a JSON object whose only key is "response", its value the full '
            "text of your reply, written from the results."
        )
    elif choice == "required":
        how = f"Call one of the tools now: reply with {call}."
    else:
        how = f"Call {choice} now: reply with {call}."
    return "\n".join(lines) + "\n\n" + how


def prompt_messages(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]], choice: str
) -> list[dict[str, Any]]:
    """`messages` as a template without tools can render them: the tools in the (first) system
    message, earlier calls as the JSON the model wrote, results as user messages naming the call.
    With "none" (answering from results) the calls read as prose: shown its JSON again, a small
    model writes it again (SmolLM2 did) instead of answering."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            written = []
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                name = str(function.get("name"))
                names[str(call.get("id"))] = name
                arguments = function.get("arguments")
                written.append(
                    _call_prose(name, arguments)
                    if choice == "none"
                    else _call_json(name, arguments)
                )
            out.append({"role": "assistant", "content": "\n".join(written)})
        elif role == "tool":
            name = names.get(str(message.get("tool_call_id")), "the tool")
            out.append(
                {"role": "user", "content": f"The result of {name}: {message.get('content', '')}"}
            )
        else:
            out.append(dict(message))
    if choice == "none":
        if messages and messages[-1].get("role") == "tool":
            out[-1]["content"] = (
                out[-1]["content"].rstrip().rstrip(".") + ". " + ANSWER_FROM_RESULTS
            )
        return out
    text = system_text(tools, choice)
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0].get('content') or ''}\n\n{text}".lstrip()
    else:
        out.insert(0, {"role": "system", "content": text})
    return out


# what follows the last result when the model is to answer from it (in the user's voice: SmolLM2
# then answers "The weather in Paris is indeed 21 °C and sunny.")
ANSWER_FROM_RESULTS = "Now answer my question using it."


def _call_prose(name: str, arguments: Any) -> str:
    try:
        value = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        value = None
    pairs = value.items() if isinstance(value, dict) else ()
    return f"Calling {name}({', '.join(f'{k}={json.dumps(v)}' for k, v in pairs)})."


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


# a call written in a free answer: the fence or the family's tag around the JSON
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)\s*```", re.S)
_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_PREFIXES = ("<|python_tag|>", "[TOOL_CALLS]", "<function_call>", "<functioncall>")
_OPENERS = ("```json", "```JSON", "```", "<tool_call>", *_PREFIXES)


def may_be_written_call(text: str) -> bool:
    """Whether an answer that begins with `text` may still turn out to be a written call (so
    its text is held back until the answer ends)."""
    start = text.lstrip()
    for opener in _OPENERS:
        if opener.startswith(start):
            return True
        if start.startswith(opener):
            rest = start[len(opener) :].lstrip()
            return not rest or rest[0] in "{["
    return start[0] in "{["


def written_calls(text: str, names: list[str]) -> list[ToolCall]:
    """The calls an answer is made of when it is only JSON naming passed tools with an arguments
    object: bare, in a ```json fence, or in a family's tags (`<tool_call>`, `<|python_tag|>`,
    `[TOOL_CALLS]`); [] for anything else (prose around the JSON included: that stays text)."""
    body = text.strip()
    fenced = _FENCE.fullmatch(body)
    if fenced:
        body = fenced.group(1)
    if body.startswith("<tool_call>"):
        found = _TAGGED.findall(body)
        if _TAGGED.sub("", body).strip():
            return []
        chunks = found
    else:
        for prefix in _PREFIXES:
            if body.startswith(prefix):
                body = body[len(prefix) :].strip()
                closing = "</" + prefix[1:]
                body = body.removesuffix(closing).strip() if prefix.startswith("<f") else body
        chunks = [body]
    calls: list[ToolCall] = []
    for chunk in chunks:
        try:
            value = json.loads(chunk)
        except ValueError:
            return []
        for item in value if isinstance(value, list) else [value]:
            call = _written_call(item, names)
            if call is None:
                return []
            calls.append(call)
    return calls


def _written_call(item: Any, names: list[str]) -> ToolCall | None:
    if not isinstance(item, dict) or item.get("name") not in names:
        return None
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):  # (some write the OpenAI wire shape: a JSON string)
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict) or set(item) - {"name", "arguments", "parameters", "id"}:
        return None
    return ToolCall(f"call_{secrets.token_hex(8)}", item["name"], json.dumps(arguments))
