"""A batch run in the page: the BatchRun widget shows progress as items finish, Stop stops it,
Resume goes on from where it stopped (reusing what is done) to the end."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "import tempfile\n"
    "from llm_widgets import BatchRun, LLMKernelService\n"
    "from llm_widgets.demo import packaged_model_path, sample_reviews\n"
    "service = LLMKernelService(cache_dir=tempfile.mkdtemp())\n"
    "LLMKernelService.set_instance(service)\n"
    "facts = service.load_model(packaged_model_path(), n_ctx=2048).wait(120)\n"
    "reviews = sample_reviews()[:120]",
    "PROMPT = 'Classify the sentiment of this product review as positive or negative.\\n\\n'"
    " 'Review: {text}'\n"
    "run = BatchRun.map(reviews, prompt=PROMPT, choices=['positive', 'negative'],"
    " temperature=0.0, cache=tempfile.mkdtemp(), expected='label')\n"
    "run",
    "print('RUN', run.job.state, run.job.completed, run.job.reused, len(run.job.errors))",
]


def _value(bar: Any) -> float:
    return float(bar.get_attribute("aria-valuenow") or 0)


def test_progress_stop_and_resume(notebook_page: Any, screenshot: Any) -> None:
    nb = notebook_page("batch_ui.ipynb", CELLS)
    nb.run_cell(0)
    nb.run_cell(1)
    panel = nb.output(1).locator(".llmw-batch")
    panel.wait_for(timeout=30_000)
    bar = panel.get_by_role("progressbar", name="Batch progress")
    stop = panel.get_by_role("button", name="Stop", exact=True)
    resume = panel.get_by_role("button", name="Resume", exact=True)
    deadline = time.monotonic() + 60
    while _value(bar) < 5:  # items finish and the page hears of it
        assert time.monotonic() < deadline, "no progress reached the page"
        time.sleep(0.1)
    assert resume.is_disabled() and stop.is_enabled()
    assert "of 120 done" in panel.get_by_label("Batch figures").inner_text()
    results = panel.get_by_role("table", name="Latest results")
    assert results.locator("tr").count() > 1
    header = results.locator("tr").first.inner_text()
    assert "Expected" in header and "Answer" in header
    row = results.locator("tr").nth(1)
    assert row.get_by_label(re.compile("^(right|wrong)$")).count() == 1
    assert "label" not in row.inner_text()  # the true label has its column, not in the input
    figures = panel.get_by_label("Batch figures").inner_text()
    assert "right (" in figures and "tokens/s" not in figures  # one-token labels: items/s
    stop.click()
    panel.get_by_text("Stopped — Resume goes on where it stopped").wait_for(timeout=15_000)
    stopped_at = _value(bar)
    assert stopped_at < 100 and resume.is_enabled()
    screenshot(panel, "batch-stopped")

    resume.click()
    deadline = time.monotonic() + 240  # xllamacpp answers a grammar's items slower
    while _value(bar) < 100:
        assert time.monotonic() < deadline, "the resumed run did not finish"
        time.sleep(0.2)
    panel.get_by_text("Done", exact=True).wait_for(timeout=15_000)
    figures = panel.get_by_label("Batch figures").inner_text()
    assert "reused from an earlier run" not in figures and "done before" in figures, figures
    nb.run_cell(2)
    text = nb.output(2).inner_text()
    assert "RUN done 120" in text, text
    reused = int(text.split()[-2])
    assert 0 < reused < 120
