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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.jupyter import free_port
from helpers import FULL, expect, progress, server_up, wait_progress, wait_until
from markdown_chat import SAVED, check_rendered

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

    def up() -> bool:
        assert process.poll() is None, (folder / "server.log").read_text()[-3000:]
        return server_up(url)

    def seen() -> str:
        return (folder / "server.log").read_text()[-3000:]

    try:
        wait_until(up, f"{command[0]} server answering on {url}", 60, seen=seen, every=0.3)
    except AssertionError:
        os.killpg(process.pid, signal.SIGTERM)
        raise
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
    expect(download, "the card's Download").to_be_visible(timeout=90_000)
    bar = page.get_by_role("progressbar", name="Download progress")
    download.click()
    wait_progress(bar, lambda v: v > 0, "download progress from a thread")  # background updates
    page.get_by_role("button", name="Cancel").click()
    expect(
        page.get_by_role("button", name="Download"), "the card's Download after Cancel"
    ).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"Cancelled — .* of .* kept")), "the Cancelled line"
    ).to_be_visible()
    kept = progress(bar)
    assert kept > 0  # the bar shows what is kept
    page.get_by_role("button", name="Download").click()
    expect(
        page.get_by_text(re.compile(rf"Resuming download of .* from {kept:.0f}%")),
        f"the notice of a resume from {kept:.0f}%",
    ).to_be_visible()
    expect(bar, "the resumed download's full bar").to_have_attribute(
        "aria-valuenow", FULL, timeout=60_000
    )
    expect(page.get_by_role("button", name="Load"), "Load once downloaded").to_be_visible()


def test_the_card_works_in_marimo(marimo_app: str, browser: Any) -> None:
    page = browser.new_page()
    page.goto(marimo_app)
    cards = page.locator(".llmw-card")
    expect(cards, "marimo's two cards").to_have_count(2, timeout=90_000)
    _download_cancel_resume(cards.filter(has_text="tiny-model.Q4_K_M.gguf"))  # mo.ui.anywidget
    bare = cards.filter(has_text="small.Q8_0.gguf")
    bare.get_by_role("button", name="Download").click()
    expect(bare.get_by_role("button", name="Load"), "the bare card's Load").to_be_visible()
    check_rendered(page.locator(".llmw-chat"), page)
    page.close()


def test_the_card_works_in_a_voila_dashboard(voila_app: str, browser: Any) -> None:
    page = browser.new_page()
    page.goto(voila_app)
    _download_cancel_resume(page.locator(".llmw-card"))
    check_rendered(page.locator(".llmw-chat"), page)
    page.close()
