"""Markdown while an answer streams: the cost of each chunk at the end of a ~4,000-token answer.

1. In a bare Chromium page, the Chat's renderer (js/markdown.ts) against the reference that
   re-parses the whole answer on every chunk: time to parse, build the DOM and lay it out, per
   chunk, over the last tenth of the answer; for a mixed answer, and for one long code block
   (a script: the block being written is the whole answer).
2. In a real JupyterLab, a Chat whose view receives the same answer as `chunk` messages through
   the widget's comm (sent from the kernel at ~30 messages a second, as the Chat batches a model's
   tokens): per chunk, the time the view takes to show it (parse, DOM, layout) and the rendering
   of the frame after it (style, layout, paint).

Run: .venv/bin/python benchmarks/chat_render.py   (needs Chromium at /usr/bin/chromium and npm)
"""

from __future__ import annotations

import json
import subprocess
import sys  # noqa: E402
import tempfile
from pathlib import Path
from pathlib import Path as _Path  # noqa: E402
from typing import Any

from _common import percentile
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(_Path(__file__).resolve().parents[1] / "tests"))  # the CI harness
from harness.jupyter import JupyterServer, NotebookPage, launch_chromium  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 24  # characters per chunk message: ~6 tokens, a fast model's batch at 30 messages/s


def long_answer() -> str:
    """A Markdown answer of about 4,000 tokens: headings, lists, tables, bold, code blocks."""
    parts = ["# Building a data pipeline\n\nHere is a **complete** walk-through, step by step.\n"]
    for i in range(1, 11):
        parts.append(
            f"\n## Step {i}: part {i} of the job\n\n"
            f"In this step we *prepare* the inputs for stage {i}. The idea is simple: read, "
            "check, transform and write, keeping **every** intermediate result so that a "
            "failure can be resumed. See [the docs](https://example.org/docs) for details.\n\n"
            "- read the raw files from `data/raw`\n- drop rows with missing keys\n"
            "- convert the dates to UTC\n  - keep the original column too\n"
            "- write the result as Parquet\n\n"
            "| column | type | meaning |\n| --- | :---: | ---: |\n"
            + "".join(f"| col_{j} | int64 | the value number {j} |\n" for j in range(6))
            + "\n```python\n"
            + "".join(
                f"def stage_{i}_{j}(frame):\n    # step {j}: filter and scale\n"
                f'    frame = frame[frame["value_{j}"] > {j}]\n'
                f'    return frame.assign(scaled=frame["value_{j}"] * {j}.5)\n\n'
                for j in range(5)
            )
            + "```\n\n"
            "1. run it once on a sample\n2. compare the counts\n3. run it on everything\n\n"
            "> Note: this step is idempotent, so running it twice is safe.\n"
        )
    return "".join(parts)


def long_code_answer() -> str:
    """About 4,000 tokens, nearly all of them in one fenced code block."""
    body = "".join(
        f"def function_{i}(items, factor={i}):\n"
        "    # scale every item by the factor\n"
        f"    result = [x * factor for x in items if x > {i}]\n"
        f"    return {{'name': 'f{i}', 'values': result}}\n\n"
        for i in range(110)
    )
    return f"Here is the script:\n\n```python\n{body}```\n\nRun it with `python script.py`.\n"


