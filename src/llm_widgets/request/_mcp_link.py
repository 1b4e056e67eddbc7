"""One live connection to an MCP server: the SDK's ClientSession on an asyncio loop in a daemon
thread of its own, so the session outlives the cell that started it; calls come from other
threads through `asyncio.run_coroutine_threadsafe`. A stdio server's stderr goes to a pipe read
by a second thread into the `llm_widgets.mcp` logger (a real file: a notebook's sys.stderr has
no fileno)."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from ..errors import JobCancelledError, MCPServerError

LOGGER = logging.getLogger("llm_widgets.mcp")
CLOSE_WAIT = 10.0  # seconds for a stopping server: the SDK waits 2 s, then SIGTERM, 2 s, SIGKILL
Opener = Callable[[AsyncExitStack, Any], Awaitable[tuple[Any, Any]]]


class StderrPipe:
    """A pipe whose write end a stdio server gets as its stderr; each line is logged (masked)
    and the last ones kept for error messages."""

    def __init__(self, name: str, clean: Callable[[str], str]) -> None:
        read_fd, write_fd = os.pipe()
        self.file = os.fdopen(write_fd, "w", encoding="utf-8", errors="replace")
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self._name, self._clean = name, clean
        self._reader = threading.Thread(
            target=self._read, args=(read_fd,), name=f"llm-widgets-mcp-{name}-stderr", daemon=True
        )
        self._reader.start()

    def _read(self, fd: int) -> None:
        with open(fd, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                text = self._clean(line.rstrip())
                if text:
                    self.tail.append(text)
                    LOGGER.info("[%s] %s", self._name, text)

    def last_words(self) -> str:
        """The server's last lines of stderr, as a sentence's end ("" if it said nothing)."""
        lines = [line for line in self.tail if line.strip()][-3:]
        return f" Its last words on stderr: {' / '.join(lines)}" if lines else ""

    def close(self) -> None:
        """Close our write end; the reader ends once the server's end is closed too."""
        self.file.close()
        self._reader.join(1.0)


class Link:
    """A started session: `tools` (the server's listing), `call()`, `close()`."""

    def __init__(self, name: str, opener: Opener, errlog: StderrPipe | None) -> None:
        self.name, self._opener, self.errlog = name, opener, errlog
        self.tools: list[Any] = []
        self.ended = threading.Event()
        self.failure: BaseException | None = None  # why the session ended, if not asked to
        self._session: Any = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"llm-widgets-mcp-{name}", daemon=True
        )

    def open(self, timeout: float) -> None:
        """Start the loop and the session (initialize, list the tools) within `timeout`
        seconds; MCPServerError, with the server stopped, if that fails."""
        self._thread.start()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        asyncio.run_coroutine_threadsafe(self._main(ready), self._loop)
        try:
            ready.result(timeout)
        except concurrent.futures.TimeoutError:
            self.close()
            raise MCPServerError(
                f"The MCP server {self.name} did not answer within {timeout:g} s, so it was "
                f"stopped.{self._last_words()}"
            ) from None
        except BaseException as exc:
            self.close()
            raise MCPServerError(
                f"The MCP server {self.name} did not start: {describe(exc)}.{self._last_words()}"
            ) from None

    async def _main(self, ready: concurrent.futures.Future[None]) -> None:
        from mcp import ClientSession

        self._task, self._stop = asyncio.current_task(), asyncio.Event()
        try:
            async with AsyncExitStack() as stack:
                read, write = await self._opener(stack, self.errlog)
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                self.tools = await _all_tools(session)
                self._session = session
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            elif not self._stop.is_set():
                self.failure = exc
        finally:
            self._session = None
            self.ended.set()

    def call(self, name: str, arguments: dict[str, Any], timeout: float, abort: Any) -> Any:
        """The server's CallToolResult; MCPServerError on a timeout or a lost connection,
        JobCancelledError when `abort` (the job's cancellation) is set meanwhile."""
        session = self._session
        if session is None:
            raise MCPServerError(f"The MCP server {self.name} is not running.")
        future = asyncio.run_coroutine_threadsafe(
            session.call_tool(name, arguments, read_timeout_seconds=timeout), self._loop
        )
        deadline = time.monotonic() + timeout + 1.0
        while True:
            try:
                return future.result(0.1)
            except concurrent.futures.TimeoutError:
                if abort is not None and abort.is_set():
                    future.cancel()
                    raise JobCancelledError(f"{name} on {self.name}: stopped") from None
                if time.monotonic() > deadline:
                    future.cancel()
                    raise MCPServerError(
                        f"The MCP server {self.name} did not answer {name} within {timeout:g} s."
                    ) from None
            except concurrent.futures.CancelledError:
                raise MCPServerError(f"The call to {self.name} was cancelled.") from None
            except Exception as exc:
                raise MCPServerError(self._lost(exc)) from None

    def _lost(self, exc: BaseException) -> str:
        """Why a call failed, in words; a server that no longer answers a ping is stopped."""
        if self.alive(2.0):
            return f"The MCP server {self.name} failed: {describe(exc)}."
        self.close()
        return (
            f"The MCP server {self.name} stopped answering ({describe(exc)}); it was closed, and "
            f"the next call starts it again.{self._last_words()}"
        )

    def alive(self, timeout: float) -> bool:
        """Whether the session is up and the server answers a ping within `timeout` s."""
        session = self._session
        if session is None or self.ended.is_set():
            return False
        future = asyncio.run_coroutine_threadsafe(session.send_ping(), self._loop)
        try:
            future.result(timeout)
        except BaseException:
            future.cancel()
            return False
        return True

    def close(self) -> None:
        """End the session (a stdio server's stdin closes; the SDK kills it if it lingers),
        then the loop and its thread."""
        if self._thread.is_alive() and not self.ended.is_set():
            self._loop.call_soon_threadsafe(self._end)
            if not self.ended.wait(CLOSE_WAIT):
                LOGGER.warning("the MCP server %s did not stop within %s s", self.name, CLOSE_WAIT)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(2.0)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()
        if self.errlog is not None:
            self.errlog.close()

    def _end(self) -> None:
        """(On the loop) a running session ends its wait; a starting one is cancelled."""
        if self._session is not None and self._stop is not None:
            self._stop.set()
        elif self._task is not None:
            self._task.cancel()

    def _last_words(self) -> str:
        return self.errlog.last_words() if self.errlog is not None else ""


async def _all_tools(session: Any) -> list[Any]:
    """Every tool the server lists (all pages)."""
    from mcp.types import PaginatedRequestParams

    result = await session.list_tools()
    tools = list(result.tools)
    while result.next_cursor:
        result = await session.list_tools(params=PaginatedRequestParams(cursor=result.next_cursor))
        tools += result.tools
    return tools


def describe(exc: BaseException) -> str:
    """An exception in a few words (an ExceptionGroup by its first leaf)."""
    while isinstance(getattr(exc, "exceptions", None), (list, tuple)) and exc.exceptions:  # type: ignore[attr-defined]
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
