"""Downloads, run: the worker body of a download job, the limit on how many transfer at once, and a
clock that publishes every running transfer's progress (also while no bytes arrive)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from .._events import PROGRESS_INTERVAL
from ..errors import JobCancelledError
from ..hub import files as hub
from ..jobs import DownloadJob
from ._lifecycle import run_job, wait_for

logger = logging.getLogger("llm_widgets")

SPEED_WINDOW = 0.25  # seconds of bytes behind one speed sample
SPEED_SMOOTHING = 0.3  # weight of the newest sample in the smoothed speed
IDLE_DECAY = 0.5  # the speed shown halves with every window in which no byte arrived...
IDLE_ZERO = 1.0  # ...and is 0 once none arrived for this many seconds
STALL_SHOWN = 3.0  # seconds without a byte before a card says the transfer is stalled
DEFAULT_PARALLEL_PARTS = 8  # ranges of one file fetched at once (benchmarks/parallel_download.py)
MAX_PARALLEL_PARTS = 64


@dataclass
class _Transfer:
    """One running download as the clock sees it."""

    job: DownloadJob
    progress: hub.TransferProgress = field(default_factory=hub.TransferProgress)
    base: int = 0  # bytes of the parts of a split model before the one in transfer
    sample_time: float = field(default_factory=time.monotonic)
    sample_bytes: int = -1
    last_arrival: float = field(default_factory=time.monotonic)

    def tick(self, now: float) -> None:
        """Update the job's bytes, speed, ETA and what it waits for from the transfer."""
        job = self.job
        job.bytes_done = done = self.base + self.progress.done
        quiet = now - self.last_arrival >= STALL_SHOWN and job.bytes_total > 0
        job.detail = self.progress.waiting or ("stalled — waiting for the server" if quiet else "")
        if self.sample_bytes < 0:
            self.sample_time, self.sample_bytes = now, done
            return
        if now - self.sample_time < SPEED_WINDOW:
            return
        instant = max(0.0, (done - self.sample_bytes) / (now - self.sample_time))
        if instant > 0:
            self.last_arrival = now
            smoothed = SPEED_SMOOTHING * instant + (1 - SPEED_SMOOTHING) * job.speed
            job.speed = smoothed if job.speed else instant
        elif now - self.last_arrival >= IDLE_ZERO:
            job.speed = 0.0
        else:
            job.speed *= IDLE_DECAY
        self.sample_time, self.sample_bytes = now, done
        left = job.bytes_total - done
        job.eta = left / job.speed if job.speed > 0 and instant > 0 else None


