"""Compare: the same prompts to several models in a grid (prompts down, models across), answers
streaming in, their figures, a summary per model; Stop, Resume, and a blind mode with a pick per
row."""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from typing import Any

import traitlets

from .._format import shorten
from ..jobs import CompareAnswer, CompareJob
from ..service._service import LLMKernelService
from . import _protocol
from ._base import bundled
from ._protocol import Message
from ._run import RunWidget

MAX_CELL_TEXT = 20_000  # characters of one answer shown in the grid (the job has them all)
MAX_PROMPT_TEXT = 2_000


class Compare(RunWidget[CompareJob]):
    """A comparison (`service.compare`) as a grid: each prompt's answers side by side as
    Markdown, with tokens/s, TTFT and token counts, and a summary row per model. Stop cancels,
    Resume runs the same comparison again (what is done is reused). With `blind=True` the
    models are A, B, ... until every row has a pick (or Reveal), then the names and the tally.

    `Compare(models=[...], prompts=[...], **params)`, or `Compare(job=job)` to show a job.
    """

    _esm = bundled("compare.js")
    _css = bundled("compare.css")
    _schema = _protocol.COMPARE
    _noun = "comparison"

    models: traitlets.List[str] = traitlets.List(
        help="The column headings: model names, or A, B, ... while blind."
    ).tag(sync=True)
    prompts: traitlets.List[str] = traitlets.List(help="The row headings: each prompt.").tag(
        sync=True
    )
    cells: traitlets.List[list[dict[str, Any]]] = traitlets.List(
        help="Per prompt, per column: {state, text, completion_tokens, ttft, tokens_per_second, "
        "error, reused, cut (the answer stopped at max_tokens)}."
    ).tag(sync=True)
    summary: traitlets.List[dict[str, Any]] = traitlets.List(
        help="Per column: {done, failed, tokens_per_second, ttft, agreement} (-1: none)."
    ).tag(sync=True)
    blind = traitlets.Bool(False, help="Model names hidden until revealed.").tag(sync=True)
    revealed = traitlets.Bool(False, help="Blind mode: the names and the tally are shown.").tag(
        sync=True
    )
    picks: traitlets.List[int] = traitlets.List(
        help="Blind mode: the column picked per prompt (-1: none yet)."
    ).tag(sync=True)
    tally: traitlets.List[int] = traitlets.List(
        help="Blind mode, once revealed: picks per column."
    ).tag(sync=True)

    def __init__(
        self,
        models: Sequence[Any] | None = None,
        prompts: Any = None,
        *,
        job: CompareJob | None = None,
        service: LLMKernelService | None = None,
        blind: bool = False,
        **params: Any,
    ) -> None:
        super().__init__(service=service)
        if job is None:
            if models is None or prompts is None:
                raise TypeError("Compare takes models= and prompts= (or job=)")
            job = self.service.compare(models, prompts, blind=blind, **params)
        elif not isinstance(job, CompareJob):
            raise TypeError("Compare shows a CompareJob (from service.compare)")
        order = list(range(len(job.models)))
        if job.blind:
            random.shuffle(order)  # the columns do not follow the order models were given
        self._order = order  # column -> model index
        self._follow(job)

    def __repr__(self) -> str:
        """What a host without a live view shows."""
        done = self._job.total - sum(row.count(None) for row in self._job.results)
        return f"Compare({len(self._job.models)} models · {done}/{self._job.total} · {self.status})"

    def pick(self, row: int, column: int) -> None:
        """Blind mode: pick the answer in `column` (A = 0) for the prompt in `row`."""
        job = self._job
        if not job.blind or self.revealed:
            raise ValueError("Picks are for a blind comparison before the names are revealed.")
        if not 0 <= row < len(job.prompts) or not 0 <= column < len(self._order):
            raise ValueError(f"No answer at row {row}, column {column}.")
        if any(a.state in ("pending", "running") for a in job.answers[row]):
            raise ValueError("Wait until every answer of this prompt is in, then pick.")
        job.vote(row, self._order[column])
        self._in_event_order(lambda: self._show(job))

    def reveal(self) -> None:
        """Blind mode: show the model names and the tally."""
        self._in_event_order(lambda: self._reveal(self._job))

    # -- internals ----------------------------------------------------------------------------

    def _rerun(self, job: CompareJob) -> CompareJob:
        """The same comparison again, with the picks made so far."""
        again = self.service.compare(**job.request)
        again.votes = list(job.votes)
        return again

    def _reveal(self, job: CompareJob) -> None:
        self.revealed = True
        self._show(job)

    def _show(self, job: CompareJob) -> None:
        if job.blind and all(v is not None for v in job.votes):
            self.revealed = True  # every row has a pick: the end of the blind round
        super()._show(job)

    def _hidden(self, job: CompareJob) -> bool:
        """Blind and not revealed yet: the names and figures are left out."""
        return job.blind and not self.revealed

    def _detail(self, job: CompareJob) -> str:
        hidden = self._hidden(job)
        return "answering (hidden while blind)" if hidden and job.detail else job.detail

    def _show_job(self, job: CompareJob) -> None:
        order = self._order
        hidden = self._hidden(job)
        # blind: while it runs, which column is written now would tell the loading order, and
        # the speeds tell a small model from a big one; answers show at the end, figures once
        # the names are revealed
        veiled = hidden and job.state in ("queued", "running")
        summary = job.summary()
        self.completed = sum(s["done"] for s in summary)
        self.failed = sum(s["failed"] for s in summary)
        self.blind = job.blind
        letters = string.ascii_uppercase
        self.models = [letters[c] if hidden else job.models[m] for c, m in enumerate(order)]
        self.prompts = [shorten(p, MAX_PROMPT_TEXT) for p in job.prompts]
        self.cells = [[_cell(row[m], hidden, veiled) for m in order] for row in job.answers]
        self.summary = [_summary(summary[m], hidden) for m in order]
        self.picks = [-1 if v is None else order.index(v) for v in job.votes]
        counts = job.tally()
        shown = job.blind and self.revealed
        self.tally = [counts[job.models[m]] for m in order] if shown else []

    # -- front-end messages -------------------------------------------------------------------

    def _on_pick(self, message: Message) -> None:
        self.pick(message["row"], message["column"])

    def _on_reveal(self, message: Message) -> None:
        if not self._job.blind:
            raise ValueError("Reveal is for a blind comparison.")
        self.reveal()


