"""Throughput of LLMKernelService.start_download vs curl from the same local Hub server.

Goal: ratio >= 0.95 (ours / curl). Also shows huggingface_hub's own hf_hub_download for context.
Each tool downloads the same 200 MB file into a fresh place; the runs are interleaved (curl, ours,
hf, curl, ...) so that a machine whose speed drifts treats all three alike, and the best run of
each is kept. Run: .venv/bin/python benchmarks/download_throughput.py [--size-mb 200] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import FILE, REPO, hub_with_file
from huggingface_hub import hf_hub_download, hf_hub_url

from llm_widgets import LLMKernelService


def interleaved_best(fns, runs: int) -> list[float]:
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            times[i].append(fn())
    return [min(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mb * 1_000_000
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

    def ours() -> float:
        cache = Path(tempfile.mkdtemp(dir=work))
        service = LLMKernelService(endpoint=hub.url, cache_dir=cache)
        start = time.perf_counter()
        service.start_download(REPO, FILE).wait()
        took = time.perf_counter() - start
        service.shutdown()
        shutil.rmtree(cache)
        return took

    def hf() -> float:
        cache = Path(tempfile.mkdtemp(dir=work))
        start = time.perf_counter()
        hf_hub_download(REPO, FILE, cache_dir=cache, endpoint=hub.url)
        took = time.perf_counter() - start
        shutil.rmtree(cache)
        return took

    t_curl, t_ours, t_hf = interleaved_best([curl, ours, hf], args.runs)
    hub.stop()
    shutil.rmtree(work, ignore_errors=True)
    mbps = lambda t: size / t / 1e6  # noqa: E731
    print(f"file: {args.size_mb} MB, best of {args.runs} interleaved runs each, loopback")
    print(f"curl:              {mbps(t_curl):7.0f} MB/s")
    print(f"start_download:    {mbps(t_ours):7.0f} MB/s  (sha256 verified while downloading)")
    print(f"hf_hub_download:   {mbps(t_hf):7.0f} MB/s")
    print(f"ratio start_download / curl: {t_curl / t_ours:.2f}  (goal >= 0.95)")
    print(f"ratio hf_hub_download / curl: {t_curl / t_hf:.2f}")


if __name__ == "__main__":
    main()
