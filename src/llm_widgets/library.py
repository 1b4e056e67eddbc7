"""Finding models: Hub search, a repo's GGUF files (quantization, split parts, RAM fit) and the
local library of GGUFs in the Hugging Face cache (complete and partial), with delete and discard."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import hub
from .engine import available_memory_bytes, parse_quantization
from .errors import LLMWidgetsError

if TYPE_CHECKING:
    from .service import LLMKernelService

FIT_CONTEXT = 2048  # the context the fit hint assumes: what Load uses unless told otherwise
SortKey = Literal["created_at", "downloads", "last_modified", "likes", "trending_score"]


@dataclass(frozen=True)
class ModelSummary:
    """One search result: a model repo on the Hub."""

    repo_id: str
    downloads: int = 0
    likes: int = 0
    last_modified: str = ""
    gated: bool | str = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelFile:
    """One model in a repo: a GGUF file, or all the parts of a split GGUF."""

    repo_id: str
    filename: str  # the first part for split models
    size: int
    quant: str | None
    parts: tuple[str, ...] = ()
    fit: str = ""  # fits, tight, does not fit
    fit_detail: str = ""


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


def fit_hint(size: int, n_ctx: int = FIT_CONTEXT, available: int | None = None) -> tuple[str, str]:
    """("fits" | "tight" | "does not fit", the numbers) for a model file of `size` bytes."""
    have = available_memory_bytes() if available is None else available
    context = int(size * 0.08) + n_ctx * 64 * 1024 + 128 * 2**20  # KV cache + buffers, roughly
    need = size + context
    if need <= 0.7 * have:
        verdict = "fits"
    elif need <= have:
        verdict = "tight"
    else:
        verdict = "does not fit"
    detail = (
        f"needs about {need / 1e9:.1f} GB (file {size / 1e9:.1f} GB + about "
        f"{context / 1e9:.1f} GB for a {n_ctx}-token context); {have / 1e9:.1f} GB available now"
    )
    return verdict, detail


def search_models(
    query: str,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    limit: int = 50,
    sort: SortKey = "downloads",
) -> list[ModelSummary]:
    """GGUF model repos on the Hub matching `query`, most downloaded first."""
    from huggingface_hub import HfApi

    endpoint = hub.resolve_endpoint(endpoint)
    hub.ensure_reachable(endpoint)
    api = HfApi(endpoint=endpoint, token=token)
    found = api.list_models(search=query or None, filter="gguf", sort=sort, limit=limit)
    out = []
    for m in found:
        modified: Any = getattr(m, "last_modified", None)
        out.append(
            ModelSummary(
                repo_id=m.id,
                downloads=int(getattr(m, "downloads", 0) or 0),
                likes=int(getattr(m, "likes", 0) or 0),
                last_modified=modified.isoformat() if modified is not None else "",
                gated=getattr(m, "gated", False) or False,
                tags=tuple(getattr(m, "tags", None) or ()),
            )
        )
    return out


class HubSearch:
    """Search the Hub for GGUF repos from a script, in the background; a newer search supersedes
    an older one (the older future is cancelled and its results are dropped).

    >>> search = HubSearch()
    >>> search.search("qwen")[:3]                      # blocking
    >>> future = search.start("llama"); future.result()  # background, newest wins
    """

    def __init__(
        self,
        service: LLMKernelService | None = None,
        *,
        limit: int = 50,
        sort: SortKey = "downloads",
    ) -> None:
        from .service import LLMKernelService

        self.service = service or LLMKernelService.instance()
        self.limit = limit
        self.sort: SortKey = sort
        self.query = ""
        self.results: list[ModelSummary] = []
        self._lock = threading.Lock()
        self._current: Future[list[ModelSummary]] | None = None

    def search(self, query: str) -> list[ModelSummary]:
        """Search now and wait for the results."""
        return self.start(query).result()

    def start(self, query: str) -> Future[list[ModelSummary]]:
        """Search in a worker thread; returns a future of the results (awaitable with
        `asyncio.wrap_future`). Starting another search cancels this one's future."""
        if not isinstance(query, str) or len(query) > 200:
            raise ValueError("query must be a string of at most 200 characters")
        future: Future[list[ModelSummary]] = Future()
        with self._lock:
            previous, self._current = self._current, future
        if previous is not None:
            previous.cancel()
        threading.Thread(
            target=self._run, args=(future, query), name="llm-widgets-search", daemon=True
        ).start()
        return future

    def files(self, repo_id: str, revision: str | None = None) -> list[ModelFile]:
        """A repo's GGUF models (quantization, size, split parts, RAM fit)."""
        return list(self.service.list_model_files(repo_id, revision=revision))

    def _run(self, future: Future[list[ModelSummary]], query: str) -> None:
        try:
            found: list[ModelSummary] = self.service.search_models(
                query, limit=self.limit, sort=self.sort
            )
        except Exception as exc:
            if future.set_running_or_notify_cancel():
                future.set_exception(_search_error(exc, self.service.endpoint))
            return
        with self._lock:
            if future is self._current:
                self.query, self.results = query, found
        if future.set_running_or_notify_cancel():
            future.set_result(found)


def _search_error(exc: Exception, endpoint: str) -> Exception:
    """A search failure as an error whose message says what to do (the cause is chained)."""
    if isinstance(exc, LLMWidgetsError):
        return exc
    error = hub.explain_error(exc, repo_id="the Hub", filename="", revision=None, endpoint=endpoint)
    error.__cause__ = exc
    return error


def list_model_files(
    repo_id: str,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    available: int | None = None,
) -> list[ModelFile]:
    """The GGUF models of a repo, split parts grouped as one, with quantization and a RAM fit."""
    from huggingface_hub import HfApi

    endpoint = hub.resolve_endpoint(endpoint)
    hub.ensure_reachable(endpoint)
    api = HfApi(endpoint=endpoint, token=token)
    info = api.model_info(repo_id, revision=revision, files_metadata=True)
    sizes = {
        s.rfilename: int(s.size or 0) for s in info.siblings or [] if s.rfilename.endswith(".gguf")
    }
    have = available_memory_bytes() if available is None else available
    groups: dict[str, list[str]] = {}
    for name in sorted(sizes):
        groups.setdefault(hub.split_parts(name)[0], []).append(name)
    out = []
    for first, present in groups.items():
        parts = tuple(hub.split_parts(first))
        if len(parts) > 1 and set(parts) != set(present):
            continue  # an incomplete split set cannot be loaded
        size = sum(sizes[p] for p in parts)
        verdict, detail = fit_hint(size, available=have)
        out.append(
            ModelFile(repo_id, first, size, parse_quantization(first), parts, verdict, detail)
        )
    return out


def local_models(cache_dir: Path) -> list[LocalModel]:
    """Every GGUF in the cache: complete files (huggingface_hub's cache scan) and partials."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

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
        groups.setdefault((repo_id, hub.split_parts(name)[0]), []).append(entry)
    out = {}
    for (repo_id, first), entries in groups.items():
        parts = hub.split_parts(first)
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
    storage = hub.storage_folder(cache_dir, repo_id)
    pointers = [
        p for name in hub.split_parts(filename) for p in storage.glob(f"snapshots/*/{name}")
    ]
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
    for sidecar in hub.storage_folder(cache_dir, repo_id).glob("blobs/*.incomplete.json"):
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("filename") not in hub.split_parts(filename):
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
