"""Second-turn chat time with llama-cpp-python's prefix reuse (same Llama object, the prompt
extends the previous one) vs the same turn on a fresh context. Median of 5 runs each.
Run: .venv/bin/python benchmarks/chat_prefix_reuse.py
"""

from __future__ import annotations

import statistics

from llm_widgets import LLMKernelService
from llm_widgets.demo import packaged_model_path

SYSTEM = "You are a helpful assistant who knows a lot about history. " * 25


def main() -> None:
    service = LLMKernelService()
    service.load_model(packaged_model_path(), n_ctx=4096).wait()
    history = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Tell me about the Roman empire in two sentences."},
    ]
    reused, fresh, cached = [], [], []
    for _ in range(5):
        service.create_context()
        first = service.generate_chat_completion(history, max_tokens=48, temperature=0.0)
        answer = first.wait()
        turn2 = history + [
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "And about Byzantium?"},
        ]
        job = service.generate_chat_completion(turn2, max_tokens=1, temperature=0.0)
        job.wait()
        reused.append(job.stats.ttft * 1000)
        cached.append(job.stats.cached_prompt_tokens / job.stats.prompt_tokens)
        service.create_context()  # fresh: the whole prompt is evaluated again
        job = service.generate_chat_completion(turn2, max_tokens=1, temperature=0.0)
        job.wait()
        fresh.append(job.stats.ttft * 1000)
        prompt_tokens = job.stats.prompt_tokens
    service.shutdown()
    r, f = statistics.median(reused), statistics.median(fresh)
    print(f"second turn ({prompt_tokens} prompt tokens), time to first token, median of 5:")
    print(f"with prefix reuse: {r:7.1f} ms  ({statistics.median(cached):.0%} of the prompt cached)")
    print(f"fresh context:     {f:7.1f} ms")
    print(f"speed-up: {f / r:.1f}x")


if __name__ == "__main__":
    main()
