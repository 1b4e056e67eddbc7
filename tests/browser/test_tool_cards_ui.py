"""The Chat's tool cards in JupyterLab 4, Notebook 7 and classic Notebook (LLMW_HOSTS), with the
real SmolLM2 in the kernel: Approve, Deny, Stop while a call waits, a restored conversation."""

from __future__ import annotations

from typing import Any

import pytest
from tool_cards import CELLS, check_tool_cards

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_cards_approve_deny_stop_and_restore(notebook_page: Any, screenshot: Any) -> None:
    nb = notebook_page("tool_cards.ipynb", CELLS)

    def run(code: str) -> Any:
        index = CELLS.index(code)
        nb.run_cell(index)
        return nb.output(index)

    check_tool_cards(run)
    screenshot(nb.output(1).locator(".llmw-chat"), "chat-tool-cards")
