"""What LocalHub's API answers about its repos, in the Hub's JSON shapes: model summaries and
info, file trees, paths-info and the model search."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .local_hub import LocalHub, _Entry

_NO_OID = "0" * 40  # a folder's oid in a tree listing


def model_summary(hub: LocalHub, repo_id: str) -> dict[str, Any]:
    """A repo as the model search lists it."""
    meta = hub._meta(repo_id)
    tags = list(meta.get("tags", []))
    if any(e.path.endswith(".gguf") for e in hub._entries(repo_id)) and "gguf" not in tags:
        tags.append("gguf")
    modified = _last_modified(hub, repo_id)
    return {
        "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
        "id": repo_id,
        "modelId": repo_id,
        "author": repo_id.split("/")[0],
        "likes": int(meta.get("likes", 0)),
        "downloads": int(meta.get("downloads", 0)),
        "tags": tags,
        "lastModified": modified,
        "createdAt": modified,
        "private": bool(meta.get("private", False)),
        "gated": meta.get("gated", False) or False,
        "library_name": "gguf" if "gguf" in tags else None,
    }


def model_info(hub: LocalHub, repo_id: str) -> dict[str, Any]:
    """A repo's model info: its summary, commit and files."""
    info = model_summary(hub, repo_id)
    siblings = []
    for e in hub._entries(repo_id):
        s: dict[str, Any] = {"rfilename": e.path, "size": e.size, "blobId": e.git_sha1}
        if e.is_lfs:
            s["lfs"] = {"sha256": e.sha256, "size": e.size, "pointerSize": 134}
        siblings.append(s)
    info.update({"sha": hub.commit_hash(repo_id), "siblings": siblings, "cardData": {}})
    return info


def tree(hub: LocalHub, repo_id: str, prefix: str, recursive: bool) -> list[dict[str, Any]] | None:
    """The files and folders under `prefix` (all the way down if `recursive`); None when there
    is no such folder."""
    prefix = prefix.strip("/")
    out: list[dict[str, Any]] = []
    dirs: set[str] = set()

    def folder(d: str) -> None:
        if d not in dirs:
            dirs.add(d)
            out.append({"type": "directory", "oid": _NO_OID, "size": 0, "path": d})

    found = not prefix
    for e in hub._entries(repo_id):
        if prefix and not e.path.startswith(prefix + "/"):
            continue
        found = True
        rest = e.path[len(prefix) + 1 :] if prefix else e.path
        if "/" in rest and not recursive:
            folder((prefix + "/" if prefix else "") + rest.split("/")[0])
            continue
        if recursive:
            parts = rest.split("/")[:-1]
            for i in range(len(parts)):
                folder("/".join(([prefix] if prefix else []) + parts[: i + 1]))
        out.append(file_json(e))
    return out if found else None


def paths_info(hub: LocalHub, repo_id: str, paths: list[str]) -> list[dict[str, Any]]:
    """The files among `paths`."""
    entries = (hub._entry(repo_id, str(p)) for p in paths)
    return [file_json(entry) for entry in entries if entry is not None]


def search(hub: LocalHub, query: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The public repos a model search finds, sorted and limited as it asks (not paged)."""

    def one(name: str) -> str | None:
        return query[name][0] if name in query and query[name] else None

    text = (one("search") or "").lower()
    author = one("author")
    filters = query.get("filter", [])
    results = []
    for repo_id in hub._repos():
        if text and text not in repo_id.lower():
            continue
        if author and repo_id.split("/")[0] != author:
            continue
        summary = model_summary(hub, repo_id)
        if summary["private"]:
            continue
        if any(f not in summary["tags"] for f in filters):
            continue
        results.append(summary)
    sort = one("sort") or "trendingScore"
    key = {"likes": "likes", "lastModified": "lastModified", "createdAt": "createdAt"}.get(
        sort, "downloads"
    )
    results.sort(key=lambda r: r[key], reverse=one("direction") != "1")
    limit = int(one("limit") or 0) or None
    return results if limit is None else results[:limit]


def file_json(entry: _Entry) -> dict[str, Any]:
    """One file as a tree listing or paths-info shows it."""
    item: dict[str, Any] = {
        "type": "file",
        "oid": entry.git_sha1,
        "size": entry.size,
        "path": entry.path,
    }
    if entry.is_lfs:
        item["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": 134}
    return item


def _last_modified(hub: LocalHub, repo_id: str) -> str:
    meta = hub._meta(repo_id)
    if isinstance(meta.get("last_modified"), str):
        return str(meta["last_modified"])
    mtime = max((Path(d).stat().st_mtime for d, _, _ in os.walk(hub._repo_dir(repo_id))), default=0)
    return datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
