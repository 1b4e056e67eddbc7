"""The resumable transfer loop: one file from the Hub into its place in the cache.

`hf_hub_download` neither resumes after a cancel nor verifies checksums, and reports progress only
every 10 MiB; this loop is built from huggingface_hub's public pieces (`get_session`,
`build_hf_headers`, `hf_raise_for_status`) instead. It streams into a stable partial file, resumes
it with HTTP Range, hashes while writing, and moves the file to its blob name only once the
checksum matches, so nothing incomplete ever looks complete. It reports progress by writing
`TransferProgress.done` (the caller reads it on its own clock) and stops when its `Cancellation`
is set.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import queue
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from filelock import FileLock, Timeout
from huggingface_hub import get_session
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

from .._format import format_bytes
from .._http import httpx
from ..errors import DownloadError, JobCancelledError
from ..jobs import Cancellation
from ._cache import GIT_SHA1, CachePaths, link_pointer, write_ref
from ._ranges import (
    PrefixHasher,
    RangeSet,
    Span,
    load_ranges,
    missing,
    remove_ranges,
    save_ranges,
)
from ._remote import RemoteFile, fetch_remote_file, status_of

T = TypeVar("T")


@dataclass
class TransferOptions:
    """Knobs of the transfer loop."""

    stall_timeout: float = 30.0
    connect_timeout: float = 10.0
    max_retries: int = 5
    retry_backoff: float = 0.5
    write_buffer: int = 1 << 20
    part_size: int = 16 << 20  # the largest range one request of a parallel download asks for
    min_part: int = 4 << 20  # the smallest (a file up to two of these stays one request)
    probe: float = 0.3  # seconds one connection runs alone before the other parts join (0: none)


@dataclass(eq=False)
class TransferProgress:
    """Written by the transfer, read by whoever shows it: bytes of the file on disk so far, and
    what the transfer waits for now ("" while bytes flow)."""

    done: int = 0
    waiting: str = ""


class _Backoff:
    """Retries within `options.max_retries`: waits longer after each failure (waking at once on
    cancel) and says why in `progress.waiting` meanwhile."""

    def __init__(
        self,
        options: TransferOptions,
        cancel: Cancellation,
        progress: TransferProgress,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.options, self.cancel, self.progress = options, cancel, progress
        self.say = say or self._say
        self.failures = 0

    def _say(self, reason: str) -> None:
        self.progress.waiting = reason

    def wait(self, exc: BaseException) -> bool:
        """After a retryable failure: pause and return True, or False once the budget is spent."""
        self.failures += 1
        if self.failures > self.options.max_retries:
            return False
        pause = min(self.options.retry_backoff * 2 ** (self.failures - 1), 10.0)
        self.say(_retry_reason(exc))
        try:
            if self.cancel.wait(pause):
                raise JobCancelledError("cancelled") from None
        finally:
            self.say("")
        return True


def fetch_with_retries(
    fetch: Callable[[], T],
    *,
    cancel: Cancellation,
    progress: TransferProgress,
    options: TransferOptions,
) -> T:
    """`fetch()` (a metadata request, say), retried like the transfer on a busy or flaky server;
    a server that cannot be reached at all is reported at once."""
    backoff = _Backoff(options, cancel, progress)
    while True:
        cancel.raise_if_set()
        try:
            return fetch()
        except Exception as exc:
            if isinstance(exc, httpx.ConnectError) or not _retryable(exc) or not backoff.wait(exc):
                raise


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


class _Lock:
    """An inter-process file lock taken while watching a cancel event."""

    def __init__(self, path: Path, cancel: Cancellation) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(path))
        self._cancel = cancel

    def __enter__(self) -> _Lock:
        while True:
            if self._cancel.is_set():
                raise JobCancelledError("cancelled while waiting for another download of this file")
            try:
                self._lock.acquire(timeout=0.05)
                return self
            except Timeout:
                continue

    def __exit__(self, *exc: object) -> None:
        try:
            self._lock.release()
        except Exception:
            pass


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


def _new_hasher(remote: RemoteFile) -> hashlib._Hash:
    if remote.sha256:
        return hashlib.sha256()
    h = hashlib.sha1()
    if GIT_SHA1.match(remote.etag):  # a git blob: sha1 over "blob <size>\0" + content
        h.update(f"blob {remote.size}\0".encode())
    return h


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


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlparse(a), urlparse(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def download_file(
    remote: RemoteFile,
    cache_dir: Path,
    *,
    endpoint: str,
    token: str | bool | None = None,
    cancel: Cancellation,
    progress: TransferProgress,
    options: TransferOptions | None = None,
    space: DiskSpace | None = None,
    parts: int = 1,
) -> tuple[Path, int]:
    """Download `remote` into the cache; returns (path, bytes already present when it started).

    Resumes a partial file left by an earlier cancel or crash, checks the checksum, and only then
    moves the file to its blob name, so nothing incomplete ever looks complete. With `space`, the
    room it needs is claimed beside the other running downloads'. With `parts` > 1 a file larger
    than two of `options.min_part` is fetched as up to that many ranges at once, when faster;
    a partial left by such a download is resumed from the record of its finished ranges.
    """
    opts = options or TransferOptions()
    paths = CachePaths.for_file(
        cache_dir, remote.repo_id, remote.filename, remote.etag, remote.commit
    )
    paths.blob.parent.mkdir(parents=True, exist_ok=True)
    with _Lock(paths.lock, cancel):
        write_ref(paths.storage, remote.revision, remote.commit)
        if paths.blob.exists() and paths.blob.stat().st_size == remote.size:
            link_pointer(paths.blob, paths.pointer)
            progress.done = remote.size
            return paths.pointer, remote.size
        spans = load_ranges(paths.partial, remote.size)
        offset = paths.partial.stat().st_size if paths.partial.exists() else 0
        if offset > remote.size:
            paths.partial.unlink()
            remove_ranges(paths.partial)
            offset, spans = 0, None
        if spans is None:  # a single stream's partial (or none): a prefix of its size
            spans = [(0, offset)] if offset else []
            parted = parts > 1 and remote.size > 2 * _min_part(opts)
        else:
            parted = True  # a parallel download's partial: fetch only its holes
        progress.done = sum(e - s for s, e in spans)
        what = f"{remote.repo_id}/{remote.filename}"
        with (space or DiskSpace()).claim(paths.blob.parent, remote.size, progress, what):
            paths.partial_info.write_text(json.dumps(_partial_info(remote)))
            resumed_from = progress.done
            hasher: hashlib._Hash | None = None
            if parted:
                args = (remote, paths.partial, endpoint, token, cancel, progress, opts)
                try:
                    hasher = _PartedTransfer(*args, parts=max(1, parts)).run_parts(spans)
                except _RangeIgnored:  # one stream from what is there without a hole
                    kept = load_ranges(paths.partial, remote.size) or []
                    offset = kept[0][1] if kept and kept[0][0] == 0 else 0
                    with paths.partial.open("ab") as f:
                        f.truncate(offset)
                    remove_ranges(paths.partial)
                    progress.done = offset
                except BaseException:
                    progress.done = _parted_done(paths.partial, remote.size)
                    raise
            if hasher is None:
                hasher = _new_hasher(remote)
                if offset:
                    offset = _hash_existing(paths.partial, hasher, offset)
                progress.done = offset
                transfer = _Transfer(remote, paths.partial, endpoint, token, cancel, progress, opts)
                try:
                    offset, hasher = transfer.run(offset, hasher)
                except BaseException:
                    progress.done = _size_on_disk(paths.partial)  # not what sat in a write buffer
                    raise
        digest = hasher.hexdigest()
        if digest != remote.etag and (remote.sha256 or GIT_SHA1.match(remote.etag)):
            paths.partial.unlink(missing_ok=True)
            paths.partial_info.unlink(missing_ok=True)
            remove_ranges(paths.partial)
            algo = "sha256" if remote.sha256 else "git sha1"
            raise DownloadError(
                "checksum",
                f"Checksum mismatch for {remote.repo_id}/{remote.filename}: expected {algo} "
                f"{remote.etag}, got {digest}. The corrupt file was discarded; retry the download.",
            )
        os.chmod(paths.partial, 0o644 & ~_umask())
        os.replace(paths.partial, paths.blob)
        paths.partial_info.unlink(missing_ok=True)
        remove_ranges(paths.partial)
        link_pointer(paths.blob, paths.pointer)
        return paths.pointer, resumed_from


def _min_part(options: TransferOptions) -> int:
    """The smallest range a parallel download hands out."""
    return max(1, min(options.min_part, options.part_size))


def _parted_done(partial: Path, size: int) -> int:
    spans = load_ranges(partial, size)
    if spans is None:
        return _size_on_disk(partial)
    return sum(e - s for s, e in spans)


def _partial_info(remote: RemoteFile) -> dict[str, object]:
    """What the sidecar of a partial file records, for the library and for resuming."""
    return {
        "repo_id": remote.repo_id,
        "filename": remote.filename,
        "revision": remote.revision,
        "commit": remote.commit,
        "etag": remote.etag,
        "size": remote.size,
    }


def _size_on_disk(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class _Transfer:
    """Moves one file's bytes into its partial file: ranged requests, retries, prompt cancel."""

    def __init__(
        self,
        remote: RemoteFile,
        partial: Path,
        endpoint: str,
        token: str | bool | None,
        cancel: Cancellation,
        progress: TransferProgress,
        options: TransferOptions,
    ) -> None:
        self.remote, self.partial, self.endpoint, self.token = remote, partial, endpoint, token
        self.cancel, self.progress, self.options = cancel, progress, options
        self.location = remote.location
        self.timeout = httpx.Timeout(options.stall_timeout, connect=options.connect_timeout)

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
        backoff = _Backoff(self.options, self.cancel, self.progress)
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

    def _after_failure(self, exc: Exception, backoff: _Backoff, refreshed: bool) -> bool:
        """After a failed request (in an `except` block): True once an expired signed URL was
        refreshed (try again at once); False after waiting out a retryable error; raises the
        error, or DownloadError when the retries are spent."""
        if status_of(exc) in (403, 410) and not refreshed:
            self.location = self._refreshed_location()
            return True
        if not _retryable(exc):
            raise exc
        if not backoff.wait(exc):
            raise DownloadError(
                "offline",
                f"The connection to {self.endpoint} kept failing while downloading "
                f"{self.remote.repo_id}/{self.remote.filename} ({type(exc).__name__}; gave up "
                f"after {self.options.max_retries} retries). Retry later: the partial file is "
                "kept.",
            ) from exc
        return False

    def _refreshed_location(self) -> str:
        r = self.remote
        return fetch_remote_file(
            r.repo_id, r.filename, r.revision, endpoint=self.endpoint, token=self.token
        ).location

    def _headers(self, offset: int) -> dict[str, str]:
        headers = build_hf_headers(token=self.token)
        headers["Accept-Encoding"] = "identity"
        if not _same_origin(self.location, self.endpoint):
            headers.pop("authorization", None)  # never send the token off the Hub
            headers.pop("Authorization", None)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        return headers

    def _request(self, out: Any, offset: int, hasher: _BackgroundHasher) -> int:
        """One GET from `offset`; returns the new offset (the file position) when it ends."""
        remote = self.remote
        with get_session().stream(
            "GET", self.location, headers=self._headers(offset), timeout=self.timeout,
            follow_redirects=True,
        ) as response:  # fmt: skip
            remove_hook = self.cancel.add_hook(_socket_closer(response))
            restore_reads = _read_in_large_pieces(response)
            try:
                self.cancel.raise_if_set()
                if response.status_code >= 400:
                    response.read()
                hf_raise_for_status(response)
                if offset and not _starts_at(response, offset):
                    out.seek(0)  # the server ignored the Range: start over
                    out.truncate()
                    hasher.restart(_new_hasher(remote))
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
                restore_reads()
                remove_hook()
                out.flush()
        return offset


