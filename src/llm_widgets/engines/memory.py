"""How much memory a model needs, and whether it fits: one estimate for the card's hint and for
the check before loading, so the two never disagree."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import psutil

from .._format import format_bytes
from ..errors import GGUFFormatError
from ._gguf_header import read_header

DEFAULT_N_CTX = 2048  # the context Load uses unless told otherwise
FIT_MARGIN = 0.7  # "fits" leaves 30 % of the available memory free; "tight" uses more
FitVerdict = Literal["fits", "tight", "does not fit"]


@dataclass(frozen=True)
class ModelShape:
    """The dimensions that size the KV cache and the compute buffers."""

    n_layer: int
    n_embd: int
    n_head_kv: int
    head_dim: int

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> ModelShape:
        """The shape a GGUF's metadata declares (a typical 7B shape where a key is missing)."""
        arch = str(meta.get("general.architecture") or "")
        n_embd = int(meta.get(f"{arch}.embedding_length") or GUESSED_SHAPE.n_embd)
        n_head = int(meta.get(f"{arch}.attention.head_count") or 32) or 1
        return cls(
            n_layer=int(meta.get(f"{arch}.block_count") or GUESSED_SHAPE.n_layer),
            n_embd=n_embd,
            n_head_kv=int(meta.get(f"{arch}.attention.head_count_kv") or n_head) or n_head,
            head_dim=int(meta.get(f"{arch}.attention.key_length") or n_embd // n_head),
        )


# what a model whose header we have not read is assumed to be: a 7-8B model with grouped-query
# attention, which overestimates small models (a hint errs on the safe side)
GUESSED_SHAPE = ModelShape(n_layer=32, n_embd=4096, n_head_kv=8, head_dim=128)


def shape_of(path: str | os.PathLike[str]) -> ModelShape | None:
    """The shape a local GGUF declares, or None if its header cannot be read."""
    try:
        return ModelShape.from_metadata(read_header(path).metadata)
    except (GGUFFormatError, OSError):
        return None


def estimate_memory_bytes(file_size: int, n_ctx: int, shape: ModelShape | None = None) -> int:
    """File + f16 KV cache for `n_ctx` tokens + compute buffers (a rough upper estimate)."""
    s = shape or GUESSED_SHAPE
    kv_cache = 2 * s.n_layer * n_ctx * s.n_head_kv * s.head_dim * 2
    compute = n_ctx * s.n_embd * 16 + 64 * 2**20
    return file_size + kv_cache + compute


def available_memory_bytes() -> int:
    """Memory available to this kernel now."""
    return int(psutil.virtual_memory().available)


def fit_hint(
    size: int,
    n_ctx: int = DEFAULT_N_CTX,
    available: int | None = None,
    shape: ModelShape | None = None,
) -> tuple[FitVerdict, str]:
    """("fits" | "tight" | "does not fit", the numbers) for a model file of `size` bytes;
    "does not fit" is exactly what loading refuses."""
    have = available_memory_bytes() if available is None else available
    need = estimate_memory_bytes(size, n_ctx, shape)
    verdict: FitVerdict = (
        "fits" if need <= FIT_MARGIN * have else "tight" if need <= have else "does not fit"
    )
    detail = (
        f"needs about {format_bytes(need)} (file {format_bytes(size)} + about "
        f"{format_bytes(need - size)} for a {n_ctx}-token context); "
        f"{format_bytes(have)} available now"
    )
    return verdict, detail
