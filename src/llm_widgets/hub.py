"""All Hugging Face Hub I/O: file metadata, the resumable transfer loop, the cache layout, errors.

Downloads compose huggingface_hub's public pieces (`hf_hub_url`, `get_hf_file_metadata`,
`build_hf_headers`, `get_session`, `hf_raise_for_status`, its typed errors) into a loop of our own,
because `hf_hub_download` neither resumes after a cancel nor verifies checksums, and reports
progress only every 10 MiB. Files land in the standard cache layout, where `hf_hub_download`,
`try_to_load_from_cache` and `scan_cache_dir` find them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import queue
import re
import shutil
import socket
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx2
from huggingface_hub import constants, get_hf_file_metadata, get_session, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_token, hf_raise_for_status

from .errors import DownloadError, JobCancelledError

DEFAULT_REVISION = "main"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_TOKEN_LIKE = re.compile(r"hf_[A-Za-z0-9]{8,}")
_TOKEN_ADVICE = (
    "Give a token with access: set the HF_TOKEN environment variable, or run "
    "`from huggingface_hub import login; login()` in a cell, then try again."
)


# -- configuration, read when used (not at import) -----------------------------------------------


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The Hub URL to use: `endpoint`, else `HF_ENDPOINT`, else huggingface_hub's default."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The hub cache: `cache_dir`, else `HF_HUB_CACHE`, else `HF_HOME/hub`, else the default."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def is_offline() -> bool:
    """Whether `HF_HUB_OFFLINE` asks for no network access."""
    value = os.environ.get("HF_HUB_OFFLINE", "1" if constants.HF_HUB_OFFLINE else "")
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def ensure_reachable(endpoint: str, timeout: float = 3.0) -> None:
    """Raise DownloadError("offline") at once when the endpoint cannot be reached at all (off,
    refused, no such host), instead of letting huggingface_hub back off for half a minute.
    With a proxy configured the check is left to the proxy."""
    if is_offline():
        raise DownloadError("offline", "HF_HUB_OFFLINE is set: the Hub is not contacted.")
    url = urlparse(endpoint)
    if url.hostname is None or urllib.request.getproxies().get(url.scheme):
        return
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise DownloadError(
            "offline",
            f"Cannot reach {endpoint} ({exc.strerror or type(exc).__name__}). Check the network "
            "connection (or HF_ENDPOINT).",
        ) from None


def redact(text: str, token: str | None = None) -> str:
    """`text` with any token (the given one, or anything shaped like an HF token) masked."""
    if token:
        text = text.replace(token, "***")
    return _TOKEN_LIKE.sub("hf_***", text)


def validate_repo_file(repo_id: object, filename: object, revision: object = None) -> None:
    """Raise ValueError unless the three name a plausible Hub file (no paths outside the repo)."""
    if not isinstance(repo_id, str) or not re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?", repo_id
    ):
        raise ValueError(f"Invalid repo id {repo_id!r}: expected 'owner/name'.")
    if ".." in repo_id or len(repo_id) > 96:
        raise ValueError(f"Invalid repo id {repo_id!r}.")
    if not isinstance(filename, str) or not filename or len(filename) > 1000:
        raise ValueError(f"Invalid file name {filename!r}.")
    parts = filename.split("/")
    if (
        filename.startswith("/")
        or "\\" in filename
        or "\x00" in filename
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise ValueError(
            f"Invalid file name {filename!r}: it must be a relative path inside the repo."
        )
    if revision is not None and (
        not isinstance(revision, str)
        or not revision
        or len(revision) > 255
        or ".." in revision
        or "\x00" in revision
    ):
        raise ValueError(f"Invalid revision {revision!r}.")


SPLIT_PART = re.compile(r"^(?P<stem>.+)-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$")


def split_parts(filename: str) -> list[str]:
    """Every part of a split GGUF named by any of its parts; [filename] for a single file."""
    match = SPLIT_PART.match(filename)
    if match is None:
        return [filename]
    stem, total = match.group("stem"), int(match.group("total"))
    if not 1 <= int(match.group("part")) <= total:
        return [filename]
    return [f"{stem}-{i:05d}-of-{total:05d}.gguf" for i in range(1, total + 1)]


# -- the cache layout ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    """What the Hub says about one file at one revision."""

    repo_id: str
    filename: str
    revision: str
    commit: str
    etag: str
    size: int
    location: str

    @property
    def sha256(self) -> str | None:
        """The expected sha256 (LFS files), or None."""
        return self.etag if _SHA256.match(self.etag) else None


@dataclass(frozen=True)
class CachePaths:
    """Where one file lives in the Hugging Face cache."""

    storage: Path
    blob: Path
    pointer: Path
    partial: Path
    partial_info: Path
    lock: Path

    @classmethod
    def for_file(
        cls, cache_dir: Path, repo_id: str, filename: str, etag: str, commit: str
    ) -> CachePaths:
        folder = "models--" + repo_id.replace("/", "--")
        storage = cache_dir / folder
        blob = storage / "blobs" / etag
        return cls(
            storage=storage,
            blob=blob,
            pointer=storage / "snapshots" / commit / Path(*filename.split("/")),
            partial=blob.with_name(etag + ".incomplete"),
            partial_info=blob.with_name(etag + ".incomplete.json"),
            lock=cache_dir / ".locks" / folder / f"{etag}.lock",
        )


def storage_folder(cache_dir: Path, repo_id: str) -> Path:
    """The cache folder of a model repo."""
    return cache_dir / ("models--" + repo_id.replace("/", "--"))


def cached_file(cache_dir: Path, repo_id: str, filename: str, revision: str | None) -> Path | None:
    """The complete cached file for this revision (a branch via `refs/`), or None."""
    storage = storage_folder(cache_dir, repo_id)
    rev = revision or DEFAULT_REVISION
    commit = rev
    if not _GIT_SHA1.match(rev):
        ref = storage / "refs" / rev
        try:
            commit = ref.read_text().strip()
        except OSError:
            return None
    pointer = storage / "snapshots" / commit / Path(*filename.split("/"))
    return pointer if pointer.exists() else None


def _write_ref(storage: Path, revision: str, commit: str) -> None:
    if revision == commit:
        return
    ref = storage / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    try:
        if ref.read_text() == commit:
            return
    except OSError:
        pass
    tmp = ref.with_name(f"{ref.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(commit)
    os.replace(tmp, ref)


def _link_pointer(blob: Path, pointer: Path) -> None:
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        if pointer.resolve() == blob.resolve():
            return
        pointer.unlink()
    try:
        os.symlink(os.path.relpath(blob, pointer.parent), pointer)
    except OSError:  # no symlinks here (some Windows setups): keep a copy, as huggingface_hub does
        shutil.copyfile(blob, pointer)


# -- metadata and errors ------------------------------------------------------------------------


def fetch_remote_file(
    repo_id: str,
    filename: str,
    revision: str | None,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    timeout: float = 10.0,
) -> RemoteFile:
    """HEAD the file on the Hub: commit, etag (sha256 for LFS), size, download location."""
    rev = revision or DEFAULT_REVISION
    url_endpoint = resolve_endpoint(endpoint)
    url = hf_hub_url(repo_id, filename, revision=rev, endpoint=url_endpoint)
    meta = get_hf_file_metadata(url, token=token, timeout=timeout, endpoint=url_endpoint)
    if not meta.commit_hash or not meta.etag or meta.size is None:
        raise DownloadError(
            "server",
            f"{url_endpoint} did not say which commit, checksum and size {repo_id}/{filename} has; "
            "it may not be a Hugging Face Hub server.",
        )
    return RemoteFile(
        repo_id=repo_id,
        filename=filename,
        revision=rev,
        commit=meta.commit_hash,
        etag=meta.etag,
        size=meta.size,
        location=meta.location,
    )


def explain_error(
    exc: BaseException,
    *,
    repo_id: str,
    filename: str,
    revision: str | None,
    endpoint: str,
    token: str | bool | None = None,
) -> DownloadError:
    """Turn any download failure into a DownloadError whose message says what to do (`token` as
    huggingface_hub takes it; a string token is masked out of the message)."""
    if isinstance(exc, DownloadError):
        return exc
    where = f"{repo_id}/{filename}"
    token = token if isinstance(token, str) else None
    has_token = bool(token or get_token())
    status = _status_of(exc)
    if isinstance(exc, GatedRepoError):
        return DownloadError(
            "gated",
            f"{repo_id} is gated: accept its conditions at {endpoint}/{repo_id} while logged in, "
            + (
                "then check that your token belongs to that account."
                if has_token
                else _TOKEN_ADVICE
            ),
        )
    if isinstance(exc, RevisionNotFoundError):
        return DownloadError(
            "not_found", f"Revision {revision!r} of {repo_id} was not found on {endpoint}."
        )
    if isinstance(exc, EntryNotFoundError):
        return DownloadError(
            "not_found",
            f"{filename} was not found in {repo_id} at revision {revision or DEFAULT_REVISION!r}. "
            "Check the file name (it is case-sensitive).",
        )
    if isinstance(exc, RepositoryNotFoundError):
        hint = (
            "If it is private, your token may not have access to it."
            if has_token
            else "If it is private or gated, you need a token. " + _TOKEN_ADVICE
        )
        return DownloadError(
            "not_found", f"Repository {repo_id} was not found on {endpoint}. {hint}"
        )
    if status == 401:
        return DownloadError(
            "auth", f"{endpoint} rejected the token for {where} (401). " + _TOKEN_ADVICE
        )
    if status == 403:
        return DownloadError(
            "forbidden",
            f"Access to {where} is forbidden (403): your token lacks permission for it. "
            + _TOKEN_ADVICE,
        )
    if status == 429:
        return DownloadError(
            "server", f"{endpoint} is rate-limiting requests (429). Wait a minute and retry."
        )
    if status is not None and status >= 500:
        return DownloadError(
            "server",
            f"{endpoint} answered with a server error ({status}) for {where}. Try again later.",
        )
    if isinstance(exc, OfflineModeIsEnabled) or is_offline():
        return DownloadError(
            "offline",
            f"{where} is not in the local cache and HF_HUB_OFFLINE is set, so it cannot be "
            "downloaded. Unset HF_HUB_OFFLINE to download.",
        )
    if isinstance(exc, (httpx2.TransportError, LocalEntryNotFoundError, socket.error)) and not (
        isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    ):
        return DownloadError(
            "offline",
            f"Cannot reach {endpoint} ({type(exc).__name__}). Check the network connection "
            "(or HF_ENDPOINT) and retry; a partial download is kept and resumes.",
        )
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DownloadError(
            "disk_full",
            f"The disk is full while writing {where} ({exc.filename or ''}). Free some space "
            "and retry: the partial download is kept and resumes.",
        )
    if isinstance(exc, PermissionError):
        return DownloadError(
            "disk", f"Cannot write to the cache: {exc}. Check HF_HOME / HF_HUB_CACHE."
        )
    return DownloadError(
        "unexpected",
        redact(f"Downloading {where} failed: {type(exc).__name__}: {exc}", token),
    )


def _status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


# -- the transfer loop --------------------------------------------------------------------------


@dataclass
class TransferOptions:
    """Knobs of the transfer loop."""

    stall_timeout: float = 30.0
    connect_timeout: float = 10.0
    max_retries: int = 5
    retry_backoff: float = 0.5
    write_buffer: int = 1 << 20


ProgressFn = Callable[[int], None]


def ensure_free_space(directory: Path, needed: int, what: str) -> None:
    """Raise DownloadError('disk_full') when `directory` has less than `needed` bytes free."""
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise DownloadError(
            "disk_full",
            f"Not enough disk space for {what}: {_fmt_bytes(needed)} needed, "
            f"{_fmt_bytes(free)} free in {directory}. Free some space or point HF_HOME elsewhere.",
        )


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


class _Lock:
    """An inter-process file lock taken while watching a cancel event."""

    def __init__(self, path: Path, cancel: threading.Event) -> None:
        from filelock import FileLock

        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(path))
        self._cancel = cancel

    def __enter__(self) -> _Lock:
        from filelock import Timeout

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
    if _GIT_SHA1.match(remote.etag):  # a git blob: sha1 over "blob <size>\0" + content
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
    cancel: threading.Event,
    on_bytes: ProgressFn,
    add_cancel_hook: Callable[[Callable[[], None]], Callable[[], None]],
    endpoint: str,
    token: str | bool | None = None,
    options: TransferOptions | None = None,
    refresh: Callable[[], RemoteFile] | None = None,
) -> tuple[Path, int]:
    """Download `remote` into the cache; returns (path, bytes already present when it started).

    Resumes a partial file left by an earlier cancel or crash, checks the checksum, and only then
    moves the file to its blob name, so nothing incomplete ever looks complete.
    """
    opts = options or TransferOptions()
    paths = CachePaths.for_file(
        cache_dir, remote.repo_id, remote.filename, remote.etag, remote.commit
    )
    paths.blob.parent.mkdir(parents=True, exist_ok=True)
    with _Lock(paths.lock, cancel):
        _write_ref(paths.storage, remote.revision, remote.commit)
        if paths.blob.exists() and paths.blob.stat().st_size == remote.size:
            _link_pointer(paths.blob, paths.pointer)
            on_bytes(remote.size)
            return paths.pointer, remote.size
        offset = paths.partial.stat().st_size if paths.partial.exists() else 0
        if offset > remote.size:
            paths.partial.unlink()
            offset = 0
        ensure_free_space(
            paths.blob.parent, remote.size - offset, f"{remote.repo_id}/{remote.filename}"
        )
        paths.partial_info.write_text(
            json.dumps(
                {
                    "repo_id": remote.repo_id,
                    "filename": remote.filename,
                    "revision": remote.revision,
                    "commit": remote.commit,
                    "etag": remote.etag,
                    "size": remote.size,
                }
            )
        )
        hasher = _new_hasher(remote)
        if offset:
            offset = _hash_existing(paths.partial, hasher, offset)
        resumed_from = offset
        on_bytes(offset)
        offset, hasher = _Transfer(
            remote,
            paths.partial,
            cancel=cancel,
            on_bytes=on_bytes,
            add_cancel_hook=add_cancel_hook,
            endpoint=endpoint,
            token=token,
            options=opts,
            refresh=refresh,
        ).run(offset, hasher)
        digest = hasher.hexdigest()
        if digest != remote.etag and (remote.sha256 or _GIT_SHA1.match(remote.etag)):
            paths.partial.unlink(missing_ok=True)
            paths.partial_info.unlink(missing_ok=True)
            algo = "sha256" if remote.sha256 else "git sha1"
            raise DownloadError(
                "checksum",
                f"Checksum mismatch for {remote.repo_id}/{remote.filename}: expected {algo} "
                f"{remote.etag}, got {digest}. The corrupt file was discarded; retry the download.",
            )
        os.chmod(paths.partial, 0o644 & ~_umask())
        os.replace(paths.partial, paths.blob)
        paths.partial_info.unlink(missing_ok=True)
        _link_pointer(paths.blob, paths.pointer)
        return paths.pointer, resumed_from


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
        *,
        cancel: threading.Event,
        on_bytes: ProgressFn,
        add_cancel_hook: Callable[[Callable[[], None]], Callable[[], None]],
        endpoint: str,
        token: str | bool | None,
        options: TransferOptions,
        refresh: Callable[[], RemoteFile] | None,
    ) -> None:
        self.remote, self.partial = remote, partial
        self.cancel, self.on_bytes, self.add_cancel_hook = cancel, on_bytes, add_cancel_hook
        self.endpoint, self.token, self.options, self.refresh = endpoint, token, options, refresh
        self.location = remote.location
        self.timeout = httpx2.Timeout(options.stall_timeout, connect=options.connect_timeout)

    def run(self, offset: int, hasher: hashlib._Hash) -> tuple[int, hashlib._Hash]:
        """Fetch from `offset` to the end; returns (bytes in the file, hasher over all of them)."""
        background = _BackgroundHasher(hasher)
        try:
            with self.partial.open("ab", buffering=self.options.write_buffer) as out:
                offset = self._loop(out, offset, background)
            return offset, background.close()
        finally:
            background.close()

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise JobCancelledError("cancelled")

    def _loop(self, out: Any, offset: int, hasher: _BackgroundHasher) -> int:
        size, failures = self.remote.size, 0
        while True:
            self._check_cancel()
            before = offset
            try:
                offset = self._request(out, offset, hasher)
                if offset >= size:
                    return offset
                raise httpx2.RemoteProtocolError("connection closed before the end of the file")
            except (JobCancelledError, DownloadError):
                raise
            except Exception as exc:
                out.flush()
                offset = out.tell()  # every byte written is in the file (and hashed)
                self._check_cancel()
                status = _status_of(exc)
                if status in (403, 410) and self.refresh is not None and failures == 0:
                    self.location = self.refresh().location  # an expired signed URL
                elif not _retryable(exc):
                    raise
                failures = 0 if out.tell() > before else failures + 1
                if failures > self.options.max_retries:
                    raise DownloadError(
                        "offline",
                        f"The connection to {self.endpoint} kept failing while downloading "
                        f"{self.remote.repo_id}/{self.remote.filename} ({type(exc).__name__}; gave "
                        f"up after {self.options.max_retries} retries). Retry later: the partial "
                        "file is kept.",
                    ) from exc
                pause = min(self.options.retry_backoff * 2 ** max(failures - 1, 0), 10.0)
                if self.cancel.wait(pause):
                    raise JobCancelledError("cancelled") from None

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
            remove_hook = self.add_cancel_hook(_socket_closer(response))
            restore_reads = _read_in_large_pieces(response)
            try:
                self._check_cancel()
                if response.status_code >= 400:
                    response.read()
                hf_raise_for_status(response)
                if offset and not _starts_at(response, offset):
                    out.seek(0)  # the server ignored the Range: start over
                    out.truncate()
                    hasher.restart(_new_hasher(remote))
                    offset = 0
                    self.on_bytes(0)
                for piece in response.iter_raw():
                    self._check_cancel()
                    if offset + len(piece) > remote.size:
                        raise DownloadError(
                            "server",
                            f"The server sent more than the {remote.size} bytes of "
                            f"{remote.repo_id}/{remote.filename}.",
                        )
                    out.write(piece)
                    hasher.update(piece)
                    offset += len(piece)
                    self.on_bytes(offset)
            finally:
                restore_reads()
                remove_hook()
                out.flush()
        return offset


READ_SIZE = 1 << 20  # bytes per socket read while a body streams


def _read_in_large_pieces(response: httpx2.Response) -> Callable[[], None]:
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


def _starts_at(response: httpx2.Response, offset: int) -> bool:
    """Whether a ranged answer really starts at `offset` (a 200 or another start means restart)."""
    if response.status_code != 206:
        return False
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return match is not None and int(match.group(1)) == offset


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx2.TransportError):
        return True
    status = _status_of(exc)
    if isinstance(exc, HfHubHTTPError) and status is not None:
        return status in (408, 429) or status >= 500
    return isinstance(exc, (ConnectionError, TimeoutError))


def _socket_closer(response: httpx2.Response) -> Callable[[], None]:
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
