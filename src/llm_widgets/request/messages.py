"""What a request to the model may contain: load options, sampling parameters and chat messages,
checked once at the service's door (in the caller's thread, so a bad call raises there)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from ..engines._thinking import split_content

GENERATION_PARAMS: dict[str, tuple[type | tuple[type, ...], float | None, float | None]] = {
    "max_tokens": (int, 1, 1 << 20),
    "temperature": ((int, float), 0.0, 5.0),
    "top_p": ((int, float), 0.0, 1.0),
    "top_k": (int, 0, 1 << 20),
    "min_p": ((int, float), 0.0, 1.0),
    "repeat_penalty": ((int, float), 0.0, 10.0),
    "seed": (int, -1, 2**32 - 1),
    "stop": ((str, list), None, None),
    "think": ((bool, str), None, None),  # True / False, or a level: "low", "medium", "high"
    "grammar": (str, None, None),  # llama.cpp's GBNF: the answer follows it
}
THINK_LEVELS = ("low", "medium", "high")


N_CTX_RANGE = (16, 1 << 20)  # what load_model accepts (the card's field is narrower)


def check_load_options(n_ctx: object, n_threads: object) -> None:
    """Raise ValueError unless n_ctx and n_threads are what llama.cpp can take."""
    low, high = N_CTX_RANGE
    if isinstance(n_ctx, bool) or not isinstance(n_ctx, int) or not low <= n_ctx <= high:
        raise ValueError(f"n_ctx must be an int between {low} and {high}, got {n_ctx!r}")
    if n_threads is not None and (
        isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1
    ):
        raise ValueError(f"n_threads must be a positive int, got {n_threads!r}")


def check_connect_args(
    api_key: object, model: object, api_key_env: object, timeout: object
) -> None:
    """Raise TypeError / ValueError unless `connect()`'s arguments can be used."""
    if api_key is not None and not isinstance(api_key, str):
        raise TypeError("api_key must be a str or None")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise ValueError("model must be a non-empty str or None")
    if not isinstance(api_key_env, str) or not api_key_env:
        raise ValueError("api_key_env must name an environment variable")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


def check_generation_params(params: dict[str, Any]) -> None:
    """Raise ValueError for an unknown or out-of-range generation parameter."""
    for name, value in params.items():
        if name not in GENERATION_PARAMS:
            known = ", ".join(sorted(GENERATION_PARAMS))
            raise ValueError(f"Unknown generation parameter {name!r} (known: {known}).")
        if name == "think":
            check_think(value)
            continue
        kind, low, high = GENERATION_PARAMS[name]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"{name} has the wrong type: {type(value).__name__}.")
        if (
            name == "stop"
            and isinstance(value, list)
            and not all(isinstance(v, str) for v in value)
        ):
            raise ValueError("stop must be a string or a list of strings.")
        if low is not None and high is not None and not low <= cast(float, value) <= high:
            raise ValueError(f"{name} must be between {low} and {high}, got {value}.")


def check_think(value: object) -> None:
    """Raise ValueError unless `value` is what `think=` takes."""
    if value is None or isinstance(value, bool) or value in THINK_LEVELS:
        return
    raise ValueError(
        f"think must be True, False, None or one of {', '.join(THINK_LEVELS)}; got {value!r}."
    )


def check_messages(messages: object) -> list[dict[str, Any]]:
    """Chat messages as plain OpenAI-shaped dicts (role/content; an assistant's `tool_calls`, a
    `tool` message's `tool_call_id`), or ValueError saying which one is wrong. An assistant
    message's thinking goes to `reasoning_content`, never stays inside `content` (a `<think>`
    block there is split off)."""
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)) or not messages:
        raise ValueError("messages must be a non-empty list of {'role', 'content'} dicts")
    checked = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ValueError(f"messages[{i}] must be a dict with a 'role' and a 'content'")
        if m["role"] not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"messages[{i}]['role'] must be system, user, assistant or tool")
        calls = m.get("tool_calls") if m["role"] == "assistant" else None
        content = m.get("content")
        if content is None and calls:
            content = ""  # the OpenAI API's null content of a message that only calls
        if not isinstance(content, str):
            raise ValueError(f"messages[{i}]['content'] must be a str")
        entry: dict[str, Any] = {"role": m["role"], "content": content}
        if m["role"] == "assistant":
            reasoning = m.get("reasoning_content")
            if reasoning is not None and not isinstance(reasoning, str):
                raise ValueError(f"messages[{i}]['reasoning_content'] must be a str")
            answer, thought = split_content(content)
            thought = "\n\n".join(t for t in (reasoning or "", thought) if t)
            entry["content"] = answer
            if thought:
                entry["reasoning_content"] = thought
        if calls:
            entry["tool_calls"] = _check_calls(calls, i)
        if m["role"] == "tool":
            ident = m.get("tool_call_id")
            if not isinstance(ident, str) or not ident:
                raise ValueError(f"messages[{i}] is a tool message without a 'tool_call_id'")
            entry["tool_call_id"] = ident
        checked.append(entry)
    return checked


def _check_calls(calls: object, i: int) -> list[dict[str, Any]]:
    """An assistant message's tool_calls, in the OpenAI shape."""
    where = f"messages[{i}]['tool_calls']"
    if not isinstance(calls, list):
        raise ValueError(f"{where} must be a list")
    out = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(function, dict)
            or not isinstance(call.get("id"), str)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            raise ValueError(
                f"{where}: each call is {{'id', 'type': 'function', 'function': {{'name', "
                "'arguments' (a JSON str)}}}"
            )
        out.append(
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": function["name"], "arguments": function["arguments"]},
            }
        )
    return out


def with_think(params: dict[str, Any], think: object) -> dict[str, Any]:
    """`params` with `think` among them when it is set (checked with the others)."""
    return {**params, "think": think} if think is not None else params


def check_think_with(output: object, params: dict[str, Any]) -> None:
    """A constrained answer (response_format, choices) runs with thinking off: the grammar
    shapes the answer from its first token, and `job.value` is parsed from the answer alone."""
    if output is not None and params.get("grammar") is not None:
        raise ValueError("give grammar or response_format / choices, not both")
    if output is not None and params.get("think") not in (None, False):
        raise ValueError(
            "response_format and choices run with thinking off (think=False): the grammar "
            "constrains the answer from its first token. Ask without a format to let the "
            "model think."
        )
