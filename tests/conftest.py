"""Shared fixtures: an isolated HF cache, a real Hub-compatible server, a fresh service."""

from __future__ import annotations

import os
import tempfile

# huggingface_hub reads these at import time: set them before anything imports it.
_HOME = tempfile.mkdtemp(prefix="llmw-hf-home-")
os.environ["HF_HOME"] = _HOME
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.pop("HF_ENDPOINT", None)

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from llm_widgets.hub import TransferOptions  # noqa: E402
from llm_widgets.service import LLMKernelService  # noqa: E402
from llm_widgets.testing import LocalHub  # noqa: E402


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """An empty Hugging Face hub cache for one test."""
    path = tmp_path / "hf-cache"
    path.mkdir()
    return path


@pytest.fixture
def local_hub(tmp_path: Path) -> Iterator[LocalHub]:
    """A real Hub-compatible HTTP server on 127.0.0.1 serving repos from a temp folder."""
    with LocalHub(tmp_path / "hub-root") as server:
        yield server


@pytest.fixture
def service(local_hub: LocalHub, cache_dir: Path) -> Iterator[LLMKernelService]:
    """A service downloading from `local_hub` into `cache_dir`, shut down after the test."""
    svc = LLMKernelService(
        endpoint=local_hub.url,
        cache_dir=cache_dir,
        transfer_options=TransferOptions(stall_timeout=1.0, max_retries=3, retry_backoff=0.05),
    )
    LLMKernelService.set_instance(svc)
    yield svc
    svc.shutdown()
    LLMKernelService.set_instance(None)
    leftover = [
        t.name for t in __import__("threading").enumerate() if "llm-widgets-download" in t.name
    ]
    assert not leftover, f"download threads outlived their jobs: {leftover}"


def engines_under_test() -> list[str]:
    """The in-kernel engines the model-path tests run on: both (the main row, where a missing
    one fails its tests rather than being skipped), or what LLM_WIDGETS_TEST_ENGINES lists (the
    Colab row installs llm-widgets as a user would: xllamacpp only)."""
    listed = os.environ.get("LLM_WIDGETS_TEST_ENGINES", "")
    return [e.strip() for e in listed.split(",") if e.strip()] or ["xllamacpp", "llama-cpp-python"]


def _pinned_engine(item: pytest.Item) -> str | None:
    """The one engine a test runs on, when it is pinned to one."""
    marker = item.get_closest_marker("engine_only")
    if marker is not None:
        return str(marker.args[0])
    return "llama-cpp-python" if "lcp" in getattr(item, "fixturenames", ()) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each in-kernel engine is tested in a process of its own (scripts/test.sh): two llama.cpp
    builds loaded in one process have crashed it. A process for one engine leaves out the tests
    pinned to the other; with LLM_WIDGETS_TEST_ENGINE_TESTS_ONLY=1 it runs only the tests of the
    model path (those on the `engine` fixture or pinned to its engine)."""
    engines = engines_under_test()
    only_engine_tests = os.environ.get("LLM_WIDGETS_TEST_ENGINE_TESTS_ONLY") == "1"
    keep, drop = [], []
    for item in items:
        pinned = _pinned_engine(item)
        on_engine = "engine" in getattr(item, "fixturenames", ())
        wanted = pinned in engines if pinned else (on_engine or not only_engine_tests)
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="module", params=engines_under_test())
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """One engine at a time: `load_model(..., engine="auto")` picks it (LLM_WIDGETS_ENGINE)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_WIDGETS_ENGINE", request.param)
        yield request.param
