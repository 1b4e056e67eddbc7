"""All Hugging Face Hub I/O, in one place: where the Hub is, file metadata, the transfer into the
cache, reachability, and failures explained so a user knows what to do.

The pieces live in small modules (`_cache`: the cache layout, `_remote`: metadata, `_transfer`:
the resumable transfer, over `_fetch`, `_stream`, `_parted` and `_space`); this module is their
public face.
"""

from __future__ import annotations

import errno
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import get_token

from .._http import httpx
from .._names import (
    DEFAULT_REVISION,
    split_parts,
    validate_filename,
    validate_repo_file,
    validate_repo_id,
    validate_revision,
)
from .._secrets import known_secrets, redact, remember_secret
from ..errors import DownloadError, DownloadErrorKind
from ._cache import cached_file, resolve_cache_dir, storage_folder
from ._fetch import TransferOptions, TransferProgress, fetch_with_retries
from ._remote import RemoteFile, fetch_remote_file, is_offline, resolve_endpoint, status_of
from ._space import DiskSpace, ensure_free_space
from ._transfer import download_file

_TOKEN_ADVICE = (
    "Give a token with access: set the HF_TOKEN environment variable, or run "
    "`from huggingface_hub import login; login()` in a cell, then try again."
)


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


def file_size(
    repo_id: str,
    filename: str,
    revision: str | None,
    *,
    endpoint: str,
    token: str | bool | None = None,
) -> int:
    """The size on the Hub of a file (all parts of a split GGUF), from its metadata; raises
    DownloadError with what to do when it cannot be had."""
    try:
        return sum(
            fetch_remote_file(
                repo_id, name, revision, endpoint=endpoint, token=token, timeout=5
            ).size
            for name in split_parts(filename)
        )
    except Exception as exc:
        raise explain_error(
            exc,
            repo_id=repo_id,
            filename=filename,
            revision=revision,
            endpoint=endpoint,
            token=token,
        ) from None


def explain_error(
    exc: BaseException,
    *,
    repo_id: str,
    filename: str,
    revision: str | None,
    endpoint: str,
    token: str | bool | None = None,
    cache_dir: Path | None = None,
) -> DownloadError:
    """Turn any download failure into a DownloadError whose message says what to do (`token` as
    huggingface_hub takes it; a string token is masked out of the message). A local disk problem
    is told apart from the network: both are OSErrors."""
    if isinstance(exc, DownloadError):
        return exc
    where = f"{repo_id}/{filename}"
    token = token if isinstance(token, str) else None
    status = status_of(exc)
    case = next((c for c in _EXPLAINED if c[0](exc, status)), None)
    if case is None:
        message = f"Downloading {where} failed: {type(exc).__name__}: {exc}"
        return DownloadError("unexpected", redact(message, token))
    has_token = bool(token or get_token())
    facts = {
        "repo_id": repo_id,
        "filename": filename,
        "revision": revision,
        "at": revision or DEFAULT_REVISION,
        "endpoint": endpoint,
        "where": where,
        "status": status,
        "name": type(exc).__name__,
        "path": getattr(exc, "filename", None) or cache_dir or "the cache",
        "problem": _DISK_PROBLEMS.get(_errno(exc) or 0, ""),
        "disk_advice": _DISK_ADVICE.get(_errno(exc) or 0, _DISK_ADVICE[errno.EACCES]),
        "token_advice": _TOKEN_ADVICE,
        "gated_advice": (
            "then check that your token belongs to that account." if has_token else _TOKEN_ADVICE
        ),
        "private_advice": (
            "If it is private, your token may not have access to it."
            if has_token
            else "If it is private or gated, you need a token. " + _TOKEN_ADVICE
        ),
    }
    return DownloadError(case[1], case[2].format(**facts))


