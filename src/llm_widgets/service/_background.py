"""Short calls the service runs for widgets in threads of its own (a file's size, a repo's
files, a connect), their outcome shown on the event thread, in order with the events: a widget
starts no thread, and what it shows has one writer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from .._events import EventBus
from ._core import ServiceCore

logger = logging.getLogger("llm_widgets")
T = TypeVar("T")


class BackgroundCall(Generic[T]):
    """A call under way: `future` holds its outcome; `join()` waits until it was shown."""

    def __init__(
        self, future: Future[T], show: Callable[[Future[T]], Any], events: EventBus
    ) -> None:
        self.future = future
        self._shown = threading.Event()
        self._show, self._events = show, events
        future.add_done_callback(self._deliver)

    def join(self, timeout: float | None = None) -> bool:
        """Block until the outcome was shown; False if `timeout` ran out first."""
        return self._shown.wait(timeout)

    def is_alive(self) -> bool:
        """Whether the outcome is still to be shown."""
        return not self._shown.is_set()

    def _deliver(self, future: Future[T]) -> None:
        try:
            self._events.call(lambda: self._show(future))
        except Exception:
            logger.exception("llm_widgets: showing the outcome of a background call failed")
        finally:
            self._shown.set()


class Background(ServiceCore):
    """Background calls for widgets."""

    def call_in_background(
        self, name: str, work: Callable[[], T], show: Callable[[Future[T]], Any]
    ) -> BackgroundCall[T]:
        """Run `work()` in a thread of the service's own (`llm-widgets-<name>`), then
        `show(future)` with its outcome on the event thread; returns at once."""
        future: Future[T] = Future()
        call = BackgroundCall(future, show, self.events)
        thread = threading.Thread(
            target=self._run,
            args=(lambda: _settle(future, work),),
            name=f"llm-widgets-{name}",
            daemon=True,
        )
        with self._lock:  # shutdown() joins it with the jobs' workers
            closed = self._closed
            if not closed:
                self._threads.add(thread)
        if closed:  # nothing starts after shutdown(): the call ends cancelled
            future.cancel()
        else:
            thread.start()
        return call

    def show_when_done(
        self, future: Future[T], show: Callable[[Future[T]], Any]
    ) -> BackgroundCall[T]:
        """`show(future)` on the event thread once `future` is done (or cancelled)."""
        return BackgroundCall(future, show, self.events)


def _settle(future: Future[T], work: Callable[[], T]) -> None:
    """`work()`'s outcome into `future` (once it runs, it can no longer be cancelled)."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = work()
    except BaseException as exc:  # the future says it: a thread's traceback would say nothing
        future.set_exception(exc)
    else:
        future.set_result(result)
