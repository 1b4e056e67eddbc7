"""BatchRun: watch a batch run (`service.map`) — progress, rates, errors, the latest results —
and Stop or Resume it."""

from __future__ import annotations

from typing import Any

import traitlets

from .._format import format_share
from ..jobs import BatchJob
from ..service._service import LLMKernelService
from . import _protocol
from ._base import bundled
from ._run import RunWidget

SHOWN_ERRORS = 5


class BatchRun(RunWidget[BatchJob]):
    """Progress of a `BatchJob`: a bar, items done of all, tokens/s, ETA, errors so far and the
    last few results; Stop cancels the run, Resume starts `map()` again with the same arguments
    (what is done is reused from the cache) and follows the new run.

    `BatchRun(job)`, or `BatchRun.map(inputs, ...)` to start a run and show it.
    """

    _esm = bundled("batch_run.js")
    _css = bundled("batch_run.css")
    _schema = _protocol.BATCH_RUN

    tokens_per_second = traitlets.Float(0.0, help="Answer tokens per second.").tag(sync=True)
    items_per_second = traitlets.Float(0.0, help="Inputs answered per second.").tag(sync=True)
    eta = traitlets.Float(-1.0, help="Seconds left; -1 when unknown.").tag(sync=True)
    errors: traitlets.List[dict[str, Any]] = traitlets.List(
        help=f"The first {SHOWN_ERRORS} errors: {{index, error}}."
    ).tag(sync=True)
    recent: traitlets.List[dict[str, Any]] = traitlets.List(
        help="The last few results: {index, input, output}, with `expected` and `correct` when "
        "the inputs carry a true label (`expected=`)."
    ).tag(sync=True)
    expected = traitlets.Unicode(
        "", help="The input field that holds the true label ('' = none): results are marked."
    ).tag(sync=True)
    correct = traitlets.Int(0, help="Results that match their true label so far.").tag(sync=True)
    accuracy_text = traitlets.Unicode(
        "", help="'33 of 40 right (82%)': `correct` of the answered, rounded as Python's {:.0%}."
    ).tag(sync=True)
    tokens_per_item = traitlets.Float(0.0, help="Answer tokens per answered input.").tag(sync=True)
    resumed = traitlets.Bool(
        False, help="This run is a Resume of the one shown before (`reused` were done then)."
    ).tag(sync=True)

    def __init__(
        self,
        job: BatchJob,
        *,
        expected: str = "",
        service: LLMKernelService | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(job, BatchJob):
            raise TypeError("BatchRun shows a BatchJob (from service.map)")
        if not isinstance(expected, str):
            raise TypeError("expected names an input field (a str)")
        super().__init__(service=service, expected=expected, **kwargs)
        self._follow(job)

    @classmethod
    def map(
        cls,
        inputs: Any,
        *,
        expected: str = "",
        service: LLMKernelService | None = None,
        **kwargs: Any,
    ) -> BatchRun:
        """Start `service.map(inputs, **kwargs)` and return the widget that shows it; `expected`
        names the field of each (dict) input that holds its true label."""
        service = service or LLMKernelService.instance()
        return cls(service.map(inputs, **kwargs), expected=expected, service=service)

    def __repr__(self) -> str:
        """What a host without a live view shows."""
        right = f" · {self.accuracy_text}" if self.accuracy_text else ""
        return (
            f"BatchRun({self.completed}/{self.total} done · {self.failed} failed · {self.status}"
            f"{right})"
        )

    @property
    def accuracy(self) -> float | None:
        """Right answers of those answered so far, 0 to 1 (None without `expected` or before
        the first answer); the view shows it as `accuracy_text`."""
        return self.correct / self.completed if self.expected and self.completed else None

    # -- internals ----------------------------------------------------------------------------

    def _rerun(self, job: BatchJob) -> BatchJob:
        return self.service.map(**job.request)

    def _switch(self, job: BatchJob) -> None:
        self.resumed = True
        super()._switch(job)

    def _show_job(self, job: BatchJob) -> None:
        self.completed, self.failed = job.completed, len(job.errors)
        self.tokens_per_second = round(job.tokens_per_second, 2)
        self.items_per_second = round(job.items_per_second, 3)
        self.eta = round(job.eta, 1) if job.eta is not None else -1.0
        shown = sorted(job.errors.items())[:SHOWN_ERRORS]
        self.errors = [{"index": i, "error": e} for i, e in shown]
        ran = job.completed - job.reused
        self.tokens_per_item = round(job.completion_tokens / ran, 2) if ran else 0.0
        self.recent = [self._marked(r, job) for r in job.recent]
        self.correct = self._count_correct(job)
        answered = job.completed if self.expected else 0
        self.accuracy_text = (
            f"{self.correct} of {answered} right ({format_share(self.correct, answered)})"
            if answered
            else ""
        )

    def _truth(self, job: BatchJob, index: int) -> str | None:
        row = job.inputs[index]
        if not self.expected or not isinstance(row, dict) or self.expected not in row:
            return None
        return str(row[self.expected])

    def _marked(self, result: dict[str, Any], job: BatchJob) -> dict[str, Any]:
        truth = self._truth(job, result["index"])
        if truth is None:
            return dict(result)
        answer = job.texts[result["index"]] or result["output"]
        return result | {"expected": truth, "correct": answer.strip() == truth.strip()}

    def _count_correct(self, job: BatchJob) -> int:
        if not self.expected:
            return 0
        return sum(
            1
            for index, text in enumerate(list(job.texts))
            if text is not None
            and (truth := self._truth(job, index)) is not None
            and text.strip() == truth.strip()
        )
