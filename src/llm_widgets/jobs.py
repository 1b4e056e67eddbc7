"""Jobs: every long-running piece of work, with one state machine
(queued -> running -> done / cancelled / failed).

A user holds a job to `cancel()`, `wait()`, `join()`, `await` or (generations) iterate it. The
worker that runs a job uses the few methods under "for the worker": `mark_running`,
`report_progress`, `finish`, and `cancellation`. A job announces itself on the service's event
bus: "progress" as it moves, then at its end "progress", the events of its kind
("download_done", "model_loaded", "completion_done", "error") and "job_end", all once, on the
bus's one thread, in that order. Only after every listener has had them do `wait()`, `join()`,
`await` and done-callbacks return, so widget state is final by then.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from . import _events
from ._events import EventBus
from ._format import format_bytes, shorten
from ._names import DEFAULT_REVISION, split_parts
from ._types import GenerationStats, ModelFacts, Thinking, ToolCallRecord
from .errors import JobCancelledError, JobFailedError

logger = logging.getLogger("llm_widgets")

JobState = Literal["queued", "running", "done", "cancelled", "failed"]
FINAL_STATES: frozenset[str] = frozenset({"done", "cancelled", "failed"})


class Cancellation:
    """A cancel flag that workers poll or block on, with hooks that unblock their I/O at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], Any]] = []

    def set(self) -> None:
        """Raise the flag and run the hooks (a hook that fails is ignored: the flag counts)."""
        with self._lock:  # (with add_hook's check: every hook runs once, whenever it came)
            self._event.set()
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                hook()
            except Exception:
                pass

    def is_set(self) -> bool:
        """Whether cancellation was asked for."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to `timeout` seconds, waking at once on cancel; True if cancelled."""
        return self._event.wait(timeout)

    def raise_if_set(self) -> None:
        """Raise JobCancelledError if cancellation was asked for."""
        if self._event.is_set():
            raise JobCancelledError("cancelled")

    def add_hook(self, hook: Callable[[], Any]) -> Callable[[], None]:
        """Call `hook()` on cancel (e.g. to close a socket), at once if the cancel came already;
        returns a function that removes it."""
        with self._lock:
            cancelled = self._event.is_set()
            if not cancelled:
                self._hooks.append(hook)
        if cancelled:  # a Stop in the instant before a request began: not missed
            try:
                hook()
            except Exception:
                pass

        def remove() -> None:
            with self._lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)

        return remove


