"""Name rules: the Hub's repo ids, file paths inside a repo, revisions, split GGUF parts; a
server's base URL."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

DEFAULT_REVISION = "main"
MAX_REPO_ID = 96
MAX_FILENAME = 1000
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
_QUANT = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32|FP16|FP32)(?![A-Za-z0-9])", re.IGNORECASE
)
SPLIT_PART = re.compile(r"^(?P<stem>.+)-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$")


def validate_repo_id(repo_id: object) -> str:
    """`repo_id` if it is a plausible 'owner/name'; ValueError otherwise."""
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id):
        raise ValueError(f"Invalid repo id {repo_id!r}: expected 'owner/name'.")
    if ".." in repo_id or len(repo_id) > MAX_REPO_ID:
        raise ValueError(f"Invalid repo id {repo_id!r}.")
    return repo_id


def validate_filename(filename: object) -> str:
    """`filename` if it is a relative path inside a repo (no '..', no absolute path)."""
    if not isinstance(filename, str) or not filename or len(filename) > MAX_FILENAME:
        raise ValueError(f"Invalid file name {filename!r}.")
    if (
        filename.startswith("/")
        or "\\" in filename
        or "\x00" in filename
        or any(p in ("", ".", "..") for p in filename.split("/"))
    ):
        raise ValueError(
            f"Invalid file name {filename!r}: it must be a relative path inside the repo."
        )
    return filename


def validate_revision(revision: object) -> str | None:
    """`revision` if it is None or a plausible branch, tag or commit."""
    if revision is not None and (
        not isinstance(revision, str)
        or not revision
        or len(revision) > 255
        or ".." in revision
        or "\x00" in revision
    ):
        raise ValueError(f"Invalid revision {revision!r}.")
    return revision


def validate_repo_file(repo_id: object, filename: object, revision: object = None) -> None:
    """Raise ValueError unless the three name a plausible Hub file (no paths outside the repo)."""
    validate_repo_id(repo_id)
    validate_filename(filename)
    validate_revision(revision)


def split_parts(filename: str) -> list[str]:
    """Every part of a split GGUF named by any of its parts; [filename] for a single file."""
    match = SPLIT_PART.match(filename)
    if match is None:
        return [filename]
    stem, total = match.group("stem"), int(match.group("total"))
    if not 1 <= int(match.group("part")) <= total:
        return [filename]
    return [f"{stem}-{i:05d}-of-{total:05d}.gguf" for i in range(1, total + 1)]


MAX_BASE_URL = 2048


def check_base_url(base_url: object) -> str:
    """The base URL without a trailing slash, or ValueError saying what is wrong with it."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError("base_url must be a URL such as http://127.0.0.1:8000/v1")
    url = base_url.strip().rstrip("/")
    if len(url) > MAX_BASE_URL:
        raise ValueError(f"base_url is longer than {MAX_BASE_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must start with http:// or https:// and name a host: {url!r}")
    if parts.username or parts.password:
        raise ValueError("put the key in api_key, not in the URL")
    if parts.query or parts.fragment:
        raise ValueError("base_url takes no ?query or #fragment")
    return url


def parse_quantization(filename: str) -> str | None:
    """The quantization named in a GGUF file name (Q4_K_M, Q8_0, IQ2_XS, F16, ...), or None."""
    matches = _QUANT.findall(os.path.basename(filename))
    return matches[-1].upper() if matches else None