def bundle_renderer() -> str:
    """js/markdown.ts as a script that sets `window.llmwMarkdown` (same aliases as the build)."""
    out = Path(tempfile.mkdtemp()) / "markdown.js"
    subprocess.run(
        [
            str(ROOT / "node_modules/.bin/esbuild"),
            "js/markdown.ts",
            "--bundle",
            "--minify",
            "--format=iife",
            "--global-name=llmwMarkdown",
            "--alias:entities=./js/shims/entities.ts",
            "--alias:linkify-it=./js/shims/linkify.ts",
            f"--outfile={out}",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out.read_text()


IN_PAGE = """([answer, size]) => {
  const { StreamingMarkdown, renderMarkdown } = window.llmwMarkdown;
  const run = (kind) => {
    const text = document.createElement("div");
    text.className = "llmw-text llmw-md";
    document.querySelector(".llmw-msg").replaceChildren(text);
    const view = kind === "streaming" ? new StreamingMarkdown(text) : null;
    let source = "";
    const times = [];
    for (let at = 0; at < answer.length; at += size) {
      const piece = answer.slice(at, at + size);
      const start = performance.now();
      if (view) view.append(piece);
      else text.replaceChildren(renderMarkdown((source += piece)));
      void text.offsetHeight;  // layout, as the view does when it scrolls
      times.push(performance.now() - start);
    }
    return times;
  };
  run("streaming"); run("full");  // warm up
  return { streaming: run("streaming"), full: run("full") };
}"""

PAGE = """<!doctype html><html><head><style>{css}</style></head><body>
<div class="llmw llmw-chat"><div class="llmw-transcript" style="height: 340px">
<div class="llmw-msg llmw-msg-assistant"></div></div></div></body></html>"""


def in_page(browser: Any, answer: str) -> dict[str, list[float]]:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    css = (ROOT / "src/llm_widgets/static/chat.css").read_text()
    page.set_content(PAGE.format(css=css))
    page.add_script_tag(content=bundle_renderer())
    times: dict[str, list[float]] = page.evaluate(IN_PAGE, [answer, CHUNK])
    page.close()
    return times


PROBE = """() => {
  window.__llmwTimes = [];
  window.__llmwChunkProbe = (start) => {
    const shown = performance.now() - start;
    requestAnimationFrame(() => {
      const frame = performance.now();
      setTimeout(() => window.__llmwTimes.push([shown, performance.now() - frame]));
    });
  };
}"""

CELLS = [
    "import json, threading, time\n"
    "from llm_widgets import Chat, LLMKernelService\n"
    "LLMKernelService.set_instance(LLMKernelService())\n"
    "chat = Chat(messages=[{'role': 'user', 'content': 'Walk me through it.'}])\nchat",
    "ANSWER = json.loads(open({path!r}).read())\n"
    "def stream():\n"
    "    chat._post({{'type': 'transcript', 'messages': chat.messages, 'partial': ''}})\n"
    "    for at in range(0, len(ANSWER), {size}):\n"
    "        chat._post({{'type': 'chunk', 'text': ANSWER[at:at + {size}]}})\n"
    "        time.sleep(1 / 30)\n"
    "    chat._post({{'type': 'done', 'stats': {{}}}})\n"
    "threading.Thread(target=stream).start()",
]


def in_jupyterlab(browser: Any, answer: str) -> list[list[float]]:
    path = Path(tempfile.mkdtemp()) / "answer.json"
    path.write_text(json.dumps(answer))
    cells = [CELLS[0], CELLS[1].format(path=str(path), size=CHUNK)]
    server = JupyterServer("lab")
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        server.write_notebook("chat_render.ipynb", cells)
        nb = NotebookPage(server, page, "chat_render.ipynb").open()
        nb.run_cell(0)
        nb.output(0).locator(".llmw-chat").wait_for(timeout=30_000)
        page.evaluate(PROBE)
        nb.run_cell(1)
        page.wait_for_function(
            "() => document.querySelector('.llmw-msg-assistant') && "
            "!document.querySelector('.llmw-streaming')",
            timeout=120_000,
        )
        page.wait_for_timeout(200)
        times: list[list[float]] = page.evaluate("() => window.__llmwTimes")
        page.close()
        return times
    finally:
        server.stop()


def tail(values: list[float]) -> list[float]:
    """The last tenth: the chunks at the end of the answer, where re-parsing costs most."""
    return values[-max(1, len(values) // 10) :]


def print_in_page(title: str, answer: str, times: dict[str, list[float]]) -> None:
    chunks = len(times["streaming"])
    print(f"{title}: {len(answer)} characters (~{len(answer) // 4} tokens), {chunks} chunks")
    print("   per chunk over the last tenth (parse + DOM + layout), ms:")
    for kind in ("streaming", "full"):
        last = tail(times[kind])
        name = "the Chat (tail re-parsed)" if kind == "streaming" else "reference (all re-parsed)"
        print(
            f"   {name:27} p50 {percentile(last, 50):6.2f}  p95 {percentile(last, 95):6.2f}  "
            f"whole answer {sum(times[kind]):7.0f}"
        )
    ratios = [
        percentile(tail(times["full"]), q) / percentile(tail(times["streaming"]), q)
        for q in (50, 95)
    ]
    print(f"   reference / the Chat: p50 {ratios[0]:.1f}x, p95 {ratios[1]:.1f}x")


def main() -> None:
    answer, code = long_answer(), long_code_answer()
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page_times = in_page(browser, answer)
        code_times = in_page(browser, code)
        lab_times = in_jupyterlab(browser, answer)
        browser.close()
    print(f"Bare Chromium page, chunks of {CHUNK} characters:")
    print_in_page("1a. a mixed answer", answer, page_times)
    print_in_page("1b. one long code block", code, code_times)
    shown = tail([t[0] for t in lab_times])
    frame = tail([t[1] for t in lab_times])
    both = tail([t[0] + t[1] for t in lab_times])
    print(f"2. JupyterLab 4, {len(lab_times)} chunks through the comm, last tenth, ms:")
    for name, values in [
        ("chunk shown (parse + DOM + layout)", shown),
        ("frame after it (style + paint)", frame),
        ("both (goal: p95 < 16)", both),
    ]:
        print(f"   {name:36} p50 {percentile(values, 50):6.2f}  p95 {percentile(values, 95):6.2f}")


if __name__ == "__main__":
    main()
