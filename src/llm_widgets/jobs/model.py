"""The model's jobs: loading a GGUF, and one streamed answer (with its thinking and tool calls)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

from .._types import GenerationStats, ModelFacts, Thinking, ToolCallRecord
from ._base import FINAL_STATES, Job


class LoadJob(Job):
    """Loading one GGUF file into llama.cpp."""

    kind = "load"

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.path: str | None = None
        self.load_progress: float = 0.0
        self.facts: ModelFacts | None = None
        self.replaced: str = ""  # the model this load unloaded to make room ("" if none)
        # what to know about this load, in words (the model it unloaded, a GPU asked for that
        # the build does not have)
        self.notes: list[str] = []

    @property
    def progress(self) -> float:
        """Percent loaded, 0 to 100 (includes waiting for the download)."""
        return 100.0 if self.state == "done" else self.load_progress

    def _describe(self) -> list[str]:
        name = (self.path or self.source).replace("\\", "/").rsplit("/", 1)[-1]
        parts = [name] if name else []
        if self.state in ("queued", "running"):
            parts.append(f"{int(self.progress)}%")
        return parts + self.notes

    def _end_events(self) -> list[tuple[str, tuple[Any, ...]]]:
        loaded = [("model_loaded", (self.facts,))] if self.state == "done" else []
        return loaded + super()._end_events()


_END = object()


class GenerationJob(Job):
    """One streamed completion: iterate it for the answer's pieces, or wait for the whole answer.
    A thinking model's reasoning is kept apart: `reasoning` (the thinking so far), never in
    `text`."""

    kind = "generation"

    def __init__(self, mode: Literal["completion", "chat"], request: Any, params: dict[str, Any]):
        super().__init__()
        self.mode = mode
        self.request = request
        self.params = params
        self.options: dict[str, Any] = {}  # engine options that are not sampling parameters
        self.output: Any = None  # an _structured.OutputFormat the answer must follow
        self.value: Any = None  # the parsed answer, when `output` is set
        self.text: str = ""  # the answer alone
        self.reasoning: str = ""  # the model's thinking before (or beside) its answer
        self.stats: GenerationStats | None = None
        self.thinking_started: float | None = None  # perf_counter() of the first thinking piece
        self.answer_started: float | None = None  # ... and of the first answer piece
        self.tools: Any = None  # a _tools.ToolSettings: the functions the model may call
        self.tool_calls: list[ToolCallRecord] = []  # every call the model asked for, in order
        # what this turn adds to a conversation, in the OpenAI shape: the assistant's
        # tool_calls, the tool results, the final answer (chat generations only)
        self.new_messages: list[dict[str, Any]] = []
        # what to know about this answer, in words (a think= the model cannot follow, an answer
        # that was all thinking): said, not failed
        self.notes: list[str] = []
        self._chunks: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._iterating = threading.Lock()
        self._decisions: dict[str, bool] = {}
        self._decided = threading.Condition()

    def __iter__(self) -> Iterator[str]:
        """Yield the answer's pieces as they are generated (one consumer at a time); thinking
        is in `reasoning`."""
        if not self._iterating.acquire(blocking=False):
            raise RuntimeError("this generation is already being iterated")
        try:
            while True:
                item = self._chunks.get()
                if item is _END:
                    self._chunks.put(_END)
                    break
                yield str(item)
        finally:
            self._iterating.release()
        if self.state == "failed":
            self.wait(0)

    @property
    def stop_reason(self) -> str | None:
        """Why generation stopped: "stop", "length", "aborted", "error" (None while running)."""
        return self.stats.stop_reason if self.stats is not None else None

    def _describe(self) -> list[str]:
        parts = [self.mode, f"{len(self.text)} characters"]
        stats = self.stats
        if stats is not None and self.finished:
            parts.append(f"{stats.completion_tokens} tokens")
            if stats.tokens_per_second:
                parts.append(f"{stats.tokens_per_second:.1f} tokens/s")
            if stats.stop_reason == "length":
                parts.append("cut at max_tokens")
        if self.tool_calls:
            parts.append(f"{len(self.tool_calls)} tool call{'s' * (len(self.tool_calls) != 1)}")
        return parts

    def wait(self, timeout: float | None = None) -> str:
        """Block until the generation ends and return the whole text (partial if aborted)."""
        if not self.join(timeout):
            raise TimeoutError(f"generation {self.id} still {self.state} after {timeout} s")
        if self.state == "cancelled":
            return self.text
        return str(super().wait(0))

    def approve_tool_call(self, call_id: str) -> bool:
        """Let a call that waits for approval (approve="ask") run; False if none waits."""
        return self._decide(call_id, True)

    def deny_tool_call(self, call_id: str) -> bool:
        """Decline a call that waits for approval: it does not run, the model is told so."""
        return self._decide(call_id, False)

    def _decide(self, call_id: str, approved: bool) -> bool:
        waiting = any(c.id == call_id and c.status == "waiting" for c in self.tool_calls)
        if not waiting or self.state in FINAL_STATES:
            return False
        with self._decided:
            self._decisions.setdefault(call_id, approved)
            self._decided.notify_all()
        return True

    # -- for the worker ---------------------------------------------------------------------

    def wait_for_decision(self, call_id: str) -> bool:
        """Block until `call_id` is approved (True) or denied; JobCancelledError on cancel."""
        remove = self.cancellation.add_hook(self._wake_deciders)
        try:
            with self._decided:
                while call_id not in self._decisions:
                    self.cancellation.raise_if_set()
                    self._decided.wait(0.5)
                return self._decisions[call_id]
        finally:
            remove()

    def _wake_deciders(self) -> None:
        with self._decided:
            self._decided.notify_all()

    def push(self, piece: str) -> None:
        """Add a generated piece: a `Thinking` one to `reasoning`, an answer's to `text` and the
        iterators."""
        if isinstance(piece, Thinking):
            if self.thinking_started is None:
                self.thinking_started = time.perf_counter()
            self.reasoning += piece
            return
        if self.answer_started is None:
            self.answer_started = time.perf_counter()
        self.text += piece
        self._chunks.put(piece)

    @property
    def thinking(self) -> bool:
        """Whether the model is thinking now (it has begun to and its answer has not)."""
        return self.thinking_started is not None and self.answer_started is None

    def reasoning_seconds(self, now: float | None = None) -> float:
        """How long the model has thought (until its answer began, or `now`)."""
        if self.thinking_started is None:
            return 0.0
        end = self.answer_started or (now if now is not None else time.perf_counter())
        return max(0.0, end - self.thinking_started)

    def close_stream(self) -> None:
        """No more pieces: iterators stop."""
        self._chunks.put(_END)

    def _end_events(self) -> list[tuple[str, tuple[Any, ...]]]:
        return super()._end_events() + [("completion_done", (self,))]
