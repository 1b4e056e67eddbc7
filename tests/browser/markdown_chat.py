"""A saved conversation whose answer holds Markdown and hostile HTML, and what every host must
show of it: rendered bold, list, table and code block, and nothing of the model's HTML."""

from __future__ import annotations

import time
from typing import Any

ANSWER = (
    "Here is **bold text**.\n\n"
    "- first item\n- second item\n\n"
    "| name | value |\n| --- | --- |\n| alpha | 1 |\n\n"
    "```python\nprint('hi')\n```\n\n"
    '<img src=x onerror="window.__pwned = 1"> <script>window.__pwned = 2</script> '
    "[click me](javascript:window.__pwned=3) [safe link](https://example.org/)\n"
)
SAVED = (
    f"[{{'role': 'user', 'content': '<b>my</b> **question**'}}, "
    f"{{'role': 'assistant', 'content': {ANSWER!r}}}]"
)


def check_rendered(chat: Any, page: Any) -> None:
    """The Chat view `chat` shows SAVED rendered, and no element or script from its HTML."""
    answer = chat.locator(".llmw-msg-assistant")
    answer.locator("strong", has_text="bold text").wait_for(timeout=30_000)
    assert answer.locator("li").all_inner_texts() == ["first item", "second item"]
    assert answer.get_by_role("table").get_by_role("cell", name="alpha").count() == 1
    assert answer.locator("pre code").inner_text().strip() == "print('hi')"
    assert answer.locator(".llmw-code-lang").inner_text() == "python"
    assert answer.get_by_role("button", name="Copy code").count() == 1
    # the model's HTML is text: no element, no script, no javascript: link
    assert chat.locator("img, script, b").count() == 0
    assert '<img src=x onerror="window.__pwned = 1">' in answer.inner_text()
    assert answer.get_by_role("link", name="click me").count() == 0
    link = answer.get_by_role("link", name="safe link")
    assert link.get_attribute("href") == "https://example.org/"
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert page.evaluate("() => window.__pwned") is None
    # the person's own words stay plain text
    assert chat.locator(".llmw-msg-user .llmw-text").inner_text() == "<b>my</b> **question**"
    check_calm_look(chat, page)


def check_calm_look(chat: Any, page: Any) -> None:
    """The Chat looks calm in every host: no shouting role labels, the person's message a bubble
    on the right, the answer plain text under the model's name, no empty box below the last
    turn, and a turn's actions shown only on hover or keyboard focus (yet always in the
    accessibility tree)."""
    transcript = chat.get_by_role("log", name="Transcript")
    user, answer = chat.locator(".llmw-msg-user").first, chat.locator(".llmw-msg-assistant").first
    assert "USER" not in chat.inner_text() and "ASSISTANT" not in chat.inner_text()
    style = "(node, name) => getComputedStyle(node)[name]"
    assert answer.locator(".llmw-role").evaluate(style, "textTransform") != "uppercase"
    box, mine = transcript.bounding_box(), user.locator(".llmw-turn-body").bounding_box()
    assert box["x"] + box["width"] - (mine["x"] + mine["width"]) < 24  # right-aligned
    assert mine["width"] < box["width"] * 0.85
    assert user.locator(".llmw-turn-body").evaluate(style, "backgroundColor") != "rgba(0, 0, 0, 0)"
    assert answer.evaluate(style, "backgroundColor") == "rgba(0, 0, 0, 0)"
    assert answer.evaluate(style, "borderTopWidth") == "0px"  # no box around the answer
    # the transcript ends with its last turn (up to its bound, then it scrolls)
    gap = transcript.evaluate(
        "t => t.getBoundingClientRect().bottom - t.lastElementChild.getBoundingClientRect().bottom"
    )
    assert gap < 24, f"{gap:.0f} px of empty transcript below the last turn"
    assert transcript.evaluate(style, "maxHeight") != "none"
    # actions: hidden until the turn is hovered or holds the keyboard focus
    copy = answer.get_by_role("button", name="Copy", exact=True)
    opacity = "b => getComputedStyle(b.closest('.llmw-turn-actions')).opacity"
    page.mouse.move(0, 0)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    _settle(lambda: copy.evaluate(opacity) == "0", "the actions show without hover or focus")
    answer.hover()
    _settle(lambda: copy.evaluate(opacity) == "1", "hovering the answer does not show Copy")
    page.mouse.move(0, 0)
    _settle(lambda: copy.evaluate(opacity) == "0", "Copy stays after the pointer left")
    copy.focus()
    _settle(lambda: copy.evaluate(opacity) == "1", "keyboard focus does not show Copy")
    copy.blur()


def _settle(predicate: Any, why: str, timeout: float = 3) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, why
        time.sleep(0.05)
