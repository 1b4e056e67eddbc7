"""Structured output: a JSON schema (a dict, or a pydantic model class) or a list of labels,
turned into what constrains generation (the schema itself, which each engine hands to llama.cpp
its own way, or a GBNF grammar of the labels), and the parser that checks the answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .._format import shorten
from ..errors import OutputParseError

MAX_CHOICES = 1000


@dataclass(frozen=True)
class OutputFormat:
    """What an answer must be: JSON matching `schema` (validated by `model` when it is a
    pydantic class), or exactly one of `choices`."""

    schema: dict[str, Any] | None = None
    model: Any = None  # a pydantic BaseModel subclass
    choices: tuple[str, ...] | None = None

    @property
    def request(self) -> dict[str, Any]:
        """The engine parameters that constrain an answer: `grammar` (GBNF) for choices,
        `json_schema` for a schema."""
        if self.choices is not None:
            return {"grammar": "root ::= " + " | ".join(json.dumps(c) for c in self.choices) + "\n"}
        return {"json_schema": self.schema or {}}

    def parse(self, text: str) -> Any:
        """The answer's value, or OutputParseError (with the text kept)."""
        if self.choices is not None:
            answer = text.strip()
            if answer not in self.choices:
                raise OutputParseError(
                    f"The answer {shorten(answer)!r} is none of the choices "
                    f"{', '.join(self.choices[:10])}.",
                    text,
                )
            return answer
        if self.model is not None:
            try:
                return self.model.model_validate_json(text)
            except Exception as exc:  # pydantic's ValidationError, with every problem listed
                raise OutputParseError(
                    f"The answer does not validate as {self.model.__name__}: "
                    f"{_first_line(exc)} (answer: {shorten(text)!r}).",
                    text,
                ) from None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise OutputParseError(
                f"The answer is not valid JSON ({exc}); it was cut short or the server ignored "
                f"the grammar (answer: {shorten(text)!r}).",
                text,
            ) from None
        _check(value, self.schema or {}, "answer", text)
        return value


def output_format(response_format: object, choices: object) -> OutputFormat | None:
    """The OutputFormat a request asks for, or None; ValueError/TypeError for a bad one."""
    if response_format is not None and choices is not None:
        raise ValueError("give response_format or choices, not both")
    if choices is not None:
        if isinstance(choices, (str, bytes)) or not hasattr(choices, "__iter__"):
            raise TypeError("choices must be a list of strings")
        labels = tuple(choices)
        if not labels or not all(isinstance(c, str) and c for c in labels):
            raise ValueError("choices must be a non-empty list of non-empty strings")
        if len(labels) > MAX_CHOICES or len(set(labels)) != len(labels):
            raise ValueError(f"choices must be at most {MAX_CHOICES} distinct labels")
        return OutputFormat(choices=labels)
    if response_format is None:
        return None
    if isinstance(response_format, type) and hasattr(response_format, "model_json_schema"):
        return OutputFormat(schema=response_format.model_json_schema(), model=response_format)
    if isinstance(response_format, dict):
        try:
            json.dumps(response_format)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"response_format is not a JSON schema: {exc}") from None
        return OutputFormat(schema=response_format)
    raise TypeError(
        "response_format must be a JSON schema (a dict) or a pydantic model class, "
        f"not {type(response_format).__name__}"
    )


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _check(value: Any, schema: dict[str, Any], where: str, text: str) -> None:
    """The parts of JSON Schema a grammar enforces, checked again after parsing (a server may
    have ignored the grammar): type, required properties, enum, items and properties."""
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _TYPES:
        ok = isinstance(value, _TYPES[kind]) and not (
            kind in ("integer", "number") and isinstance(value, bool)
        )
        if not ok:
            raise OutputParseError(f"In the answer, {where} is not of type {kind}.", text)
    if "enum" in schema and value not in schema["enum"]:
        raise OutputParseError(f"In the answer, {where} is not one of {schema['enum']}.", text)
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                raise OutputParseError(f"The answer lacks the required {name!r}.", text)
        for name, sub in (schema.get("properties") or {}).items():
            if name in value and isinstance(sub, dict):
                _check(value[name], sub, f"{where}.{name}", text)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _check(item, schema["items"], f"{where}[{i}]", text)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return " ".join(lines[:3]) if lines else type(exc).__name__
