"""All Hugging Face Hub I/O, in one place: where the Hub is, file metadata, the transfer into the
cache, reachability, and failures explained so a user knows what to do.

The pieces live in small modules (`_names`: name rules, `_cache`: the cache layout, `_remote`:
metadata, `_transfer`: the resumable transfer loop); this module is their public face.
"""

from __future__ import annotations

import errno
import re
import socket
import urllib.request
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
from ..errors import DownloadError
from ._cache import cached_file, resolve_cache_dir, storage_folder
from ._remote import RemoteFile, fetch_remote_file, is_offline, resolve_endpoint, status_of
from ._transfer import (
    DiskSpace,
    TransferOptions,
    TransferProgress,
    download_file,
    ensure_free_space,
    fetch_with_retries,
)

_TOKEN_LIKE = re.compile(r"hf_[A-Za-z0-9]{8,}")
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


_KNOWN_SECRETS: set[str] = set()  # tokens and keys handed to this process's objects


def remember_secret(secret: object) -> None:
    """Note a token or key this process was given, so `known_secrets()` can mask it (short
    placeholders such as "EMPTY" are not secrets)."""
    if isinstance(secret, str) and len(secret) >= 8:
        _KNOWN_SECRETS.add(secret)


def known_secrets() -> frozenset[str]:
    """Every token and key this process's services and connections were given."""
    return frozenset(_KNOWN_SECRETS)


def redact(text: str, token: str | None = None) -> str:
    """`text` with any token (the given one, or anything shaped like an HF token) masked."""
    if token:
        text = text.replace(token, "***")
    return _TOKEN_LIKE.sub("hf_***", text)


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
    has_token = bool(token or get_token())
    status = status_of(exc)
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
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return DownloadError(
            "disk_full",
            f"The disk is full while writing {where} to {exc.filename or cache_dir or 'the cache'}."
            " Free some space and retry: the partial download is kept and resumes.",
        )
    if isinstance(exc, OSError) and exc.errno in _DISK_PROBLEMS:
        return _disk_error(exc, where, cache_dir)
    if isinstance(exc, (httpx.TransportError, LocalEntryNotFoundError, socket.error)):
        return DownloadError(
            "offline",
            f"Cannot reach {endpoint} ({type(exc).__name__}). Check the network connection "
            "(or HF_ENDPOINT) and retry; a partial download is kept and resumes.",
        )
    return DownloadError(
        "unexpected",
        redact(f"Downloading {where} failed: {type(exc).__name__}: {exc}", token),
    )


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


def _disk_error(exc: OSError, where: str, cache_dir: Path | None) -> DownloadError:
    path = exc.filename or cache_dir or "the cache"
    if exc.errno == errno.EIO:
        advice = "Check the disk, then retry; or point HF_HOME (or HF_HUB_CACHE) elsewhere."
    else:
        advice = (
            "Point HF_HOME (or HF_HUB_CACHE) at a folder you can write to, or fix that folder's "
            "permissions, then retry."
        )
    return DownloadError(
        "disk",
        f"Cannot store {where} in the cache at {path}: {_DISK_PROBLEMS[exc.errno or 0]}. {advice}",
    )


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
    "redact",
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
