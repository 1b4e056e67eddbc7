"""ModelBrowser in a real browser: search, pick (a compact list, a recommended pick), two
downloads (their cards), cancel one, library, delete (the card follows), discard from Python."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import expect

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
    expect(out.locator(".llmw-browser"), "the model browser").to_be_visible()
    out.get_by_role("searchbox", name="Search models").fill("phi")
    out.get_by_role("button", name="Search").click()
    results = out.get_by_role("list", name="Search results")
    expect(results.get_by_role("button").first, "a search result").to_be_visible()
    expect(results, "the gated repo marked").to_contain_text("gated")
    results.get_by_role("button").filter(has_text="bartowski/Phi-3-mini-GGUF").click()

    files = out.get_by_role("table", name="Models in the repo")
    rows = files.locator("tr[data-filename]")
    expect(rows, "the repo's two files").to_have_count(2)
    expect(rows.first, "the smaller file first").to_have_attribute(
        "data-filename", "Phi-3-mini-Q4_K_M.gguf"
    )
    expect(rows.first, "the recommended pick").to_contain_text("Recommended")
    expect(rows.first, "the pick fits").to_contain_text("fits")
    expect(rows.nth(1), "one recommended pick").not_to_contain_text("Recommended")
    named = out.get_by_text("bartowski/Phi-3-mini-GGUF", exact=True)  # the result and a heading
    expect(named, "the repo named by its result and a heading").to_have_count(2)
    expect(
        files.get_by_text("bartowski/Phi-3-mini-GGUF"), "the repo not repeated in its files"
    ).to_have_count(0)
    cards = out.locator(".llmw-card")
    expect(cards, "no card before a download").to_have_count(0)  # a full card: downloaded only
    rows.first.get_by_role("button", name="Download").click()
    rows.nth(1).get_by_role("button", name="Download").click()
    q4 = cards.filter(has_text="Phi-3-mini-Q4_K_M.gguf")
    q8 = cards.filter(has_text="Phi-3-mini-Q8_0.gguf")
    expect(q8.get_by_role("button", name="Cancel"), "the Q8 download's Cancel").to_be_visible()
    screenshot(out, "browser-two-downloads")
    q8.get_by_role("button", name="Cancel").click()
    expect(q8.get_by_role("button", name="Download"), "Q8's Download after Cancel").to_be_visible()

    expect(  # q4 finished
        q4.get_by_role("button", name="Load", exact=True), "Q4's Load once downloaded"
    ).to_be_visible(timeout=60_000)
    library = out.get_by_role("table", name="Local models")
    expect(
        library.get_by_text("bartowski/Phi-3-mini-GGUF/Phi-3-mini-Q4_K_M.gguf"),
        "the downloaded file in the library",
    ).to_be_visible()
    q8_row = library.locator("tr").filter(has_text="Phi-3-mini-Q8_0.gguf")
    expect(q8_row, "the cancelled file listed as partial").to_contain_text("partial")
    screenshot(out, "browser-library")

    row = library.locator("tr").filter(has_text="Phi-3-mini-Q4_K_M.gguf")
    row.get_by_role("button", name="Load").click()  # random bytes: the check refuses it
    alerts = out.locator(".llmw-library").get_by_role("alert").filter(has_text="GGUF")
    expect(alerts.first, "the library's alert: not a GGUF").to_be_visible()
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
    expect(
        library.locator("tr").filter(has_text="Phi-3-mini-Q4_K_M.gguf"), "the deleted file gone"
    ).to_have_count(0)
    expect(
        out.get_by_text("Deleted Phi-3-mini-Q4_K_M.gguf").first, "the notice: deleted"
    ).to_be_visible()
    # its card and its row in the list go back to "not downloaded", with Download
    expect(q4.get_by_text("Not downloaded"), "Q4's card: not downloaded").to_be_visible()
    expect(q4.get_by_role("button", name="Download"), "Q4's Download again").to_be_visible()
    expect(q4.get_by_role("button", name="Load", exact=True), "no Load for Q4").to_be_hidden()
    expect(
        rows.first.get_by_role("button", name="Download"), "Q4's row offers Download again"
    ).to_be_visible()

    nb.run_cell(2)  # the partial discarded from Python: the library and the card follow
    expect(
        library.locator("tr").filter(has_text="Phi-3-mini-Q8_0.gguf"), "the discarded partial gone"
    ).to_have_count(0)
    expect(q8.get_by_text("Not downloaded"), "Q8's card: not downloaded").to_be_visible()
