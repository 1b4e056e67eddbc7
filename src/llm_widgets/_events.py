"""Event subscriptions delivered on a dispatcher thread, off the workers' hot loops."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar, cast

logger = logging.getLogger("llm_widgets")
T = TypeVar("T")
PROGRESS_INTERVAL = 0.1  # seconds between progress events of one job: at most 10 a second
_local = threading.local()

Callback = Callable[..., Any]


class _Pending:
    __slots__ = ("event", "key", "args", "call", "then")

    def __init__(
        self,
        event: str,
        key: Hashable | None,
        args: tuple[Any, ...],
        call: Callable[..., Any] | None = None,
    ) -> None:
        self.event = event
        self.key = key
        self.args = args
        self.call = call  # a function to run instead of the subscribers
        self.then: list[Callable[[], Any]] = []  # run after delivery


class EventBus:
    """Calls subscribers of named events, in order, on one dispatcher thread.

    Events emitted with a `coalesce_key` replace a still-pending event with the same key, so a slow
    subscriber sees the latest state instead of a backlog. A subscriber that raises is logged and
    skipped; it never reaches the worker that emitted the event. `call` runs any function on the
    same thread, in order with the events, so state that subscribers write has one writer. The
    dispatcher thread exits after `idle_exit` seconds without events and is started again by the
    next emit.
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

    def emit(
        self,
        event: str,
        *args: Any,
        coalesce_key: Hashable | None = None,
        then: Callable[[], Any] | None = None,
    ) -> None:
        """Queue `event` for the subscribers; never blocks on them. `then()` runs on the
        dispatcher thread once every subscriber has had the event (at once if the bus is closed)."""
        with self._cond:
            if not self._closed:
                pending = (
                    self._by_key.get((event, coalesce_key)) if coalesce_key is not None else None
                )
                if pending is not None:
                    pending.args = args
                else:
                    pending = self._enqueue(_Pending(event, coalesce_key, args))
                if then is not None:
                    pending.then.append(then)
                return
        if then is not None:
            then()

    def call(self, function: Callable[[], T]) -> T:
        """Run `function()` on the dispatcher thread after what is queued, and return its result
        (or raise its exception). On that thread, or once the bus is closed, it runs at once."""
        with self._cond:
            inline = self._closed or threading.current_thread() is self._thread
            if not inline:
                box = _Call(function)
                self._enqueue(_Pending("", None, (), call=box.run))
        return function() if inline else box.result()

    def _enqueue(self, item: _Pending) -> _Pending:
        self._queue.append(item)
        if item.key is not None:
            self._by_key[(item.event, item.key)] = item
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._cond.notify_all()
        return item

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until every queued event was delivered; False on timeout (or when called from
        the dispatcher thread, which cannot wait for itself)."""
        with self._cond:
            if threading.current_thread() is self._thread:
                return False
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
        _local.dispatching = True
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
                subs = [item.call] if item.call else list(self._subs.get(item.event, ()))
                self._busy = True
            _deliver_all(item, subs)
            del item, subs  # hold nothing (a closed widget, say) while waiting for the next


class _Call(Generic[T]):
    """A function run on the dispatcher thread for a caller that waits for its outcome."""

    def __init__(self, function: Callable[[], T]) -> None:
        self._function = function
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._value = self._function()
        except BaseException as exc:
            self._error = exc
        self._done.set()

    def result(self) -> T:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)


def on_dispatcher_thread() -> bool:
    """Whether the calling thread is an EventBus dispatcher (delivering events right now)."""
    return getattr(_local, "dispatching", False)


def _deliver_all(item: _Pending, subs: list[Callback]) -> None:
    for callback in subs:
        _deliver(item.event, callback, item.args)
    for after in item.then:
        _deliver(item.event, after, ())


def _deliver(event: str, callback: Callback, args: tuple[Any, ...]) -> None:
    try:
        callback(*args)
    except Exception:
        logger.exception("llm_widgets: a %r handler raised; it was skipped", event or "call")