class Job:
    """A unit of background work: cancel it, wait for it, or await it."""

    kind: str = "job"

    def __init__(self) -> None:
        self.id: str = uuid.uuid4().hex[:12]
        self.error: str | None = None
        self.detail: str = ""  # what the job waits for now, in words ("" while it just works)
        self.created_at: float = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.cancellation = Cancellation()
        self._state: JobState = "queued"
        self._result: Any = None
        self._exception: BaseException | None = None
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._done_callbacks: list[Callable[[Job], Any]] = []
        self._events: EventBus | None = None

    @property
    def state(self) -> JobState:
        """One of "queued", "running", "done", "cancelled", "failed"."""
        return self._state

    @property
    def finished(self) -> bool:
        """True once the job has ended and every listener has been told."""
        return self._finished.is_set()

    @property
    def cancel_requested(self) -> bool:
        """True once `cancel()` was called."""
        return self.cancellation.is_set()

    def cancel(self) -> bool:
        """Ask the job to stop; returns False if it had already ended."""
        if self._state in FINAL_STATES:
            return False
        self.cancellation.set()
        return True

    def join(self, timeout: float | None = None) -> bool:
        """Block until the job ends, whatever its outcome; False if `timeout` ran out first."""
        if self._state in FINAL_STATES and _events.on_dispatcher_thread():
            return True  # a listener asking: the end is being announced to it right now
        return self._finished.wait(timeout)

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the job ends and return its result; raise if it failed or was cancelled."""
        if not self.join(timeout):
            raise TimeoutError(f"{self.kind} job {self.id} still {self._state} after {timeout} s")
        if self._state == "cancelled":
            raise JobCancelledError(f"{self.kind} job {self.id} was cancelled")
        if self._state == "failed":
            if self._exception is not None:
                raise self._exception
            raise JobFailedError(self.error or f"{self.kind} job {self.id} failed")
        return self._result

    def add_done_callback(self, callback: Callable[[Job], Any]) -> None:
        """Call `callback(job)` when the job ends (at once if it already has)."""
        with self._lock:
            if not self._finished.is_set():
                self._done_callbacks.append(callback)
                return
        callback(self)

    def __await__(self) -> Generator[Any, None, Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def resolve() -> None:
            if not future.done():
                future.set_result(None)

        self.add_done_callback(lambda _: loop.call_soon_threadsafe(resolve))
        yield from future.__await__()
        return self.wait()

    # -- for the worker that runs the job --------------------------------------------------

    def bind(self, events: EventBus) -> None:
        """Announce this job's progress and end on `events` (the service binds every job)."""
        self._events = events

    def mark_running(self) -> None:
        """The job has started its real work."""
        if self._state == "queued":
            self._state = "running"
            self.started_at = time.time()
            self.report_progress()

    def report_progress(self) -> None:
        """Tell listeners the job moved ("progress", merged with one still waiting)."""
        if self._events is not None:
            self._events.emit("progress", self, coalesce_key=self.id)

    def finish(
        self,
        state: JobState,
        *,
        result: Any = None,
        error: str | None = None,
        exception: BaseException | None = None,
    ) -> None:
        """End the job (once; later calls are ignored). Listeners get "progress" and the events
        of its end; then waiters wake."""
        if state not in FINAL_STATES:
            raise ValueError(f"a job finishes as done, cancelled or failed, not {state!r}")
        with self._lock:
            if self._state in FINAL_STATES:
                return
            self._result, self.error, self._exception = result, error, exception
            self.finished_at = time.time()
            self._state = state
        if self._events is None:
            self._release()
            return
        self.report_progress()
        for event, args in self._end_events():
            self._events.emit(event, *args)
        self._events.emit("job_end", self, then=self._release)

    def _end_events(self) -> list[tuple[str, tuple[Any, ...]]]:
        """The events that announce this job's end, after its last "progress"."""
        return [("error", (self,))] if self._state == "failed" else []

    def _release(self) -> None:
        with self._lock:
            if self._finished.is_set():
                return
            self._finished.set()
            callbacks, self._done_callbacks = self._done_callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                logger.exception("llm_widgets: a done-callback of %r raised", self)

    def __repr__(self) -> str:
        """The job in a line, as a cell shows it: its state, how far it got (per kind), what
        went wrong, and its id: `BatchJob(running, 12/240 items, 5%, 2 errors, id=…)`."""
        parts = [self._state, *self._describe()]
        if self._state == "failed" and self.error:
            parts.append(f"error: {shorten(self.error.splitlines()[0], 120)}")
        return f"{type(self).__name__}({', '.join(parts + [f'id={self.id}'])})"

    def _describe(self) -> list[str]:
        """What a kind of job adds to its repr (how far it got)."""
        return []


def download_key(repo_id: str, filename: str, revision: str | None) -> tuple[str, str, str]:
    """The identity of a download: the same key means the same file (any part of a split GGUF
    names the whole model)."""
    return (repo_id, split_parts(filename)[0], revision or DEFAULT_REVISION)


class DownloadJob(Job):
    """One model file being downloaded into the Hugging Face cache.

    A split GGUF (`name-00001-of-00003.gguf`) is one job for all its parts, with one progress;
    `path` is then the first part, which is what llama.cpp opens.
    """

    kind = "download"

    def __init__(self, repo_id: str, filename: str, revision: str | None) -> None:
        super().__init__()
        self.files: list[str] = split_parts(filename)
        self.repo_id = repo_id
        self.filename = self.files[0]
        self.revision = revision
        self.bytes_done: int = 0
        self.bytes_total: int = 0
        self.resumed_from: int = 0
        self.speed: float = 0.0
        self.eta: float | None = None
        self.path: str | None = None
        self.commit: str | None = None
        self.error_kind: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """(repo_id, filename, revision): one running job per key."""
        return download_key(self.repo_id, self.filename, self.revision)

    @property
    def progress(self) -> float:
        """Percent done, 0 to 100."""
        if self.state == "done":
            return 100.0
        if not self.bytes_total:
            return 0.0
        return min(100.0, 100.0 * self.bytes_done / self.bytes_total)

    def _describe(self) -> list[str]:
        parts = [f"{self.repo_id}/{self.filename}"]
        if self.bytes_total and self.state != "done":
            done, total = format_bytes(self.bytes_done), format_bytes(self.bytes_total)
            parts += [f"{done} of {total}", f"{int(self.progress)}%"]
        elif self.bytes_total:
            parts.append(format_bytes(self.bytes_total))
        return parts

    def wait(self, timeout: float | None = None) -> str:
        """Block until the file is in the cache and return its path; raise on failure or cancel."""
        return str(super().wait(timeout))

    def _end_events(self) -> list[tuple[str, tuple[Any, ...]]]:
        done = [("download_done", (self,))] if self.state == "done" else []
        return done + super()._end_events()


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


