"""Tokens/s and time to first token: generate_completion through the service and a Chat widget
vs raw llama-cpp-python streaming, on the same model (SmolLM2-135M-Instruct Q4_1), same prompt,
greedy decoding. Goal: >= 0.97x tokens/s, < 20 ms extra TTFT. Median of 5 alternating runs.
Run: .venv/bin/python benchmarks/generation_speed.py
"""

from __future__ import annotations

import statistics
import time

from llama_cpp import Llama

from llm_widgets import Chat, LLMKernelService
from llm_widgets.demo import packaged_model_path

PROMPT = "Once upon a time, in a small village by the sea, there lived"
TOKENS = 200
RUNS = 5


def raw(llm: Llama) -> tuple[float, float]:
    llm.reset()
    start = time.perf_counter()
    first = None
    count = 0
    for chunk in llm.create_completion(PROMPT, max_tokens=TOKENS, temperature=0.0, stream=True):
        if not chunk["choices"][0]["text"]:
            continue
        if first is None:
            first = time.perf_counter()
        count += 1
    end = time.perf_counter()
    assert first is not None
    return first - start, (count - 1) / (end - first)


def ours(service: LLMKernelService, chat: Chat) -> tuple[float, float]:
    service.create_context()  # same cold KV cache as the raw run
    start = time.perf_counter()
    job = service.generate_completion(PROMPT, max_tokens=TOKENS, temperature=0.0)
    first = None
    count = 0
    for _piece in job:
        if first is None:
            first = time.perf_counter()
        count += 1
    end = time.perf_counter()
    service.events.flush()
    assert first is not None
    return first - start, (count - 1) / (end - first)


def main() -> None:
    path = str(packaged_model_path())
    llm = Llama(model_path=path, n_ctx=2048, verbose=False)
    service = LLMKernelService()
    service.load_model(path, n_ctx=2048).wait()
    chat = Chat(service)  # a widget subscribed to the chunk events, as in a notebook
    _ = chat
    raw_runs, our_runs = [], []
    for _ in range(RUNS):
        raw_runs.append(raw(llm))
        our_runs.append(ours(service, chat))
    llm.close()
    service.shutdown()
    raw_ttft = statistics.median(r[0] for r in raw_runs)
    raw_tps = statistics.median(r[1] for r in raw_runs)
    our_ttft = statistics.median(r[0] for r in our_runs)
    our_tps = statistics.median(r[1] for r in our_runs)
    print(f"model: SmolLM2-135M-Instruct Q4_1, {TOKENS} tokens greedy, median of {RUNS} runs")
    print(f"raw llama-cpp-python: {raw_tps:6.1f} tokens/s, TTFT {raw_ttft * 1000:6.1f} ms")
    print(f"service + widget:     {our_tps:6.1f} tokens/s, TTFT {our_ttft * 1000:6.1f} ms")
    print(f"ratio tokens/s: {our_tps / raw_tps:.3f} (goal >= 0.97)")
    print(f"extra TTFT: {(our_ttft - raw_ttft) * 1000:+.1f} ms (goal < 20 ms)")


if __name__ == "__main__":
    main()
