"""Shared set-up for the benchmarks: an isolated HF cache and a local Hub with one file."""

from __future__ import annotations

import os
import statistics
import tempfile

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="llmw-bench-home-"))

from llm_widgets.testing import LocalHub  # noqa: E402

REPO = "bench/model-GGUF"
FILE = "model.Q4_K_M.gguf"


def hub_with_file(size: int) -> LocalHub:
    """A started LocalHub serving one random file of `size` bytes."""
    hub = LocalHub().start()  # owns a temp root, removed by hub.stop()
    target = hub.root / REPO / FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 8 << 20))
            f.write(block)
            left -= len(block)
    hub.file_sha256(REPO, FILE)  # hash once now, not during the first timed request
    return hub


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values, by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]
