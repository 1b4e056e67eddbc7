"""A bigger model on a server, from the page: ServerConnection connects to a real
OpenAI-compatible server (llama-cpp-python's, with an API key), the Chat streams from it, Stop
ends the answer, the next one comes, and the key is nowhere in the saved notebook."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import ENDLESS_GRAMMAR, expect, wait_idle_chat

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
        # an answer that cannot end by itself: Stop always finds it running
        f"chat = Chat(generation_params={{'grammar': {ENDLESS_GRAMMAR!r}}})\n"
        "chat.max_tokens = 1500\nchat",
        "print('STATE', connection.status, service.model.backend, chat.job.stop_reason)",
        "chat.max_tokens = 40  # the next answer ends at its limit",
    ]


def test_connect_chat_stop_and_chat_again(
    notebook_page: Any, server: OpenAIServer, screenshot: Any
) -> None:
    nb = notebook_page("server_ui.ipynb", cells(server))
    nb.run_cell(0)
    nb.run_cell(1)
    panel = nb.output(1).locator(".llmw-server")
    expect(panel, "the server connection panel").to_be_visible()
    status = panel.get_by_role("status", name="Connection status")
    expect(status, "the status before Connect").to_have_text("Not connected")

    # no key first: the server's 401 is explained in the widget
    panel.get_by_role("button", name="Connect").click()
    expect(
        panel.locator(".llmw-error").get_by_text("needs an API key"), "the missing key, explained"
    ).to_be_visible()
    expect(status, "the status after a 401").to_have_text("Failed")

    key = panel.get_by_role("textbox", name="API key")
    key.fill(KEY)
    panel.get_by_role("button", name="Connect").click()
    expect(panel.get_by_text("Connected", exact=True), "Connected with the key").to_be_visible()
    expect(key, "the key not kept in the page").to_have_value("")
    expect(panel, "the server's model and host").to_contain_text("smollm2-server on 127.0.0.1")
    expect(panel.get_by_role("combobox", name="Model"), "the server's model").to_have_value(
        "smollm2-server"
    )
    screenshot(panel, "server-connected")

    nb.run_cell(2)
    chat = nb.output(2).locator(".llmw-chat")
    expect(chat, "the Chat").to_be_visible()
    expect(
        chat.get_by_text(f"smollm2-server · on 127.0.0.1:{server.port}"), "the server in the Chat"
    ).to_be_visible()
    message = chat.get_by_role("textbox", name="Message")
    send, stop = chat.get_by_role("button", name="Send"), chat.get_by_role("button", name="Stop")
    message.fill("Write a very long, detailed story about a lighthouse keeper and a storm.")
    send.click()
    answer = chat.locator(".llmw-msg-assistant .llmw-text").last
    expect(answer, "five characters streamed from the server").to_have_text(
        re.compile(r"\S[\s\S]{3,}\S"), use_inner_text=True
    )
    stop.click()
    expect(chat.get_by_text("Stopped by you"), "the answer's Stopped mark").to_be_visible()
    expect(send, "Send once stopped").to_be_enabled()

    nb.run_cell(4)
    message.fill("Say hello.")
    message.press("Enter")
    expect(chat.locator(".llmw-msg-assistant"), "the second answer").to_have_count(2)
    wait_idle_chat(chat, "the second answer ended", timeout=60)
    expect(
        chat.locator(".llmw-msg-assistant .llmw-text").last, "the second answer's text"
    ).to_have_text(re.compile(r"\S"))
    screenshot(chat, "server-chat")

    nb.run_cell(3)
    expect(nb.output(3), "the kernel's account").to_contain_text("STATE connected remote")

    nb.save_with_widgets()
    saved = (nb.server.root / nb.name).read_text()
    assert "smollm2-server" in saved and KEY not in saved

    panel.get_by_role("button", name="Disconnect").click()
    expect(panel.get_by_text("Not connected", exact=True), "Not connected again").to_be_visible()
    expect(chat.get_by_text("no model loaded"), "the Chat without a model").to_be_visible()
