"""A view says when no kernel answers it (a saved notebook whose kernel is gone, an HTML export,
a kernel restarted or shut down under a live view) and disables its controls: buttons that did
nothing, silently, were the old behaviour."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from llm_widgets.testing.jupyter import NotebookPage

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


def test_a_saved_view_without_its_kernel_says_so(notebook_page: Any) -> None:
    nb = notebook_page("connection_ui.ipynb", CELLS)
    nb.run_cell(0)
    nb.run_cell(1)
    card = nb.output(1).locator(".llmw-card")
    card.get_by_role("button", name="Download").wait_for(timeout=30_000)
    assert not card.get_by_text(LINE).is_visible()  # a live kernel answered
    nb.save_with_widgets()
    nb.stop_kernel()
    nb.open()  # the saved state renders; a new kernel knows nothing of these widgets
    card = nb.output(1).locator(".llmw-card")
    card.get_by_text(LINE).wait_for(timeout=20_000)
    assert "llmw-disconnected" in (card.get_attribute("class") or "")
    assert card.get_by_role("button", name="Download").get_attribute("aria-disabled") == "true"


def test_live_views_say_so_when_the_kernel_restarts_or_shuts_down(notebook_page: Any) -> None:
    nb = notebook_page("restart_ui.ipynb", CELLS)
    for index in range(3):
        nb.run_cell(index)
    views = [(nb.page.locator(view).first, role, name) for view, role, name in CONTROLS]
    for view, role, name in views:
        view.get_by_role(role, name=name).wait_for(timeout=30_000)
        assert not view.get_by_text(LINE).is_visible()  # a live kernel answered
    nb.restart_kernel()  # from the page, as its Restart menu item does
    for view, role, name in views:
        view.get_by_text(LINE).wait_for(timeout=10_000)
        assert "llmw-disconnected" in (view.get_attribute("class") or "")
        assert view.get_by_role(role, name=name).get_attribute("aria-disabled") == "true"
    # a click that cannot be delivered says so at once, and nothing reaches the new kernel
    card = views[0][0]
    card.get_by_role("button", name="Download").click(force=True)
    assert card.get_by_text(LINE).is_visible()
    assert nb.page.locator(".llmw-card").first.get_attribute("data-status") == "idle"

    nb.run_cell(0)  # run the cell again: a live card on the new kernel
    nb.run_cell(1)
    card = nb.output(1).locator(".llmw-card")
    card.get_by_role("button", name="Download").wait_for(timeout=30_000)
    card.get_by_text(LINE).wait_for(state="hidden", timeout=10_000)
    nb.stop_kernel()  # shut down (from the server: the page learns it from its session)
    card.get_by_text(LINE).wait_for(timeout=30_000)
    assert card.get_by_role("button", name="Download").get_attribute("aria-disabled") == "true"
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
        time.sleep(2)  # the kernel's info arrives after it is idle
        dirty = nb.page.evaluate(
            "() => window.Jupyter.notebook.dirty"
            if nb.classic
            else """(name) => Array.from(window.jupyterapp.shell.widgets("main"))
                .find((w) => w.context && w.context.path === name).context.model.dirty""",
            name,
        )
        assert dirty is False
    finally:
        nb.stop_kernel()
        context.close()
