"""What every job shares: the state machine, cancel / wait / await, and the end announced
once on the event bus."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any, Literal

from .. import _events
from .._events import EventBus
from .._format import shorten
from ..errors import JobCancelledError, JobFailedError

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
            _run_hook(hook)

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
            _run_hook(hook)

        def remove() -> None:
            with self._lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)

        return remove


def _run_hook(hook: Callable[[], Any]) -> None:
    """Call a cancel hook; one that fails is ignored (the flag counts)."""
    try:
        hook()
    except Exception:
        pass


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
