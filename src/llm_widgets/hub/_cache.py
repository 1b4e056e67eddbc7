"""The Hugging Face cache layout: where a file's blob, snapshot pointer, partial download and lock
live, so that `hf_hub_download`, `try_to_load_from_cache` and `scan_cache_dir` find our files."""

from __future__ import annotations

import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import constants

from .._names import DEFAULT_REVISION

GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The hub cache: `cache_dir`, else `HF_HUB_CACHE`, else `HF_HOME/hub`, else the default."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def storage_folder(cache_dir: Path, repo_id: str) -> Path:
    """The cache folder of a model repo."""
    return cache_dir / ("models--" + repo_id.replace("/", "--"))


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
        storage = storage_folder(cache_dir, repo_id)
        blob = storage / "blobs" / etag
        return cls(
            storage=storage,
            blob=blob,
            pointer=storage / "snapshots" / commit / Path(*filename.split("/")),
            partial=blob.with_name(etag + ".incomplete"),
            partial_info=blob.with_name(etag + ".incomplete.json"),
            lock=cache_dir / ".locks" / storage.name / f"{etag}.lock",
        )


def cached_file(cache_dir: Path, repo_id: str, filename: str, revision: str | None) -> Path | None:
    """The complete cached file for this revision (a branch via `refs/`), or None."""
    storage = storage_folder(cache_dir, repo_id)
    commit = rev = revision or DEFAULT_REVISION
    if not GIT_SHA1.match(rev):
        try:
            commit = (storage / "refs" / rev).read_text().strip()
        except OSError:
            return None
    pointer = storage / "snapshots" / commit / Path(*filename.split("/"))
    return pointer if pointer.exists() else None


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file on disk (through any symlink); False if one is gone."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_ref(storage: Path, revision: str, commit: str) -> None:
    """Record that `revision` (a branch or tag) points at `commit`, atomically."""
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


def link_pointer(blob: Path, pointer: Path) -> None:
    """Make the snapshot entry `pointer` point at `blob` (a relative symlink, else a copy)."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        if pointer.resolve() == blob.resolve():
            return
        pointer.unlink()
    try:
        os.symlink(os.path.relpath(blob, pointer.parent), pointer)
    except OSError:  # no symlinks here (some Windows setups): keep a copy, as huggingface_hub does
        shutil.copyfile(blob, pointer)
