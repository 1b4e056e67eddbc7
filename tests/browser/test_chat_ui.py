"""Chat in a real browser with the real SmolLM2: Send, tokens stream in, Stop, and chat again."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "import tempfile\n"
    "from llm_widgets import Chat, LLMKernelService\n"
    "from llm_widgets.demo import packaged_model_path\n"
    "service = LLMKernelService(cache_dir=tempfile.mkdtemp())\n"
    "LLMKernelService.set_instance(service)\n"
    "facts = service.load_model(packaged_model_path(), n_ctx=2048).wait(120)",
    "chat = Chat()\nchat.max_tokens = 1500\nchat",
    "print('TURNS', [m['role'] for m in chat.messages], 'STOP', chat.job.stop_reason)",
    "print('SETTINGS', chat.temperature, chat.trim_history)",
]


def test_send_stream_stop_and_send_again(notebook_page: Any, screenshot: Any) -> None:
    nb = notebook_page("chat_ui.ipynb", CELLS)
    nb.run_cell(0)
    nb.run_cell(1)
    chat = nb.output(1).locator(".llmw-chat")
    chat.wait_for(timeout=30_000)
    message = chat.get_by_role("textbox", name="Message")
    send, stop = chat.get_by_role("button", name="Send"), chat.get_by_role("button", name="Stop")
    assert stop.is_disabled()

    message.fill("Write a very long, detailed story about a lighthouse keeper and a storm.")
    send.click()
    answer = chat.locator(".llmw-msg-assistant .llmw-text").last
    deadline = time.monotonic() + 30
    while len(answer.inner_text().strip()) < 5:  # tokens appear as they stream
        assert time.monotonic() < deadline, "no tokens streamed"
        time.sleep(0.05)
    assert stop.is_enabled() and send.is_disabled()
    partial = answer.inner_text()

    stop.click()
    chat.get_by_text("stopped: aborted").wait_for(timeout=10_000)
    assert send.is_enabled() and stop.is_disabled()
    assert len(answer.inner_text()) >= len(partial)
    assert "tokens/s" in chat.locator(".llmw-stats").inner_text()
    screenshot(chat, "chat-stopped")

    nb.run_cell(2)
    text = nb.output(2).inner_text()
    assert "TURNS ['user', 'assistant'] STOP aborted" in text, text

    chat.get_by_role("button", name="Clear").click()
    message.fill("Say hello.")
    message.press("Enter")
    deadline = time.monotonic() + 60
    while not (
        send.is_enabled()
        and chat.locator(".llmw-msg-assistant").count() == 1
        and chat.locator(".llmw-streaming").count() == 0
    ):
        assert time.monotonic() < deadline, "the second answer did not finish"
        time.sleep(0.1)
    assert chat.locator(".llmw-msg-assistant .llmw-text").last.inner_text().strip()

    # settings set in the page reach Python
    chat.get_by_text("Settings").click()
    trim = chat.get_by_role("checkbox", name="Leave out the oldest turns when the context is full")
    assert trim.is_checked()
    trim.uncheck()
    temperature = chat.get_by_role("spinbutton", name="Temperature")
    temperature.fill("0.3")
    temperature.press("Enter")
    screenshot(chat, "chat-settings")
    deadline = time.monotonic() + 15
    while True:
        nb.run_cell(3)
        text = nb.output(3).inner_text()
        if "SETTINGS 0.3 False" in text:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
