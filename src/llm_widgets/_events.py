"""Event subscriptions delivered on a dispatcher thread, off the workers' hot loops."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

logger = logging.getLogger("llm_widgets")

Callback = Callable[..., Any]


class _Pending:
    __slots__ = ("event", "key", "args")

    def __init__(self, event: str, key: Hashable | None, args: tuple[Any, ...]) -> None:
        self.event = event
        self.key = key
        self.args = args


class EventBus:
    """Calls subscribers of named events, in order, on one dispatcher thread.

    Events emitted with a `coalesce_key` replace a still-pending event with the same key, so a slow
    subscriber sees the latest state instead of a backlog. A subscriber that raises is logged and
    skipped; it never reaches the worker that emitted the event. The dispatcher thread exits after
    `idle_exit` seconds without events and is started again by the next emit.
    """

    def __init__(self, name: str = "llm-widgets-events", idle_exit: float = 2.0) -> None:
        self._name = name
        self._idle_exit = idle_exit
        self._subs: dict[str, list[Callback]] = {}
        self._cond = threading.Condition()
        self._queue: deque[_Pending] = deque()
        self._by_key: dict[tuple[str, Hashable], _Pending] = {}
        self._thread: threading.Thread | None = None
        self._busy = False
        self._closed = False

    def subscribe(self, event: str, callback: Callback) -> Callable[[], None]:
        """Call `callback(*args)` on every `event`; returns a function that unsubscribes."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        with self._cond:
            self._subs.setdefault(event, []).append(callback)

        def unsubscribe() -> None:
            with self._cond:
                subs = self._subs.get(event, [])
                if callback in subs:
                    subs.remove(callback)

        return unsubscribe

    def has_subscribers(self, event: str) -> bool:
        """Whether anything listens to `event`."""
        with self._cond:
            return bool(self._subs.get(event))

    def emit(self, event: str, *args: Any, coalesce_key: Hashable | None = None) -> None:
        """Queue `event` for the subscribers; never blocks on them."""
        with self._cond:
            if self._closed:
                return
            if coalesce_key is not None:
                pending = self._by_key.get((event, coalesce_key))
                if pending is not None:
                    pending.args = args
                    return
            item = _Pending(event, coalesce_key, args)
            self._queue.append(item)
            if coalesce_key is not None:
                self._by_key[(event, coalesce_key)] = item
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until every queued event was delivered; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued, then stop the dispatcher thread."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                if not self._queue:
                    self._cond.wait_for(lambda: bool(self._queue) or self._closed, self._idle_exit)
                if not self._queue:
                    self._thread = None
                    self._cond.notify_all()
                    return
                item = self._queue.popleft()
                if item.key is not None:
                    self._by_key.pop((item.event, item.key), None)
                subs = list(self._subs.get(item.event, ()))
                self._busy = True
            for callback in subs:
                try:
                    callback(*item.args)
                except Exception:
                    logger.exception(
                        "llm_widgets: a %r subscriber raised; it was skipped", item.event
                    )
