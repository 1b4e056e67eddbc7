"""Parallel ranged downloads: speed-up under a per-connection cap, loopback vs curl, Cancel with
8 parts in flight, bytes fetched again after a killed process, and what the hashing costs.

Goals: with LocalHub's per-connection cap, 4 parts >= 3.5x one connection and 8 parts >= 6.5x
(same run, interleaved); unthrottled loopback >= 0.95x curl; cancel p95 < 100 ms; after a kill,
only the unfinished ranges are fetched again.
Run: .venv/bin/python benchmarks/parallel_download.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import FILE, REPO, hub_with_file, percentile
from huggingface_hub import hf_hub_url

from llm_widgets import LLMKernelService
from llm_widgets.hub import TransferOptions
from llm_widgets.testing import LocalHub


def download(hub: LocalHub, parts: int, part_size: int | None = None) -> float:
    """Seconds for one fresh download with `parts` parts."""
    cache = Path(tempfile.mkdtemp(prefix="llmw-bench-"))
    options = TransferOptions() if part_size is None else TransferOptions(part_size=part_size)
    service = LLMKernelService(endpoint=hub.url, cache_dir=cache, transfer_options=options)
    service.parallel_parts = parts
    start = time.perf_counter()
    service.start_download(REPO, FILE).wait()
    took = time.perf_counter() - start
    service.shutdown()
    shutil.rmtree(cache)
    return took


def best_interleaved(fns: dict[str, object], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            times[name].append(fn())  # type: ignore[operator]
    return {name: min(t) for name, t in times.items()}


def per_connection_cap(size: int, cap: int, runs: int) -> None:
    hub = hub_with_file(size)
    hub.faults.per_connection_bps = cap
    t = best_interleaved({str(p): (lambda p=p: download(hub, p)) for p in (1, 4, 8)}, runs)
    hub.stop()
    print(f"per-connection cap {cap / 1e6:.0f} MB/s, {size / 1e6:.0f} MB, best of {runs}:")
    for p in ("1", "4", "8"):
        goal = {"1": "", "4": "  (goal >= 3.5)", "8": "  (goal >= 6.5)"}[p]
        print(f"  {p} part(s): {size / t[p] / 1e6:6.1f} MB/s  {t['1'] / t[p]:4.2f}x one{goal}")


def loopback_vs_curl(size: int, runs: int) -> None:
    hub = hub_with_file(size)
    url = hf_hub_url(REPO, FILE, endpoint=hub.url)
    work = Path(tempfile.mkdtemp(prefix="llmw-bench-"))

    def curl() -> float:
        out = work / "curl.bin"
        start = time.perf_counter()
        subprocess.run(["curl", "-sSfL", "-o", str(out), url], check=True)
        took = time.perf_counter() - start
        out.unlink()
        return took

    default = LLMKernelService().parallel_parts
    t = best_interleaved(
        {
            "curl": curl,
            "1 part": lambda: download(hub, 1),
            f"{default} parts (default)": lambda: download(hub, default),
        },
        runs,
    )
    hub.stop()
    shutil.rmtree(work, ignore_errors=True)
    print(f"unthrottled loopback, {size / 1e6:.0f} MB, best of {runs} interleaved:")
    for name, took in t.items():
        print(f"  {name:18} {size / took / 1e6:6.0f} MB/s  {t['curl'] / took:4.2f}x curl")
    print("  (goal: the default >= 0.95x curl)")


def cancel_latency(tries: int) -> None:
    size = 40_000_000
    hub = hub_with_file(size)
    hub.faults.per_connection_bps = 2_000_000
    latencies = []
    for _ in range(tries):
        cache = Path(tempfile.mkdtemp(prefix="llmw-bench-"))
        service = LLMKernelService(
            endpoint=hub.url, cache_dir=cache, transfer_options=TransferOptions(part_size=1 << 20)
        )
        service.parallel_parts = 8
        hub.clear_requests()
        job = service.start_download(REPO, FILE)
        while sum(1 for r in hub.requests if r.status == 206) < 8 or job.bytes_done < 1_000_000:
            time.sleep(0.001)
        start = time.perf_counter()
        job.cancel()
        job.join(10)
        latencies.append((time.perf_counter() - start) * 1000)
        assert job.state == "cancelled", job.state
        service.shutdown()
        shutil.rmtree(cache)
    hub.stop()
    ms = latencies
    print(
        f"cancel with 8 parts in flight: p50 {percentile(ms, 50):5.2f} ms  p95 "
        f"{percentile(ms, 95):5.2f} ms  max {max(ms):5.2f} ms over {tries} tries (goal p95 < 100)"
    )


_CHILD = """
import sys
from llm_widgets import LLMKernelService
from llm_widgets.hub import TransferOptions
s = LLMKernelService(endpoint=sys.argv[1], cache_dir=sys.argv[2],
                     transfer_options=TransferOptions(part_size=4 << 20))
