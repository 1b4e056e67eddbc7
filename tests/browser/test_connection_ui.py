"""A view says when no kernel answers it (a saved notebook whose kernel is gone, an HTML export)
and disables its controls: buttons that did nothing, silently, were the old behaviour."""

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
    "ModelCard('demo-org/tiny-GGUF', 'tiny.Q4_K_M.gguf')",
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
