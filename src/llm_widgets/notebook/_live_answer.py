"""An answer streamed into a cell's output: Markdown updated in place through IPython's display
updates (every notebook host renders those), or plain text on a terminal."""

from __future__ import annotations

import sys
import time
from typing import Any

from IPython import get_ipython
from IPython.display import display

from ..jobs import GenerationJob

UPDATE_INTERVAL = 0.1  # at most 10 display updates a second
POLL = 0.05  # how often the cell looks at the job (an interrupt arrives at once regardless)
STOP_WAIT = 30.0  # how long a stopped answer may take to end


class _Markdown:
    """A display object with a Markdown and a plain-text form."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


class LiveAnswer:
    """Shows a header (what was attached) and the answer as it grows; `follow(job)` runs the
    cell until the job ends, and a KeyboardInterrupt stops the job and keeps what came."""

    def __init__(self, header: str = "", *, rich: bool | None = None) -> None:
        self.header = header
        self.rich = _in_a_kernel() if rich is None else rich
        self.interrupted = False
        self._handle: Any = None
        self._shown = ""  # the Markdown last displayed
        self._written = 0  # characters of the answer written (plain)
        self._said_wait = False
        self._last = 0.0
        if not self.rich and header:
            print(header, flush=True)

    def follow(self, job: GenerationJob) -> None:
        """Block until `job` ends, showing its text (throttled); an interrupt cancels it."""
        try:
            while not job.join(POLL):
                self._show(job, final=False)
        except KeyboardInterrupt:
            self.interrupted = True
            job.cancel()
            self._await_end(job)
        self._show(job, final=True)

    def _await_end(self, job: GenerationJob) -> None:
        """Wait for a cancelled job to end (within a token); further interrupts are ignored."""
        deadline = time.monotonic() + STOP_WAIT
        while time.monotonic() < deadline:
            try:
                if job.join(POLL):
                    return
            except KeyboardInterrupt:
                continue

    def _show(self, job: GenerationJob, *, final: bool) -> None:
        now = time.monotonic()
        if not final and now - self._last < UPDATE_INTERVAL:
            return
        self._last = now
        if self.rich:
            self._show_rich(job, final)
        else:
            self._show_plain(job, final)

    def _show_rich(self, job: GenerationJob, final: bool) -> None:
        parts = [f"> {self.header}"] if self.header else []
        if job.text:
            parts.append(job.text)
        elif job.detail and not final:
            parts.append(f"*{job.detail}… (Interrupt stops the wait)*")
        elif not final:
            parts.append("*…*")
        note = _ending(job, self.interrupted) if final else ""
        if note:
            parts.append(f"*{note}*")
        elif final and not job.text:
            parts.append("*(the model gave an empty answer)*")
        markdown = "\n\n".join(parts)
        if markdown == self._shown:
            return
        self._shown = markdown
        if self._handle is None:
            self._handle = display(_Markdown(markdown), display_id=True)
        else:
            self._handle.update(_Markdown(markdown))

    def _show_plain(self, job: GenerationJob, final: bool) -> None:
        text = job.text
        if not text and job.detail and not final and not self._said_wait:
            print(f"({job.detail}…)", flush=True)
            self._said_wait = True
        if len(text) > self._written:
            sys.stdout.write(text[self._written :])
            sys.stdout.flush()
            self._written = len(text)
        if final:
            note = _ending(job, self.interrupted)
            print(f"\n({note})" if note else "", flush=True)


def _ending(job: GenerationJob, interrupted: bool) -> str:
    """A note under an answer that did not simply end: stopped, cut at max tokens, failed."""
    if job.state == "cancelled" or interrupted:
        return "stopped — the answer so far is kept"
    if job.state == "failed":
        return f"failed: {job.error}"
    if job.stop_reason == "length":
        return "cut at max tokens (--max-tokens N for a longer answer)"
    return ""


def _in_a_kernel() -> bool:
    """Whether the shell is a kernel's (its display reaches a notebook front end)."""
    return getattr(get_ipython(), "kernel", None) is not None