class DownloadRunner:
    """Runs download jobs (each in its own worker thread, started by the service): waits for a
    free slot, transfers every part into the cache, and ends the job."""

    def __init__(self, max_concurrent: int, options: hub.TransferOptions) -> None:
        self.options = options
        self.parallel_parts = DEFAULT_PARALLEL_PARTS
        self._max_concurrent = max_concurrent
        self._slots = threading.Condition()
        self._in_use = 0
        self._closed = False
        self._transfers: dict[str, _Transfer] = {}
        self._space = hub.DiskSpace()
        self._clock: threading.Thread | None = None
        self._stop_clock = threading.Event()

    @property
    def max_concurrent(self) -> int:
        """How many downloads transfer at once; the others wait as "queued"."""
        return self._max_concurrent

    @max_concurrent.setter
    def max_concurrent(self, value: int) -> None:
        with self._slots:
            self._max_concurrent = value
            self._slots.notify_all()

    def run(
        self,
        job: DownloadJob,
        previous: DownloadJob | None,
        *,
        endpoint: str,
        token: str | bool | None,
        cache_dir: Path,
    ) -> None:
        """The worker body: run `job` to its end (after `previous`, a cancelled transfer of the
        same file that is still stopping)."""

        def body() -> str | None:
            if previous is not None:
                wait_for(job, previous)
            if not self._cached(job, cache_dir):
                with self._slot(job):
                    self._transfer(job, endpoint, token, cache_dir)
                job.bytes_done, job.eta = job.bytes_total, 0.0
            return job.path

        def explain(exc: BaseException) -> tuple[str, BaseException]:
            error = hub.explain_error(
                exc,
                repo_id=job.repo_id,
                filename=job.filename,
                revision=job.revision,
                endpoint=endpoint,
                token=token,
                cache_dir=cache_dir,
            )
            logger.debug("download %s failed: %s", job.id, error)
            job.error_kind = error.kind
            return str(error), error

        run_job(job, body, explain=explain)

    def close(self, timeout: float = 1.0) -> None:
        """Stop handing out slots and stop the progress clock (the service cancels the jobs)."""
        with self._slots:
            self._closed = True
            self._slots.notify_all()
            clock = self._clock
        self._stop_clock.set()
        if clock is not None:
            clock.join(timeout)

    def wake(self) -> None:
        """Let jobs waiting for a slot look at their cancel flag now."""
        with self._slots:
            self._slots.notify_all()

    # -- internals ----------------------------------------------------------------------------

    def _cached(self, job: DownloadJob, cache_dir: Path) -> bool:
        """Whether every part is in the cache already (then `job` has its path and size)."""
        paths = [hub.cached_file(cache_dir, job.repo_id, f, job.revision) for f in job.files]
        if not all(paths):
            return False
        job.bytes_done = job.bytes_total = sum(p.stat().st_size for p in paths if p is not None)
        job.path = str(paths[0])
        return True

    @contextmanager
    def _slot(self, job: DownloadJob) -> Iterator[None]:
        """Hold one of the `max_concurrent` slots (waiting as "queued" until one is free)."""
        stop_waiting = job.cancellation.add_hook(self.wake)
        try:
            with self._slots:
                while self._in_use >= self._max_concurrent:
                    if self._closed:
                        raise JobCancelledError("the service was shut down")
                    job.cancellation.raise_if_set()
                    self._slots.wait(0.5)
                job.cancellation.raise_if_set()
                self._in_use += 1
        finally:
            stop_waiting()
        try:
            yield
        finally:
            with self._slots:
                self._in_use -= 1
                self._slots.notify_all()

    def _transfer(
        self, job: DownloadJob, endpoint: str, token: str | bool | None, cache_dir: Path
    ) -> None:
        job.mark_running()
        if hub.is_offline():
            raise hub.DownloadError("offline", "HF_HUB_OFFLINE is set: the Hub is not contacted.")
        transfer = _Transfer(job)
        parts, options = self.parallel_parts, self.options  # as they are when it starts
        access: dict[str, Any] = {"endpoint": endpoint, "token": token}
        self._track(transfer)
        try:
            remotes = [
                hub.fetch_with_retries(
                    partial(hub.fetch_remote_file, job.repo_id, name, job.revision, **access),
                    cancel=job.cancellation,
                    progress=transfer.progress,
                    options=options,
                )
                for name in job.files
            ]
            job.commit = remotes[0].commit
            job.bytes_total = sum(r.size for r in remotes)
            paths = []
            for remote in remotes:
                path, resumed = hub.download_file(
                    remote,
                    cache_dir,
                    endpoint=endpoint,
                    token=token,
                    cancel=job.cancellation,
                    progress=transfer.progress,
                    options=options,
                    space=self._space,
                    parts=parts,
                )
                paths.append(path)
                job.resumed_from += resumed
                transfer.progress.done = 0
                transfer.base += remote.size
            job.path = str(paths[0])
        finally:
            self._untrack(transfer)
            job.detail = ""
            if job.path is None:  # cancelled or failed: nothing moves now
                job.speed, job.eta = 0.0, None

    def _track(self, transfer: _Transfer) -> None:
        with self._slots:
            self._transfers[transfer.job.id] = transfer
            if self._clock is None and not self._closed:
                self._clock = threading.Thread(
                    target=self._run_clock, name="llm-widgets-progress", daemon=True
                )
                self._clock.start()

    def _untrack(self, transfer: _Transfer) -> None:
        with self._slots:
            self._transfers.pop(transfer.job.id, None)

    def _run_clock(self) -> None:
        """Publish each running transfer's progress every PROGRESS_INTERVAL; ends with the last."""
        while not self._stop_clock.wait(PROGRESS_INTERVAL):
            with self._slots:
                transfers = list(self._transfers.values())
                if not transfers:
                    self._clock = None
                    return
            now = time.monotonic()
            for transfer in transfers:
                transfer.tick(now)
                transfer.job.report_progress()
        with self._slots:
            self._clock = None
