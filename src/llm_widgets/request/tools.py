"""Tools: a notebook's own Python functions, described to the model as OpenAI tools (JSON schema
from the signature and type hints), the model's arguments checked against that schema before a
call, and results turned into the text sent back (cut when long, secrets masked).

Nothing the model sends is evaluated: it can only name one of the functions passed, with JSON
arguments that match that function's schema.
"""

from __future__ import annotations

import collections
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Union

from .._secrets import scrub
from .._types import ToolCallRecord
from ..errors import ToolArgumentsError

if TYPE_CHECKING:
    from .mcp import MCPServer

MAX_RESULT = 4000  # characters of a result sent back to the model
MAX_TOOLS = 64
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


@dataclass(frozen=True)
class Tool:
    """A Python function (or a tool of an MCP server) the model may call."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    models: Mapping[str, type]  # parameters that take a pydantic model: name -> class
    owner: Any = None  # the MCPServer whose tool this is (None: a Python function)
    remote: str = ""  # the tool's name on that server (the model may see it prefixed)

    def openai(self) -> dict[str, Any]:
        """The tool as the OpenAI API describes it."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def check(self, arguments_text: str) -> dict[str, Any]:
        """The model's JSON arguments as a dict, or ToolArgumentsError saying what is wrong."""
        try:
            value = json.loads(arguments_text) if arguments_text.strip() else {}
        except ValueError as exc:
            raise ToolArgumentsError(f"the arguments are not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise ToolArgumentsError("the arguments must be a JSON object")
        _validate(value, self.parameters, "arguments", self.parameters.get("$defs", {}))
        self._models_of(value)  # a pydantic model's own checks, before anything runs
        return value

    def call(self, arguments: dict[str, Any], abort: Any = None) -> Any:
        """Run the function with checked arguments (pydantic parameters built first); a
        server's tool is called on its server (`abort`, a job's cancellation, stops the wait)."""
        if self.owner is not None:
            return self.function(self.remote, arguments, abort)
        return self.function(**self._models_of(arguments))

    def _models_of(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments with each pydantic parameter built (ToolArgumentsError if it fails)."""
        kwargs = dict(arguments)
        for name, model in self.models.items():
            if kwargs.get(name) is not None:
                try:
                    kwargs[name] = model.model_validate(kwargs[name])  # type: ignore[attr-defined]
                except Exception as exc:
                    errors = getattr(exc, "errors", None)
                    detail = errors()[0].get("msg") if callable(errors) and errors() else exc
                    raise ToolArgumentsError(f"{name}: {_first_line(detail)}") from None
        return kwargs


def as_tool(function: object) -> Tool:
    """Describe a plain function as a tool; TypeError for what cannot be described."""
    if isinstance(function, Tool):
        return function
    if not callable(function) or isinstance(function, type):
        raise TypeError(f"a tool is a function, not {type(function).__name__}")
    name = getattr(function, "__name__", "")
    if not _NAME.match(name):
        raise TypeError(f"a tool needs a plain function name (letters, digits, _), got {name!r}")
    try:
        signature = inspect.signature(function)
        hints = typing.get_type_hints(function)
    except (TypeError, ValueError, NameError) as exc:
        raise TypeError(f"cannot read the signature of {name}(): {exc}") from None
    docs = _doc_parts(inspect.getdoc(function) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    models: dict[str, type] = {}
    defs: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(
                f"{name}(): *args, **kwargs and positional-only parameters cannot be tools"
            )
        hint = hints.get(param.name, Any)
        schema = _schema(hint, f"{name}({param.name})", models, param.name, defs)
        if param.name in docs:
            schema = {**schema, "description": docs[param.name]}
        if param.default is param.empty:
            required.append(param.name)
        elif _is_json(param.default):
            schema = {**schema, "default": param.default}
        properties[param.name] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    parameters["additionalProperties"] = False
    if defs:
        parameters["$defs"] = defs
    return Tool(name, docs.get("", f"The Python function {name}()."), parameters, function, models)


def as_tools(tools: object) -> list[Tool]:
    """A list of tools with distinct names, or TypeError / ValueError."""
    if tools is None:
        return []
    if isinstance(tools, (str, bytes)) or not isinstance(tools, Sequence):
        raise TypeError("tools must be a list of functions (and MCP servers)")
    from .mcp import MCPServer  # (imports no SDK)

    made = [t for f in tools for t in (f.tools if isinstance(f, MCPServer) else [as_tool(f)])]
    made = _unique_server_tools(made)
    names = [t.name for t in made]
    if len(set(names)) != len(names):
        raise ValueError(f"two tools have the same name: {sorted(names)}")
    if len(made) > MAX_TOOLS:
        raise ValueError(f"at most {MAX_TOOLS} tools (MCPServer(allowed=[...]) keeps fewer)")
    return made


def _unique_server_tools(made: list[Tool]) -> list[Tool]:
    """The tools, each server tool whose name another tool has prefixed with its server's."""
    counts = collections.Counter(t.name for t in made)
    return [
        replace(t, name=f"{t.owner.name}_{t.name}"[:64])
        if t.owner is not None and counts[t.name] > 1
        else t
        for t in made
    ]


def servers_in(tools: object) -> list[Any]:
    """The MCP servers among `tools` (given, or owning one of the tools given)."""
    from .mcp import MCPServer

    found: dict[int, Any] = {}
    for item in tools if isinstance(tools, Sequence) and not isinstance(tools, str) else ():
        server = item if isinstance(item, MCPServer) else getattr(item, "owner", None)
        if server is not None:
            found[id(server)] = server
    return list(found.values())


def check_tool_choice(choice: object, tools: Sequence[Tool]) -> str:
    """ "auto", "required", "none" or the name of one of `tools`, or ValueError."""
    names = [t.name for t in tools]
    if not isinstance(choice, str) or (
        choice not in ("auto", "required", "none") and choice not in names
    ):
        raise ValueError(
            f"tool_choice must be 'auto', 'required', 'none' or a tool's name "
            f"({', '.join(names) or 'no tools given'}), got {choice!r}"
        )
    return choice


def format_result(value: Any, limit: int = MAX_RESULT) -> str:
    """What a tool's return value becomes for the model: a str as is, dict / list as JSON, a
    DataFrame as its shape and first rows; cut at `limit` characters with a note."""
    text = _as_text(value)
    if len(text) > limit:
        text = (
            text[:limit] + f"\n[... cut: the result has {len(text)} characters, "
            f"the first {limit} are shown]"
        )
    return scrub(text)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if hasattr(value, "model_dump_json") and callable(value.model_dump_json):
        return str(value.model_dump_json())
    shape, head = getattr(value, "shape", None), getattr(value, "head", None)
    if isinstance(shape, tuple) and callable(head) and hasattr(value, "to_string"):
        dims = " × ".join(str(n) for n in shape)
        rows = head(10).to_string()
        more = f"\n(first 10 of {shape[0]} rows)" if shape and shape[0] > 10 else ""
        return f"{type(value).__name__} of shape {dims}:\n{rows}{more}"
    if isinstance(value, (dict, list, tuple, int, float, bool)):
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            pass
    return str(value)


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _schema(hint: Any, where: str, models: dict[str, type], param: str, defs: dict) -> dict:
    """The JSON schema of one type hint."""
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        kinds = {_JSON_TYPES.get(type(a)) for a in args}
        schema: dict[str, Any] = {"enum": list(args)}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema
    if origin is Union or origin is types.UnionType:
        inner = [_schema(a, where, models, param, defs) for a in args if a is not type(None)]
        if type(None) in args:
            inner.append({"type": "null"})
        return inner[0] if len(inner) == 1 else {"anyOf": inner}
    if hint in (list, tuple, set) or origin in (list, tuple, set, Sequence):
        items = _schema(args[0], where, models, param, defs) if args else {}
        return {"type": "array", "items": items} if items else {"type": "array"}
    if hint is dict or origin in (dict, Mapping):
        schema = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            schema["additionalProperties"] = _schema(args[1], where, models, param, defs)
        return schema
    if isinstance(hint, type) and hasattr(hint, "model_json_schema"):
        models[param] = hint
        model_schema = dict(hint.model_json_schema())
        defs.update(model_schema.pop("$defs", {}))
        return model_schema
    raise TypeError(f"{where}: cannot describe the type {hint!r} to a model")


def _validate(value: Any, schema: Mapping[str, Any], where: str, defs: Mapping[str, Any]) -> None:
    """Check `value` against the subset of JSON schema `_schema` writes (and pydantic's)."""
    if "$ref" in schema:
        target = str(schema["$ref"]).rsplit("/", 1)[-1]
        schema = defs.get(target, {})
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                _validate(value, option, where, defs)
                return
            except ToolArgumentsError as exc:
                errors.append(str(exc))
        raise ToolArgumentsError(f"{where} matches none of the allowed types ({errors[0]})")
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        raise ToolArgumentsError(f"{where} must be one of {allowed}, got {json.dumps(value)}")
    kind = schema.get("type")
    if kind is not None and not _is_kind(value, kind):
        raise ToolArgumentsError(f"{where} must be {_kind_words(kind)}, got {json.dumps(value)}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _validate(item, schema["items"], f"{where}[{i}]", defs)
    if isinstance(value, dict) and (kind == "object" or "properties" in schema):
        properties = schema.get("properties", {})
        missing = [n for n in schema.get("required", []) if n not in value]
        if missing:
            raise ToolArgumentsError(f"{where} is missing {', '.join(missing)}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                _validate(item, properties[key], f"{where}.{key}", defs)
            elif extra is False:
                allowed = ", ".join(properties) or "none"
                raise ToolArgumentsError(f"{where} has no parameter {key!r} (it takes {allowed})")
            elif isinstance(extra, dict):
                _validate(item, extra, f"{where}.{key}", defs)


def _is_kind(value: Any, kind: Any) -> bool:
    if isinstance(kind, list):
        return any(_is_kind(value, k) for k in kind)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    checks: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "boolean": bool,
        "array": list,
        "object": dict,
        "null": type(None),
    }
    return isinstance(value, checks.get(kind, object))


def _kind_words(kind: Any) -> str:
    words = {"integer": "an integer", "number": "a number", "string": "a string"}
    words |= {"boolean": "true or false", "array": "a list", "object": "an object"}
    if isinstance(kind, list):
        return " or ".join(words.get(str(k), str(k)) for k in kind)
    return words.get(kind, str(kind))


def _doc_parts(doc: str) -> dict[str, str]:
    """The description ("" key: the docstring's text before an Args section) and each
    parameter's line from a Google-style Args / Parameters section."""
    split = re.split(r"^(?:Args|Arguments|Parameters):?[ \t]*$", doc, maxsplit=1, flags=re.M)
    head, rest = split[0], split[1] if len(split) > 1 else ""
    parts = {"": " ".join(head.split())} if head.strip() else {}
    for match in re.finditer(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$", rest, flags=re.M):
        parts.setdefault(match.group(1), match.group(2).strip())
    return parts


def _first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0] if lines else type(value).__name__


Approve = None | str | Callable[[ToolCallRecord], bool]
ToolLike = Union[Callable[..., Any], "MCPServer"]  # what `tools=[...]` takes


@dataclass(frozen=True)
class ToolSettings:
    """What a generation with tools was given: the tools, the choice, who approves, the rounds."""

    tools: tuple[Tool, ...]
    choice: str = "auto"
    approve: Approve = None
    max_rounds: int = 8
    given: tuple[Any, ...] = ()  # the tools as passed, while a server among them is not up

    def ready(self, starting: Callable[[str], None] = lambda name: None) -> ToolSettings:
        """These settings with every server's tools, each server not running started first
        (`starting(name)` told before): MCPServerError if one does not answer in time."""
        if not self.given:
            return self
        for server in servers_in(self.given):
            if not server.running:
                starting(server.name)
                server.start()
        made = as_tools(list(self.given))
        choice = check_tool_choice(self.choice, made)
        return replace(self, tools=tuple(made), choice=choice, given=())

    def openai(self) -> list[dict[str, Any]]:
        """The tools as the OpenAI API lists them."""
        return [t.openai() for t in self.tools]

    def find(self, name: str) -> Tool | None:
        """The tool of that name, if it was passed."""
        return next((t for t in self.tools if t.name == name), None)


def tool_settings(
    tools: object, tool_choice: object, approve: object, max_tool_rounds: object
) -> ToolSettings | None:
    """The checked tool arguments of a request (None without tools), or TypeError / ValueError."""
    later = [s for s in servers_in(tools) if not s.running]  # started in the job's worker
    given = tuple(tools) if later and isinstance(tools, Sequence) else ()
    made = as_tools([t for t in given if t not in later]) if later else as_tools(tools)
    if not made and not later:
        if tool_choice not in (None, "auto", "none") or approve is not None:
            raise ValueError("tool_choice and approve need tools=[...]")
        return None
    choice = "auto" if tool_choice is None else tool_choice
    if not (later and isinstance(choice, str)):  # a server tool's name: checked once it is up
        choice = check_tool_choice(choice, made)
    if approve is not None and approve != "ask" and not callable(approve):
        raise ValueError("approve must be None, 'ask' or a function of the call record")
    if (
        isinstance(max_tool_rounds, bool)
        or not isinstance(max_tool_rounds, int)
        or not 0 <= max_tool_rounds <= 100
    ):
        raise ValueError(f"max_tool_rounds must be an int from 0 to 100, got {max_tool_rounds!r}")
    return ToolSettings(tuple(made), choice, approve, max_tool_rounds, given)
