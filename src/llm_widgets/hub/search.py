"""Finding models on the Hub: GGUF repos matching a query, and a repo's GGUF models with their
quantization, size, split parts and whether they fit in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from huggingface_hub import HfApi
from huggingface_hub.errors import GatedRepoError

from .._names import parse_quantization
from ..engines.memory import available_memory_bytes, fit_hint
from ..errors import DownloadError, LLMWidgetsError
from . import files as hub

MAX_QUERY = 200  # characters in a search query
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


def check_query(query: object) -> str:
    """`query` if it is a search string the Hub takes; ValueError otherwise."""
    if not isinstance(query, str) or len(query) > MAX_QUERY:
        raise ValueError(f"query must be a string of at most {MAX_QUERY} characters")
    return query


def search_models(
    query: str,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    limit: int = 50,
    sort: SortKey = "downloads",
) -> list[ModelSummary]:
    """GGUF model repos on the Hub matching `query`, most downloaded first."""
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


def list_model_files(
    repo_id: str,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    available: int | None = None,
) -> list[ModelFile]:
    """The GGUF models of a repo, split parts grouped as one, with quantization and a RAM fit."""
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


def explain_search_error(
    exc: BaseException, endpoint: str, repo_id: str | None = None
) -> LLMWidgetsError:
    """A search or listing failure as an error that says what to do (the cause is chained)."""
    if isinstance(exc, LLMWidgetsError):
        return exc
    if isinstance(exc, GatedRepoError) and repo_id:
        error = DownloadError(
            "gated", f"{repo_id} is gated: accept its conditions on the Hub and give a token."
        )
    else:
        error = hub.explain_error(
            exc, repo_id=repo_id or "the Hub", filename="", revision=None, endpoint=endpoint
        )
    error.__cause__ = exc
    return error


# the usual best balance of size and quality first (llama.cpp's own advice), then near ones
RECOMMENDED_QUANTS = ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q5_K_S", "Q4_1", "Q6_K", "Q8_0")


def recommended(files: list[ModelFile]) -> ModelFile | None:
    """The file to suggest: the first of RECOMMENDED_QUANTS that fits in memory, else the
    smallest that fits (None when nothing fits)."""
    fitting = [f for f in files if f.fit != "does not fit"]
    by_quant = {(f.quant or "").upper(): f for f in fitting}
    for quant in RECOMMENDED_QUANTS:
        if quant in by_quant:
            return by_quant[quant]
    return min(fitting, key=lambda f: f.size, default=None)


def in_browsing_order(files: list[ModelFile]) -> list[ModelFile]:
    """The recommended file first, then the rest from small to large (F16 and F32 come last)."""
    pick = recommended(files)
    unquantized = ("F16", "BF16", "F32")  # the largest of equal sizes too: never before a quant
    rest = sorted(
        (f for f in files if f is not pick),
        key=lambda f: (f.size, (f.quant or "").upper() in unquantized, f.filename),
    )
    return ([pick] if pick is not None else []) + rest
