"""Jobs and events: a job's end reaches listeners once, on the event thread, before waiters wake."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from llm_widgets import DownloadJob, Job, JobCancelledError, JobFailedError, LLMKernelService
from llm_widgets._events import EventBus
from llm_widgets.runners._lifecycle import failure, run_job
from llm_widgets.testing import LocalHub, wait_until

REPO = "acme/tiny-GGUF"
FILE = "tiny.Q4_K_M.gguf"


def test_a_download_end_is_announced_once_in_order_before_wait_returns(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(500_000))
    seen: list[tuple[str, str, str]] = []

    def record(event: str):  # noqa: ANN202
        return lambda job: seen.append((event, job.state, threading.current_thread().name))

    service.on_progress(record("progress"))
    service.on_download_done(record("download_done"))
    service.on_error(record("error"))
    job = service.start_download(REPO, FILE)
    job.wait(30)
    # everything was delivered before wait() returned: nothing is added after
    delivered = list(seen)
    service.events.flush()
    assert seen == delivered
    assert [e for e in seen if e[0] != "progress"] == [
        ("download_done", "done", "llm-widgets-events")
    ]
    assert seen[-2:][0] == ("progress", "done", "llm-widgets-events")  # then download_done
    assert {name for _, _, name in seen} == {"llm-widgets-events"}


def test_a_failed_job_is_announced_by_one_error_event(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    errors: list[Job] = []
    service.on_error(errors.append)
    job = service.start_download(REPO, "missing.gguf")
    with pytest.raises(Exception, match="not found"):
        job.wait(30)
    assert errors == [job] and job.state == "failed"


def test_a_listener_may_wait_for_the_job_it_is_told_about(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(10_000))
    results: list[str] = []
    service.on_download_done(lambda job: results.append(job.wait(1)))  # on the event thread
    path = service.start_download(REPO, FILE).wait(10)
    assert results == [path]


def test_a_job_without_a_bus_ends_at_once() -> None:
    job = Job()
    ended: list[Job] = []
    job.add_done_callback(ended.append)
    job.mark_running()
    job.finish("done", result=42)
    job.finish("failed", error="too late")  # a job ends once
    assert job.wait(0) == 42 and ended == [job] and job.state == "done"
    assert not job.cancel()


def test_every_runner_ends_its_job_the_same_way() -> None:
    """run_job (every runner's worker body): the result ends it done, a cancel cancelled with
    what was done, another error failed, in words, with what wait() raises; each end once,
    after "progress", on the bus's thread."""
    bus = EventBus()
    seen: list[tuple[str, str]] = []
    for event in ("progress", "error", "job_end"):
        bus.subscribe(event, lambda job, event=event: seen.append((event, job.state)))

    def ended(body: Callable[[], Any], **how: Any) -> tuple[Job, list[tuple[str, str]]]:
        job = Job()
        job.bind(bus)
        run_job(job, body, explain=failure("The test"), **how)
        assert job.join(10)
        bus.flush()
        ends, seen[:] = list(seen), []
        return job, ends

    job, ends = ended(lambda: 42, running=True)
    assert job.wait(0) == 42 and job.started_at is not None
    assert ends[-2:] == [("progress", "done"), ("job_end", "done")]  # (progress coalesces)

    def cancelled() -> None:
        raise JobCancelledError("cancelled")

    job, ends = ended(cancelled, partial=lambda: "so far")
    assert job.state == "cancelled" and job.started_at is None and job._result == "so far"
    assert ends[-2:] == [("progress", "cancelled"), ("job_end", "cancelled")]

    job, ends = ended(lambda: 1 / 0)
    assert job.error == "The test failed: ZeroDivisionError: division by zero"
    with pytest.raises(JobFailedError, match="The test failed") as raised:
        job.wait(0)
    assert isinstance(raised.value.__cause__, ZeroDivisionError)
    assert ends[-3:] == [("progress", "failed"), ("error", "failed"), ("job_end", "failed")]

    job, _ = ended(lambda: int("x"))  # our own kinds of error are said in their own words
    assert job.error is not None and job.error.startswith("invalid literal")
    with pytest.raises(ValueError):
        job.wait(0)
    bus.close()


def test_a_cancelled_download_shows_no_speed_and_no_time_left(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(4_000_000))
    local_hub.faults.throttle_bps = 1_000_000
    job = service.start_download(REPO, FILE)
    wait_until(lambda: job.speed > 0 and job.eta is not None, timeout=10)
    job.cancel()
    assert job.join(10) and job.state == "cancelled"
    assert (job.speed, job.eta) == (0.0, None) and 0 < job.bytes_done < 4_000_000


def test_cancel_wakes_a_worker_blocked_on_the_cancellation() -> None:
    job = Job()
    hooked: list[bool] = []
    job.cancellation.add_hook(lambda: hooked.append(True))
    threading.Timer(0.05, job.cancel).start()
    assert job.cancellation.wait(30), "the cancel did not wake the waiting worker"
    assert hooked == [True]
    with pytest.raises(JobCancelledError):
        job.cancellation.raise_if_set()


def test_a_hook_added_after_the_cancel_runs_at_once_and_only_once() -> None:
    """A Stop in the instant before a request hooks its cancel is not missed (it was: the Stop
    waited for the first token, a minute behind a long prompt on a busy machine)."""
    job = Job()
    job.cancel()
    hooked: list[str] = []
    job.cancellation.add_hook(lambda: hooked.append("late"))
    assert hooked == ["late"]
    job.cancellation.set()  # a second Stop: each hook ran once already
    assert hooked == ["late"]


def test_event_bus_call_runs_in_order_and_returns_or_raises() -> None:
    bus = EventBus()
    order: list[str] = []
    bus.subscribe("x", lambda: (time.sleep(0.05), order.append("event")))
    bus.emit("x")
    assert bus.call(lambda: order.append("call") or threading.current_thread().name) == (
        "llm-widgets-events"
    )
    assert order == ["event", "call"]
    with pytest.raises(ZeroDivisionError):
        bus.call(lambda: 1 / 0)
    bus.close()
    assert bus.call(lambda: "inline after close") == "inline after close"


def test_progress_keeps_moving_while_no_bytes_arrive(
    local_hub: LocalHub, cache_dir: os.PathLike[str]
) -> None:
    # a server stall: the bytes on disk show, the speed falls to 0 and the ETA becomes unknown
    local_hub.add_file(REPO, FILE, os.urandom(2_000_000))
    local_hub.faults.throttle_bps = 1_000_000
    local_hub.faults.stall_after_bytes = 800_000
    local_hub.faults.stall_seconds = 6.0
    svc = LLMKernelService(endpoint=local_hub.url, cache_dir=cache_dir)
    svc.transfer_options.stall_timeout = 30.0
    events: list[tuple[int, float, float | None]] = []
    svc.on_progress(lambda j: events.append((j.bytes_done, j.speed, j.eta)))
    try:
        job: DownloadJob = svc.start_download(REPO, FILE)
        wait_until(lambda: job.bytes_done >= 800_000, timeout=10)
        assert any(speed > 0 and eta is not None for _, speed, eta in events)
        stalled_at = len(events)
        wait_until(lambda: job.speed == 0.0, timeout=5)
        svc.events.flush()
        during = events[stalled_at:]
        assert len(during) >= 3, "progress is published on a clock while nothing arrives"
        assert job.bytes_done == 800_000 and job.eta is None
        assert during[-1] == (800_000, 0.0, None)
        wait_until(lambda: job.detail == "stalled — waiting for the server", timeout=5)
    finally:
        svc.shutdown()
