"""Soak: downloads through ModelCards against a LocalHub whose faults change at random (drops,
stalls, throttling, 503s, a corrupted file for a while) with random Download / Cancel clicks.

Checks at the end of each run: every file the cache calls complete has the right sha256, no blob
holds other bytes than its name says, every card ends "done", no job is left running, no worker
thread is left, closed widgets are freed. Prints the figures of each run and the RSS after each,
so growth from run to run shows (the first run also pays for first-use allocations).
Run: .venv/bin/python benchmarks/soak.py [runs] [rounds]
"""

from __future__ import annotations

import sys
from pathlib import Path as _Path  # noqa: E402

import _common  # noqa: F401  (an isolated HF cache, no telemetry)

sys.path.insert(0, str(_Path(__file__).resolve().parents[1] / "tests"))  # the CI harness
from harness.soak import run_soak  # noqa: E402


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    failed = 0
    for run in range(runs):
        report = run_soak(rounds=rounds, cards=8, round_seconds=5.0, seed=run)
        print(f"-- run {run + 1} of {runs}\n{report.summary()}")
        failed += not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
