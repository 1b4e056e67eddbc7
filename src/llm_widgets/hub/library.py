"""The local library: the GGUFs in the Hugging Face cache (complete and partial), with delete and
discard."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from huggingface_hub import scan_cache_dir
from huggingface_hub.errors import CacheNotFound

from .._names import parse_quantization, split_parts
from ..engines.memory import fit_hint
from ._cache import storage_folder
from ._ranges import bytes_on_disk, remove_ranges
from .search import ModelFile, ModelSummary

# fit_hint, ModelFile and ModelSummary are also importable from here, where they used to live
__all__ = [
    "LocalModel",
    "ModelFile",
    "ModelSummary",
    "delete_file",
    "discard_partial",
    "fit_hint",
    "local_models",
]


@dataclass(frozen=True)
class LocalModel:
    """A GGUF in the local cache: complete, or a partial download."""

    repo_id: str
    filename: str
    size: int
    path: str
    quant: str | None = None
    partial: bool = False
    bytes_done: int = 0
    revision: str = ""
    stale: bool = False  # a partial nothing resumes any more (only Discard helps)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def local_models(cache_dir: Path) -> list[LocalModel]:
    """Every GGUF in the cache, complete (huggingface_hub's cache scan) or partial, and every
    partial download nothing can resume any more (`stale`: only Discard helps)."""
    found: dict[tuple[str, str], LocalModel] = {}
    try:
        info = scan_cache_dir(cache_dir)
    except CacheNotFound:
        return []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            for f in rev.files:
                name = f.file_path.relative_to(rev.snapshot_path).as_posix()
                if is_gguf(name) and (repo.repo_id, name) not in found:
                    found[(repo.repo_id, name)] = LocalModel(
                        repo.repo_id,
                        name,
                        f.size_on_disk,
                        str(f.file_path),
                        parse_quantization(name),
                        revision=rev.commit_hash,
                    )
    stale: list[LocalModel] = []
    for partial in _partials(cache_dir):
        key = (partial.repo_id, partial.filename)
        if partial.stale or key in found:  # no sidecar, or the file is complete in a newer version
            stale.append(replace(partial, stale=True))
        elif is_gguf(partial.filename):
            found[key] = partial
    models = list(_group_split_parts(found).values()) + stale
    return sorted(models, key=lambda m: (m.repo_id.lower(), m.filename, m.stale))


def is_gguf(name: str) -> bool:
    """Whether a file name says GGUF (in any case)."""
    return name.lower().endswith(".gguf")


def _partials(cache_dir: Path) -> list[LocalModel]:
    """Partial downloads: ours (with a sidecar saying what they are) and orphans without one
    (e.g. huggingface_hub's own, left by a killed process), named by their blob."""
    out = []
    for partial in cache_dir.glob("models--*/blobs/*.incomplete"):
        repo_id = partial.parent.parent.name.removeprefix("models--").replace("--", "/")
        try:
            done = bytes_on_disk(partial)  # a parallel download's holes not counted
            meta = json.loads(partial.with_name(partial.name + ".json").read_text())
        except FileNotFoundError:
            orphan = LocalModel(repo_id, partial.name, done, str(partial), partial=True)
            out.append(replace(orphan, bytes_done=done, stale=True))
            continue
        except (OSError, ValueError):
            continue
        name = str(meta.get("filename"))
        out.append(
            LocalModel(
                str(meta.get("repo_id") or repo_id),
                name,
                int(meta.get("size") or 0),
                str(partial),
                parse_quantization(name),
                partial=True,
                bytes_done=done,
                revision=str(meta.get("revision") or ""),
            )
        )
    return out


def _group_split_parts(
    found: dict[tuple[str, str], LocalModel],
) -> dict[tuple[str, str], LocalModel]:
    """One entry per model: the parts of a split GGUF become one (partial until all are there)."""
    groups: dict[tuple[str, str], list[LocalModel]] = {}
    for (repo_id, name), entry in found.items():
        groups.setdefault((repo_id, split_parts(name)[0]), []).append(entry)
    out = {}
    for (repo_id, first), entries in groups.items():
        parts = split_parts(first)
        if len(parts) == 1:
            out[(repo_id, first)] = entries[0]
            continue
        complete = len(entries) == len(parts) and not any(e.partial for e in entries)
        head = next((e for e in entries if e.filename == first), entries[0])
        out[(repo_id, first)] = LocalModel(
            repo_id,
            first,
            sum(e.size for e in entries),
            head.path,
            head.quant,
            partial=not complete,
            bytes_done=sum(e.bytes_done if e.partial else e.size for e in entries),
            revision=head.revision,
            extra={"parts": len(parts), "parts_present": len(entries)},
        )
    return out


def delete_file(cache_dir: Path, repo_id: str, filename: str) -> int:
    """Remove a cached file (every part of a split GGUF) from every snapshot, and its blobs once
    nothing points at them; returns the bytes freed."""
    storage = storage_folder(cache_dir, repo_id)
    pointers = [p for name in split_parts(filename) for p in storage.glob(f"snapshots/*/{name}")]
    if not pointers:
        raise FileNotFoundError(f"{repo_id}/{filename} is not in the cache.")
    blobs = {p.resolve() for p in pointers}
    for pointer in pointers:
        pointer.unlink()
    still_used = {p.resolve() for p in storage.glob("snapshots/**/*") if p.is_symlink()}
    freed = 0
    for blob in blobs - still_used:
        if blob.is_file() and blob.parent == storage / "blobs":
            freed += blob.stat().st_size
            blob.unlink()
    return freed


def discard_partial(cache_dir: Path, repo_id: str, filename: str) -> int:
    """Delete the partial downloads of `filename` (or the orphaned partial blob of that name);
    returns the bytes freed."""
    freed, matched = 0, False
    storage = storage_folder(cache_dir, repo_id)
    for partial in storage.glob("blobs/*.incomplete"):
        sidecar = partial.with_name(partial.name + ".json")
        try:
            name = json.loads(sidecar.read_text()).get("filename")
        except FileNotFoundError:
            name = partial.name
        except (OSError, ValueError):
            continue
        if name != filename and name not in split_parts(filename):
            continue
        matched = True
        freed += bytes_on_disk(partial)
        partial.unlink()
        sidecar.unlink(missing_ok=True)
        remove_ranges(partial)
    if not matched:
        raise FileNotFoundError(f"No partial download of {repo_id}/{filename}.")
    return freed