class BatchJob(Job):
    """A run of one generation per input (`service.map`): results in input order, a per-item
    error instead of a stopped run, resumable from its on-disk cache."""

    kind = "batch"

    def __init__(self, inputs: list[Any]) -> None:
        super().__init__()
        self.inputs = inputs
        self.results: list[Any] = [None] * len(inputs)  # None where not done (yet)
        self.texts: list[str | None] = [None] * len(inputs)  # the raw answers
        self.errors: dict[int, str] = {}  # input index -> what went wrong with it
        self.reused = 0  # results taken from an earlier run's cache
        self.completed = 0  # items with a result, reused ones included
        self.completion_tokens = 0
        self.tokens_per_second = 0.0
        self.items_per_second = 0.0
        self.eta: float | None = None  # seconds left, when known
        self.request: dict[str, Any] = {}  # map()'s arguments: map(**request) resumes
        self.recent: list[dict[str, Any]] = []  # the last few results, newest last
        self.tool_calls: dict[int, list[ToolCallRecord]] = {}  # input index -> its calls

    @property
    def total(self) -> int:
        """How many inputs."""
        return len(self.inputs)

    @property
    def progress(self) -> float:
        """Percent of the inputs finished (with a result or an error), 0 to 100."""
        if not self.inputs:
            return 100.0
        return 100.0 * (self.completed + len(self.errors)) / len(self.inputs)

    def _describe(self) -> list[str]:
        parts = [f"{self.completed}/{self.total} items", f"{int(self.progress)}%"]
        if self.errors:
            parts.append(f"{len(self.errors)} error{'s' * (len(self.errors) != 1)}")
        if self.reused:
            parts.append(f"{self.reused} reused")
        if self.items_per_second and self.state == "running":
            parts.append(f"{self.items_per_second:.2f} items/s")
        return parts

    def to_list(self) -> list[Any]:
        """The results, aligned with the inputs (None where not done)."""
        return list(self.results)

    def to_pandas(self) -> Any:
        """A pandas DataFrame: input, output, error (needs pandas)."""
        try:
            import pandas
        except ImportError:
            raise ImportError(
                'to_pandas() needs pandas: pip install "llm-widgets[pandas]"'
            ) from None
        return pandas.DataFrame(
            {
                "input": self.inputs,
                "output": self.results,
                "error": [self.errors.get(i) for i in range(len(self.inputs))],
                **(
                    {"tool_calls": [self.tool_calls.get(i, []) for i in range(len(self.inputs))]}
                    if self.tool_calls
                    else {}
                ),
            }
        )

    def wait(self, timeout: float | None = None) -> list[Any]:
        """Block until the run ends and return the results (also after a cancel: what is
        done); raise if the run itself failed."""
        if not self.join(timeout):
            raise TimeoutError(f"batch {self.id} still {self.state} after {timeout} s")
        if self.state == "cancelled":
            return self.to_list()
        super().wait(0)
        return self.to_list()


@dataclass
class CompareAnswer:
    """One model's answer to one prompt in a comparison."""

    state: Literal["pending", "running", "done", "failed"] = "pending"
    text: str = ""  # streamed so far while running
    thinking: str = ""  # the model's reasoning, when it thinks (`think=`)
    value: Any = None  # the parsed answer (response_format / choices), else the text
    error: str | None = None
    completion_tokens: int = 0
    prompt_tokens: int = 0
    ttft: float | None = None
    tokens_per_second: float | None = None
    reused: bool = False  # taken from an earlier run's cache
    stop_reason: str = ""  # why it ended: "stop", "length" (cut at max_tokens), ...


