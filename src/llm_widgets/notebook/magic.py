"""`%%llm` and `%llm`: ask the model that answers now from a cell, the answer streamed into the
output; successive cells are one conversation. `%load_ext llm_widgets` registers them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand

from .._format import shorten
from .._types import ToolCallRecord
from ..context import attach, format_prompt
from ..errors import PromptFormatError
from ..jobs import GenerationJob
from ..service._service import LLMKernelService
from ._live_answer import LiveAnswer

USAGE = """%%llm [options]  (the prompt is the cell)   ·   %llm [options] question
  -o NAME             store the answer in NAME (the parsed value with --json-schema/--choices)
  --json-schema VAR   answer as JSON following the schema in VAR (a dict or a pydantic class)
  --choices a,b,c     answer with one of these labels
  --system TEXT       the system message (kept for the cells that follow)
  --think/--no-think  ask a thinking model to think first, or not
  --max-tokens N      the longest answer, in tokens (default 512)
  --temperature T     sampling temperature
  --new               start a new conversation
  --history           show the conversation (`messages = %llm --history` gives the list)
  --tools f,g,server  tools the model may call: variables holding functions, MCPServers or lists
                      of them; each call runs without asking (a cell has no Approve button) and
                      is printed as one line
  --tool-choice C     auto (default), required, none, or a tool's name
{name} in the prompt formats a variable into it; @name attaches one as context."""

DEFAULT_MAX_TOKENS = 512
_FLAGS = {"--new", "--history", "--think", "--no-think"}
_VALUED = {"-o", "--json-schema", "--choices", "--system", "--max-tokens", "--temperature"}
_VALUED |= {"--tools", "--tool-choice"}
_TOKEN = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|\S+)""")


@dataclass
class MagicOptions:
    """What the magic's line asked for."""

    output: str | None = None
    json_schema: str | None = None
    choices: list[str] | None = None
    system: str | None = None
    think: bool | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float | None = None
    new: bool = False
    history: bool = False
    tools: list[str] | None = None  # names of kernel variables
    tool_choice: str | None = None
    text: str = ""  # the question on the line (the line magic)


def parse_options(line: str) -> MagicOptions:
    """The options at the start of `line`, and the question after them (`--` ends the options).
    Raises UsageError for an unknown option or a bad value."""
    options = MagicOptions()
    pos = 0
    while True:
        match = _TOKEN.match(line, pos)
        if match is None:
            pos = len(line)
            break
        token = match.group(1)
        if token == "--":
            pos = match.end()
            break
        if not token.startswith("-") or token == "-":
            pos = match.start(1)
            break
        name, eq, value = token.partition("=")
        pos = match.end()
        if name in _FLAGS and not eq:
            _set_flag(options, name)
            continue
        if name not in _VALUED:
            raise UsageError(f"%llm: unknown option {name!r}.\n\n{USAGE}")
        if not eq:
            following = _TOKEN.match(line, pos)
            if following is None:
                raise UsageError(f"%llm: {name} needs a value.")
            value, pos = following.group(1), following.end()
        _set_value(options, name, _unquote(value))
    options.text = line[pos:].strip()
    return options


def _set_flag(options: MagicOptions, name: str) -> None:
    if name in ("--think", "--no-think"):
        options.think = name == "--think"
    else:
        setattr(options, name[2:], True)


def _set_value(options: MagicOptions, name: str, value: str) -> None:
    if name == "-o":
        if not value.isidentifier():
            raise UsageError(f"%llm: -o takes a variable name, not {value!r}.")
        options.output = value
    elif name == "--json-schema":
        options.json_schema = value
    elif name == "--choices":
        labels = [c.strip() for c in value.split(",") if c.strip()]
        if not labels:
            raise UsageError("%llm: --choices takes labels separated by commas: --choices a,b,c")
        options.choices = labels
    elif name == "--system":
        options.system = value
    elif name == "--tools":
        names = [n.strip() for n in value.split(",") if n.strip()]
        if not names or not all(n.isidentifier() for n in names):
            raise UsageError("%llm: --tools takes variable names separated by commas: --tools f,g")
        options.tools = names
    elif name == "--tool-choice":
        options.tool_choice = value
    elif name == "--max-tokens":
        options.max_tokens = _number(name, value, int)
    else:
        options.temperature = _number(name, value, float)


