"""RunWidget: the base of the widgets that follow a run of many items (a batch, a comparison):
its state, counts and progress, Stop, and Resume."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Protocol, TypeVar

import traitlets

from ..errors import LLMWidgetsError
from ..jobs import Job
from ._base import ServiceWidget
from ._protocol import Message


class RunJob(Protocol):
    """What a run widget reads of the job it shows."""

    error: str | None
    detail: str
    request: dict[str, Any]  # the arguments that start the same run again

    @property
    def state(self) -> str: ...

    @property
    def finished(self) -> bool: ...

    @property
    def total(self) -> int: ...

    @property
    def reused(self) -> int: ...

    @property
    def progress(self) -> float: ...

    def cancel(self) -> bool: ...


J = TypeVar("J", bound=RunJob)


class RunWidget(ServiceWidget, Generic[J]):
    """A widget that follows a run: its state, what it waits for, items done, failed and reused
    of all, a progress percent; Stop cancels it, Resume starts it again (what is done is reused)
    and follows the new run.

    A subclass calls `_follow(job)` once, says how to start the run again (`_rerun`) and shows
    the rest of a job (`_show_job`: `completed`, `failed` and its own traits).
    """

    _noun: ClassVar[str] = "run"  # what messages call the run

    status = traitlets.Unicode(
        "queued", help="queued, running, done, cancelled or failed (the run's state)."
    ).tag(sync=True)
    detail = traitlets.Unicode("", help="What the run waits for, if anything.").tag(sync=True)
    total = traitlets.Int(
        0, help="Items in the run (a batch's inputs, a comparison's answers)."
    ).tag(sync=True)
    completed = traitlets.Int(0, help="Items with a result (reused ones included).").tag(sync=True)
    failed = traitlets.Int(0, help="Items that failed.").tag(sync=True)
    reused = traitlets.Int(0, help="Items taken from an earlier run.").tag(sync=True)
    progress = traitlets.Float(0.0, help="Percent of the items finished.").tag(sync=True)

    _job: J

    @property
    def job(self) -> J:
        """The run shown (the newest, after a Resume)."""
        return self._job

    def stop(self) -> None:
        """Cancel the run: what is being answered stops within a token; the results stay."""
        self._job.cancel()

    def resume(self) -> J:
        """Start the same run again (what is done is reused) and show it."""
        if not self._job.finished:
            raise LLMWidgetsError(f"The {self._noun} is still going: Stop it first.")
        job = self._rerun(self._job)
        self._in_event_order(lambda: self._switch(job))
        return job

    # -- for subclasses -----------------------------------------------------------------------

    def _follow(self, job: J) -> None:
        """Show `job` and every later step of it (once, from `__init__`)."""
        self._job = job
        self._subscribe(self.service.on_progress(self._on_progress))
        self._in_event_order(lambda: self._show(self._job))

    def _rerun(self, job: J) -> J:
        """Start the run `job` again."""
        raise NotImplementedError

    def _show_job(self, job: J) -> None:
        """Set `completed`, `failed` and the subclass's own traits from `job`."""
        raise NotImplementedError

    def _detail(self, job: J) -> str:
        """What the view says the run waits for."""
        return job.detail

    def _switch(self, job: J) -> None:
        self._job = job
        self._show(job)

    def _show(self, job: J) -> None:
        with self.hold_sync():
            self.status, self.detail = job.state, self._detail(job)
            self.total, self.reused = job.total, job.reused
            self.progress = round(job.progress, 2)
            self._show_job(job)
            if job.state == "failed":
                self.error = job.error or f"The {self._noun} failed."

    def _on_progress(self, job: Job) -> None:
        if job is self._job:
            self._show(self._job)

    # -- front-end messages -------------------------------------------------------------------

    def _on_stop(self, message: Message) -> None:
        self.stop()

    def _on_resume(self, message: Message) -> None:
        self.resume()
