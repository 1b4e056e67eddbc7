"""`pip install` of the built wheel into a fresh venv, timed (goal < 60 s with a warm pip cache,
nothing compiled: every dependency must come as a wheel). Builds the wheel first (untimed).
Run: .venv/bin/python benchmarks/install_time.py
"""

from __future__ import annotations

import glob
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="llmw-install-") as tmp:
        dist = Path(tmp) / "dist"
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT],
            check=True,
        )
        wheel = glob.glob(str(dist / "llm_widgets-*.whl"))[0]
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        py = venv / "bin" / "python"
        report = Path(tmp) / "report.json"
        started = time.perf_counter()
        subprocess.run(
            [py, "-m", "pip", "install", "-q", "--report", report, wheel],
            check=True,
        )
        seconds = time.perf_counter() - started
        installed = json.loads(report.read_text())["install"]
        built = [
            i["metadata"]["name"]
            for i in installed
            if not i.get("download_info", {}).get("url", "").endswith(".whl")
        ]
        names = {i["metadata"]["name"].lower() for i in installed}
        print(f"pip install {Path(wheel).name}: {seconds:.1f} s (goal < 60 s, warm pip cache)")
        print(f"packages installed: {len(installed)}; built from source: {built or 'none'}")
        print(f"llama-cpp-python installed: {'llama-cpp-python' in names} (goal: False)")
        check = subprocess.run(
            [py, "-c", "import llm_widgets, xllamacpp; print(xllamacpp.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        )
        print(f"imports: llm_widgets and xllamacpp {check.stdout.strip()}")


if __name__ == "__main__":
    main()
