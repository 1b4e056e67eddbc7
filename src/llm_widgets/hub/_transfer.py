"""The resumable transfer: one file from the Hub into its place in the cache.

It streams into a stable partial file (`_stream`: one request at a time; `_parted`: several
ranges at once), resumes it with HTTP Range, hashes while writing, and moves the file to its blob
name only once the checksum matches, so nothing incomplete ever looks complete. It reports
progress by writing `TransferProgress.done` (the caller reads it on its own clock) and stops when
its `Cancellation` is set.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import DownloadError, JobCancelledError, _RangeIgnored
from ..jobs import Cancellation
from ._cache import GIT_SHA1, CachePaths, link_pointer, write_ref
from ._fetch import TransferOptions, TransferProgress, min_part, size_on_disk
from ._parted import PartedTransfer
from ._ranges import Span, load_ranges, remove_ranges
from ._remote import RemoteFile
from ._space import DiskSpace
from ._stream import StreamTransfer


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
        spans, left_by_parts = _on_disk(paths.partial, remote.size)
        parted = left_by_parts or (parts > 1 and remote.size > 2 * min_part(opts))
        progress.done = resumed_from = sum(e - s for s, e in spans)
        what = f"{remote.repo_id}/{remote.filename}"
        with (space or DiskSpace()).claim(paths.blob.parent, remote.size, progress, what):
            paths.partial_info.write_text(json.dumps(_partial_info(remote)))
            args = (remote, paths.partial, endpoint, token, cancel, progress, opts)
            hasher = None
            if parted:
                hasher = _in_parts(PartedTransfer(*args, parts=max(1, parts)), spans)
            if hasher is None:  # one stream, from the end of what is there without a hole
                hasher = StreamTransfer(*args).resume()
        _keep(paths, remote, hasher.hexdigest())
        return paths.pointer, resumed_from


def _on_disk(partial: Path, size: int) -> tuple[list[Span], bool]:
    """The ranges of a `size`-byte file its partial file holds, and whether a parallel download
    left them (a single stream leaves a prefix, with no record); a partial larger than the file
    is dropped."""
    spans = load_ranges(partial, size)
    offset = size_on_disk(partial)
    if offset > size:
        partial.unlink()
        remove_ranges(partial)
        offset, spans = 0, None
    if spans is None:
        return ([(0, offset)] if offset else []), False
    return spans, True


def _in_parts(transfer: PartedTransfer, spans: list[Span]) -> hashlib._Hash | None:
    """Fetch what `spans` leave missing in parts; returns the hasher over the whole file, or None
    when the server ignores ranges (the partial is then cut to what it holds without a hole, for
    one stream to go on from)."""
    partial, size, progress = transfer.partial, transfer.remote.size, transfer.progress
    try:
        return transfer.run_parts(spans)
    except _RangeIgnored:
        kept = load_ranges(partial, size) or []
        offset = kept[0][1] if kept and kept[0][0] == 0 else 0
        with partial.open("ab") as f:
            f.truncate(offset)
        remove_ranges(partial)
        progress.done = offset
        return None
    except BaseException:
        spans_now = load_ranges(partial, size)
        progress.done = (
            size_on_disk(partial) if spans_now is None else sum(e - s for s, e in spans_now)
        )
        raise


def _keep(paths: CachePaths, remote: RemoteFile, digest: str) -> None:
    """Move the finished partial file to its blob name if `digest` matches the Hub's checksum;
    otherwise discard it and raise DownloadError('checksum')."""
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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
