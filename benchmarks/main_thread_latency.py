"""Latency of a trivial cell-like call on the main thread while a generation and a download run.

The main thread runs a small piece of Python (what a notebook cell or a comm handler does) every
10 ms; the delay past its due time is recorded, first with nothing running, then while the
service streams a completion and downloads a throttled file. Goal: p95 < 50 ms.
Run: .venv/bin/python benchmarks/main_thread_latency.py
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from _common import FILE, REPO, hub_with_file, percentile

from llm_widgets import Chat, LLMKernelService, ModelCard
from llm_widgets.demo import packaged_model_path


def probe(seconds: float) -> list[float]:
    delays = []
    end = time.perf_counter() + seconds
    due = time.perf_counter()
    while time.perf_counter() < end:
        due += 0.01
        time.sleep(max(0.0, due - time.perf_counter()))
        started = time.perf_counter()
        sum(i * i for i in range(2000))  # a trivial cell
        delays.append((time.perf_counter() - due) * 1000)
        due = max(due, started)
    return delays


def main() -> None:
    idle = probe(2.0)
    hub = hub_with_file(300_000_000)
    hub.faults.throttle_bps = 60_000_000
    cache = Path(tempfile.mkdtemp(prefix="llmw-bench-"))
    service = LLMKernelService(endpoint=hub.url, cache_dir=cache)
    service.load_model(packaged_model_path(), n_ctx=2048).wait()
    card, chat = ModelCard(REPO, FILE, service=service), Chat(service)
    card.start_download()
    chat.max_tokens = 2000
    job = chat.send("Write a very long story about the sea.")
    busy = probe(4.0)
    running = (job.state, card.status)
    job.cancel()
    service.cancel_download()
    service.shutdown()
    hub.stop()
    shutil.rmtree(cache, ignore_errors=True)
    print(f"both running during the probe: {running == ('running', 'running')} {running}")
    for label, ms in [("idle", idle), ("generation + download", busy)]:
        print(
            f"{label:22s}: p50 {percentile(ms, 50):6.2f} ms  p95 {percentile(ms, 95):6.2f} ms  "
            f"max {max(ms):6.2f} ms extra delay ({len(ms)} calls; goal p95 < 50 ms)"
        )


if __name__ == "__main__":
    main()
