"""A real JupyterLab 4 / Notebook 7 on 127.0.0.1 and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.jupyter import (
    CHROMIUM,
    JupyterServer,
    NotebookPage,
    flavours_to_test,
    launch_chromium,
)
from helpers import EXPECT_TIMEOUT_MS, expect

expect.set_options(timeout=EXPECT_TIMEOUT_MS)  # every expect retries this long unless told


@pytest.fixture(scope="session", params=flavours_to_test())
def jupyter_server(request: pytest.FixtureRequest) -> Iterator[JupyterServer]:
    """Each host of this row once per session: JupyterLab 4 and Notebook 7 (LLMW_HOSTS=classic:
    Notebook 6.5, in the Colab row)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not at {CHROMIUM}: run scripts/setup.sh --test (apt-get install chromium)"
        )
    server = JupyterServer(request.param)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def notebook_page(
    jupyter_server: JupyterServer, browser: Any, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A factory: `notebook_page(name, cells)` writes the notebook and opens it."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    opened: list[NotebookPage] = []

    def make(name: str, cells: list[str]) -> NotebookPage:
        jupyter_server.write_notebook(name, cells)
        nbp = NotebookPage(jupyter_server, page, name).open()
        opened.append(nbp)
        return nbp

    yield make
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        shot = Path(tempfile.gettempdir()) / f"llmw-{request.node.name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot}")
    for nbp in opened:  # stop the kernels: no thread or server outlives the test
        for session in jupyter_server.api("/api/sessions"):
            if session.get("path", "").endswith(nbp.name):
                req = urllib.request.Request(
                    f"{jupyter_server.url}/api/sessions/{session['id']}", method="DELETE"
                )
                urllib.request.urlopen(req, timeout=10).close()
    context.close()


@pytest.fixture
def screenshot() -> Any:
    """`screenshot(element, name)` saves a PNG when LLMW_SCREENSHOTS names a folder (for people
    to look at; tests never assert on pixels)."""

    def save(element: Any, name: str) -> None:
        folder = os.environ.get("LLMW_SCREENSHOTS")
        if folder:
            element.screenshot(path=os.path.join(folder, f"{name}.png"))

    return save


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def thinking_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2 with a Qwen3-style thinking chat template (written once per session)."""
    from llm_widgets.demo import packaged_model_path
    from llm_widgets.testing.gguf_copy import QWEN3_STYLE_TEMPLATE, copy_gguf

    folder = tmp_path_factory.mktemp("thinking")
    return copy_gguf(
        packaged_model_path(),
        folder / "smollm2-thinking.gguf",
        chat_template=QWEN3_STYLE_TEMPLATE,
        name="SmolLM2 thinking copy",
    )
