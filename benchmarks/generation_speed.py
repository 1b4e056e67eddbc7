"""Tokens/s and time to first token: generate_completion through the service and a Chat widget
vs each engine's raw binding (llama-cpp-python's `Llama` streaming; xllamacpp's in-process
`Server.handle_completions` callback), and engine vs engine, on the same model (SmolLM2-135M-
Instruct Q4_1), same prompt, greedy decoding, the same threads. Goal: >= 0.97x tokens/s, < 20 ms
extra TTFT. Median of 5 alternating runs.
Run: .venv/bin/python benchmarks/generation_speed.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

from llama_cpp import Llama

from llm_widgets import Chat, LLMKernelService
from llm_widgets.demo import packaged_model_path

PROMPT = "Once upon a time, in a small village by the sea, there lived"
TOKENS = 200
RUNS = 5
THREADS = max((os.cpu_count() or 1) // 2, 1)  # both engines' default


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


def raw_xllamacpp(server: Any) -> tuple[float, float]:
    marks: list[float] = []

    def on_chunk(chunk: dict[str, Any]) -> bool:
        if chunk.get("choices") and chunk["choices"][0].get("text"):
            marks.append(time.perf_counter())
        return False

    start = time.perf_counter()
    body = {"prompt": PROMPT, "max_tokens": TOKENS, "temperature": 0.0, "stream": True}
    server.handle_completions({**body, "cache_prompt": False}, on_chunk)
    end = time.perf_counter()
    return marks[0] - start, (len(marks) - 1) / (end - marks[0])


def xllamacpp_server(path: str) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path, params.n_ctx, params.verbosity, params.ui = path, 2048, 1, False
    params.n_batch = params.n_ubatch = 512
    params.cpuparams.n_threads = THREADS
    params.cpuparams_batch.n_threads = os.cpu_count() or 1
    return xllamacpp.Server(params)


def measure(engine: str, path: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """(raw TTFT, raw tokens/s), (service TTFT, service tokens/s): medians."""
    if engine == "xllamacpp":
        binding: Any = xllamacpp_server(path)
        run_raw = raw_xllamacpp
    else:
        binding = Llama(model_path=path, n_ctx=2048, n_threads=THREADS, verbose=False)
        run_raw = raw
    service = LLMKernelService()
    service.load_model(path, n_ctx=2048, engine=engine).wait()
    chat = Chat(service)  # a widget subscribed to the chunk events, as in a notebook
    raw_runs, our_runs = [], []
    for _ in range(RUNS):
        raw_runs.append(run_raw(binding))
        our_runs.append(ours(service, chat))
    if engine != "xllamacpp":
        binding.close()
    del binding
    service.shutdown()

    def median(runs: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)

    return median(raw_runs), median(our_runs)


def main() -> None:
    path = str(packaged_model_path())
    engines = sys.argv[1:] or ["xllamacpp", "llama-cpp-python"]
    print(f"model: SmolLM2-135M-Instruct Q4_1, {TOKENS} tokens greedy, median of {RUNS} runs")
    results = {}
    for engine in engines:
        (raw_ttft, raw_tps), (our_ttft, our_tps) = measure(engine, path)
        results[engine] = (our_ttft, our_tps)
        print(f"{engine}: raw binding {raw_tps:6.1f} tokens/s, TTFT {raw_ttft * 1000:6.1f} ms")
        print(f"{engine}: service     {our_tps:6.1f} tokens/s, TTFT {our_ttft * 1000:6.1f} ms")
        print(f"{engine}: ratio tokens/s {our_tps / raw_tps:.3f} (goal >= 0.97), extra TTFT "
              f"{(our_ttft - raw_ttft) * 1000:+.1f} ms (goal < 20 ms)")  # fmt: skip
    if len(results) == 2:
        (a_ttft, a_tps), (b_ttft, b_tps) = results[engines[0]], results[engines[1]]
        print(f"{engines[0]} vs {engines[1]} through the service: tokens/s {a_tps / b_tps:.3f}x, "
              f"TTFT {(a_ttft - b_ttft) * 1000:+.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
