"""A model on a server: tokens/s and time to first token through our service and a Chat widget
vs the bare `openai` client, against the same llama-cpp-python server (SmolLM2-135M-Instruct
Q4_1), same request, greedy, interleaved in one run. Goals: >= 0.97x tokens/s, < 20 ms extra
TTFT. Then Stop: the time from cancel() to the job's end while tokens stream (p95), and the
time to the first token of the next answer.
Run: .venv/bin/python benchmarks/remote_speed.py
"""

from __future__ import annotations

import statistics
import time

import openai
from _common import percentile

from llm_widgets import Chat, LLMKernelService
from llm_widgets.demo import packaged_model_path
from llm_widgets.testing import wait_until
from llm_widgets.testing.openai_server import OpenAIServer

PROMPT = "Once upon a time, in a small village by the sea, there lived"
TOKENS = 200
RUNS = 7
STOPS = 20
# what our service sends for a completion with these settings (llama-cpp-python's defaults)
SAME = dict(max_tokens=TOKENS, temperature=0.0, top_p=0.95, presence_penalty=0.0)
SAME_EXTRA = dict(top_k=40, min_p=0.05, repeat_penalty=1.0)


def bare(client: openai.OpenAI) -> tuple[float, float]:
    start = time.perf_counter()
    first, count = None, 0
    stream = client.completions.create(
        model="smollm2",
        prompt=PROMPT,
        stream=True,
        frequency_penalty=0.0,
        extra_body=SAME_EXTRA,
        **SAME,  # type: ignore[arg-type]
    )
    for chunk in stream:
        if not chunk.choices or not chunk.choices[0].text:
            continue
        if first is None:
            first = time.perf_counter()
        count += 1
    end = time.perf_counter()
    assert first is not None and count > 1
    return first - start, (count - 1) / (end - first)


def ours(service: LLMKernelService) -> tuple[float, float]:
    start = time.perf_counter()
    job = service.generate_completion(PROMPT, max_tokens=TOKENS, temperature=0.0)
    first, count = None, 0
    for _piece in job:
        if first is None:
            first = time.perf_counter()
        count += 1
    end = time.perf_counter()
    service.events.flush()
    assert first is not None and count > 1
    return first - start, (count - 1) / (end - first)


def stops(service: LLMKernelService) -> tuple[list[float], list[float]]:
    """(cancel -> job ended, next answer's TTFT) for STOPS answers stopped mid-stream."""
    latencies, next_ttft = [], []
    story = [{"role": "user", "content": "Write a long story about a dragon."}]
    for _ in range(STOPS):
        job = service.generate_chat_completion(story, max_tokens=400)
        wait_until(lambda j=job: len(j.text) > 40, timeout=60)
        started = time.perf_counter()
        job.cancel()
        job.join()
        latencies.append(time.perf_counter() - started)
        after = service.generate_completion("Hello", max_tokens=2, temperature=0.0)
        after.wait(60)
        assert after.stats is not None
        next_ttft.append(after.stats.ttft)
    return latencies, next_ttft


def main() -> None:
    with OpenAIServer(packaged_model_path(), alias="smollm2", n_ctx=2048) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        service = LLMKernelService()
        service.connect(server.base_url)
        chat = Chat(service)  # a widget subscribed to the chunk events, as in a notebook
        _ = chat
        bare(client), ours(service)  # warm both paths (server caches, connections)
        bare_runs, our_runs = [], []
        for _ in range(RUNS):
            bare_runs.append(bare(client))
            our_runs.append(ours(service))
        latencies, next_ttft = stops(service)
        service.shutdown()
    bare_ttft = statistics.median(r[0] for r in bare_runs)
    bare_tps = statistics.median(r[1] for r in bare_runs)
    our_ttft = statistics.median(r[0] for r in our_runs)
    our_tps = statistics.median(r[1] for r in our_runs)
    print(f"server: llama_cpp.server, SmolLM2-135M-Instruct Q4_1, {TOKENS} tokens greedy")
    print(f"median of {RUNS} interleaved runs")
    print(f"bare openai client:   {bare_tps:6.1f} tokens/s, TTFT {bare_ttft * 1000:6.1f} ms")
    print(f"service + widget:     {our_tps:6.1f} tokens/s, TTFT {our_ttft * 1000:6.1f} ms")
    print(f"ratio tokens/s: {our_tps / bare_tps:.3f} (goal >= 0.97)")
    print(f"extra TTFT: {(our_ttft - bare_ttft) * 1000:+.1f} ms (goal < 20 ms)")
    print(
        f"Stop while streaming, cancel -> turn ended: p50 {percentile(latencies, 50) * 1000:.1f}"
        f" ms, p95 {percentile(latencies, 95) * 1000:.1f} ms ({STOPS} stops)"
    )
    print(
        f"next answer's TTFT after a Stop: p50 {percentile(next_ttft, 50) * 1000:.0f} ms, "
        f"p95 {percentile(next_ttft, 95) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
