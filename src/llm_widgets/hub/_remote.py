"""What the Hub says about one file: where the Hub is, its commit, checksum, size and location."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url

from .._names import DEFAULT_REVISION
from ..errors import DownloadError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def resolve_endpoint(endpoint: str | None = None) -> str:
    """The Hub URL to use: `endpoint`, else `HF_ENDPOINT` (read now), else huggingface_hub's."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def is_offline() -> bool:
    """Whether `HF_HUB_OFFLINE` asks for no network access."""
    value = os.environ.get("HF_HUB_OFFLINE", "1" if constants.HF_HUB_OFFLINE else "")
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


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


def status_of(exc: BaseException) -> int | None:
    """The HTTP status behind an exception, if it carries a response."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None
