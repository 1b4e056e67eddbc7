"""The README's Chat screenshots, in JupyterLab 4 with the light and the dark theme: a live
conversation with the demo model (one answer stopped) and a restored one rendered as Markdown.

    .venv/bin/python scripts/chat_screenshots.py [folder]   # default: docs/images
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from pathlib import Path as _Path  # noqa: E402
from typing import Any

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(_Path(__file__).resolve().parents[1] / "tests"))  # the CI harness
from harness.jupyter import JupyterServer, NotebookPage, launch_chromium  # noqa: E402

SAVED = [
    {"role": "user", "content": "How do I read a CSV file with pandas?"},
    {
        "role": "assistant",
        "content": "Use `pandas.read_csv`:\n\n```python\nimport pandas as pd\n\n"
        'df = pd.read_csv("reviews.csv")\nprint(df.head())\n```\n\n'
        "| argument | what it does |\n| --- | --- |\n| `sep` | the column separator |\n"
        "| `usecols` | read only these columns |\n\n"
        "- **Large files:** pass `chunksize=` and iterate.\n- **Dates:** `parse_dates=[...]`.",
    },
]
CELLS = [
    "from llm_widgets import Chat, LLMKernelService\n"
    "from llm_widgets.demo import packaged_model_path\n"
    "service = LLMKernelService.instance()\n"
    "service.load_model(packaged_model_path(), n_ctx=2048).wait(120)",
    "chat = Chat(temperature=0.2, max_tokens=400)\nchat",
    f"Chat(messages={SAVED!r})",
]


def main(folder: Path) -> None:
    server = JupyterServer("lab")
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1100, "height": 1300})
            server.write_notebook("chat_screens.ipynb", CELLS)
            nb = NotebookPage(server, page, "chat_screens.ipynb").open()
            for i in range(3):
                nb.run_cell(i)
            chat = nb.output(1).locator(".llmw-chat")
            converse(chat)
            restored = nb.output(2).locator(".llmw-chat")
            restored.locator("pre code").wait_for(timeout=30_000)
            for theme, suffix in (("JupyterLab Light", ""), ("JupyterLab Dark", "-dark")):
                page.evaluate(
                    "t => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})",
                    theme,
                )
                time.sleep(1.5)
                page.mouse.move(0, 0)
                chat.scroll_into_view_if_needed()
                chat.screenshot(path=str(folder / f"chat-stopped{suffix}.png"))
                restored.locator(".llmw-msg-assistant").hover()  # its actions show on hover
                time.sleep(0.3)
                restored.screenshot(path=str(folder / f"chat-markdown{suffix}.png"))
            browser.close()
    finally:
        server.stop()


def converse(chat: Any) -> None:
    """One answer to the end, then one stopped while it streams."""
    message = chat.get_by_role("textbox", name="Message")
    send = chat.get_by_role("button", name="Send")
    message.fill("What is the capital of France? Answer in one sentence.")
    message.press("Enter")
    _until(lambda: send.is_enabled() and chat.locator(".llmw-streaming").count() == 0)
    message.fill("Now write a long story about a lighthouse keeper.")
    message.press("Enter")
    answer = chat.locator(".llmw-msg-assistant .llmw-text").last
    _until(lambda: len(answer.inner_text()) > 300)
    chat.get_by_role("button", name="Stop").click()
    chat.get_by_text("Stopped by you").wait_for(timeout=10_000)


def _until(predicate: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the chat did not get there"
        time.sleep(0.1)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
