"""What streaming into a cell costs: a `%%llm` answer (display updates, at most 10 a second)
against the same answer waited for without any output (`job.wait()`), in a real kernel on the
demo model, greedy, runs interleaved. Prints tokens/s of each, their ratio, and the display
messages and bytes one answer sends.

Run: .venv/bin/python benchmarks/magic_stream.py
"""

from __future__ import annotations

import json
import queue
import statistics

from jupyter_client.manager import KernelManager

from llm_widgets.demo import packaged_model_path

PROMPT = "Write a long story about a lighthouse keeper and a storm."
TOKENS = 400
ROUNDS = 3
SETUP = f"""
import json, time
from llm_widgets import LLMKernelService
service = LLMKernelService.instance()
service.load_model({str(packaged_model_path())!r}, n_ctx=2048).wait(120)
%load_ext llm_widgets
magic = get_ipython().magics_manager.registry["LLMMagics"]
"""
REFERENCE = f"""
t = time.perf_counter()
job = service.generate_chat_completion([{{"role": "user", "content": {PROMPT!r}}}],
                                       max_tokens={TOKENS}, temperature=0.0)
job.wait()
print(json.dumps([job.stats.completion_tokens, time.perf_counter() - t]))
"""
MAGIC = f"""
t = time.perf_counter()
get_ipython().run_cell_magic("llm", "--new --max-tokens {TOKENS} --temperature 0", {PROMPT!r})
print(json.dumps([magic.job.stats.completion_tokens, time.perf_counter() - t]))
"""


def run(kc: object, code: str) -> tuple[list[float], int, int]:
    """Execute `code`; (what it printed as JSON, display messages, their bytes)."""
    msg_id = kc.execute(code)  # type: ignore[attr-defined]
    printed, displays, size = "", 0, 0
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=120)  # type: ignore[attr-defined]
        except queue.Empty as exc:
            raise RuntimeError("the kernel went quiet") from exc
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            printed += content["text"]
        elif kind in ("display_data", "update_display_data"):
            displays += 1
            size += len(json.dumps(content))
        elif kind == "error":
            raise RuntimeError(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            break
    lines = [line for line in printed.splitlines() if line.startswith("[")]
    return (json.loads(lines[-1]) if lines else []), displays, size


def main() -> None:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        run(kc, SETUP)
        run(kc, REFERENCE)  # warm up: the first answer pays for the prompt
        speeds: dict[str, list[float]] = {"reference": [], "magic": []}
        messages: list[tuple[int, int]] = []
        for _ in range(ROUNDS):
            (tokens, seconds), _, _ = run(kc, REFERENCE)
            speeds["reference"].append(tokens / seconds)
            (tokens, seconds), displays, size = run(kc, MAGIC)
            speeds["magic"].append(tokens / seconds)
            messages.append((displays, size))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    reference, magic = (statistics.median(speeds[k]) for k in ("reference", "magic"))
    print(f"job.wait() (no output)   {reference:6.1f} tokens/s (median of {ROUNDS})")
    print(f"%%llm (display updates)  {magic:6.1f} tokens/s  ratio {magic / reference:.2f}")
    displays, size = messages[-1]
    print(
        f"one %%llm answer of {TOKENS} tokens: {displays} display messages, {size / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
