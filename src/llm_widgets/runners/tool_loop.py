"""One chat turn with tools: the model answers or asks for calls; the calls are checked, approved,
run in a thread of their own and their results go back as `tool` messages; then the model goes on,
until an answer without calls (or `max_tool_rounds`). The worker body of a generation with tools
runs this; so does a batch item."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from .._secrets import scrub
from .._types import GenerationStats, Thinking, ToolCall, ToolCallRecord
from ..engines._tool_prompt import effective_choice, may_be_written_call, written_calls
from ..engines.base import Backend
from ..errors import JobCancelledError
from ..jobs import GenerationJob
from ..request.printed import kept, printed_output
from ..request.tools import Tool, ToolArgumentsError, ToolSettings, format_result

STOPPED = "Not run: the user stopped the turn."
DECLINED = "The user declined this call: the function did not run. Do not call it again."


class ToolTurn:
    """Runs one turn with tools for a job (`job.tools` set), pushing text as it streams."""

    def __init__(
        self,
        job: GenerationJob,
        settings: ToolSettings,
        *,
        on_piece: Callable[[str], None],
        on_call: Callable[[ToolCallRecord], None],
    ) -> None:
        self.job, self.settings = job, settings
        self.on_piece, self.on_call = on_piece, on_call
        self._redact: Any = None

    def run(self, engine: Backend, messages: list[dict[str, Any]], **params: Any) -> None:
        """Rounds until an answer without calls; `job.new_messages` holds what the turn adds."""
        job, settings = self.job, self.settings
        self._redact = getattr(engine, "redact", None)  # a server connection's own key
        history = list(messages)
        choice = settings.choice
        total: GenerationStats | None = None
        for rounds in range(settings.max_rounds + 1):
            start = len(job.text)
            pieces = engine.stream_chat(
                history,
                abort=job.cancellation,
                tools=settings.openai(),
                tool_choice=choice,
                **params,
            )
            # with "auto", an answer that may be a call written as JSON is held back until it
            # ends; not after tool results (a small model writes its call again: SmolLM2 did)
            written = effective_choice(history, choice) == "auto"
            hold = _WrittenCallHold(self.on_piece) if written else None
            try:
                for piece in pieces:
                    (hold.feed if hold is not None else self.on_piece)(piece)
                calls = [] if job.cancel_requested else engine.last_tool_calls
                if hold is not None and not calls and not job.cancel_requested:
                    calls = written_calls(hold.text, [t.name for t in settings.tools])
                    hold.text = "" if calls else hold.text
            finally:
                if hold is not None:
                    hold.release()
            total = _added(total, engine.last_stats)
            job.stats = total
            text = job.text[start:]
            if not calls:
                job.new_messages.append({"role": "assistant", "content": text})
                return
            if rounds == settings.max_rounds:
                self._out_of_rounds(calls, text)
                return
            asked = _assistant(text, _unique_ids(calls))
            job.new_messages.append(asked)
            history.append(asked)
            results = self._settle_all(asked["tool_calls"])
            history += results
            # like the OpenAI Agents SDK: after a round of calls the model may answer
            choice = "none" if choice == "none" else "auto"

    # -- one round's calls ----------------------------------------------------------------------

    def _settle_all(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A tool message for every call (so the history stays valid even after a Stop)."""
        results: list[dict[str, Any]] = []
        stopped: JobCancelledError | None = None
        for call in calls:
            function = call["function"]
            record = ToolCallRecord(call["id"], function["name"], _loose(function["arguments"]))
            self.job.tool_calls.append(record)
            content = STOPPED
            if stopped is None:
                try:
                    content = self._settle(record, function["arguments"])
                except JobCancelledError as exc:
                    stopped = exc
            if stopped is None and self.job.cancel_requested:
                stopped = JobCancelledError("stopped between tool calls")
            if record.status in ("running", "waiting"):
                record.status, record.error = "stopped", STOPPED
                self.on_call(record)
            message = {"role": "tool", "tool_call_id": record.id, "content": content}
            results.append(message)
            self.job.new_messages.append(message)
        if stopped is not None:
            raise stopped
        return results

    def _settle(self, record: ToolCallRecord, arguments: str) -> str:
        """Check, approve and run one call; the text that goes back to the model."""
        tool = self.settings.find(record.name)
        if tool is None:
            names = ", ".join(t.name for t in self.settings.tools)
            return self._failed(record, f"There is no tool {record.name!r}; the tools are {names}.")
        record.server = tool.owner.name if tool.owner is not None else ""
        try:
            record.arguments = tool.check(arguments)
        except ToolArgumentsError as exc:
            return self._failed(record, f"Bad arguments for {record.name}: {exc}. Nothing ran.")
        record.approved = self._approval(record)
        if record.approved is False:
            record.status, record.error = "declined", "declined"
            self.on_call(record)
            return DECLINED
        return self._call(tool, record)

    def _approval(self, record: ToolCallRecord) -> bool | None:
        approve = self.settings.approve
        if approve is None:
            return None
        if approve == "ask":
            record.status = "waiting"
            self.on_call(record)
            decision = self.job.wait_for_decision(record.id)
            record.status = "running"
            return decision
        try:
            return bool(approve(record))  # type: ignore[operator]
        except Exception as exc:
            record.note = scrub(f"approve() raised {type(exc).__name__}: {exc}")
            return False

    def _call(self, tool: Tool, record: ToolCallRecord) -> str:
        """Run the function in a thread of its own; Stop cannot kill it: the card says so and
        the turn ends when it returns."""
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            with printed_output() as printed:
                try:
                    outcome["value"] = tool.call(record.arguments, self.job.cancellation)
                except BaseException as exc:
                    outcome["error"] = exc
                finally:
                    record.output = self._clean(kept(printed.getvalue()))
            done.set()

        record.status = "running"
        self.on_call(record)
        began = time.perf_counter()
        thread = threading.Thread(target=work, name=f"llm-widgets-tool-{tool.name}", daemon=True)
        thread.start()
        while not done.wait(0.05):
            if self.job.cancel_requested and not record.note:
                record.note = _stop_note(tool)
                self.on_call(record)
        thread.join()
        record.seconds = round(time.perf_counter() - began, 4)
        if isinstance(outcome.get("error"), JobCancelledError):
            return STOPPED  # a server's call, cancelled: the turn ends (the card says stopped)
        if "error" in outcome:
            exc = outcome["error"]
            content = self._failed(record, self._clean(f"{type(exc).__name__}: {exc}"))
        else:
            record.status = "done"
            record.result = self._clean(format_result(outcome.get("value")))
            self.on_call(record)
            content = record.result
        return content

    def _clean(self, text: str) -> str:
        """`text` with every secret masked: the process's own and the connection's key."""
        text = scrub(text)
        return self._redact(text) if callable(self._redact) else text

    def _failed(self, record: ToolCallRecord, error: str) -> str:
        record.status, record.error = "error", error
        record.result = f"Error: {error}"
        self.on_call(record)
        return record.result

    def _out_of_rounds(self, calls: list[ToolCall], text: str) -> None:
        limit = self.settings.max_rounds
        note = (
            f"\n\n*Stopped after {limit} round{'s' * (limit != 1)} of tool calls "
            f"(max_tool_rounds={limit}): the model asked for more "
            f"({', '.join(c.name for c in calls)}), which did not run.*"
        )
        for call in calls:
            record = ToolCallRecord(call.id, call.name, _loose(call.arguments), status="not run")
            record.error = f"Not run: max_tool_rounds ({limit}) reached."
            self.job.tool_calls.append(record)
            self.on_call(record)
        self.on_piece(note)
        self.job.new_messages.append({"role": "assistant", "content": text + note})
        if self.job.stats is not None:
            self.job.stats.stop_reason = "max_tool_rounds"