class _RangeIgnored(Exception):
    """The server answered a ranged request with something else (the whole file, say)."""


PARALLEL_GAIN = 1.5  # the parts stay if together they are this much faster than one alone
STEAL_MIN = 1 << 20  # a part idle at the end takes over half of another's rest if >= 2 of these
SAVE_INTERVAL = 0.25  # seconds between two records of a parallel download's finished ranges


class _PartedTransfer(_Transfer):
    """Moves one file's missing ranges into its partial file with up to `parts` requests at once.

    One connection starts alone; after `options.probe` seconds the other parts join, and stay
    only if they raise the speed by PARALLEL_GAIN (they do under a per-connection cap; on a fast
    local link they only cost CPU). Ranges are handed out in order, so the part of the file
    without holes grows steadily and is hashed as it grows; a part idle at the end takes over
    half of the largest range still in flight. Each part retries alone; one that fails for good,
    or a cancel, stops them all within the socket-close latency. The finished ranges are
    recorded beside the file (never more than what is written) for a resume.
    """

    def __init__(self, *args: Any, parts: int) -> None:
        super().__init__(*args)
        self.parts = parts
        self.stop = Cancellation()  # a cancel, or a part that failed for good
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._done_lock = threading.Lock()
        self._saved_at = 0.0
        self._chunks: list[Span] = []  # ranges nobody fetches yet, the lowest last
        self._ends: dict[int, int] = {}  # where each running part stops
        self._target = 1  # how many parts may take work now
        self._whole = False  # the server sent the whole file for a range: no parts join
        self._waiting: dict[int, str] = {}  # why each part waiting to retry waits
        self._step = 1
        self.ranges = RangeSet(self.remote.size, [])

    def run_parts(self, spans: list[Span]) -> hashlib._Hash:
        """Fetch what `spans` leave missing; returns the hasher over the whole file."""
        size = self.remote.size
        self.ranges = RangeSet(size, spans)
        holes = missing(self.ranges.spans(), size)
        left = sum(e - s for s, e in holes)
        cap = max(1, self.options.part_size)
        self._step = min(cap, max(_min_part(self.options), -(-left // (2 * self.parts))))
        self._chunks = [
            (pos, min(pos + self._step, end)) for start, end in holes
            for pos in range(start, end, self._step)
        ]  # fmt: skip
        self._chunks.reverse()  # pop() hands out the lowest first
        self._target = self.parts if self.options.probe <= 0 else 1
        self.partial.touch()
        self._save(force=True)
        hasher = PrefixHasher(self.partial, _new_hasher(self.remote), self.ranges)
        unhook = self.cancel.add_hook(self.stop.set)
        threads: list[threading.Thread] = []
        try:
            for part in range(self._target):
                threads.append(self._start(part))
            if self._target < self.parts:
                self._probe(threads)
            for thread in threads:
                thread.join()
        finally:
            self.stop.set()  # (a no-op when every part is done)
            for thread in threads:
                thread.join()
            unhook()
            self._save(force=True)
        if self.cancel.is_set() or self.errors or self.ranges.prefix() < size:
            hasher.close()
            self.cancel.raise_if_set()
            if self.errors:
                raise self.errors[0]
            raise DownloadError("unexpected", "A parallel download ended with ranges missing.")
        return hasher.finish()

    def _start(self, part: int) -> threading.Thread:
        thread = threading.Thread(
            target=self._work, args=(part,), name=f"llm-widgets-part-{part}", daemon=True
        )
        thread.start()
        return thread

    def _probe(self, threads: list[threading.Thread]) -> None:
        """Measure one connection, then all parts; keep the parts only if they help."""
        while self.ranges.done() == self.ranges.done_at_start and threads[0].is_alive():
            if self.stop.wait(0.005):
                return
        alone = self._rate(threads)
        if alone is None or self._whole:
            return
        with self._lock:
            self._target = self.parts
            self._cut_lone_range()
        threads.extend(self._start(part) for part in range(1, self.parts))
        together = self._rate(threads)
        if together is not None and together < PARALLEL_GAIN * alone:
            with self._lock:
                self._target = 1  # the others end with the range they are on

    def _rate(self, threads: list[threading.Thread]) -> float | None:
        """Bytes a second over the next `options.probe` seconds; None if the transfer ended."""
        before, start = self.ranges.done(), time.monotonic()
        while (elapsed := time.monotonic() - start) < self.options.probe:
            if self.stop.wait(0.005) or not any(t.is_alive() for t in threads):
                return None
        return (self.ranges.done() - before) / elapsed

    def _cut_lone_range(self) -> None:
        """Hand the rest of what part 0 fetches alone back out in ranges (lock held)."""
        end = self._ends.get(0)
        if end is None:
            return
        cut = self.ranges.position(0) + self._step
        if end - cut <= 0:
            return
        self._ends[0] = cut
        rest = [(pos, min(pos + self._step, end)) for pos in range(cut, end, self._step)]
        self._chunks.extend(reversed(rest))

    def _next_chunk(self, part: int) -> int | None:
        """Start `part` on the lowest range nobody fetches yet (with the ones after it, while it
        is alone), or on the far half of the largest one still in flight once none is left;
        returns where it starts, or None when it should stop."""
        with self._lock:
            if self.stop.is_set() or part >= self._target:
                return None
            if self._chunks:
                start, end = self._chunks.pop()
                while self._target == 1 and self._chunks and self._chunks[-1][0] == end:
                    end = self._chunks.pop()[1]
            else:
                left = {p: e - self.ranges.position(p) for p, e in self._ends.items()}
                victim = max(left, key=left.__getitem__, default=None)
                if victim is None or left[victim] < 2 * STEAL_MIN:
                    return None
                end = self._ends[victim]
                start = self._ends[victim] = end - left[victim] // 2
            self.ranges.begin(part, start)
            self._ends[part] = end
            self._show_waiting()
            return start

    def _say_waiting(self, part: int, reason: str) -> None:
        """What `part` waits for; the transfer says it only while every running part waits."""
        with self._lock:
            if reason:
                self._waiting[part] = reason
            else:
                self._waiting.pop(part, None)
            self._show_waiting()

    def _show_waiting(self) -> None:
        """Say why the parts wait if every running one does (lock held)."""
        every = bool(self._waiting) and self._waiting.keys() >= self._ends.keys()
        self.progress.waiting = next(iter(self._waiting.values())) if every else ""

    def _end(self, part: int) -> int:
        """Where `part` stops (moved earlier when another part takes over its far half)."""
        with self._lock:
            return self._ends[part]

    def _save(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._saved_at < SAVE_INTERVAL:
            return
        if not self._save_lock.acquire(blocking=force):
            return
        try:
            self._saved_at = now
            save_ranges(self.partial, self.ranges.spans(), self.remote.size)
        finally:
            self._save_lock.release()

    def _work(self, part: int) -> None:
        """One part's worker: take the next missing range until none is left."""
        try:
            with self.partial.open("r+b", buffering=0) as out:
                while self._next_chunk(part) is not None:
                    try:
                        self._fetch(out, part)
                    finally:
                        with self._lock:
                            del self._ends[part]
                            self._show_waiting()
                        self.ranges.end(part)
                    self._save()
        except JobCancelledError:
            pass  # a cancel, or another part's failure: run_parts says which
        except BaseException as exc:
            with self._lock:
                self.errors.append(exc)
            self.stop.set()

    def _fetch(self, out: Any, part: int) -> None:
        """Fetch this part's range, retrying from where a failure left it."""
        say = functools.partial(self._say_waiting, part)
        backoff = _Backoff(self.options, self.stop, self.progress, say)
        refreshed = False
        while (pos := self.ranges.position(part)) < self._end(part):
            self.stop.raise_if_set()
            try:
                self._request_range(out, part, pos, self._end(part))
                if self.ranges.position(part) < self._end(part):
                    raise httpx.RemoteProtocolError("connection closed before the end of the part")
            except (JobCancelledError, DownloadError, _RangeIgnored):
                raise
            except Exception as exc:
                self.stop.raise_if_set()
                if self.ranges.position(part) > pos:
                    backoff.failures = 0  # it moved: a fresh budget for the next failure
                if self._after_failure(exc, backoff, refreshed):
                    refreshed = True  # an expired signed URL, refreshed: again at once

    def _request_range(self, out: Any, part: int, pos: int, end: int) -> None:
        """One GET of bytes [pos, end), written in place as they arrive (up to where the part
        stops, if another part took over the rest meanwhile)."""
        headers = self._headers(0)
        headers["Range"] = f"bytes={pos}-{end - 1}"
        with get_session().stream(
            "GET", self.location, headers=headers, timeout=self.timeout, follow_redirects=True
        ) as response:
            remove_hook = self.stop.add_hook(_socket_closer(response))
            restore_reads = _read_in_large_pieces(response)
            try:
                self.stop.raise_if_set()
                if response.status_code >= 400:
                    response.read()
                hf_raise_for_status(response)
                whole = pos == 0 and end == self.remote.size and response.status_code == 200
                if whole:  # the whole file, as asked for, from a server without ranges
                    self._whole = True
                elif not _starts_at(response, pos):
                    raise _RangeIgnored(f"asked for bytes {pos}-, got {response.status_code}")
                out.seek(pos)
                for piece in response.iter_raw():
                    self.stop.raise_if_set()
                    if pos + len(piece) > end:
                        raise DownloadError(
                            "server",
                            f"The server sent more than the asked range of "
                            f"{self.remote.repo_id}/{self.remote.filename}.",
                        )
                    n = max(0, min(len(piece), self._end(part) - pos))
                    view = memoryview(piece)[:n]
                    while view:
                        view = view[out.write(view) :]
                    pos += n
                    with self._done_lock:  # so that the figure shown never goes back
                        self.progress.done = self.ranges.advance(part, n)
                    self._save()
                    if pos >= self._end(part):
                        break
            finally:
                restore_reads()
                remove_hook()


READ_SIZE = 1 << 20  # bytes per socket read while a body streams


def _read_in_large_pieces(response: httpx.Response) -> Callable[[], None]:
    """Let the connection behind `response` read its body in READ_SIZE pieces instead of
    httpcore's 64 KiB: far fewer trips through h11 and Python per byte (measured on loopback:
    about 2.5x the throughput). Only this connection, only until the returned undo is called;
    if httpx's internals are not as expected nothing changes."""
    stream: Any = response.stream
    try:
        connection = stream._stream._httpcore_stream._stream._connection
    except AttributeError:
        return lambda: None
    if not isinstance(getattr(connection, "READ_NUM_BYTES", None), int):
        return lambda: None
    connection.READ_NUM_BYTES = READ_SIZE

    def undo() -> None:
        connection.__dict__.pop("READ_NUM_BYTES", None)  # back to the class default

    return undo


def _starts_at(response: httpx.Response, offset: int) -> bool:
    """Whether a ranged answer really starts at `offset` (a 200 or another start means restart)."""
    if response.status_code != 206:
        return False
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return match is not None and int(match.group(1)) == offset


def _retry_reason(exc: BaseException) -> str:
    """What a card says while the transfer waits to retry after `exc`."""
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return "stalled — retrying"
    status = status_of(exc)
    if status is not None and (status >= 500 or status in (408, 429)):
        return "server busy — retrying"
    return "connection lost — retrying"


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    status = status_of(exc)
    if isinstance(exc, HfHubHTTPError) and status is not None:
        return status in (408, 429) or status >= 500
    return isinstance(exc, (ConnectionError, TimeoutError))


def _socket_closer(response: httpx.Response) -> Callable[[], None]:
    """A function that unblocks a read on `response` from another thread (for prompt cancel)."""

    def close() -> None:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None and response.http_version == "HTTP/1.1":
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    return close
