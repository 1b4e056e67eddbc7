"""The front-end message protocol (docs/protocol.md): every incoming message is checked here."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._names import (
    MAX_BASE_URL,
    MAX_FILENAME,
    MAX_REPO_ID,
    check_base_url,
    validate_filename,
    validate_repo_id,
)
from ..errors import ProtocolError
from ..hub.search import MAX_QUERY

MAX_REQUEST_ID = 64
MAX_MESSAGE = 100_000  # characters of a chat message
MAX_CALL_ID = 256  # characters of a tool call's id


@dataclass(frozen=True)
class Field:
    """One field of a message: its type, whether it is required, and its bounds."""

    kind: type | tuple[type, ...]
    required: bool = True
    max_length: int | None = None
    non_empty: bool = False
    minimum: float | None = None
    maximum: float | None = None
    check: Callable[[Any], object] | None = None


@dataclass(frozen=True)
class Message:
    """A validated front-end message."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


Schema = Mapping[str, Mapping[str, Field]]


def parse_message(content: object, schema: Schema) -> Message:
    """Validate `content` against `schema` (message type -> fields); raise ProtocolError."""
    if not isinstance(content, dict):
        raise ProtocolError(f"Ignored a message that is not an object ({type(content).__name__}).")
    kind = content.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("Ignored a message without a string 'type'.")
    if kind not in schema:
        known = ", ".join(sorted(schema))
        raise ProtocolError(
            f"Ignored unknown message type {kind[:40]!r} (expected one of {known})."
        )
    request_id = content.get("request_id")
    if request_id is not None and (
        not isinstance(request_id, str) or not request_id or len(request_id) > MAX_REQUEST_ID
    ):
        raise ProtocolError(f"Ignored {kind!r}: request_id must be a string of 1-64 characters.")
    spec = schema[kind]
    extra = set(content) - set(spec) - {"type", "request_id"}
    if extra:
        names = ", ".join(sorted(str(e)[:40] for e in extra))
        raise ProtocolError(f"Ignored {kind!r}: unexpected field(s) {names}.")
    values: dict[str, Any] = {}
    for name, rule in spec.items():
        if name not in content or content[name] is None:
            if rule.required:
                raise ProtocolError(f"Ignored {kind!r}: missing field {name!r}.")
            continue
        values[name] = _check_field(kind, name, content[name], rule)
    return Message(kind, values, request_id)


def _check_field(kind: str, name: str, value: Any, rule: Field) -> Any:
    where = f"Ignored {kind!r}: field {name!r}"
    if isinstance(value, bool) and bool not in _as_tuple(rule.kind):
        raise ProtocolError(f"{where} must be {_type_names(rule.kind)}, not a boolean.")
    if not isinstance(value, rule.kind):
        raise ProtocolError(
            f"{where} must be {_type_names(rule.kind)}, not {type(value).__name__}."
        )
    if isinstance(value, str):
        if rule.non_empty and not value.strip():
            raise ProtocolError(f"{where} must not be empty.")
        if rule.max_length is not None and len(value) > rule.max_length:
            raise ProtocolError(f"{where} is longer than {rule.max_length} characters.")
        if "\x00" in value:
            raise ProtocolError(f"{where} contains a NUL character.")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ProtocolError(f"{where} must be a finite number.")
        if rule.minimum is not None and value < rule.minimum:
            raise ProtocolError(f"{where} must be at least {rule.minimum}.")
        if rule.maximum is not None and value > rule.maximum:
            raise ProtocolError(f"{where} must be at most {rule.maximum}.")
    if rule.check is not None:
        try:
            rule.check(value)
        except ValueError as exc:
            raise ProtocolError(f"{where}: {exc}") from None
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _type_names(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


REPO_ID = Field(str, max_length=MAX_REPO_ID, check=validate_repo_id)
REPO_FILE = Field(str, max_length=MAX_FILENAME, check=validate_filename)

# The numbers a view lets a person edit, declared once: Python validates with them, the help
# texts quote them, and every widget syncs them to its view in its `limits` trait.
TRAIT_BOUNDS: dict[str, tuple[float, float]] = {
    "n_ctx": (256, 1 << 20),
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "max_tokens": (1, 32768),
    "max_concurrent_downloads": (1, 16),
}


def bounds_text(name: str) -> str:
    """'low to high' for a bounded trait, for help texts."""
    low, high = TRAIT_BOUNDS[name]
    return f"{low} to {high}"


MODEL_CARD: Schema = {
    "sync": {},
    "download": {},
    "cancel": {},
    "retry": {},
    "load": {},
    "unload": {},
    "stop_running": {},
}

CHAT: Schema = {
    "send": {"text": Field(str, non_empty=True, max_length=MAX_MESSAGE)},
    "regenerate": {},
    "edit_last": {"text": Field(str, non_empty=True, max_length=MAX_MESSAGE)},
    "stop": {},
    "stop_running": {},
    "clear": {},
    "sync": {},
    "approve": {"call_id": Field(str, non_empty=True, max_length=MAX_CALL_ID)},
    "deny": {"call_id": Field(str, non_empty=True, max_length=MAX_CALL_ID)},
}

MODEL_BROWSER: Schema = {
    "sync": {},
    "search": {"query": Field(str, max_length=MAX_QUERY)},
    "pick": {"repo_id": REPO_ID},
    "download": {"filename": REPO_FILE},
}

SERVER_CONNECTION: Schema = {
    "connect": {
        "base_url": Field(str, non_empty=True, max_length=MAX_BASE_URL, check=check_base_url),
        "model": Field(str, required=False, max_length=512),
        "api_key": Field(str, required=False, max_length=4096),
    },
    "disconnect": {},
    "forget_key": {},
    "sync": {},
}

BATCH_RUN: Schema = {
    "stop": {},
    "resume": {},
    "sync": {},
}

COMPARE: Schema = {
    "stop": {},
    "resume": {},
    "pick": {
        "row": Field(int, minimum=0, maximum=1_000_000),
        "column": Field(int, minimum=0, maximum=25),
    },
    "reveal": {},
    "sync": {},
}

LOCAL_LIBRARY: Schema = {
    "delete": {"repo_id": REPO_ID, "filename": REPO_FILE},
    "discard": {"repo_id": REPO_ID, "filename": REPO_FILE},
    "resume": {"repo_id": REPO_ID, "filename": REPO_FILE},
    "load": {"repo_id": REPO_ID, "filename": REPO_FILE},
    "unload": {},
    "refresh": {},
    "sync": {},
}
