"""The local library: the GGUFs in the Hugging Face cache (complete and partial), with delete and
discard."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import scan_cache_dir
from huggingface_hub.errors import CacheNotFound

from ._cache import storage_folder
from ._memory import fit_hint
from ._names import split_parts
from .engine import parse_quantization
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
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def local_models(cache_dir: Path) -> list[LocalModel]:
    """Every GGUF in the cache: complete files (huggingface_hub's cache scan) and partials."""
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
                if name.endswith(".gguf") and (repo.repo_id, name) not in found:
                    found[(repo.repo_id, name)] = LocalModel(
                        repo.repo_id,
                        name,
                        f.size_on_disk,
                        str(f.file_path),
                        parse_quantization(name),
                        revision=rev.commit_hash,
                    )
    for sidecar in cache_dir.glob("models--*/blobs/*.incomplete.json"):
        try:
            meta = json.loads(sidecar.read_text())
            partial = sidecar.with_suffix("")
            done = partial.stat().st_size if partial.exists() else 0
        except (OSError, ValueError):
            continue
        key = (str(meta.get("repo_id")), str(meta.get("filename")))
        if key in found or not key[1].endswith(".gguf"):
            continue
        found[key] = LocalModel(
            key[0],
            key[1],
            int(meta.get("size") or 0),
            str(partial),
            parse_quantization(key[1]),
            partial=True,
            bytes_done=done,
            revision=str(meta.get("revision") or ""),
        )
    return sorted(_group_split_parts(found).values(), key=lambda m: (m.repo_id.lower(), m.filename))


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
    """Delete a partial download of `filename`; returns the bytes freed."""
    freed, matched = 0, False
    for sidecar in storage_folder(cache_dir, repo_id).glob("blobs/*.incomplete.json"):
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("filename") not in split_parts(filename):
            continue
        matched = True
        partial = sidecar.with_suffix("")
        if partial.exists():
            freed += partial.stat().st_size
            partial.unlink()
        sidecar.unlink()
    if not matched:
        raise FileNotFoundError(f"No partial download of {repo_id}/{filename}.")
    return freed