_HIDDEN_FAILURE = "No answer (the reason shows once the names are revealed)."


def _cell(answer: CompareAnswer, hidden: bool = False, veiled: bool = False) -> dict[str, Any]:
    """A grid cell; `hidden`: no figures (-1) and no error text that could name the model;
    `veiled`: nothing at all yet (a blind round still running)."""
    if veiled:
        return {
            "state": "pending", "text": "", "completion_tokens": -1, "ttft": -1.0,
            "tokens_per_second": 0.0, "error": "", "reused": False, "cut": False,
        }  # fmt: skip
    failed = answer.state == "failed"
    return {
        "state": answer.state,
        "text": answer.text[:MAX_CELL_TEXT],
        "completion_tokens": -1 if hidden else answer.completion_tokens,
        "ttft": -1.0 if hidden or answer.ttft is None else round(answer.ttft, 3),
        "tokens_per_second": 0.0 if hidden else round(answer.tokens_per_second or 0.0, 2),
        "error": (_HIDDEN_FAILURE if failed else "") if hidden else answer.error or "",
        "reused": answer.reused and not hidden,
        # cut at max_tokens: said in blind mode too (the text shows it anyway)
        "cut": answer.state == "done" and answer.stop_reason == "length",
    }


def _summary(figures: dict[str, Any], hidden: bool = False) -> dict[str, Any]:
    """A model's summary; `hidden`: its speeds left out (-1) until the names are revealed."""

    def number(name: str, digits: int) -> float:
        value = figures[name]
        return -1.0 if value is None else round(float(value), digits)

    return {
        "done": figures["done"],
        "failed": figures["failed"],
        "tokens_per_second": -1.0 if hidden else number("tokens_per_second", 2),
        "ttft": -1.0 if hidden else number("ttft", 3),
        "agreement": number("agreement", 3),
    }
