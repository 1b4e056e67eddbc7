"""Shared fixtures, each defined once: an isolated HF cache, a real Hub-compatible server, a fresh
service (with or without that Hub; SmolLM2 loaded once per module and engine), the tiny GGUF
models, llama-cpp-python's OpenAI-compatible server (started once per pytest process), and the
check that no thread outlives its job."""

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
from contextlib import ExitStack  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from harness.services import running_service  # noqa: E402

from llm_widgets.hub import TransferOptions  # noqa: E402
from llm_widgets.service import LLMKernelService  # noqa: E402
from llm_widgets.testing import LocalHub  # noqa: E402
from llm_widgets.testing.openai_server import OpenAIServer, ServerFactory  # noqa: E402
from llm_widgets.testing.tiny_gguf import CHATML_TEMPLATE, write_tiny_gguf  # noqa: E402

# -- the Hub, the cache, the service ---------------------------------------------------------------


# tests/bare runs in its own row (scripts/test.sh: the wheel alone in a fresh venv, with
# --confcutdir=tests/bare), never inside this full set-up
collect_ignore = ["bare"]


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
    with running_service(
        endpoint=local_hub.url,
        cache_dir=cache_dir,
        transfer_options=TransferOptions(stall_timeout=1.0, max_retries=3, retry_backoff=0.05),
    ) as svc:
        yield svc


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[LLMKernelService]:
    """A service with a cache of its own and no Hub (models from files, servers), shut down after
    the test. A module whose tests run on each engine asks for `engine` beside it."""
    with running_service(cache_dir=tmp_path / "cache") as service:
        yield service


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


@pytest.fixture(scope="module")
def smollm2_service(
    engine: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LLMKernelService]:
    """One service with the packaged SmolLM2 loaded (n_ctx 2048) on `engine`, shared by a
    module's tests: loaded once per module and engine."""
    from llm_widgets.demo import packaged_model_path

    with running_service(cache_dir=tmp_path_factory.mktemp("hf-cache")) as loaded:
        loaded.load_model(packaged_model_path(), n_ctx=2048).wait(120)
        yield loaded


# -- tiny GGUF models ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weights llama GGUF with a ChatML template, trained context 8192: it loads
    in milliseconds and answers gibberish fast."""
    folder = tmp_path_factory.mktemp("tiny-models")
    return write_tiny_gguf(
        folder / "tiny.gguf", n_ctx=8192, chat_template=CHATML_TEMPLATE, n_embd=128, n_layer=3
    )


@pytest.fixture(scope="session")
def slow_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bigger tiny model without a template, whose long prompts take a while to evaluate."""
    folder = tmp_path_factory.mktemp("tiny-models")
    return write_tiny_gguf(folder / "slow.gguf", n_ctx=8192, n_embd=256, n_layer=4)


# -- llama-cpp-python's OpenAI-compatible server --------------------------------------------------


@pytest.fixture(scope="session")
def llama_server() -> Iterator[ServerFactory]:
    """`llama_server(model=None, *, api_key=None, n_ctx=2048, interrupt_requests=True)`: llama-cpp-
    python's server (`python -m llama_cpp.server`) on `model` (the packaged SmolLM2 by default),
    served as "smollm2". Each setting is started once per pytest process, on first use, and shared
    by every module that asks for the same one; all stop when the session ends. A test that stops
    or otherwise spoils its server starts one of its own (`OpenAIServer`) instead."""
    from llm_widgets.demo import packaged_model_path

    started: dict[tuple[Any, ...], OpenAIServer] = {}

    def get(
        model: str | os.PathLike[str] | None = None,
        *,
        api_key: str | None = None,
        n_ctx: int = 2048,
        interrupt_requests: bool = True,
    ) -> OpenAIServer:
        path = os.fspath(model if model is not None else packaged_model_path())
        key = (path, api_key, n_ctx, interrupt_requests)
        server = started.get(key)
        if server is None or server.process is None or server.process.poll() is not None:
            server = stack.enter_context(  # started here, stopped when the session ends
                OpenAIServer(
                    path,
                    alias="smollm2",
                    api_key=api_key,
                    n_ctx=n_ctx,
                    interrupt_requests=interrupt_requests,
                )
            )
            started[key] = server
        return server

    with ExitStack() as stack:
        yield get