class CompareJob(Job):
    """The same prompts to several models (`service.compare`): an answer per prompt and model,
    a per-answer error instead of a stopped run, resumable from the batch cache."""

    kind = "compare"

    def __init__(self, models: list[str], prompts: list[Any], *, blind: bool = False) -> None:
        super().__init__()
        self.models = models  # a name per model, in the order given
        self.prompts = prompts
        self.answers = [[CompareAnswer() for _ in models] for _ in prompts]
        self.labels: list[Any] | None = None  # the expected answers (`label=`), if given
        self.choices: list[str] | None = None  # the labels answers are picked from, if given
        self.blind = blind
        self.votes: list[int | None] = [None] * len(prompts)  # model index picked per prompt
        self.request: dict[str, Any] = {}  # compare()'s arguments: compare(**request) resumes

    @property
    def results(self) -> list[list[Any]]:
        """Per prompt, the answers of every model (value, or text; None where none)."""
        return [[a.value if a.state == "done" else None for a in row] for row in self.answers]

    @property
    def errors(self) -> dict[tuple[int, int], str]:
        """(prompt index, model index) -> what went wrong with that answer."""
        return {
            (i, m): a.error
            for i, row in enumerate(self.answers)
            for m, a in enumerate(row)
            if a.state == "failed" and a.error is not None
        }

    @property
    def reused(self) -> int:
        """Answers taken from an earlier run's cache."""
        return sum(a.reused for row in self.answers for a in row)

    @property
    def total(self) -> int:
        """Answers in the comparison (prompts x models)."""
        return len(self.prompts) * len(self.models)

    @property
    def progress(self) -> float:
        """Percent of the answers finished (done or failed), 0 to 100."""
        ended = sum(a.state in ("done", "failed") for row in self.answers for a in row)
        return 100.0 * ended / self.total if self.total else 100.0

    def _describe(self) -> list[str]:
        ended = sum(a.state in ("done", "failed") for row in self.answers for a in row)
        failed = len(self.errors)
        parts = [
            f"{len(self.prompts)} prompts x {len(self.models)} models",
            f"{ended}/{self.total} answers",
            f"{int(self.progress)}%",
        ]
        return parts + ([f"{failed} error{'s' * (failed != 1)}"] if failed else [])

    def vote(self, prompt: int, model: int | None) -> None:
        """Record the answer picked for one prompt (a model index; None takes the pick back)."""
        if not 0 <= prompt < len(self.prompts):
            raise ValueError(f"no prompt {prompt}: there are {len(self.prompts)}")
        if model is not None and not 0 <= model < len(self.models):
            raise ValueError(f"no model {model}: there are {len(self.models)}")
        self.votes[prompt] = model

    def tally(self) -> dict[str, int]:
        """Picks per model name."""
        counts = dict.fromkeys(self.models, 0)
        for picked in self.votes:
            if picked is not None:
                counts[self.models[picked]] += 1
        return counts

    def summary(self) -> list[dict[str, Any]]:
        """Per model: answers done and failed, mean tokens/s and TTFT, and with `choices` the
        agreement (0-1) with `labels` when given, else with the other models' commonest answer."""
        rows = []
        for m, name in enumerate(self.models):
            column = [row[m] for row in self.answers]
            done = [a for a in column if a.state == "done"]
            rates = [a.tokens_per_second for a in done if a.tokens_per_second]
            ttfts = [a.ttft for a in done if a.ttft is not None]
            rows.append(
                {
                    "model": name,
                    "done": len(done),
                    "failed": sum(a.state == "failed" for a in column),
                    "tokens_per_second": sum(rates) / len(rates) if rates else None,
                    "ttft": sum(ttfts) / len(ttfts) if ttfts else None,
                    "agreement": self._agreement(m),
                }
            )
        return rows

    def _agreement(self, m: int) -> float | None:
        if self.choices is None:
            return None
        hits = counted = 0
        for i, row in enumerate(self.answers):
            if row[m].state != "done":
                continue
            if self.labels is not None:
                expected = str(self.labels[i])
            else:
                others = [str(a.value) for k, a in enumerate(row) if k != m and a.state == "done"]
                if not others:
                    continue
                expected = max(others, key=others.count)
            counted += 1
            hits += str(row[m].value) == expected
        return hits / counted if counted else None

    def to_pandas(self) -> Any:
        """One row per prompt and model: prompt, model, text, value, completion_tokens, ttft,
        tokens_per_second, error (and vote in blind mode) (needs pandas)."""
        try:
            import pandas
        except ImportError:
            raise ImportError(
                'to_pandas() needs pandas: pip install "llm-widgets[pandas]"'
            ) from None
        rows = []
        for i, row in enumerate(self.answers):
            for m, a in enumerate(row):
                done = a.state == "done"
                rows.append(
                    {
                        "prompt": self.prompts[i],
                        "model": self.models[m],
                        "text": a.text if a.state != "pending" else None,
                        "value": a.value if done else None,
                        "completion_tokens": a.completion_tokens if done else None,
                        "ttft": a.ttft if done else None,
                        "tokens_per_second": a.tokens_per_second if done else None,
                        "error": a.error,
                    }
                )
                if self.blind:
                    picked = self.votes[i]
                    rows[-1]["vote"] = None if picked is None else picked == m
        return pandas.DataFrame(rows)

    def wait(self, timeout: float | None = None) -> list[list[Any]]:
        """Block until the run ends and return `results` (also after a cancel: what is done);
        raise if the run itself failed."""
        if not self.join(timeout):
            raise TimeoutError(f"comparison {self.id} still {self.state} after {timeout} s")
        if self.state != "cancelled":
            super().wait(0)
        return self.results


__all__ = [
    "BatchJob",
    "Cancellation",
    "CompareAnswer",
    "CompareJob",
    "DownloadJob",
    "FINAL_STATES",
    "GenerationJob",
    "Job",
    "JobState",
    "LoadJob",
    "download_key",
]
