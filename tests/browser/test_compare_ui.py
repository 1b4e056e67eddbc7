"""A comparison in the page (JupyterLab 4, Notebook 7; classic 6.5 with LLMW_HOSTS): the grid,
Stop / Resume, and a blind round's picks (the checks are compare_checks', shared with VS Code's
row)."""

from __future__ import annotations

from typing import Any

import pytest
from compare_checks import BLIND, GRID, REPORT, SETUP, check_blind, check_grid

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_grid_stop_resume_and_blind_picks(notebook_page: Any, screenshot: Any) -> None:
    nb = notebook_page("compare_ui.ipynb", [SETUP, GRID, BLIND, REPORT])
    nb.run_cell(0)
    nb.run_cell(1)
    grid = nb.output(1).locator(".llmw-compare")
    check_grid(grid)
    screenshot(grid, "compare-grid")
    nb.run_cell(2)
    blind = nb.output(2).locator(".llmw-compare")
    check_blind(blind)
    screenshot(blind, "compare-blind")
    nb.run_cell(3)
    text = nb.output(3).inner_text()
    assert "GRID done" in text and text.strip().endswith("VOTES 2"), text
    reused = int(text.split()[2])
    assert 0 < reused < 12
