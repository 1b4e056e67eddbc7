"""What the xllamacpp engine's prompt batch size costs: prompt evaluation speed against how soon
the model is free again after a Stop during a ~3,000-token prompt (llama.cpp's server sees a
cancel between prompt steps), for each n_batch given (default 128 256 512), on SmolLM2-135M.

    .venv/bin/python benchmarks/prompt_stop.py [N_BATCH ...]
"""

from __future__ import annotations

import sys
import time

import llm_widgets.engines.xllamacpp as xllamacpp_engine
from llm_widgets import LLMKernelService
from llm_widgets.demo import packaged_model_path

PROMPT = " ".join(f"Item {i} is a small blue box." for i in range(330))


def measure(n_batch: int, trials: int = 3) -> tuple[list[float], list[float]]:
    """Prompt tokens/s of whole evaluations, and seconds from Stop to the next answer."""
    xllamacpp_engine.N_BATCH = n_batch
    service = LLMKernelService()
    try:
        service.load_model(packaged_model_path(), n_ctx=4096, engine="xllamacpp").wait(120)
        speeds, stops = [], []
        for trial in range(trials):
            service.create_context()
            job = service.generate_completion(PROMPT, max_tokens=1)
            job.wait(300)
            assert job.stats is not None and job.stats.ttft > 0
            speeds.append(job.stats.prompt_tokens / job.stats.ttft)
            service.create_context()
            job = service.generate_completion(PROMPT, max_tokens=4)
            while job.state != "running":
                time.sleep(0.005)
            time.sleep(0.5 + 0.37 * trial)  # at different points of a prompt step
            asked = time.monotonic()
            job.cancel()
            job.join(5)
            service.generate_completion("Hi", max_tokens=1).wait(120)
            stops.append(time.monotonic() - asked)
        return speeds, stops
    finally:
        service.shutdown()


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [128, 256, 512]
    results = {n: measure(n) for n in sizes}
    best = max(max(speeds) for speeds, _ in results.values())
    for n, (speeds, stops) in results.items():
        print(
            f"n_batch {n:4}: prompt {min(speeds):5.0f}-{max(speeds):5.0f} tokens/s "
            f"({max(speeds) / best:.2f}x the fastest); free again {min(stops):.2f}-"
            f"{max(stops):.2f} s after a Stop"
        )


if __name__ == "__main__":
    main()
