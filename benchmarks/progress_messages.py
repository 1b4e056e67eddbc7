"""Messages per second a ModelCard sends to the front end during a fast and a throttled download.

Goal: <= 10 progress messages per second, however fast the bytes come. Counts every comm message
the widget sends (state updates and custom messages) through ipywidgets' real send path.
Run: .venv/bin/python benchmarks/progress_messages.py
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from _common import FILE, REPO, hub_with_file

from llm_widgets import LLMKernelService, ModelCard


def run(throttle: int | None, size: int) -> tuple[float, int, int, int]:
    hub = hub_with_file(size)
    hub.faults.throttle_bps = throttle
    cache = Path(tempfile.mkdtemp(prefix="llmw-bench-"))
    service = LLMKernelService(endpoint=hub.url, cache_dir=cache)
    card = ModelCard(REPO, FILE, service=service)
    stamps: list[float] = []  # progress updates: state messages that move bytes_done
    others = 0  # status changes and notices
    real_send = card._send

    def counting_send(msg, buffers=None):  # type: ignore[no-untyped-def]
        nonlocal others
        state = msg.get("state", {})
        if msg.get("method") == "update" and "bytes_done" in state and "status" not in state:
            stamps.append(time.monotonic())
        else:
            others += 1
        return real_send(msg, buffers)

    card._send = counting_send  # type: ignore[method-assign]
    start = time.monotonic()
    card.start_download().wait()
    service.events.flush()
    took = time.monotonic() - start
    service.shutdown()
    hub.stop()
    shutil.rmtree(cache, ignore_errors=True)
    # the busiest one-second window
    peak = max(sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps) if stamps else 0
    return took, len(stamps), peak, others


def main() -> None:
    for label, throttle, size in [
        ("throttled 20 MB/s, 100 MB", 20_000_000, 100_000_000),
        ("unthrottled loopback, 500 MB", None, 500_000_000),
    ]:
        took, count, peak, others = run(throttle, size)
        print(
            f"{label}: {took:5.2f} s, {count} progress messages ({count / took:4.1f}/s on "
            f"average, peak {peak} in any 1 s window; goal <= 10/s) + {others} state changes "
            "and notices"
        )


if __name__ == "__main__":
    main()
