"""What a tool function prints, kept per call: while a call runs, `sys.stdout` and `sys.stderr`
send what its own thread writes to that call's buffer, and everything else (the kernel's cells,
other threads) where it went before."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MAX_CHARS = 20_000  # what a record keeps of one call's output (its end is cut)

_lock = threading.Lock()
_buffers: dict[int, io.StringIO] = {}  # thread id -> its buffer, while a call runs there


class _Router:
    """Stands in for a stream: a capturing thread's writes go to its buffer, others' through."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        buffer = _buffers.get(threading.get_ident())
        if buffer is None:
            return int(self.inner.write(text) or 0)
        if buffer.tell() < MAX_CHARS:
            buffer.write(text)
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, ipykernel's own
        return getattr(self.inner, name)


def _swap(install: bool) -> None:
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if install and not isinstance(stream, _Router):
            setattr(sys, name, _Router(stream))
        elif not install and isinstance(stream, _Router):  # (left alone if wrapped since)
            setattr(sys, name, stream.inner)


@contextmanager
def printed_output() -> Iterator[io.StringIO]:
    """Within the block, what this thread prints goes to the buffer it yields."""
    buffer = io.StringIO()
    ident = threading.get_ident()
    with _lock:
        if not _buffers:
            _swap(install=True)
        _buffers[ident] = buffer
    try:
        yield buffer
    finally:
        with _lock:
            _buffers.pop(ident, None)
            if not _buffers:
                _swap(install=False)


def kept(text: str) -> str:
    """`text` as a record keeps it: at most MAX_CHARS, saying so when cut."""
    if len(text) <= MAX_CHARS:
        return text
    return text[:MAX_CHARS] + f"\n… (cut: output longer than {MAX_CHARS:,} characters)"
