"""What every in-kernel engine checks of a GGUF before loading it: the header, the
architecture, whether it fits in memory, and how many layers go to a GPU."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .._names import parse_quantization
from .._types import ModelFacts
from ..errors import GGUFFormatError, ModelFileError, ModelTooLargeError
from ._gguf_header import read_header
from .memory import ModelShape, fit_hint


def offloaded_layers(requested: int | None, gpu: bool, facts: ModelFacts) -> int:
    """How many layers go to the GPU: all of them where llama.cpp can offload (a GPU runtime,
    Colab's say) unless `n_gpu_layers` asks otherwise (0 keeps the model on the CPU); none on a
    CPU-only build."""
    if not gpu:
        return 0
    layers = facts.n_layer + 1  # the output layer too
    if requested is None or requested < 0:
        return layers
    return min(requested, layers)


def gpu_note(requested: int | None, gpu: bool) -> str:
    """What to say when `n_gpu_layers` asks for a GPU this llama.cpp build does not have ("":
    nothing asked, 0 asked, or a GPU there)."""
    if gpu or requested is None or requested == 0:
        return ""
    return (
        f"n_gpu_layers={requested} asked, but this llama.cpp build has no GPU: running on the CPU"
    )


def inspect_gguf(
    path: str | os.PathLike[str], supports: Callable[[str], bool] | None = None
) -> ModelFacts:
    """Check a GGUF file's header and return its facts; raise ModelFileError with the reason.
    `supports(architecture)` is the engine's own answer to "can you run it" (None: ask nobody)."""
    return inspect_file(path, supports)[0]


def inspect_file(
    path: str | os.PathLike[str], supports: Callable[[str], bool] | None = None
) -> tuple[ModelFacts, dict[str, Any]]:
    """The facts and the raw metadata of a GGUF (see `inspect_gguf`)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"No model file at {path}.")
    try:
        header = read_header(path)
    except GGUFFormatError as exc:
        raise ModelFileError(
            f"{os.path.basename(path)} is not a usable GGUF model: {exc}."
        ) from None
    except OSError as exc:
        raise ModelFileError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    meta = header.metadata
    arch = str(meta.get("general.architecture") or "")
    if not arch:
        raise ModelFileError(f"{os.path.basename(path)} does not say which architecture it is.")
    if supports is not None and not supports(arch):
        raise ModelFileError(
            f"{os.path.basename(path)} has architecture {arch!r}, unknown to this llama.cpp."
        )
    template = str(meta.get("tokenizer.chat_template") or "")
    facts = ModelFacts(
        path=path,
        size=header.file_size,
        architecture=arch,
        name=str(meta.get("general.name") or os.path.basename(path)),
        context_length=int(meta.get(f"{arch}.context_length") or 0),
        has_chat_template=bool(template),
        can_think=template_can_think(template),
        embedding=is_embedding_model(arch, meta),
        sampling_defaults=sampling_defaults_of(meta),
        quantization=parse_quantization(path),
        n_layer=int(meta.get(f"{arch}.block_count") or 0),
    )
    return facts, meta


NO_TEMPLATE = "no chat template — a base model? use completion"  # what facts.chat_format says
EMBEDDING = "an embedding model: it makes vectors, not text"  # (facts.chat_format)

# encoders: they only embed (llama.cpp's names); any other architecture with a pooling type in its
# GGUF (Qwen3-Embedding: qwen3 with `pooling_type` last) is an embedding model too
ENCODER_ARCHITECTURES = {
    "bert",
    "nomic-bert",
    "nomic-bert-moe",
    "jina-bert-v2",
    "jina-bert-v3",
    "modern-bert",
    "neo-bert",
    "t5encoder",
}


def is_embedding_model(arch: str, meta: dict[str, Any]) -> bool:
    """Whether a GGUF is an embedding model: an encoder, or a pooling type in its metadata."""
    pooling = meta.get(f"{arch}.pooling_type")
    return arch in ENCODER_ARCHITECTURES or (isinstance(pooling, int) and pooling > 0)


def refuse_embedding_model(facts: ModelFacts | None, what: str) -> None:
    """Raise the clear error for asking an embedding model to `what` ("chat", "complete")."""
    if facts is not None and facts.embedding:
        raise ModelFileError(
            f"{facts.name} is an embedding model: it turns text into vectors and cannot {what}. "
            "Load a chat (instruct) model for answers."
        )


# GGUF `general.sampling.*` keys (llama.cpp writes them from generation_config.json) -> our names
SAMPLING_KEYS = {
    "general.sampling.temp": "temperature",
    "general.sampling.top_p": "top_p",
    "general.sampling.top_k": "top_k",
    "general.sampling.min_p": "min_p",
    "general.sampling.penalty_repeat": "repeat_penalty",
}


def sampling_defaults_of(meta: dict[str, Any]) -> dict[str, float]:
    """The model's own sampling settings its GGUF carries (only those a request can set)."""
    return sampling_values(meta, SAMPLING_KEYS)


def sampling_values(source: dict[str, Any], keys: dict[str, str]) -> dict[str, float]:
    """The numbers `source` holds under `keys`, by their request names (`keys`: source key ->
    request name): top_k an int, the others floats."""
    out: dict[str, float] = {}
    for key, name in keys.items():
        value = source.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = int(value) if name == "top_k" else round(float(value), 6)
    return out


def template_can_think(template: str) -> bool:
    """Whether a chat template has thinking: `<think>` blocks, an `enable_thinking` switch, or
    gpt-oss's harmony channels."""
    return any(m in template for m in ("<think>", "enable_thinking", "<|channel|>"))


def unknown_architecture(facts: ModelFacts, log_lines: list[str]) -> ModelFileError | None:
    """The error for a file whose architecture the engine's llama.cpp does not know, when its
    log (the lines of a failed load) says so; None otherwise."""
    if not any("unknown model architecture" in line for line in log_lines):
        return None
    return ModelFileError(
        f"{os.path.basename(facts.path)} has architecture {facts.architecture!r}, unknown to "
        "this llama.cpp: a newer engine may know it (pip install -U xllamacpp, or "
        "llama-cpp-python)."
    )


def check_fits(facts: ModelFacts, n_ctx: int, shape: ModelShape | None) -> None:
    """Raise ModelTooLargeError, with the numbers, if the model would not fit in RAM (the same
    estimate as the fit hint's "does not fit")."""
    verdict, detail = fit_hint(facts.size, n_ctx, shape=shape)
    if verdict == "does not fit":
        raise ModelTooLargeError(
            f"{os.path.basename(facts.path)} does not fit in memory: it {detail}. "
            "Pick a smaller quantization, a smaller n_ctx, or free memory."
        )