def _number(name: str, value: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise UsageError(f"%llm: {name} takes a number, not {value!r}.") from None


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        return re.sub(r"\\(.)", r"\1", inner) if value[0] == '"' else inner
    return value


class Conversation(list[dict[str, str]]):
    """The magic's conversation: a list of {"role", "content"} dicts (hand it to
    `Chat(messages=...)`), shown as Markdown."""

    def _repr_markdown_(self) -> str:
        if not self:
            return "*The conversation is empty.*"
        names = {"system": "System", "user": "User", "assistant": "Assistant"}
        return "\n\n---\n\n".join(f"**{names[m['role']]}:**\n\n{m['content']}" for m in self)


@magics_class
class LLMMagics(Magics):
    """`%%llm` / `%llm`: prompts from cells, one conversation until `%llm --new`."""

    def __init__(self, shell: Any = None, service: LLMKernelService | None = None) -> None:
        super().__init__(shell)
        self._service = service
        self._messages: list[dict[str, str]] = []
        self.job: GenerationJob | None = None  # the last answer's job

    @property
    def service(self) -> LLMKernelService:
        """The service whose model answers (the kernel's shared one unless given)."""
        return self._service if self._service is not None else LLMKernelService.instance()

    @property
    def messages(self) -> Conversation:
        """The conversation so far (a copy), system message first when there is one."""
        return Conversation(dict(m) for m in self._messages)

    @property
    def _namespace(self) -> dict[str, Any]:
        if self.shell is None:
            raise UsageError("%llm runs in an IPython shell")
        namespace: dict[str, Any] = self.shell.user_ns
        return namespace

    def new_conversation(self) -> None:
        """Forget the conversation."""
        self._messages = []

    @no_var_expand  # {name} is ours to format (with a clear error), not IPython's
    @line_cell_magic
    def llm(self, line: str, cell: str | None = None) -> Conversation | None:
        """Ask the model (see USAGE)."""
        options = parse_options(line)
        if cell is not None and options.text:
            raise UsageError("%%llm takes options on its first line; the prompt is the cell.")
        template = cell if cell is not None else options.text
        if options.new:
            self.new_conversation()
        if options.history:
            history = self.messages
            if options.output:
                self._namespace[options.output] = history
            return history
        if not template.strip():
            if options.new:
                return None
            raise UsageError(f"%llm needs a prompt.\n\n{USAGE}")
        self._ask(template, options)
        return None

    def _ask(self, template: str, options: MagicOptions) -> None:
        namespace = self._namespace
        try:
            text = format_prompt(template, namespace)
        except PromptFormatError as exc:
            raise UsageError(str(exc)) from None
        attached = attach(text, namespace, mentions_in=template)
        request = self._request(attached.text, options)
        job = self._start(request, options, namespace)
        self.job = job
        live = LiveAnswer(attached.summary())
        live.follow(job)
        if job.state == "failed":
            job.wait(0)  # raises the job's error
        if job.text or job.state == "done":  # a stop before the first token leaves no turn
            self._messages = request + [{"role": "assistant", "content": job.text}]
        for record in job.tool_calls:
            print(call_line(record))
        for note in job.notes:  # (e.g. --think on a model that cannot think)
            print(f"({note})")
        self._store(job, options)

    def _request(self, text: str, options: MagicOptions) -> list[dict[str, str]]:
        """The messages the model is sent: the conversation, with the system message set, and
        the new question."""
        history = list(self._messages)
        if options.system is not None:
            history = [m for m in history if m["role"] != "system"]
            if options.system:
                history.insert(0, {"role": "system", "content": options.system})
        return history + [{"role": "user", "content": text}]

    def _start(
        self, request: list[dict[str, str]], options: MagicOptions, namespace: Mapping[str, Any]
    ) -> GenerationJob:
        service = self.service
        if service.model is None and service.loading is None:
            raise UsageError(
                "No model is loaded: load one (ModelCard, service.load_model()) or connect to a "
                "server first."
            )
        params: dict[str, Any] = {"max_tokens": options.max_tokens}
        if options.temperature is not None:
            params["temperature"] = options.temperature
        if options.think is not None:
            params["think"] = options.think
        schema: Any = None
        if options.json_schema is not None:
            if options.json_schema not in namespace:
                raise UsageError(f"--json-schema {options.json_schema}: no such variable.")
            schema = namespace[options.json_schema]
        if options.tools is not None:
            params["tools"] = _tools(options.tools, namespace)
            params["tool_choice"] = options.tool_choice or "auto"
        elif options.tool_choice is not None:
            raise UsageError("%llm: --tool-choice needs --tools.")
        try:
            return service.generate_chat_completion(
                request,
                trim_history=True,
                response_format=schema,
                choices=options.choices,
                **params,
            )
        except (TypeError, ValueError) as exc:
            if options.think is not None and "'think'" in str(exc):
                raise UsageError(
                    "--think / --no-think: this version of llm-widgets cannot pass `think` to the "
                    "model yet; leave the flag out."
                ) from None
            raise UsageError(f"%llm: {exc}") from None

    def _store(self, job: GenerationJob, options: MagicOptions) -> None:
        if options.output is None:
            return
        structured = options.json_schema is not None or options.choices is not None
        if structured and job.state != "done":
            print(f"(the answer was stopped: {options.output} is not set)")
            return
        self._namespace[options.output] = job.value if structured else job.text


def _tools(names: list[str], namespace: Mapping[str, Any]) -> list[Any]:
    """The functions and MCP servers the variables hold (a list is spread)."""
    tools: list[Any] = []
    for name in names:
        if name not in namespace:
            raise UsageError(f"--tools {name}: no such variable.")
        value = namespace[name]
        tools += list(value) if isinstance(value, (list, tuple)) else [value]
    return tools


def call_line(record: ToolCallRecord) -> str:
    """One tool call in a line: its name, its server and what came of it."""
    where = f" on {record.server}" if record.server else ""
    outcome = f"{record.status}: {record.error}" if record.error else f"→ {record.result}"
    return f"(tool {record.name}{where} {shorten(' '.join(outcome.split()), 120)})"


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext llm_widgets`: register `%%llm` and `%llm`."""
    ipython.register_magics(LLMMagics(ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext llm_widgets`: nothing to undo (the magics stay until the kernel restarts)."""
