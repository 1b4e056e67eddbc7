"""One flow of the Chat's tool cards, run in every host row (the notebook hosts and VS Code's
renderer): Approve, the result folded, Deny, Stop while a call waits, a restored conversation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

SETUP = (
    "from llm_widgets import Chat, LLMKernelService\n"
    "from llm_widgets.demo import packaged_model_path\n"
    "service = LLMKernelService.instance()\n"
    "service.load_model(packaged_model_path(), n_ctx=2048).wait(120)\n"
    "CALLS = []\n"
    "def get_weather(city: str) -> dict:\n"
    '    """Get the current weather in a city."""\n'
    "    CALLS.append(city)\n"
    "    return {'city': city, 'temperature': 21, 'sky': 'sunny'}"
)
CHAT = (
    "chat = Chat(tools=[get_weather], tool_choice='get_weather', approve='ask')\n"
    "chat.max_tokens = 40\nchat.temperature = 0.0\nchat"
)
CHECK = "print('ROLES', [m['role'] for m in chat.messages], 'CALLS', len(CALLS))"
RESTORED = "Chat(messages=chat.messages)"
CELLS = [SETUP, CHAT, CHECK, RESTORED]


def _wait(predicate: Callable[[], Any], timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, why
        time.sleep(0.1)


def check_tool_cards(run: Callable[[str], Any]) -> None:
    """`run(code)` runs a cell and returns the locator of its output."""
    run(SETUP)
    chat = run(CHAT).locator(".llmw-chat")
    chat.wait_for(timeout=60_000)
    message = chat.get_by_role("textbox", name="Message")
    send = chat.get_by_role("button", name="Send", exact=True)
    cards = chat.locator(".llmw-tool-card")

    def ask(text: str) -> Any:
        message.fill(text)
        send.click()
        card = cards.nth(cards.count())  # the card this turn brings
        card.get_by_role("button", name="Approve", exact=True).wait_for(timeout=180_000)
        assert card.locator(".llmw-tool-name").inner_text() == "get_weather"
        assert card.get_by_text("waits for your approval").is_visible()
        return card

    def idle() -> None:
        _wait(
            lambda: send.is_enabled() and chat.locator(".llmw-streaming").count() == 0,
            180,
            "the turn did not end",
        )

    first = ask("What is the weather in Paris?")
    assert "city" in first.locator(".llmw-tool-args").inner_text()
    first.get_by_role("button", name="Approve", exact=True).click()
    chat.locator('.llmw-tool-card[data-status="done"]').first.wait_for(timeout=60_000)
    result = first.locator(".llmw-tool-result")
    assert result.get_attribute("open") is None  # folded
    result.locator("summary").click()
    assert '"temperature": 21' in result.locator("pre").inner_text()
    assert (
        first.get_by_role("button", name="Approve").count() == 0
        or not first.get_by_role("button", name="Approve").is_visible()
    )
    idle()
    answer = chat.locator(".llmw-msg-assistant").last
    assert answer.locator(".llmw-tools .llmw-tool-card").count() == 1  # the card sits in its turn
    assert answer.locator(".llmw-text").inner_text().strip()

    second = ask("And in Rome?")
    second.get_by_role("button", name="Deny", exact=True).click()
    second.get_by_text("Declined: the function did not run.").wait_for(timeout=30_000)
    idle()

    third = ask("And in Oslo?")
    chat.get_by_role("button", name="Stop", exact=True).click()
    idle()
    assert third.get_attribute("data-status") == "stopped"
    assert not third.get_by_role("button", name="Approve", exact=True).is_visible()
    assert chat.locator(".llmw-error").inner_text() == ""

    out = run(CHECK)
    out.get_by_text("ROLES").wait_for(timeout=30_000)
    text = out.inner_text()
    assert "'user', 'assistant', 'tool', 'assistant', 'user', 'assistant', 'tool'" in text, text
    assert "CALLS 1" in text, text

    restored = run(RESTORED).locator(".llmw-chat")
    restored.wait_for(timeout=30_000)
    saved = restored.locator(".llmw-tool-card")
    _wait(lambda: saved.count() == 3, 30, "the restored conversation lacks its cards")
    assert saved.first.locator(".llmw-tool-name").inner_text() == "get_weather"
    saved.first.locator(".llmw-tool-result summary").click()
    assert '"temperature": 21' in saved.first.locator(".llmw-tool-result pre").inner_text()
    assert restored.get_by_role("button", name="Approve").count() == 0 or not (
        restored.get_by_role("button", name="Approve").first.is_visible()
    )
