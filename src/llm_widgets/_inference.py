"""Inference jobs of LLMKernelService: loading a model and streaming generations."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from ._jobs import Job


class LoadJob(Job):
    """Loading one GGUF file into llama.cpp."""

    kind = "load"

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.path: str | None = None
        self.load_progress: float = 0.0
        self.facts: Any = None

    @property
    def progress(self) -> float:
        """Percent loaded, 0 to 100 (includes waiting for the download)."""
        return 100.0 if self.state == "done" else self.load_progress


_END = object()


class GenerationJob(Job):
    """One streamed completion: iterate it for text pieces, or wait for the whole text."""

    kind = "generation"

    def __init__(self, mode: str, request: Any, params: dict[str, Any]) -> None:
        super().__init__()
        self.mode = mode  # "completion" or "chat"
        self.request = request
        self.params = params
        self.options: dict[str, Any] = {}  # engine options that are not sampling parameters
        self.text: str = ""
        self.stats: Any = None
        self._chunks: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._iterating = threading.Lock()

    def __iter__(self) -> Iterator[str]:
        """Yield text pieces as they are generated (one consumer at a time)."""
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
        return getattr(self.stats, "stop_reason", None)

    def _push(self, piece: str) -> None:
        self.text += piece
        self._chunks.put(piece)

    def _close_stream(self) -> None:
        self._chunks.put(_END)

    def wait(self, timeout: float | None = None) -> str:
        """Block until the generation ends and return the whole text (partial if aborted)."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"generation {self.id} still {self.state} after {timeout} s")
        if self.state == "cancelled":
            return self.text
        return str(super().wait(0))
