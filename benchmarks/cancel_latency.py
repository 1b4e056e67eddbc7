"""Cancel latency: time from job.cancel() to the job being finished, over 20 tries.

Goal: p95 < 100 ms. Each try starts a throttled download, cancels it at a random moment while
bytes flow (and, in the second set, while the server stalls), and measures until `cancelled`.
Run: .venv/bin/python benchmarks/cancel_latency.py
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from pathlib import Path

from _common import FILE, REPO, hub_with_file, percentile

from llm_widgets import LLMKernelService


def tries(stall: bool, n: int = 20) -> list[float]:
    hub = hub_with_file(20_000_000)
    hub.faults.throttle_bps = 8_000_000
    if stall:
        hub.faults.stall_after_bytes = 1_000_000
        hub.faults.stall_seconds = 30.0
        hub.faults.stall_times = 10_000
    latencies = []
    for _ in range(n):
        cache = Path(tempfile.mkdtemp())
        service = LLMKernelService(endpoint=hub.url, cache_dir=cache)
        job = service.start_download(REPO, FILE)
        while job.bytes_done < 500_000:
            time.sleep(0.001)
        time.sleep(random.uniform(0.0, 0.3))
        start = time.perf_counter()
        job.cancel()
        job.join(10)
        latencies.append(time.perf_counter() - start)
        assert job.state == "cancelled", job.state
        service.shutdown()
        shutil.rmtree(cache)
    hub.stop()
    return latencies


def main() -> None:
    for label, stall in [("while bytes flow", False), ("while the server stalls", True)]:
        ms = [x * 1000 for x in tries(stall)]
        print(
            f"cancel {label}: p50 {percentile(ms, 50):6.2f} ms  p95 {percentile(ms, 95):6.2f} ms  "
            f"max {max(ms):6.2f} ms over {len(ms)} tries  (goal p95 < 100 ms)"
        )


if __name__ == "__main__":
    main()
