"""The download flow in a real browser: progress, Cancel, resume, Retry (Lab 4 and Notebook 7)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from helpers import FULL, expect, progress, wait_progress

pytestmark = pytest.mark.browser

SETUP = """
import os, tempfile
from llm_widgets import LLMKernelService, ModelCard
from llm_widgets.testing import LocalHub
hub = LocalHub().start()
REPO, FILE = "demo-org/tiny-model-GGUF", "tiny-model.Q4_K_M.gguf"
hub.add_file(REPO, FILE, os.urandom(12_000_000))
hub.add_file(REPO, "other.Q8_0.gguf", os.urandom(3_000_000))
hub.faults.throttle_bps = 2_000_000
service = LLMKernelService(endpoint=hub.url, cache_dir=tempfile.mkdtemp())
LLMKernelService.set_instance(service)
"""
CELLS = [
    SETUP,
    "card = ModelCard(REPO, FILE)\ncard",
    "before_resume = len(hub.requests)",
    "gets = [r.headers.get('range') for r in hub.requests[before_resume:]\n"
    "        if 'lfs-blobs' in r.path and r.method == 'GET']\n"
    "print('RESUMED_FROM', card.job.resumed_from, 'RANGES', gets)",
    "hub.faults.status_for = {REPO: 500}\nfailing = ModelCard(REPO, 'other.Q8_0.gguf')\nfailing",
    "hub.faults.status_for = {}",
]


def test_download_cancel_resume_and_retry(notebook_page: Any, screenshot: Any) -> None:
    nb = notebook_page("download_ui.ipynb", CELLS)
    nb.run_cell(0)
    nb.run_cell(1)
    card = nb.output(1).locator(".llmw-card")
    expect(card, "the model card").to_be_visible()
    bar = card.get_by_role("progressbar", name="Download progress")
    expect(bar, "an empty progress bar before Download").to_have_attribute("aria-valuenow", "0")

    card.get_by_role("button", name="Download").click()
    first = wait_progress(bar, lambda v: v > 0, "download progress above 0%")
    wait_progress(bar, lambda v: v > first, f"download progress past {first:g}%")  # it moves
    expect(card.get_by_text(re.compile(r"MB/s")), "the download's speed").to_be_visible()
    screenshot(card, "card-downloading")

    card.get_by_role("button", name="Cancel").click()
    expect(card.get_by_role("button", name="Download"), "Download after Cancel").to_be_visible()
    expect(
        card.get_by_text(re.compile(r"Cancelled — .* of .* MB kept")), "the Cancelled line"
    ).to_be_visible()
    kept = progress(bar)
    assert kept > first  # the bar shows what is kept, not 0
    expect(
        card.get_by_text(re.compile("cancelled; .* kept for a resume")).first,
        "the notice of what is kept",
    ).to_be_visible()
    screenshot(card, "card-cancelled")
    nb.run_cell(2)

    card.get_by_role("button", name="Download").click()
    expect(
        card.get_by_text(re.compile(rf"Resuming download of .* from {kept:.0f}%")).first,
        f"the notice of a resume from {kept:.0f}%",
    ).to_be_visible()
    expect(bar, "the resumed download's full bar").to_have_attribute(
        "aria-valuenow", FULL, timeout=60_000
    )
    expect(card.get_by_text(re.compile("is ready")).first, "the notice: ready").to_be_visible()
    expect(card.get_by_role("button", name="Load"), "Load once downloaded").to_be_visible()
    screenshot(card, "card-done")

    nb.run_cell(3)
    output = nb.output(3)
    expect(output, "the kernel's account of the resume").to_contain_text("RESUMED_FROM")
    text = output.inner_text()
    resumed = int(re.search(r"RESUMED_FROM (\d+)", text).group(1))
    assert resumed > 0, text
    # the resume asked only for what was missing (in parallel ranges): never the kept start
    starts = [int(m) for m in re.findall(r"'bytes=(\d+)-", text)]
    assert starts and 0 not in starts and "None" not in text, text

    nb.run_cell(4)
    failing = nb.output(4).locator(".llmw-card")
    failing.get_by_role("button", name="Download").click()
    expect(failing.get_by_role("button", name="Retry"), "Retry after a 500").to_be_visible()
    expect(failing, "the server error, in words").to_contain_text("server error (500)")
    screenshot(failing, "card-failed")
    nb.run_cell(5)
    failing.get_by_role("button", name="Retry").click()
    expect(
        failing.get_by_role("progressbar", name="Download progress"),
        "the retried download's full bar",
    ).to_have_attribute("aria-valuenow", FULL)
    expect(failing.get_by_role("button", name="Retry"), "no Retry once done").to_be_hidden()
