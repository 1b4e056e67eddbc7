"""Abort latency: from service.abort() to the generation job ending, 20 tries each, while tokens
stream and while a long prompt (~1800 tokens) is being evaluated. Goal: prompt (p95 < 100 ms).
Run: .venv/bin/python benchmarks/abort_latency.py
"""

from __future__ import annotations

import random
import time

from _common import percentile

from llm_widgets import LLMKernelService
from llm_widgets.demo import packaged_model_path

LONG_PROMPT = "The history of lighthouses is long and varied. " * 180


def main() -> None:
    service = LLMKernelService()
    service.load_model(packaged_model_path(), n_ctx=4096).wait()
    streaming, prompt = [], []
    for _ in range(20):
        job = service.generate_chat_completion(
            [{"role": "user", "content": "Write a very long story about the sea."}], max_tokens=800
        )
        for _piece in job:
            break
        time.sleep(random.uniform(0.0, 0.2))
        start = time.perf_counter()
        service.abort()
        job.join(10)
        streaming.append((time.perf_counter() - start) * 1000)
        assert job.stop_reason == "aborted", job.stop_reason
    for _ in range(20):
        service.create_context()  # no prefix reuse: the whole prompt is evaluated
        job = service.generate_completion(LONG_PROMPT, max_tokens=5)
        while job.state != "running":
            time.sleep(0.001)
        time.sleep(random.uniform(0.05, 0.3))
        start = time.perf_counter()
        service.abort()
        job.join(10)
        prompt.append((time.perf_counter() - start) * 1000)
        assert job.stop_reason == "aborted" and job.text == "", (job.stop_reason, job.text)
    service.shutdown()
    for label, ms in [("while streaming", streaming), ("during prompt evaluation", prompt)]:
        print(
            f"abort {label}: p50 {percentile(ms, 50):6.2f} ms  p95 {percentile(ms, 95):6.2f} ms  "
            f"max {max(ms):6.2f} ms over {len(ms)} tries"
        )


if __name__ == "__main__":
    main()
