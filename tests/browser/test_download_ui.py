"""The download flow in a real browser: progress, Cancel, resume, Retry (Lab 4 and Notebook 7)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

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


def _value(bar: Any) -> float:
    return float(bar.get_attribute("aria-valuenow") or 0)


def _wait_value(bar: Any, predicate: Any, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while True:
        value = _value(bar)
        if predicate(value):
            return value
        assert time.monotonic() < deadline, f"progress stuck at {value}"
        time.sleep(0.05)


def test_download_cancel_resume_and_retry(notebook_page: Any, screenshot: Any) -> None:
    nb = notebook_page("download_ui.ipynb", CELLS)
    nb.run_cell(0)
    nb.run_cell(1)
    card = nb.output(1).locator(".llmw-card")
    card.wait_for(timeout=30_000)
    bar = card.get_by_role("progressbar", name="Download progress")
    assert _value(bar) == 0

    card.get_by_role("button", name="Download").click()
    first = _wait_value(bar, lambda v: v > 0)
    _wait_value(bar, lambda v: v > first)  # it moves
    card.get_by_text(re.compile(r"MB/s")).wait_for(timeout=10_000)  # speed shown
    screenshot(card, "card-downloading")

    card.get_by_role("button", name="Cancel").click()
    card.get_by_role("button", name="Download").wait_for(timeout=10_000)
    card.get_by_text(re.compile(r"Cancelled — .* of .* MB kept")).wait_for(timeout=10_000)
    kept = _value(bar)
    assert kept > first  # the bar shows what is kept, not 0
    card.get_by_text(re.compile("cancelled; .* kept for a resume")).first.wait_for(timeout=10_000)
    screenshot(card, "card-cancelled")
    nb.run_cell(2)

    card.get_by_role("button", name="Download").click()
    card.get_by_text(re.compile(rf"Resuming download of .* from {kept:.0f}%")).first.wait_for(
        timeout=10_000
    )
    _wait_value(bar, lambda v: v == 100, timeout=60)
    card.get_by_text(re.compile("is ready")).first.wait_for(timeout=10_000)
    assert card.get_by_role("button", name="Load").is_visible()
    screenshot(card, "card-done")

    nb.run_cell(3)
    text = nb.output(3).inner_text()
    resumed = int(re.search(r"RESUMED_FROM (\d+)", text).group(1))
    assert resumed > 0, text
    # the resume asked only for what was missing (in parallel ranges): never the kept start
    starts = [int(m) for m in re.findall(r"'bytes=(\d+)-", text)]
    assert starts and 0 not in starts and "None" not in text, text

    nb.run_cell(4)
    failing = nb.output(4).locator(".llmw-card")
    failing.get_by_role("button", name="Download").click()
    failing.get_by_role("button", name="Retry").wait_for(timeout=30_000)
    assert "server error (500)" in failing.inner_text()
    screenshot(failing, "card-failed")
    nb.run_cell(5)
    failing.get_by_role("button", name="Retry").click()
    _wait_value(failing.get_by_role("progressbar", name="Download progress"), lambda v: v == 100)
    assert not failing.get_by_role("button", name="Retry").is_visible()