_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
# errno -> what is wrong with the local cache, in words
_DISK_PROBLEMS = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "an I/O error (a failing disk, or a network file system that went away)",
    errno.ENOTDIR: "a file stands where a folder should be",
    errno.EISDIR: "a folder stands where a file should be",
    errno.ENAMETOOLONG: "the path is too long for this file system",
}
# errno -> what to do about it (EACCES: what to do about any other)
_DISK_ADVICE = {
    errno.EIO: "Check the disk, then retry; or point HF_HOME (or HF_HUB_CACHE) elsewhere.",
    errno.EACCES: "Point HF_HOME (or HF_HUB_CACHE) at a folder you can write to, or fix that "
    "folder's permissions, then retry.",
}


def _errno(exc: BaseException) -> int | None:
    return exc.errno if isinstance(exc, OSError) else None


# The failures `explain_error` knows, in order: the first whose test (of the failure and its HTTP
# status) holds gives the kind, and the message to fill in with the facts of the failure.
_EXPLAINED: list[tuple[Callable[[BaseException, int | None], bool], DownloadErrorKind, str]] = [
    (
        lambda e, s: isinstance(e, GatedRepoError),
        "gated",
        "{repo_id} is gated: accept its conditions at {endpoint}/{repo_id} while logged in, "
        "{gated_advice}",
    ),
    (
        lambda e, s: isinstance(e, RevisionNotFoundError),
        "not_found",
        "Revision {revision!r} of {repo_id} was not found on {endpoint}.",
    ),
    (
        lambda e, s: isinstance(e, EntryNotFoundError),
        "not_found",
        "{filename} was not found in {repo_id} at revision {at!r}. Check the file name (it is "
        "case-sensitive).",
    ),
    (
        lambda e, s: isinstance(e, RepositoryNotFoundError),
        "not_found",
        "Repository {repo_id} was not found on {endpoint}. {private_advice}",
    ),
    (
        lambda e, s: s == 401,
        "auth",
        "{endpoint} rejected the token for {where} (401). {token_advice}",
    ),
    (
        lambda e, s: s == 403,
        "forbidden",
        "Access to {where} is forbidden (403): your token lacks permission for it. {token_advice}",
    ),
    (
        lambda e, s: s == 429,
        "server",
        "{endpoint} is rate-limiting requests (429). Wait a minute and retry.",
    ),
    (
        lambda e, s: s is not None and s >= 500,
        "server",
        "{endpoint} answered with a server error ({status}) for {where}. Try again later.",
    ),
    (
        lambda e, s: isinstance(e, OfflineModeIsEnabled) or is_offline(),
        "offline",
        "{where} is not in the local cache and HF_HUB_OFFLINE is set, so it cannot be "
        "downloaded. Unset HF_HUB_OFFLINE to download.",
    ),
    (
        lambda e, s: _errno(e) in _DISK_FULL,
        "disk_full",
        "The disk is full while writing {where} to {path}. Free some space and retry: the "
        "partial download is kept and resumes.",
    ),
    (
        lambda e, s: _errno(e) in _DISK_PROBLEMS,
        "disk",
        "Cannot store {where} in the cache at {path}: {problem}. {disk_advice}",
    ),
    (
        lambda e, s: isinstance(e, (httpx.TransportError, LocalEntryNotFoundError, socket.error)),
        "offline",
        "Cannot reach {endpoint} ({name}). Check the network connection (or HF_ENDPOINT) and "
        "retry; a partial download is kept and resumes.",
    ),
]

__all__ = [
    "DEFAULT_REVISION",
    "DiskSpace",
    "RemoteFile",
    "TransferOptions",
    "TransferProgress",
    "cached_file",
    "download_file",
    "ensure_free_space",
    "ensure_reachable",
    "explain_error",
    "fetch_remote_file",
    "fetch_with_retries",
    "file_size",
    "is_offline",
    "known_secrets",
    "redact",
    "remember_secret",
    "resolve_cache_dir",
    "resolve_endpoint",
    "split_parts",
    "status_of",
    "storage_folder",
    "validate_filename",
    "validate_repo_file",
    "validate_repo_id",
    "validate_revision",
]
