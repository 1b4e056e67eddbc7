"""A comparison in the page, for every host: the grid fills in (answers streamed as Markdown,
figures per cell, a summary row), Stop then Resume goes on to the end reusing what is done, and a
blind round is picked row by row until the names and the tally show."""

from __future__ import annotations

import re
from typing import Any

from helpers import ENDLESS_GRAMMAR, FULL, expect, progress, wait_until

SETUP = (
    "import tempfile\n"
    "from llm_widgets import Compare, LLMKernelService\n"
    "from llm_widgets.demo import packaged_model_path\n"
    "from llm_widgets.testing.tiny_gguf import write_tiny_gguf, CHATML_TEMPLATE\n"
    "LLMKernelService.set_instance(LLMKernelService(cache_dir=tempfile.mkdtemp()))\n"
    "smol = str(packaged_model_path())\n"
    "tiny = str(write_tiny_gguf(tempfile.mkdtemp() + '/tiny.gguf', n_ctx=4096,"
    " chat_template=CHATML_TEMPLATE))"
)
# every answer runs to its 96 tokens (a grammar that never lets it end): after a quarter of the
# grid, seconds of work are left for Stop to interrupt on any machine
GRID = (
    "grid = Compare(models=[smol, tiny], prompts=[f'List three facts about the number {n}.'"
    f" for n in range(6)], max_tokens=96, temperature=0.0, grammar={ENDLESS_GRAMMAR!r},"
    " cache=tempfile.mkdtemp())\n"
    "grid"
)
BLIND = (
    "blind = Compare(models=[smol, tiny], prompts=['Say hello.', 'Name a colour.'], blind=True,"
    " max_tokens=6, cache=False)\n"
    "blind"
)
REPORT = (
    "print('GRID', grid.job.state, grid.job.reused, len(grid.job.errors),"
    " 'VOTES', int(blind.job.to_pandas()['vote'].sum()))"
)


def check_grid(panel: Any) -> None:
    """GRID's view: streaming, figures, Stop, Resume to the end."""
    grid = panel.get_by_role("table", name="Answers")
    expect(grid, "the comparison's answer grid").to_be_visible(timeout=60_000)
    headings = grid.locator("thead th")
    expect(headings, "the grid's headings: Prompt and the two models").to_have_count(3)
    expect(headings.first, "the grid's first heading").to_have_text("Prompt")
    expect(headings.nth(2), "the second model's heading").to_have_text("tiny")
    expect(grid.locator("tbody tr"), "a row per prompt").to_have_count(6)
    bar = panel.get_by_role("progressbar", name="Compare progress")
    streamed = [False]

    def some_done() -> bool:
        running = grid.locator('td[data-state="running"] .llmw-compare-text')
        if running.count() and running.first.inner_text().strip():
            streamed[0] = True
        return progress(bar) >= 25

    wait_until(some_done, "quarter of the grid done", 120, seen=lambda: progress(bar))
    # every answer is 96 tokens long (GRID's grammar): 75% of the grid is seconds of work left
    panel.get_by_role("button", name="Stop", exact=True).click()
    expect(
        panel.get_by_text("Stopped — Resume goes on where it stopped"), "the grid's Stopped line"
    ).to_be_visible()
    assert progress(bar) < 100, "the run ended before Stop: nothing to resume"
    assert streamed[0], "no answer was seen while it was written"
    panel.get_by_role("button", name="Resume", exact=True).click()
    expect(bar, "the resumed grid's full progress bar").to_have_attribute(
        "aria-valuenow", FULL, timeout=240_000
    )
    expect(panel.get_by_text("Done", exact=True), "the grid's Done line").to_be_visible()
    expect(panel.get_by_label("Compare figures"), "the reuse in the figures").to_contain_text(
        "reused from an earlier run"
    )
    done = grid.locator('td[data-state="done"]')
    expect(done, "every cell of the grid done").to_have_count(12)
    first = done.first
    expect(  # Markdown
        first.locator(".llmw-compare-text p, .llmw-compare-text li").first,
        "a cell's answer rendered as Markdown",
    ).to_be_visible()
    figures = first.locator(".llmw-figures")
    expect(figures, "a cell's token count").to_contain_text("tokens")
    expect(figures, "a cell's time to first token").to_contain_text("TTFT")
    summary = grid.locator("tfoot td")
    expect(summary, "a summary per model").to_have_count(2)
    for i in range(2):
        expect(summary.nth(i), "a model's speed in the summary").to_contain_text("tokens/s")
        expect(summary.nth(i), "a model's failures in the summary").to_contain_text("0 failed")
    expect(panel.get_by_role("button", name="Reveal"), "no Reveal: not blind").to_have_count(0)
    expect(grid.get_by_role("button", name="Pick A"), "no picks: not blind").to_have_count(0)


def check_blind(panel: Any) -> None:
    """BLIND's view: A and B, a pick per row, then the names and the tally."""
    grid = panel.get_by_role("table", name="Answers")
    expect(grid, "the blind round's grid").to_be_visible(timeout=60_000)
    headings = grid.locator("thead th")
    expect(headings, "the blind round's hidden names").to_have_text(["Prompt", "A", "B"])
    expect(panel.get_by_text("Done", exact=True), "the blind round's Done line").to_be_visible(
        timeout=120_000
    )
    rows = grid.locator("tbody tr")
    expect(panel.get_by_role("button", name="Reveal"), "Reveal once done").to_be_enabled()
    pick_a = rows.nth(0).get_by_role("button", name="Pick A")
    pick_a.click()
    expect(pick_a, "the first row's pick on the page").to_have_attribute("aria-pressed", "true")
    expect(headings, "names still hidden after one pick").to_have_text(["Prompt", "A", "B"])
    rows.nth(1).get_by_role("button", name="Pick B").click()
    expect(
        headings.filter(has_text=re.compile("^tiny$")),
        "the names, revealed once every row is picked",
    ).to_have_count(1)
    summary = grid.locator("tfoot td")
    for i in range(2):
        expect(summary.nth(i), "a model's tally").to_contain_text("1 pick")
    expect(pick_a, "the picks gone once revealed").to_be_hidden()
