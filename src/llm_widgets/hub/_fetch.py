"""What every transfer of a file from the Hub shares: its options and progress, retries with a
growing pause, and one checked GET whose read a cancel ends at once.

`hf_hub_download` neither resumes after a cancel nor verifies checksums, and reports progress only
every 10 MiB; the transfers are built from huggingface_hub's public pieces (`get_session`,
`build_hf_headers`, `hf_raise_for_status`) instead.
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from huggingface_hub import get_session
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

from .._http import httpx
from ..errors import DownloadError, JobCancelledError
from ..jobs import Cancellation
from ._cache import GIT_SHA1
from ._remote import RemoteFile, fetch_remote_file, status_of

T = TypeVar("T")

READ_SIZE = 1 << 20  # bytes per socket read while a body streams


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


class Backoff:
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
    backoff = Backoff(options, cancel, progress)
    while True:
        cancel.raise_if_set()
        try:
            return fetch()
        except Exception as exc:
            if isinstance(exc, httpx.ConnectError) or not _retryable(exc) or not backoff.wait(exc):
                raise


class Transfer:
    """One file's requests to the Hub: where its bytes are, the headers, one GET at a time, and
    what to do after a failed one (refresh an expired signed URL, retry, or give up)."""

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

    @contextmanager
    def _get(self, headers: dict[str, str], stop: Cancellation) -> Iterator[httpx.Response]:
        """A GET of the file, its status checked; setting `stop` ends a read of it at once."""
        with get_session().stream(
            "GET", self.location, headers=headers, timeout=self.timeout, follow_redirects=True
        ) as response:
            remove_hook = stop.add_hook(_socket_closer(response))
            restore_reads = read_in_large_pieces(response)
            try:
                stop.raise_if_set()
                if response.status_code >= 400:
                    response.read()
                hf_raise_for_status(response)
                yield response
            finally:
                restore_reads()
                remove_hook()

    def _headers(self, offset: int) -> dict[str, str]:
        headers = build_hf_headers(token=self.token)
        headers["Accept-Encoding"] = "identity"
        if not _same_origin(self.location, self.endpoint):
            headers.pop("authorization", None)  # never send the token off the Hub
            headers.pop("Authorization", None)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        return headers

    def _after_failure(self, exc: Exception, backoff: Backoff, refreshed: bool) -> bool:
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


def new_hasher(remote: RemoteFile) -> hashlib._Hash:
    """A fresh hasher of the kind that checks `remote` (sha256, or a git blob's sha1)."""
    if remote.sha256:
        return hashlib.sha256()
    h = hashlib.sha1()
    if GIT_SHA1.match(remote.etag):  # a git blob: sha1 over "blob <size>\0" + content
        h.update(f"blob {remote.size}\0".encode())
    return h


def min_part(options: TransferOptions) -> int:
    """The smallest range a parallel download hands out."""
    return max(1, min(options.min_part, options.part_size))


def size_on_disk(path: Path) -> int:
    """The size of `path`, 0 when there is none."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def starts_at(response: httpx.Response, offset: int) -> bool:
    """Whether a ranged answer really starts at `offset` (a 200 or another start means restart)."""
    if response.status_code != 206:
        return False
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return match is not None and int(match.group(1)) == offset


def read_in_large_pieces(response: httpx.Response) -> Callable[[], None]:
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


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlparse(a), urlparse(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


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
