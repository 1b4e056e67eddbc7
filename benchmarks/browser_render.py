"""A search with 100 results in a real JupyterLab: time from the click to the painted list, time
from the results reaching the page to the painted list, and how fast the list answers a click.
Run: .venv/bin/python benchmarks/browser_render.py   (needs Chromium at /usr/bin/chromium)
"""

from __future__ import annotations

import statistics
import sys  # noqa: E402
import time
from pathlib import Path as _Path  # noqa: E402

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(_Path(__file__).resolve().parents[1] / "tests"))  # the CI harness
from harness.jupyter import JupyterServer, NotebookPage, launch_chromium  # noqa: E402

CELLS = [
    "import os, tempfile\n"
    "from llm_widgets import LLMKernelService, ModelBrowser\n"
    "from llm_widgets.testing import LocalHub\n"
    "hub = LocalHub().start()\n"
    "for i in range(120):\n"
    "    hub.add_repo(f'org{i % 7}/model-{i:03d}-GGUF', downloads=i * 10, likes=i)\n"
    "    hub.add_file(f'org{i % 7}/model-{i:03d}-GGUF', 'm.Q4_K_M.gguf', b'GGUF' + bytes(100))\n"
    "service = LLMKernelService(endpoint=hub.url, cache_dir=tempfile.mkdtemp())\n"
    "LLMKernelService.set_instance(service)",
    "browser = ModelBrowser()\nbrowser",
]


def main() -> None:
    server = JupyterServer("lab")
    try:
        with sync_playwright() as p:
            chromium = launch_chromium(p)
            page = chromium.new_page(viewport={"width": 1280, "height": 1000})
            server.write_notebook("render.ipynb", CELLS)
            nb = NotebookPage(server, page, "render.ipynb").open()
            nb.run_cell(0)
            nb.run_cell(1)
            out = nb.output(1)
            results = out.get_by_role("list", name="Search results")
            box = out.get_by_role("searchbox", name="Search models")
            click_to_paint, render, pick = [], [], []
            for query in ["model", "model-", "GGUF", "model", "model-"] * 2:
                box.fill("nothing-matches")  # empty the list first, so each search repaints it
                out.get_by_role("button", name="Search").click()
                page.wait_for_function(
                    "() => document.querySelector('.llmw-results').dataset.count === '0'",
                    timeout=30_000,
                )
                box.fill(query)
                page.evaluate(
                    "() => { const l = document.querySelector('.llmw-results'); "
                    "delete l.dataset.paintedAt; }"
                )
                clicked = page.evaluate("() => performance.now()")
                out.get_by_role("button", name="Search").click()
                page.wait_for_function(
                    "() => document.querySelector('.llmw-results').dataset.paintedAt",
                    timeout=30_000,
                )
                painted = float(results.get_attribute("data-painted-at"))
                click_to_paint.append(painted - clicked)
                render.append(float(results.get_attribute("data-render-ms")))
                assert results.get_attribute("data-count") == "100"
                start = time.perf_counter()
                results.get_by_role("button").nth(99).click()
                results.locator('button[aria-current="true"]').wait_for(timeout=10_000)
                pick.append((time.perf_counter() - start) * 1000)
            chromium.close()
    finally:
        server.stop()
    med = statistics.median
    print("ModelBrowser search with 100 results, JupyterLab 4 + Chromium, median of 10:")
    print(f"click Search -> list painted: {med(click_to_paint):7.1f} ms (kernel search included)")
    print(f"results in the page -> painted: {med(render):7.1f} ms")
    print(f"click the 100th result -> marked as picked: {med(pick):7.1f} ms")


if __name__ == "__main__":
    main()
