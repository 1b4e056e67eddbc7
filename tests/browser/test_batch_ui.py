"""A batch run in the page: the BatchRun widget shows progress as items finish, Stop stops it,
Resume goes on from where it stopped (reusing what is done) to the end."""

from __future__ import annotations

import re
from typing import Any

import pytest
from helpers import FULL, expect, progress, wait_progress

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


@pytest.mark.timeout(720)  # the whole run of 120 items, twice over on a loaded machine
def test_progress_stop_and_resume(notebook_page: Any, screenshot: Any) -> None:
    nb = notebook_page("batch_ui.ipynb", CELLS)
    nb.run_cell(0)
    nb.run_cell(1)
    panel = nb.output(1).locator(".llmw-batch")
    expect(panel, "the batch run's panel").to_be_visible()
    bar = panel.get_by_role("progressbar", name="Batch progress")
    stop = panel.get_by_role("button", name="Stop", exact=True)
    resume = panel.get_by_role("button", name="Resume", exact=True)
    # items finish and the page hears of it
    wait_progress(bar, lambda v: v >= 5, "batch progress of 5%", timeout=60)
    expect(resume, "Resume disabled while it runs").to_be_disabled()
    expect(stop, "Stop enabled while it runs").to_be_enabled()
    expect(panel.get_by_label("Batch figures"), "the count done").to_contain_text("of 120 done")
    results = panel.get_by_role("table", name="Latest results")
    expect(results.locator("tr").nth(1), "a row of results").to_be_visible()
    header = results.locator("tr").first
    expect(header, "the Expected column").to_contain_text("Expected")
    expect(header, "the Answer column").to_contain_text("Answer")
    row = results.locator("tr").nth(1)
    expect(row.get_by_label(re.compile("^(right|wrong)$")), "a row's mark").to_have_count(1)
    # the true label has its column, not in the input
    expect(row, "no label in the input").not_to_contain_text("label", use_inner_text=True)
    figures = panel.get_by_label("Batch figures")
    expect(figures, "the share right").to_contain_text("right (")
    # one-token labels: items/s
    expect(figures, "no tokens/s for labels").not_to_contain_text("tokens/s")
    # 120 items: the run cannot end between the 5% above and this click
    stop.click()
    expect(
        panel.get_by_text("Stopped — Resume goes on where it stopped"), "the Stopped line"
    ).to_be_visible()
    stopped_at = progress(bar)
    assert stopped_at < 100
    expect(resume, "Resume enabled once stopped").to_be_enabled()
    screenshot(panel, "batch-stopped")

    resume.click()
    # xllamacpp answers a grammar's items slower; on a loaded 2-core machine (other test runs
    # beside this one) the 110-odd items left took over 240 s
    expect(bar, "the resumed run's full bar").to_have_attribute(
        "aria-valuenow", FULL, timeout=480_000
    )
    expect(panel.get_by_text("Done", exact=True), "the Done line").to_be_visible()
    figures = panel.get_by_label("Batch figures")
    expect(figures, "what was done before, in the figures").to_contain_text("done before")
    expect(figures, "no reuse from an earlier run").not_to_contain_text(
        "reused from an earlier run"
    )
    nb.run_cell(2)
    expect(nb.output(2), "the kernel's account of the run").to_contain_text("RUN done 120")
    text = nb.output(2).inner_text()
    reused = int(text.split()[-2])
    assert 0 < reused < 120
