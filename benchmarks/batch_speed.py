"""A batch run vs a bare llama-cpp-python loop: items/s of `service.map` (choices, so one grammar
per answer; no cache) and of a loop calling `Llama.create_chat_completion` with the same messages,
grammar and sampling, on the same model (SmolLM2-135M-Instruct Q4_1), alternating runs in one
process. Goal: >= 0.95x; the overhead per item in ms.
Run: .venv/bin/python benchmarks/batch_speed.py
"""

from __future__ import annotations

import statistics
import time

from llama_cpp import Llama, LlamaGrammar

from llm_widgets import LLMKernelService
from llm_widgets._structured import output_format
from llm_widgets.demo import packaged_model_path, sample_reviews

PROMPT = "Classify the sentiment of this product review as positive or negative.\n\nReview: {text}"
LABELS = ["positive", "negative"]
ITEMS = 80
RUNS = 3


def bare(llm: Llama, rows: list[dict[str, str]]) -> float:
    grammar = LlamaGrammar.from_string(output_format(None, LABELS).grammar, verbose=False)  # type: ignore[union-attr]
    start = time.perf_counter()
    for row in rows:
        messages = [{"role": "user", "content": PROMPT.format(**row)}]
        llm.create_chat_completion(messages, grammar=grammar, temperature=0.0)  # type: ignore[arg-type]
    return len(rows) / (time.perf_counter() - start)


def ours(service: LLMKernelService, rows: list[dict[str, str]]) -> float:
    start = time.perf_counter()
    job = service.map(rows, prompt=PROMPT, choices=LABELS, temperature=0.0, cache=False)
    job.wait()
    assert job.completed == len(rows), job.errors
    return len(rows) / (time.perf_counter() - start)


def main() -> None:
    rows = sample_reviews()[:ITEMS]
    path = str(packaged_model_path())
    llm = Llama(model_path=path, n_ctx=2048, verbose=False)
    service = LLMKernelService()
    service.load_model(path, n_ctx=2048).wait()
    bare(llm, rows[:5]), ours(service, rows[:5])  # warm up both
    bare_runs, our_runs = [], []
    for _ in range(RUNS):
        bare_runs.append(bare(llm, rows))
        our_runs.append(ours(service, rows))
    llm.close()
    service.shutdown()
    b, o = statistics.median(bare_runs), statistics.median(our_runs)
    print(f"model: SmolLM2-135M-Instruct Q4_1, {ITEMS} reviews, choices of 2 labels, greedy")
    print(f"bare llama-cpp-python loop: {b:6.2f} items/s ({1000 / b:.1f} ms/item)")
    print(f"service.map:                {o:6.2f} items/s ({1000 / o:.1f} ms/item)")
    print(f"ratio: {o / b:.3f} (goal >= 0.95); overhead per item: {1000 / o - 1000 / b:+.1f} ms")


if __name__ == "__main__":
    main()
