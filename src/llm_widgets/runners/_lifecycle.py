"""A job's run from its worker, the same for every runner: the body's result ends it "done", a
cancel "cancelled" (with what was done), any other error "failed", in words; and the waits and
details that runners share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import JobCancelledError, JobFailedError, LLMWidgetsError
from ..jobs import Job

# errors that say what went wrong in their own words (others get their type named)
OWN_ERRORS: tuple[type[BaseException], ...] = (LLMWidgetsError, ValueError, MemoryError)

Explain = Callable[[BaseException], tuple[str, BaseException]]
"""A failure in words: the job's `error`, and what its `wait()` raises."""


def run_job(
    job: Job,
    body: Callable[[], Any],
    *,
    explain: Explain,
    partial: Callable[[], Any] = lambda: None,
    running: bool = False,
) -> None:
    """Run `body()` as `job`'s worker body and end the job once (`Job.finish` announces it):
    "done" with what `body` returns, "cancelled" with `partial()` on JobCancelledError, else
    "failed" as `explain` words it. `running`: the work begins at once (else `body` marks it)."""
    try:
        if running:
            job.mark_running()
        result = body()
    except JobCancelledError:
        job.finish("cancelled", result=partial())
    except BaseException as exc:  # every failure becomes a message, never a kernel traceback
        message, failure = explain(exc)
        job.finish("failed", error=message, exception=failure)
    else:
        job.finish("done", result=result)


def failure(
    what: str,
    *,
    own: tuple[type[BaseException], ...] = OWN_ERRORS,
    words: Callable[[str], str] = str,
) -> Explain:
    """The usual `explain`: an `own` error in its words, another as "`what` failed: Type: …";
    `words` rewrites the message (to mask a token, say)."""

    def explain(exc: BaseException) -> tuple[str, BaseException]:
        if isinstance(exc, own):
            message = words(str(exc))
        else:
            message = words(f"{what} failed: {type(exc).__name__}: {exc}")
        return message, as_failure(exc, message)

    return explain


def as_failure(exc: BaseException, message: str) -> BaseException:
    """What `job.wait()` raises for a failure: our own errors as they are, others wrapped."""
    if isinstance(exc, OWN_ERRORS):
        return exc
    wrapped = JobFailedError(message)
    wrapped.__cause__ = exc
    return wrapped


def in_words(exc: BaseException) -> str:
    """One item's error in words (a batch's input, a comparison's answer): ours as they are,
    others with their type."""
    if isinstance(exc, OWN_ERRORS):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def say(job: Job, detail: str) -> None:
    """Set what `job` waits for, telling listeners when it changes."""
    if job.detail != detail:
        job.detail = detail
        job.report_progress()


def wait_for(job: Job, other: Job, detail: str = "") -> None:
    """Block until `other` has ended, `job` saying `detail` if given (the caller says when that is
    over); JobCancelledError as soon as `job` is cancelled."""
    if detail:
        say(job, detail)
    while not other.join(0.05):
        job.cancellation.raise_if_set()
