"""Disk space for downloads: checked before a transfer starts, and promised to the running ones."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .._format import format_bytes
from ..errors import DownloadError
from ._fetch import TransferProgress


def ensure_free_space(directory: Path, needed: int, what: str, reserved: int = 0) -> None:
    """Raise DownloadError('disk_full') unless `directory` has `needed` bytes free beyond the
    `reserved` ones (what downloads already running there still have to write)."""
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if needed + reserved > free:
        running = (
            f" ({format_bytes(reserved)} of it is kept for the downloads already running)"
            if reserved
            else ""
        )
        raise DownloadError(
            "disk_full",
            f"Not enough disk space for {what}: {format_bytes(needed)} needed, "
            f"{format_bytes(free)} free in {directory}{running}. Free some space or point "
            "HF_HOME elsewhere.",
        )


@dataclass(eq=False)  # each claim is itself: two of the same size are not one
class _Claim:
    device: int
    size: int
    progress: TransferProgress

    @property
    def remaining(self) -> int:
        return max(0, self.size - self.progress.done)


class DiskSpace:
    """The disk space promised to running transfers: a download starts only when the disk has
    room for it and for what the others on the same disk still have to write."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: list[_Claim] = []

    @contextmanager
    def claim(
        self, directory: Path, size: int, progress: TransferProgress, what: str
    ) -> Iterator[None]:
        """Hold room for the rest of a `size`-byte file (`progress.done` of it already there)."""
        directory.mkdir(parents=True, exist_ok=True)
        device = directory.stat().st_dev
        with self._lock:
            reserved = sum(c.remaining for c in self._claims if c.device == device)
            ensure_free_space(directory, size - progress.done, what, reserved)
            claim = _Claim(device, size, progress)
            self._claims.append(claim)
        try:
            yield
        finally:
            with self._lock:
                self._claims.remove(claim)
