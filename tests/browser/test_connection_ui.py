"""A view says when no kernel answers it (a saved notebook whose kernel is gone, an HTML export,
a kernel restarted or shut down under a live view) and disables its controls: buttons that did
nothing, silently, were the old behaviour."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from harness.jupyter import NotebookPage
from helpers import expect

pytestmark = pytest.mark.browser

CELLS = [
    "import os, tempfile\n"
    "from llm_widgets import LLMKernelService, ModelCard\n"
    "from llm_widgets.testing import LocalHub\n"
    "hub = LocalHub().start()\n"
    "hub.add_file('demo-org/tiny-GGUF', 'tiny.Q4_K_M.gguf', os.urandom(100_000))\n"
    "service = LLMKernelService(endpoint=hub.url, cache_dir=tempfile.mkdtemp())\n"
    "LLMKernelService.set_instance(service)",
    "ModelCard('demo-org/tiny-GGUF', 'tiny.Q4_K_M.gguf')",
    "from llm_widgets import BatchRun, Chat, LocalLibrary, ModelBrowser, ServerConnection\n"
    "from llm_widgets.testing.tiny_gguf import write_tiny_gguf\n"
    "service.load_model(write_tiny_gguf(tempfile.mktemp(suffix='.gguf')), n_ctx=256).wait()\n"
    "run = BatchRun.map(['a', 'b'], max_tokens=2, cache=False)\n"
    "run.job.wait()\n"
    "display(Chat(), ModelBrowser(), LocalLibrary(), ServerConnection(), run)",
    # run after the views showed: the kernel handles messages in order, so its output comes
    # after its answers to the views' hellos (sent when they rendered)
    "print('ANSWERED')",
]
# every widget's view, and a control of each that needs the kernel
CONTROLS = [
    (".llmw-card", "button", "Download"),
    (".llmw-chat", "textbox", "Message"),
    (".llmw-browser", "button", "Search"),
    (".llmw-library", "button", "Refresh"),
    (".llmw-server", "button", "Connect"),
    (".llmw-batch", "button", "Resume"),
]
LINE = "Not connected to a running kernel — run the cell again."


def _answered(nb: Any) -> None:
    """The kernel has answered every view rendered so far (the last cell's output comes after)."""
    nb.run_cell(3)
    expect(nb.output(3), "the kernel's answer after the views' hellos").to_contain_text("ANSWERED")


def test_a_saved_view_without_its_kernel_says_so(notebook_page: Any) -> None:
    nb = notebook_page("connection_ui.ipynb", CELLS)
    nb.run_cell(0)
    nb.run_cell(1)
    card = nb.output(1).locator(".llmw-card")
    expect(card.get_by_role("button", name="Download"), "the live card's Download").to_be_visible()
    _answered(nb)
    expect(card.get_by_text(LINE), "no offline line: a live kernel answered").to_be_hidden()
    expect(card, "a connected card").not_to_have_class(re.compile("llmw-disconnected"))
    nb.save_with_widgets()
    nb.stop_kernel()
    nb.open()  # the saved state renders; a new kernel knows nothing of these widgets
    card = nb.output(1).locator(".llmw-card")
    expect(card.get_by_text(LINE), "the saved card's offline line").to_be_visible(timeout=20_000)
    expect(card, "the saved card marked disconnected").to_have_class(
        re.compile("llmw-disconnected")
    )
    expect(
        card.get_by_role("button", name="Download"), "the saved card's Download disabled"
    ).to_have_attribute("aria-disabled", "true")


def test_live_views_say_so_when_the_kernel_restarts_or_shuts_down(notebook_page: Any) -> None:
    nb = notebook_page("restart_ui.ipynb", CELLS)
    for index in range(3):
        nb.run_cell(index)
    views = [(nb.page.locator(view).first, role, name) for view, role, name in CONTROLS]
    for view, role, name in views:
        expect(view.get_by_role(role, name=name), f"{name} in the live {view}").to_be_visible()
    _answered(nb)
    for view, _, _ in views:
        expect(view.get_by_text(LINE), f"no offline line in {view}: it was answered").to_be_hidden()
    nb.restart_kernel()  # from the page, as its Restart menu item does
    for view, role, name in views:
        expect(view.get_by_text(LINE), f"the offline line in {view}").to_be_visible()
        expect(view, f"{view} marked disconnected").to_have_class(re.compile("llmw-disconnected"))
        expect(view.get_by_role(role, name=name), f"{name} disabled in {view}").to_have_attribute(
            "aria-disabled", "true"
        )
    # a click that cannot be delivered says so at once, and nothing reaches the new kernel
    card = views[0][0]
    # (a pointer cannot reach it: pointer-events are off; a key press on it clicks, as here)
    card.get_by_role("button", name="Download").dispatch_event("click")
    line = card.get_by_text(LINE)
    expect(line, "the offline line after the refused click").to_be_visible()
    expect(line, "the offline line flashed: the click was refused").to_have_class(
        re.compile("llmw-flash")
    )
    assert nb.page.locator(".llmw-card").first.get_attribute("data-status") == "idle"

    nb.run_cell(0)  # run the cell again: a live card on the new kernel
    nb.run_cell(1)
    card = nb.output(1).locator(".llmw-card")
    expect(card.get_by_role("button", name="Download"), "the new card's Download").to_be_visible()
    expect(card.get_by_text(LINE), "no offline line on the new card").to_be_hidden()
    nb.stop_kernel()  # shut down (from the server: the page learns it from its session)
    expect(card.get_by_text(LINE), "the offline line after the shutdown").to_be_visible()
    expect(
        card.get_by_role("button", name="Download"), "Download disabled after the shutdown"
    ).to_have_attribute("aria-disabled", "true")
    log = nb.server.log.read_text(errors="replace")
    assert "ES module scope" not in log, "JupyterLab's Node helpers broke (package.json type)"


def test_a_shipped_notebook_opens_unmodified(jupyter_server: Any, browser: Any) -> None:
    """Opening notebooks/download.ipynb marks nothing modified (no missing cell id, the kernel's
    language_info already there), so autosave does not rewrite a tracked file."""
    if jupyter_server.flavour == "classic":
        pytest.skip(
            "the Colab row's kernel is Python 3.13 and the notebook records 3.11's language_info: "
            "any host marks it modified there"
        )
    name = "download.ipynb"
    shutil.copy(Path(__file__).parent.parent.parent / "notebooks" / name, jupyter_server.root)
    context = browser.new_context()
    nb = NotebookPage(jupyter_server, context.new_page(), name)
    try:
        nb.open()
        # the kernel's info and spec arrive after it is idle, and the page writes them into the
        # notebook's metadata when they do: wait for both answers, then for the page's handlers
        # of them (they ran first: they were registered when the kernel started), then look
        dirty = nb.page.evaluate(
            """async (name) => {
                const panel = Array.from(window.jupyterapp.shell.widgets("main"))
                    .find((w) => w.context && w.context.path === name);
                await panel.sessionContext.ready;
                const kernel = panel.sessionContext.session.kernel;
                await kernel.info;
                await kernel.spec;
                await new Promise((done) => setTimeout(done, 0));
                return panel.context.model.dirty;
            }""",
            name,
        )
        assert dirty is False, "opening the notebook marked it modified"
    finally:
        nb.stop_kernel()
        context.close()
