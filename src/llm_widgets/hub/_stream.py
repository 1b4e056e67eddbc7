"""One stream: the rest of a file from the end of its partial file, appended and hashed as it
comes (resumed with HTTP Range after a failure)."""

from __future__ import annotations

import hashlib
import queue
import threading
from pathlib import Path
from typing import Any

from .._http import httpx
from ..errors import DownloadError, JobCancelledError
from ._fetch import Backoff, Transfer, new_hasher, size_on_disk, starts_at


class StreamTransfer(Transfer):
    """Appends the rest of the file to its partial file in one request at a time: ranged
    requests, retries, prompt cancel."""

    def resume(self) -> hashlib._Hash:
        """Fetch what follows the partial file's bytes; returns the hasher over the whole file."""
        hasher = new_hasher(self.remote)
        offset = size_on_disk(self.partial)
        if offset:
            offset = _hash_existing(self.partial, hasher, offset)
        self.progress.done = offset
        try:
            return self.run(offset, hasher)[1]
        except BaseException:
            self.progress.done = size_on_disk(self.partial)  # not what sat in a write buffer
            raise

    def run(self, offset: int, hasher: hashlib._Hash) -> tuple[int, hashlib._Hash]:
        """Fetch from `offset` to the end; returns (bytes in the file, hasher over all of them)."""
        background = _BackgroundHasher(hasher)
        try:
            with self.partial.open("ab", buffering=self.options.write_buffer) as out:
                offset = self._loop(out, offset, background)
            return offset, background.close()
        finally:
            background.close()

    def _loop(self, out: Any, offset: int, hasher: _BackgroundHasher) -> int:
        backoff = Backoff(self.options, self.cancel, self.progress)
        refreshed = False
        while True:
            self.cancel.raise_if_set()
            before = offset
            try:
                offset = self._request(out, offset, hasher)
                if offset >= self.remote.size:
                    return offset
                raise httpx.RemoteProtocolError("connection closed before the end of the file")
            except (JobCancelledError, DownloadError):
                raise
            except Exception as exc:
                out.flush()
                offset = out.tell()  # every byte written is in the file (and hashed)
                self.cancel.raise_if_set()
                if offset > before:
                    backoff.failures = 0  # it moved: a fresh budget for the next failure
                if self._after_failure(exc, backoff, refreshed):
                    refreshed = True  # an expired signed URL, refreshed: again at once

    def _request(self, out: Any, offset: int, hasher: _BackgroundHasher) -> int:
        """One GET from `offset`; returns the new offset (the file position) when it ends."""
        remote = self.remote
        try:
            with self._get(self._headers(offset), self.cancel) as response:
                if offset and not starts_at(response, offset):
                    out.seek(0)  # the server ignored the Range: start over
                    out.truncate()
                    hasher.restart(new_hasher(remote))
                    offset = self.progress.done = 0
                for piece in response.iter_raw():
                    self.cancel.raise_if_set()
                    if offset + len(piece) > remote.size:
                        raise DownloadError(
                            "server",
                            f"The server sent more than the {remote.size} bytes of "
                            f"{remote.repo_id}/{remote.filename}.",
                        )
                    out.write(piece)
                    hasher.update(piece)
                    offset += len(piece)
                    self.progress.done = offset
        finally:
            out.flush()
        return offset


def _hash_existing(path: Path, hasher: hashlib._Hash, limit: int) -> int:
    done = 0
    with path.open("rb") as f:
        while done < limit:
            block = f.read(min(4 << 20, limit - done))
            if not block:
                break
            hasher.update(block)
            done += len(block)
    return done


class _BackgroundHasher:
    """Hashes pieces on a helper thread, in batches, so hashing overlaps with the network and the
    disk (hashlib releases the GIL); the thread ends with `hexdigest()` or `close()`."""

    _BATCH = 4 << 20

    def __init__(self, hasher: hashlib._Hash) -> None:
        self._queue: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.restart(hasher)

    def restart(self, hasher: hashlib._Hash) -> None:
        """Drop what was hashed so far and start over with `hasher`."""
        if self._thread is not None:
            self.close()
        self._hasher = hasher
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._thread = threading.Thread(target=self._run, name="llm-widgets-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            for piece in batch:
                self._hasher.update(piece)

    def update(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size >= self._BATCH:
            self._queue.put(self._pending)
            self._pending, self._pending_size = [], 0

    def close(self) -> hashlib._Hash:
        """Hash what is pending, stop the thread, and return the hasher."""
        if self._thread is not None and self._thread.is_alive():
            if self._pending:
                self._queue.put(self._pending)
            self._pending, self._pending_size = [], 0
            self._queue.put(None)
            self._thread.join()
        return self._hasher
