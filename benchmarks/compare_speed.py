"""A comparison vs doing it by hand: answers/s of `service.compare` over two local models (the
packaged SmolLM2 and a copy of it under another name, so both are loaded in turn; choices, no
cache) and of the by-hand way, `load_model` then `map` per model, alternating runs in one
process. Goal: >= 0.95x. Then the same comparison again with every answer cached: how long it
takes (no model is loaded) against the full run.
Run: .venv/bin/python benchmarks/compare_speed.py
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from llm_widgets import LLMKernelService
from llm_widgets.demo import packaged_model_path, sample_reviews

PROMPT = "Classify the sentiment of this product review as positive or negative.\n\nReview: {text}"
LABELS = ["positive", "negative"]
ITEMS = 12
RUNS = 2


def by_hand(service: LLMKernelService, models: list[str], rows: list[dict[str, str]]) -> float:
    start = time.perf_counter()
    for path in models:
        service.load_model(path).wait()
        job = service.map(rows, prompt=PROMPT, choices=LABELS, temperature=0.0, cache=False)
        job.wait()
        assert job.completed == len(rows), job.errors
    service.unload_model()
    return len(models) * len(rows) / (time.perf_counter() - start)


def ours(
    service: LLMKernelService, models: list[str], rows: list[dict[str, str]], cache: object
) -> tuple[float, int]:
    start = time.perf_counter()
    job = service.compare(models, rows, prompt=PROMPT, choices=LABELS, temperature=0.0, cache=cache)
    job.wait()
    assert not job.errors, job.errors
    return len(models) * len(rows) / (time.perf_counter() - start), job.reused


def main() -> None:
    rows = sample_reviews()[:ITEMS]
    folder = Path(tempfile.mkdtemp())
    copy = folder / "SmolLM2-copy.gguf"
    shutil.copyfile(packaged_model_path(), copy)
    models = [str(packaged_model_path()), str(copy)]
    service = LLMKernelService()
    by_hand(service, models, rows[:3]), ours(service, models, rows[:3], False)  # warm up
    hand_runs, our_runs = [], []
    for _ in range(RUNS):
        hand_runs.append(by_hand(service, models, rows))
        our_runs.append(ours(service, models, rows, False)[0])
        print(f"run: by hand {hand_runs[-1]:.2f}, compare {our_runs[-1]:.2f} answers/s", flush=True)
    full, _ = ours(service, models, rows, folder / "cache")
    cached, reused = ours(service, models, rows, folder / "cache")
    service.shutdown()
    h, o = statistics.median(hand_runs), statistics.median(our_runs)
    n = len(models) * ITEMS
    print(f"models: SmolLM2-135M-Instruct and a copy, {ITEMS} reviews each, choices of 2, greedy")
    print(f"by hand (load, map, per model): {h:6.2f} answers/s ({n / h:.1f} s for {n})")
    print(f"service.compare:                {o:6.2f} answers/s ({n / o:.1f} s for {n})")
    print(f"ratio: {o / h:.3f} (goal >= 0.95)")
    print(
        f"all {reused} answers cached: {n / cached:.2f} s against {n / full:.1f} s for the full "
        f"run ({full / cached:.3f}x as long; no model loaded)"
    )


if __name__ == "__main__":
    main()