s.parallel_parts = 8
s.start_download(sys.argv[3], sys.argv[4]).wait()
"""


def resume_after_kill(size: int) -> None:
    hub = hub_with_file(size)
    hub.faults.per_connection_bps = 4_000_000
    source = (hub.root / REPO / FILE).read_bytes()
    cache = Path(tempfile.mkdtemp(prefix="llmw-bench-"))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, hub.url, str(cache), REPO, FILE])
    blobs = cache / ("models--" + REPO.replace("/", "--")) / "blobs"
    while True:
        partial = next(blobs.glob("*.incomplete"), None) if blobs.exists() else None
        if partial is not None and partial.stat().st_size > size // 2:
            break
        time.sleep(0.05)
    time.sleep(0.2)
    child.kill()
    child.wait()
    on_disk = partial.read_bytes()
    block = 64 << 10
    written = sum(
        min(block, size - i)
        for i in range(0, len(on_disk), block)
        if on_disk[i : i + block] == source[i : i + block]
    )  # bytes really there (a hole reads as zeros)
    hub.faults.per_connection_bps = None
    hub.clear_requests()
    service = LLMKernelService(
        endpoint=hub.url, cache_dir=cache, transfer_options=TransferOptions(part_size=4 << 20)
    )
    service.parallel_parts = 8
    job = service.start_download(REPO, FILE)
    job.wait()
    service.shutdown()
    asked = 0
    for r in hub.requests:
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", r.headers.get("range", ""))
        if r.method == "GET" and m:
            asked += int(m.group(2)) + 1 - int(m.group(1))
    shutil.rmtree(cache)
    hub.stop()
    print(
        f"resume after kill -9 with 8 parts in flight, {size / 1e6:.0f} MB: "
        f"{written / 1e6:.1f} MB were on disk, the record kept {job.resumed_from / 1e6:.1f} MB, "
        f"the resume asked for {asked / 1e6:.1f} MB = {(asked - (size - written)) / 1e6:.2f} MB "
        f"fetched again (missing: {(size - written) / 1e6:.1f} MB)"
    )


def hashing_cost(size: int) -> None:
    hub = hub_with_file(size)
    took = download(hub, 8)
    path = hub.root / REPO / FILE
    start = time.perf_counter()
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 << 20):
            h.update(block)
    at_end = time.perf_counter() - start
    hub.stop()
    print(
        f"hashing, {size / 1e6:.0f} MB: the download with the prefix hashed as it grows took "
        f"{took:.2f} s; hashing the finished file at the end would add {at_end:.2f} s "
        f"({at_end / took:.0%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller files, fewer runs")
    args = parser.parse_args()
    q = args.quick
    per_connection_cap(40_000_000 if q else 160_000_000, 8_000_000, 1 if q else 2)
    loopback_vs_curl(100_000_000 if q else 200_000_000, 2 if q else 3)
    cancel_latency(10 if q else 20)
    resume_after_kill(40_000_000 if q else 80_000_000)
    hashing_cost(100_000_000 if q else 200_000_000)


if __name__ == "__main__":
    main()
