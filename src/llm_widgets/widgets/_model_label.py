"""How the Chat names a model: by the Hub repo and file the user picked, not by the name written
inside the GGUF ("Smollm2 135M 8k Lc100K Mix1 Ep2"), which goes into the detail."""

from __future__ import annotations

import re
from pathlib import PurePath

from .._names import SPLIT_PART, parse_quantization
from .._types import ModelFacts

_REPO_SUFFIX = re.compile(r"[-_.]gguf$", re.IGNORECASE)


def hub_file(path: str) -> tuple[str, str] | None:
    """(repo_id, filename) of a file in a huggingface_hub cache
    (`…/models--owner--name/snapshots/<commit>/<filename>`), else None."""
    parts = PurePath(path).parts
    for i in range(len(parts) - 3, 0, -1):
        if parts[i] == "snapshots" and parts[i - 1].startswith("models--"):
            repo_id = parts[i - 1].removeprefix("models--").replace("--", "/")
            return repo_id, "/".join(parts[i + 2 :])
    return None


def describe_model(facts: ModelFacts) -> tuple[str, str]:
    """(label, detail): "SmolLM2-135M-Instruct · Q4_1" and what it is exactly (repo, file, the
    GGUF's own name); a server's model is named by its id."""
    if facts.backend == "remote" or not facts.path:
        return facts.name, f"{facts.name} on {facts.server}" if facts.server else facts.name
    located = hub_file(facts.path)
    filename = located[1] if located else PurePath(facts.path).name
    quant = facts.quantization or parse_quantization(filename)
    if located:
        base = _REPO_SUFFIX.sub("", located[0].rsplit("/", 1)[-1])
    else:
        base = _stem(PurePath(filename).name, quant)
    label = f"{base} · {quant}" if quant and quant.lower() not in base.lower() else base
    where = f"{located[0]} · {filename}" if located else filename
    named = facts.name and facts.name not in (filename, PurePath(filename).name)
    detail = f"{where} (GGUF name: {facts.name})" if named else where
    return label, detail


def _stem(filename: str, quant: str | None) -> str:
    """The file name without the split-part suffix, '.gguf' and the quantization."""
    split = SPLIT_PART.match(filename)
    stem = split.group("stem") if split else re.sub(r"\.gguf$", "", filename, flags=re.IGNORECASE)
    if quant:
        stem = re.sub(rf"[-_.]?{re.escape(quant)}", "", stem, flags=re.IGNORECASE)
    return stem.strip("-_. ") or filename
