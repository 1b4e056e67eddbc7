"""A comparison in the page, for every host: the grid fills in (answers streamed as Markdown,
figures per cell, a summary row), Stop then Resume goes on to the end reusing what is done, and a
blind round is picked row by row until the names and the tally show."""

from __future__ import annotations

import time
from typing import Any

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
GRID = (
    "grid = Compare(models=[smol, tiny], prompts=[f'List three facts about the number {n}.'"
    " for n in range(6)], max_tokens=96, temperature=0.0, cache=tempfile.mkdtemp())\n"
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


def _wait(predicate: Any, timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, why
        time.sleep(0.1)


def _value(bar: Any) -> float:
    return float(bar.get_attribute("aria-valuenow") or 0)


def check_grid(panel: Any) -> None:
    """GRID's view: streaming, figures, Stop, Resume to the end."""
    grid = panel.get_by_role("table", name="Answers")
    grid.wait_for(timeout=60_000)
    headings = grid.locator("thead th").all_inner_texts()
    assert headings[0] == "Prompt" and headings[2] == "tiny" and len(headings) == 3, headings
    assert grid.locator("tbody tr").count() == 6
    bar = panel.get_by_role("progressbar", name="Compare progress")
    streamed = [False]

    def some_done() -> bool:
        running = grid.locator('td[data-state="running"] .llmw-compare-text')
        if running.count() and running.first.inner_text().strip():
            streamed[0] = True
        return _value(bar) >= 25

    _wait(some_done, 120, "no answer reached the page")
    # SmolLM2's answers of up to 96 tokens leave seconds of work after 25%: time for Stop to
    # arrive on a busy machine (at 32 tokens the run once ended first)
    panel.get_by_role("button", name="Stop", exact=True).click()
    panel.get_by_text("Stopped — Resume goes on where it stopped").wait_for(timeout=15_000)
    assert _value(bar) < 100, "the run ended before Stop: nothing to resume"
    assert streamed[0], "no answer was seen while it was written"
    panel.get_by_role("button", name="Resume", exact=True).click()
    _wait(lambda: _value(bar) == 100, 180, "the resumed run did not finish")
    panel.get_by_text("Done", exact=True).wait_for(timeout=15_000)
    assert "reused from an earlier run" in panel.get_by_label("Compare figures").inner_text()
    done = grid.locator('td[data-state="done"]')
    assert done.count() == 12
    first = done.first
    assert first.locator(".llmw-compare-text p, .llmw-compare-text li").count() > 0  # Markdown
    figures = first.locator(".llmw-figures").inner_text()
    assert "tokens" in figures and "TTFT" in figures, figures
    summary = grid.locator("tfoot td").all_inner_texts()
    assert len(summary) == 2 and all("tokens/s" in s and "0 failed" in s for s in summary)
    assert panel.get_by_role("button", name="Reveal").count() == 0  # not a blind round
    assert grid.get_by_role("button", name="Pick A").count() == 0


def check_blind(panel: Any) -> None:
    """BLIND's view: A and B, a pick per row, then the names and the tally."""
    grid = panel.get_by_role("table", name="Answers")
    grid.wait_for(timeout=60_000)
    assert grid.locator("thead th").all_inner_texts() == ["Prompt", "A", "B"]
    panel.get_by_text("Done", exact=True).wait_for(timeout=120_000)
    rows = grid.locator("tbody tr")
    assert panel.get_by_role("button", name="Reveal").is_enabled()
    rows.nth(0).get_by_role("button", name="Pick A").click()
    _wait(
        lambda: (
            rows.nth(0).get_by_role("button", name="Pick A").get_attribute("aria-pressed") == "true"
        ),
        15,
        "the pick did not reach the page",
    )
    assert grid.locator("thead th").all_inner_texts() == ["Prompt", "A", "B"]  # still hidden
    rows.nth(1).get_by_role("button", name="Pick B").click()
    _wait(
        lambda: "tiny" in grid.locator("thead th").all_inner_texts(),
        15,
        "the names were not revealed after every row was picked",
    )
    summary = " ".join(grid.locator("tfoot td").all_inner_texts())
    assert summary.count("1 pick") == 2, summary
    assert not rows.nth(0).get_by_role("button", name="Pick A").is_visible()
