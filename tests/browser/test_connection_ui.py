"""A view says when no kernel answers it (a saved notebook whose kernel is gone, an HTML export,
or a kernel busy with another cell), disables its controls, and recovers when the kernel answers."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

CELLS = [
    "import os, tempfile\n"
    "from llm_widgets import LLMKernelService, ModelCard\n"
    "from llm_widgets.testing import LocalHub\n"
    "hub = LocalHub().start()\n"
    "hub.add_file('demo-org/tiny-GGUF', 'tiny.Q4_K_M.gguf', os.urandom(100_000))\n"
    "service = LLMKernelService(endpoint=hub.url, cache_dir=tempfile.mkdtemp())\n"
    "LLMKernelService.set_instance(service)",
    # the view renders at once, but the kernel answers nothing until the cell ends
    "import time\ncard = ModelCard('demo-org/tiny-GGUF', 'tiny.Q4_K_M.gguf')\n"
    "display(card)\ntime.sleep(7)",
]


def test_a_view_nobody_answers_says_so_and_recovers(notebook_page: Any) -> None:
    nb = notebook_page("connection_ui.ipynb", CELLS)
    nb.run_cell(0)
    nb.run_cell(1, wait=False)
    card = nb.output(1).locator(".llmw-card")
    card.wait_for(timeout=30_000)
    line = card.get_by_text("Not connected to a running kernel — run the cell again.")
    line.wait_for(timeout=15_000)
    assert "llmw-disconnected" in (card.get_attribute("class") or "")
    nb.wait_idle()
    line.wait_for(state="hidden", timeout=15_000)  # the kernel answered after all
    card.get_by_role("button", name="Download").click()
    card.get_by_role("button", name="Load").wait_for(timeout=30_000)
