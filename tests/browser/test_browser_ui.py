"""ModelBrowser in a real browser: search, pick (a compact list, a recommended pick), two
downloads (their cards), cancel one, library, delete (the card follows), discard from Python."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CELLS = [
    "import os, tempfile\n"
    "from llm_widgets import LLMKernelService, ModelBrowser\n"
    "from llm_widgets.testing import LocalHub\n"
    "hub = LocalHub().start()\n"
    "REPO = 'bartowski/Phi-3-mini-GGUF'\n"
    "hub.add_repo(REPO, downloads=1200, likes=30)\n"
    "for q in ('Q4_K_M', 'Q8_0'):\n"
    "    hub.add_file(REPO, f'Phi-3-mini-{q}.gguf', os.urandom(4_000_000))\n"
    "hub.add_repo('someone/phi-gated-GGUF', downloads=10, gated='manual')\n"
    "hub.add_file('someone/phi-gated-GGUF', 'x.Q4_0.gguf', os.urandom(1000))\n"
    "hub.faults.throttle_bps = 1_000_000\n"
    "service = LLMKernelService(endpoint=hub.url, cache_dir=tempfile.mkdtemp())\n"
    "LLMKernelService.set_instance(service)",
    "browser = ModelBrowser()\nbrowser",
    "service.discard_partial(REPO, 'Phi-3-mini-Q8_0.gguf')",
]


def test_search_pick_download_two_cancel_one_delete(notebook_page: Any, screenshot: Any) -> None:
    nb = notebook_page("browser_ui.ipynb", CELLS)
    nb.run_cell(0)
    nb.run_cell(1)
    out = nb.output(1)
    out.locator(".llmw-browser").wait_for(timeout=30_000)
    out.get_by_role("searchbox", name="Search models").fill("phi")
    out.get_by_role("button", name="Search").click()
    results = out.get_by_role("list", name="Search results")
    results.get_by_role("button").first.wait_for(timeout=30_000)
    assert "gated" in results.inner_text()
    results.get_by_role("button").filter(has_text="bartowski/Phi-3-mini-GGUF").click()

    files = out.get_by_role("table", name="Models in the repo")
    files.locator("tr[data-filename]").nth(1).wait_for(timeout=30_000)
    rows = files.locator("tr[data-filename]")
    assert rows.first.get_attribute("data-filename") == "Phi-3-mini-Q4_K_M.gguf"
    assert "Recommended" in rows.first.inner_text() and "fits" in rows.first.inner_text()
    assert "Recommended" not in rows.nth(1).inner_text()
    named = out.get_by_text("bartowski/Phi-3-mini-GGUF", exact=True)  # the result and a heading
    assert named.count() == 2 and files.get_by_text("bartowski/Phi-3-mini-GGUF").count() == 0
    cards = out.locator(".llmw-card")
    assert cards.count() == 0  # a full card only for what is downloaded
    rows.first.get_by_role("button", name="Download").click()
    rows.nth(1).get_by_role("button", name="Download").click()
    q4 = cards.filter(has_text="Phi-3-mini-Q4_K_M.gguf")
    q8 = cards.filter(has_text="Phi-3-mini-Q8_0.gguf")
    q8.get_by_role("button", name="Cancel").wait_for(timeout=10_000)
    screenshot(out, "browser-two-downloads")
    q8.get_by_role("button", name="Cancel").click()
    q8.get_by_role("button", name="Download").wait_for(timeout=10_000)

    q4.get_by_role("button", name="Load", exact=True).wait_for(timeout=60_000)  # q4 finished
    library = out.get_by_role("table", name="Local models")
    library.get_by_text("bartowski/Phi-3-mini-GGUF/Phi-3-mini-Q4_K_M.gguf").wait_for(timeout=10_000)
    q8_row = library.locator("tr").filter(has_text="Phi-3-mini-Q8_0.gguf")
    assert "partial" in q8_row.inner_text()
    screenshot(out, "browser-library")

    row = library.locator("tr").filter(has_text="Phi-3-mini-Q4_K_M.gguf")
    row.get_by_role("button", name="Load").click()  # random bytes: the check refuses it
    alerts = out.locator(".llmw-library").get_by_role("alert").filter(has_text="GGUF")
    alerts.first.wait_for(timeout=30_000)
    row.get_by_role("button", name="Delete").click()
    confirm = row.get_by_role("button", name="Delete")  # destructive, in the theme's error colour
    colours = confirm.evaluate(
        """(b) => [getComputedStyle(b).backgroundColor,
                   getComputedStyle(b.closest('.llmw')).getPropertyValue('--llmw-err'),
                   getComputedStyle(b.closest('.llmw')).getPropertyValue('--llmw-accent')]"""
    )
    probe = confirm.evaluate(
        "(b, c) => { const s = document.createElement('span'); s.style.color = c;"
        " b.append(s); const v = getComputedStyle(s).color; s.remove(); return v; }",
        colours[1].strip(),
    )
    assert colours[0] == probe and colours[1].strip() != colours[2].strip(), colours
    confirm.click()
    deadline = time.monotonic() + 10
    while library.locator("tr").filter(has_text="Phi-3-mini-Q4_K_M.gguf").count():
        assert time.monotonic() < deadline, "the deleted file is still listed"
        time.sleep(0.1)
    out.get_by_text("Deleted Phi-3-mini-Q4_K_M.gguf").first.wait_for(timeout=10_000)
    # its card and its row in the list go back to "not downloaded", with Download
    q4.get_by_text("Not downloaded").wait_for(timeout=10_000)
    q4.get_by_role("button", name="Download").wait_for(timeout=10_000)
    q4.get_by_role("button", name="Load", exact=True).wait_for(state="hidden", timeout=10_000)
    rows.first.get_by_role("button", name="Download").wait_for(timeout=10_000)

    nb.run_cell(2)  # the partial discarded from Python: the library and the card follow
    deadline = time.monotonic() + 10
    while library.locator("tr").filter(has_text="Phi-3-mini-Q8_0.gguf").count():
        assert time.monotonic() < deadline, "the library still lists the discarded partial"
        time.sleep(0.1)
    q8.get_by_text("Not downloaded").wait_for(timeout=10_000)
