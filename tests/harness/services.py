"""A service for one test (or one module of tests), and the check that none of its threads
outlives its jobs."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from llm_widgets.service import LLMKernelService


def threads_left(ignore: Collection[threading.Thread] = ()) -> list[str]:
    """The package's threads still alive, but the event thread (it exits after 2 s idle) and the
    threads in `ignore`."""
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("llm-widgets-") and "events" not in t.name and t not in ignore
    ]


def assert_no_thread_outlived_its_job(
    grace: float = 10.0, ignore: Collection[threading.Thread] = ()
) -> None:
    """After `shutdown()`: every worker, transfer, connection and tool thread has ended (a
    widget's own short-lived threads, a search or a size probe, get `grace` seconds to). Threads
    in `ignore` (those of something else that was already running) are not counted."""
    deadline = time.monotonic() + grace
    while (left := threads_left(ignore)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not left, f"threads outlived their jobs: {left}"


@contextmanager
def running_service(**options: Any) -> Iterator[LLMKernelService]:
    """An `LLMKernelService(**options)`, the kernel's instance while it runs; then shut down and
    checked for threads started in the meantime that outlived their jobs."""
    before = set(threading.enumerate())
    service = LLMKernelService(**options)
    LLMKernelService.set_instance(service)
    try:
        yield service
    finally:
        service.shutdown()
        LLMKernelService.set_instance(None)
    assert_no_thread_outlived_its_job(ignore=before)