class _WrittenCallHold:
    """Passes an answer's pieces on, except while the answer so far may still be a tool call
    written as JSON (bare, fenced, tagged): that text waits in `text` for the end of the round."""

    def __init__(self, push: Callable[[str], None]) -> None:
        self.push = push
        self.text = ""
        self.passing = False

    def feed(self, piece: str) -> None:
        if self.passing or isinstance(piece, Thinking):
            self.push(piece)
            return
        self.text += piece
        if not may_be_written_call(self.text):
            self.release()

    def release(self) -> None:
        """Pass on what is held (it was not a call), and everything after it."""
        self.passing = True
        held, self.text = self.text, ""
        if held:
            self.push(held)


def _stop_note(tool: Tool) -> str:
    """What the card says when Stop comes while a call runs."""
    if tool.owner is not None:
        return (
            f"Stop came while {tool.name} was running on the MCP server {tool.owner.name}: "
            "the call was cancelled."
        )
    return (
        f"Stop came while {tool.name}() was running: a Python function cannot be "
        "stopped from outside, so the turn ends as soon as it returns."
    )


def _assistant(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    """The assistant's message that asks for `calls`, in the OpenAI shape."""
    return {
        "role": "assistant",
        "content": text,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ],
    }


def _unique_ids(calls: list[ToolCall]) -> list[ToolCall]:
    """The calls, each with an id of its own (some servers send none, or the same one)."""
    seen: set[str] = set()
    out = []
    for call in calls:
        ident = call.id
        if not ident or ident in seen:
            ident = f"call_{uuid.uuid4().hex[:16]}"
        seen.add(ident)
        out.append(ToolCall(ident, call.name, call.arguments))
    return out


def _loose(arguments: str) -> dict[str, Any]:
    """The arguments as a dict for the record, before (or without) the schema check."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"(not JSON)": arguments[:500]}
    return value if isinstance(value, dict) else {"(not an object)": value}


def _added(total: GenerationStats | None, last: GenerationStats | None) -> GenerationStats | None:
    """The figures of a turn so far: the first round's first token, every round's tokens."""
    if last is None or total is None:
        return last if total is None else total
    merged = GenerationStats(**vars(last))
    merged.ttft = total.ttft or (total.total_time + last.ttft if last.ttft else 0.0)
    merged.prompt_tokens = max(total.prompt_tokens, last.prompt_tokens)
    merged.completion_tokens += total.completion_tokens
    merged.total_time += total.total_time
    return merged
