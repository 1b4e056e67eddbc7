"""Jobs: long-running work with one state machine (queued -> running -> done/cancelled/failed)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any, Literal

from .errors import JobCancelledError, JobFailedError

logger = logging.getLogger("llm_widgets")

JobState = Literal["queued", "running", "done", "cancelled", "failed"]
FINAL_STATES: frozenset[str] = frozenset({"done", "cancelled", "failed"})


class Job:
    """A unit of background work: cancel it, wait for it, or await it."""

    kind: str = "job"

    def __init__(self) -> None:
        self.id: str = uuid.uuid4().hex[:12]
        self.error: str | None = None
        self.created_at: float = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._state: JobState = "queued"
        self._finalizing = False
        self._result: Any = None
        self._exception: BaseException | None = None
        self._lock = threading.Lock()
        self._cancel_event = threading.Event()
        self._finished = threading.Event()
        self._done_callbacks: list[Callable[[Job], Any]] = []
        self._finalizers: list[Callable[[Any], Any]] = []
        self._cancel_hooks: list[Callable[[], Any]] = []

    @property
    def state(self) -> JobState:
        """One of "queued", "running", "done", "cancelled", "failed"."""
        return self._state

    @property
    def finished(self) -> bool:
        """True once the job is done, cancelled or failed."""
        return self._finished.is_set()

    @property
    def cancel_requested(self) -> bool:
        """True once `cancel()` was called."""
        return self._cancel_event.is_set()

    def cancel(self) -> bool:
        """Ask the job to stop; returns False if it had already finished."""
        if self.finished:
            return False
        self._cancel_event.set()
        with self._lock:
            hooks = list(self._cancel_hooks)
        for hook in hooks:
            try:
                hook()
            except Exception:  # a hook only speeds cancellation up; the event is what counts
                pass
        return True

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the job ends and return its result; raise if it failed or was cancelled."""
        if not self._finished.wait(timeout):
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

        def settle(_: Job) -> None:
            loop.call_soon_threadsafe(resolve)

        self.add_done_callback(settle)
        yield from future.__await__()
        return self.wait()

    # -- for the worker that runs the job --------------------------------------------------

    def _add_finalizer(self, finalizer: Callable[[Any], Any]) -> None:
        """Run `finalizer(job)` when the job ends, before any waiter wakes up (for widgets, so
        that their state is final when `wait()` returns). It must not wait on the job."""
        with self._lock:
            if not self._finished.is_set() and not self._finalizing:
                self._finalizers.append(finalizer)
                return
        finalizer(self)

    def _add_cancel_hook(self, hook: Callable[[], Any]) -> Callable[[], None]:
        with self._lock:
            self._cancel_hooks.append(hook)

        def remove() -> None:
            with self._lock:
                if hook in self._cancel_hooks:
                    self._cancel_hooks.remove(hook)

        return remove

    def _set_running(self) -> None:
        self._state = "running"
        self.started_at = time.time()

    def _finish(
        self,
        state: JobState,
        *,
        result: Any = None,
        error: str | None = None,
        exception: BaseException | None = None,
    ) -> None:
        with self._lock:
            if self._finished.is_set() or self._finalizing:
                return
            self._finalizing = True
            self._result = result
            self.error = error
            self._exception = exception
            self._state = state
            self.finished_at = time.time()
            finalizers, self._finalizers = self._finalizers, []
        for finalizer in finalizers:
            try:
                finalizer(self)
            except Exception:
                logger.exception("llm_widgets: a finalizer of %r raised", self)
        with self._lock:
            self._finished.set()
            callbacks = list(self._done_callbacks)
            self._done_callbacks.clear()
            self._cancel_hooks.clear()
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                logger.exception("llm_widgets: a done-callback of %r raised", self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self._state}>"
