"""One flow of the Chat's tool cards, run in every host row (the notebook hosts and VS Code's
renderer): Approve, the result folded, Deny, Stop while a call waits, a restored conversation."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from helpers import expect, wait_idle_chat

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


def check_tool_cards(run: Callable[[str], Any]) -> None:
    """`run(code)` runs a cell and returns the locator of its output."""
    run(SETUP)
    chat = run(CHAT).locator(".llmw-chat")
    expect(chat, "the Chat with tools").to_be_visible(timeout=60_000)
    message = chat.get_by_role("textbox", name="Message")
    send = chat.get_by_role("button", name="Send", exact=True)
    cards = chat.locator(".llmw-tool-card")

    def ask(text: str) -> Any:
        card = cards.nth(cards.count())  # the card this turn brings (counted before Send)
        message.fill(text)
        send.click()
        expect(
            card.get_by_role("button", name="Approve", exact=True),
            f"the Approve of the call that {text!r} brings",
        ).to_be_visible(timeout=180_000)
        expect(card.locator(".llmw-tool-name"), "the called function's name").to_have_text(
            "get_weather"
        )
        expect(card.get_by_text("waits for your approval"), "the waiting line").to_be_visible()
        return card

    def idle(what: str) -> None:
        wait_idle_chat(chat, what, timeout=180)

    first = ask("What is the weather in Paris?")
    expect(first.locator(".llmw-tool-args"), "the call's arguments").to_contain_text("city")
    first.get_by_role("button", name="Approve", exact=True).click()
    expect(
        chat.locator('.llmw-tool-card[data-status="done"]').first, "the approved call done"
    ).to_be_visible(timeout=60_000)
    result = first.locator(".llmw-tool-result")
    expect(result, "the call's result folded").to_have_js_property("open", False)
    result.locator("summary").click()
    expect(result.locator("pre"), "the call's result, unfolded").to_contain_text(
        '"temperature": 21'
    )
    expect(
        first.get_by_role("button", name="Approve"), "no Approve once the call ran"
    ).to_be_hidden()
    idle("the approved turn ended")
    answer = chat.locator(".llmw-msg-assistant").last
    expect(  # the card sits in its turn
        answer.locator(".llmw-tools .llmw-tool-card"), "the card in its answer"
    ).to_have_count(1)
    expect(answer.locator(".llmw-text"), "the answer after the call").to_have_text(
        re.compile(r"\S")
    )

    second = ask("And in Rome?")
    second.get_by_role("button", name="Deny", exact=True).click()
    expect(
        second.get_by_text("Declined: the function did not run."), "the denied call's line"
    ).to_be_visible()
    idle("the denied turn ended")

    third = ask("And in Oslo?")
    chat.get_by_role("button", name="Stop", exact=True).click()  # the call waits: it cannot end
    idle("the turn stopped while its call waited")
    expect(third, "the waiting call stopped").to_have_attribute("data-status", "stopped")
    expect(
        third.get_by_role("button", name="Approve", exact=True), "no Approve once stopped"
    ).to_be_hidden()
    expect(chat.locator(".llmw-error"), "no error in the Chat").to_have_text("")

    out = run(CHECK)
    roles = "'user', 'assistant', 'tool', 'assistant', 'user', 'assistant', 'tool'"
    expect(out, "the kernel's list of roles").to_contain_text(roles)
    expect(out, "one call run (the approved one)").to_contain_text("CALLS 1")

    restored = run(RESTORED).locator(".llmw-chat")
    expect(restored, "the restored Chat").to_be_visible()
    saved = restored.locator(".llmw-tool-card")
    expect(saved, "the restored conversation's three cards").to_have_count(3)
    expect(saved.first.locator(".llmw-tool-name"), "a restored card's function").to_have_text(
        "get_weather"
    )
    saved.first.locator(".llmw-tool-result summary").click()
    expect(
        saved.first.locator(".llmw-tool-result pre"), "a restored card's result"
    ).to_contain_text('"temperature": 21')
    expect(
        restored.get_by_role("button", name="Approve").first, "no Approve in a restored Chat"
    ).to_be_hidden()
