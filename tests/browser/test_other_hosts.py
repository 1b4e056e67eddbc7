"""marimo and Voilà: the same card works there (clicks reach Python, background updates reach the
page). Both start their own kernel or runtime per page; the main row runs these."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from markdown_chat import SAVED, check_rendered

from llm_widgets.testing.jupyter import free_port

pytestmark = [pytest.mark.browser, pytest.mark.extra_host]

SETUP = f"""\
import os, tempfile
from llm_widgets import Chat, LLMKernelService, ModelCard
from llm_widgets.testing import LocalHub
hub = LocalHub().start()
REPO, FILE = "demo-org/tiny-model-GGUF", "tiny-model.Q4_K_M.gguf"
hub.add_file(REPO, FILE, os.urandom(8_000_000))
hub.faults.throttle_bps = 2_000_000
service = LLMKernelService(endpoint=hub.url, cache_dir=tempfile.mkdtemp())
card = ModelCard(REPO, FILE, service=service)
hub.add_file(REPO, "small.Q8_0.gguf", os.urandom(1_000_000))
small = ModelCard(REPO, "small.Q8_0.gguf", service=service)
chat = Chat(service, messages={SAVED})
"""

MARIMO_APP = f"""\
import marimo

app = marimo.App()


@app.cell
def _():
{textwrap.indent(SETUP, "    ")}    return card, chat, small


@app.cell
def _(card):
    import marimo as mo

    mo.ui.anywidget(card)
    return


@app.cell
def _(small):
    small  # a bare widget as a cell's output works too
    return


@app.cell
def _(chat):
    chat
    return


if __name__ == "__main__":
    app.run()
"""


def _serve(command: list[str], folder: Path, port: int) -> Iterator[str]:
    env = dict(os.environ, HF_HUB_DISABLE_TELEMETRY="1", HF_HOME=str(folder / "hf-home"))
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            assert process.poll() is None, (folder / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
    try:
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
        log.close()


@pytest.fixture
def marimo_app() -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="llmw-marimo-"))
    (folder / "app.py").write_text(MARIMO_APP)
    port = free_port()
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "marimo"), "run", "app.py", "--headless", "--no-token"]
    yield from _serve([*command, "--port", str(port)], folder, port)


@pytest.fixture
def voila_app() -> Iterator[str]:
    import nbformat

    folder = Path(tempfile.mkdtemp(prefix="llmw-voila-"))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(SETUP + "card"), nbformat.v4.new_code_cell("chat")]
    nbformat.write(nb, folder / "dashboard.ipynb")
    port = free_port()
    command = [sys.executable, "-m", "voila", "dashboard.ipynb", "--no-browser"]
    yield from _serve([*command, f"--port={port}", "--Voila.ip=127.0.0.1"], folder, port)


def _download_cancel_resume(page: Any) -> None:
    download = page.get_by_role("button", name="Download")
    download.wait_for(timeout=90_000)
    bar = page.get_by_role("progressbar", name="Download progress")
    download.click()
    _wait(lambda: float(bar.get_attribute("aria-valuenow") or 0) > 0)  # updates from a thread
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Download").wait_for(timeout=10_000)
    page.get_by_text(re.compile(r"Cancelled — .* of .* kept")).wait_for(timeout=10_000)
    kept = float(bar.get_attribute("aria-valuenow") or 0)
    assert kept > 0  # the bar shows what is kept
    page.get_by_role("button", name="Download").click()
    page.get_by_text(re.compile(rf"Resuming download of .* from {kept:.0f}%")).wait_for(
        timeout=10_000
    )
    _wait(lambda: float(bar.get_attribute("aria-valuenow") or 0) == 100, timeout=60)
    page.get_by_role("button", name="Load").wait_for(timeout=10_000)


def _wait(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the page did not get there"
        time.sleep(0.05)


def test_the_card_works_in_marimo(marimo_app: str, browser: Any) -> None:
    page = browser.new_page()
    page.goto(marimo_app)
    cards = page.locator(".llmw-card")
    _wait(lambda: cards.count() == 2, timeout=90)
    _download_cancel_resume(cards.filter(has_text="tiny-model.Q4_K_M.gguf"))  # mo.ui.anywidget
    bare = cards.filter(has_text="small.Q8_0.gguf")
    bare.get_by_role("button", name="Download").click()
    bare.get_by_role("button", name="Load").wait_for(timeout=30_000)
    check_rendered(page.locator(".llmw-chat"), page)
    page.close()


def test_the_card_works_in_a_voila_dashboard(voila_app: str, browser: Any) -> None:
    page = browser.new_page()
    page.goto(voila_app)
    _download_cancel_resume(page.locator(".llmw-card"))
    check_rendered(page.locator(".llmw-chat"), page)
    page.close()
