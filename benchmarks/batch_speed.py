"""A batch run vs a bare loop on each engine's raw binding: items/s of `service.map` (choices, so
one grammar per answer; no cache) and of a loop sending the same messages, grammar and sampling
straight to the binding (llama-cpp-python's `Llama.create_chat_completion`; xllamacpp's in-process
`Server.handle_chat_completions`), on the same model (SmolLM2-135M-Instruct Q4_1), alternating
runs in one process per engine. Goal: >= 0.95x; the overhead per item in ms.
Run: .venv/bin/python benchmarks/batch_speed.py [xllamacpp | llama-cpp-python]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from llm_widgets import LLMKernelService
from llm_widgets.demo import packaged_model_path, sample_reviews
from llm_widgets.request.structured import output_format

PROMPT = "Classify the sentiment of this product review as positive or negative.\n\nReview: {text}"
LABELS = ["positive", "negative"]
ITEMS = 80
RUNS = 3
GRAMMAR = str(output_format(None, LABELS).request["grammar"])


def messages(row: dict[str, str]) -> list[dict[str, str]]:
    return [{"role": "user", "content": PROMPT.format(**row)}]


def bare_llama_cpp_python(path: str) -> tuple[Callable[[dict[str, str]], None], Callable[[], None]]:
    from llama_cpp import Llama, LlamaGrammar

    llm = Llama(model_path=path, n_ctx=2048, verbose=False)
    grammar = LlamaGrammar.from_string(GRAMMAR, verbose=False)

    def one(row: dict[str, str]) -> None:
        llm.create_chat_completion(messages(row), grammar=grammar, temperature=0.0)  # type: ignore[arg-type]

    return one, llm.close


def bare_xllamacpp(path: str) -> tuple[Callable[[dict[str, str]], None], Callable[[], None]]:
    import xllamacpp

    from llm_widgets.engines.xllamacpp import N_BATCH

    params = xllamacpp.CommonParams()
    params.model.path, params.n_ctx, params.verbosity, params.ui = path, 2048, 1, False
    params.n_batch = params.n_ubatch = N_BATCH  # as the engine runs it
    params.n_parallel = 1
    params.cpuparams.n_threads = max((os.cpu_count() or 1) // 2, 1)
    params.cpuparams_batch.n_threads = os.cpu_count() or 1
    server: Any = xllamacpp.Server(params)

    def one(row: dict[str, str]) -> None:
        body = {"messages": messages(row), "grammar": GRAMMAR, "temperature": 0.0}
        reply = server.handle_chat_completions(body)
        assert "error" not in reply, reply

    def close() -> None:
        nonlocal server
        server = None

    return one, close


def rate(run: Callable[[], None], items: int) -> float:
    start = time.perf_counter()
    run()
    return items / (time.perf_counter() - start)


def measure(engine: str) -> None:
    rows = sample_reviews()[:ITEMS]
    path = str(packaged_model_path())
    one, close = (bare_xllamacpp if engine == "xllamacpp" else bare_llama_cpp_python)(path)
    service = LLMKernelService()
    service.load_model(path, n_ctx=2048, engine=engine).wait()

    def bare(items: list[dict[str, str]]) -> None:
        for row in items:
            one(row)

    def ours(items: list[dict[str, str]]) -> None:
        job = service.map(items, prompt=PROMPT, choices=LABELS, temperature=0.0, cache=False)
        job.wait()
        assert job.completed == len(items), job.errors

    bare(rows[:5]), ours(rows[:5])  # warm up both
    bare_runs, our_runs = [], []
    for _ in range(RUNS):
        bare_runs.append(rate(lambda: bare(rows), ITEMS))
        our_runs.append(rate(lambda: ours(rows), ITEMS))
    close()
    service.shutdown()
    b, o = statistics.median(bare_runs), statistics.median(our_runs)
    print(f"{engine}: bare binding loop {b:6.2f} items/s ({1000 / b:.1f} ms/item)")
    print(f"{engine}: service.map       {o:6.2f} items/s ({1000 / o:.1f} ms/item)")
    extra = 1000 / o - 1000 / b
    print(f"{engine}: ratio {o / b:.3f} (goal >= 0.95); overhead per item {extra:+.1f} ms")


def main() -> None:
    if len(sys.argv) > 1:
        measure(sys.argv[1])
        return
    print(f"model: SmolLM2-135M-Instruct Q4_1, {ITEMS} reviews, choices of 2 labels, greedy")
    for engine in ("xllamacpp", "llama-cpp-python"):  # one llama.cpp build per process
        subprocess.run([sys.executable, __file__, engine], check=True)


if __name__ == "__main__":
    main()
