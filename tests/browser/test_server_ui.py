"""A bigger model on a server, from the page: ServerConnection connects to a real
OpenAI-compatible server (llama-cpp-python's, with an API key), the Chat streams from it, Stop
ends the answer, the next one comes, and the key is nowhere in the saved notebook."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from llm_widgets.demo import packaged_model_path
from llm_widgets.testing.openai_server import OpenAIServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KEY = "sk-browser-5d1e8a2f"


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(packaged_model_path(), alias="smollm2-server", api_key=KEY) as running:
        yield running


def cells(server: OpenAIServer) -> list[str]:
    return [
        "import os, tempfile\n"
        "os.environ.pop('OPENAI_API_KEY', None)\n"
        "from llm_widgets import Chat, LLMKernelService, ServerConnection\n"
        "service = LLMKernelService(cache_dir=tempfile.mkdtemp())\n"
        "LLMKernelService.set_instance(service)",
        f"connection = ServerConnection(base_url={server.base_url!r})\nconnection",
        "chat = Chat()\nchat.max_tokens = 1500\nchat",
        "print('STATE', connection.status, service.model.backend, chat.job.stop_reason)",
    ]


def test_connect_chat_stop_and_chat_again(
    notebook_page: Any, server: OpenAIServer, screenshot: Any
) -> None:
    nb = notebook_page("server_ui.ipynb", cells(server))
    nb.run_cell(0)
    nb.run_cell(1)
    panel = nb.output(1).locator(".llmw-server")
    panel.wait_for(timeout=30_000)
    status = panel.get_by_role("status", name="Connection status")
    assert status.inner_text() == "Not connected"

    # no key first: the server's 401 is explained in the widget
    panel.get_by_role("button", name="Connect").click()
    panel.locator(".llmw-error").get_by_text("needs an API key").wait_for(timeout=20_000)
    assert status.inner_text() == "Failed"

    key = panel.get_by_role("textbox", name="API key")
    key.fill(KEY)
    panel.get_by_role("button", name="Connect").click()
    panel.get_by_text("Connected", exact=True).wait_for(timeout=20_000)
    assert key.input_value() == ""  # the page does not keep the key
    assert "smollm2-server on 127.0.0.1" in panel.inner_text()
    assert panel.get_by_role("combobox", name="Model").input_value() == "smollm2-server"
    screenshot(panel, "server-connected")

    nb.run_cell(2)
    chat = nb.output(2).locator(".llmw-chat")
    chat.wait_for(timeout=30_000)
    chat.get_by_text(f"smollm2-server · on 127.0.0.1:{server.port}").wait_for(timeout=10_000)
    message = chat.get_by_role("textbox", name="Message")
    send, stop = chat.get_by_role("button", name="Send"), chat.get_by_role("button", name="Stop")
    message.fill("Write a very long, detailed story about a lighthouse keeper and a storm.")
    send.click()
    answer = chat.locator(".llmw-msg-assistant .llmw-text").last
    deadline = time.monotonic() + 30
    while len(answer.inner_text().strip()) < 5:
        assert time.monotonic() < deadline, "no tokens streamed from the server"
        time.sleep(0.05)
    stop.click()
    chat.get_by_text("Stopped by you").wait_for(timeout=10_000)
    assert send.is_enabled()

    message.fill("Say hello.")
    message.press("Enter")
    deadline = time.monotonic() + 60
    while not (
        send.is_enabled()
        and chat.locator(".llmw-msg-assistant").count() == 2
        and chat.locator(".llmw-streaming").count() == 0
    ):
        assert time.monotonic() < deadline, "the second answer did not finish"
        time.sleep(0.1)
    assert chat.locator(".llmw-msg-assistant .llmw-text").last.inner_text().strip()
    screenshot(chat, "server-chat")

    nb.run_cell(3)
    assert "STATE connected remote" in nb.output(3).inner_text()

    nb.save_with_widgets()
    saved = (nb.server.root / nb.name).read_text()
    assert "smollm2-server" in saved and KEY not in saved

    panel.get_by_role("button", name="Disconnect").click()
    panel.get_by_text("Not connected", exact=True).wait_for(timeout=20_000)
    chat.get_by_text("no model loaded").wait_for(timeout=10_000)
