"""A saved conversation whose answer holds Markdown and hostile HTML, and what every host must
show of it: rendered bold, list, table and code block, nothing of the model's HTML, and the
turn's thinking folded above the answer."""

from __future__ import annotations

from typing import Any

from helpers import expect

ANSWER = (
    "Here is **bold text**.\n\n"
    "- first item\n- second item\n\n"
    "| name | value |\n| --- | --- |\n| alpha | 1 |\n\n"
    "```python\nprint('hi')\n```\n\n"
    '<img src=x onerror="window.__pwned = 1"> <script>window.__pwned = 2</script> '
    "[click me](javascript:window.__pwned=3) [safe link](https://example.org/)\n"
)
THINKING = "Weigh <b>both</b> sides first."  # the saved turn's thinking, folded above it
SAVED = (
    f"[{{'role': 'user', 'content': '<b>my</b> **question**'}}, "
    f"{{'role': 'assistant', 'content': {ANSWER!r}, 'reasoning_content': {THINKING!r}}}]"
)


def check_rendered(chat: Any, page: Any) -> None:
    """The Chat view `chat` shows SAVED rendered, and no element or script from its HTML."""
    answer = chat.locator(".llmw-msg-assistant")
    expect(
        answer.locator("strong", has_text="bold text"), "the saved answer's bold text"
    ).to_be_visible()
    expect(answer.locator("li"), "the answer's list").to_have_text(
        ["first item", "second item"], use_inner_text=True
    )
    expect(
        answer.get_by_role("table").get_by_role("cell", name="alpha"), "the answer's table"
    ).to_have_count(1)
    expect(answer.locator("pre code"), "the answer's code block").to_have_text(
        "print('hi')", use_inner_text=True
    )
    expect(answer.locator(".llmw-code-lang"), "the code block's language").to_have_text(
        "python", use_inner_text=True
    )
    expect(answer.get_by_role("button", name="Copy code"), "the code's Copy").to_have_count(1)
    # the model's HTML is text: no element, no script, no javascript: link
    expect(chat.locator("img, script, b"), "no element from the model's HTML").to_have_count(0)
    expect(answer, "the model's HTML shown as text").to_contain_text(
        '<img src=x onerror="window.__pwned = 1">', use_inner_text=True
    )
    expect(answer.get_by_role("link", name="click me"), "no javascript: link").to_have_count(0)
    link = answer.get_by_role("link", name="safe link")
    expect(link, "the safe link's address").to_have_attribute("href", "https://example.org/")
    expect(link, "the safe link's target").to_have_attribute("target", "_blank")
    expect(link, "the safe link's rel").to_have_attribute("rel", "noopener noreferrer")
    assert page.evaluate("() => window.__pwned") is None
    # the person's own words stay plain text
    expect(chat.locator(".llmw-msg-user .llmw-text"), "the question as plain text").to_have_text(
        "<b>my</b> **question**", use_inner_text=True
    )
    # the saved thinking: folded above the answer, unfolded by its button, HTML as text
    thought = answer.get_by_role("button", name="Thought", exact=True)
    expect(thought, "the saved thinking folded").to_have_attribute("aria-expanded", "false")
    expect(answer, "the folded thinking's text hidden").not_to_contain_text(
        "Weigh", use_inner_text=True
    )
    thought.click()
    expect(
        answer.get_by_role("region", name="The model's thinking"), "the unfolded thinking"
    ).to_have_text(THINKING, use_inner_text=True)
    thought.click()  # folded again
    expect(thought, "the thinking folded again").to_have_attribute("aria-expanded", "false")
    check_calm_look(chat, page)


def check_calm_look(chat: Any, page: Any) -> None:
    """The Chat looks calm in every host: no shouting role labels, the person's message a bubble
    on the right, the answer plain text under the model's name, no empty box below the last
    turn, and a turn's actions shown only on hover or keyboard focus (yet always in the
    accessibility tree)."""
    transcript = chat.get_by_role("log", name="Transcript")
    user, answer = chat.locator(".llmw-msg-user").first, chat.locator(".llmw-msg-assistant").first
    expect(chat, "no shouting USER label").not_to_contain_text("USER", use_inner_text=True)
    expect(chat, "no shouting ASSISTANT label").not_to_contain_text(
        "ASSISTANT", use_inner_text=True
    )
    expect(answer.locator(".llmw-role"), "the model's name in plain case").not_to_have_css(
        "text-transform", "uppercase"
    )
    box, mine = transcript.bounding_box(), user.locator(".llmw-turn-body").bounding_box()
    assert box["x"] + box["width"] - (mine["x"] + mine["width"]) < 24  # right-aligned
    assert mine["width"] < box["width"] * 0.85
    expect(user.locator(".llmw-turn-body"), "the question's bubble").not_to_have_css(
        "background-color", "rgba(0, 0, 0, 0)"
    )
    expect(answer, "the answer without a background").to_have_css(
        "background-color", "rgba(0, 0, 0, 0)"
    )
    expect(answer, "no box around the answer").to_have_css("border-top-width", "0px")
    # the transcript ends with its last turn (up to its bound, then it scrolls)
    gap = transcript.evaluate(
        "t => t.getBoundingClientRect().bottom - t.lastElementChild.getBoundingClientRect().bottom"
    )
    assert gap < 24, f"{gap:.0f} px of empty transcript below the last turn"
    expect(transcript, "the transcript's bound").not_to_have_css("max-height", "none")
    # actions: hidden until the turn is hovered or holds the keyboard focus
    copy = answer.get_by_role("button", name="Copy", exact=True)
    actions = answer.locator(".llmw-turn-actions").filter(
        has=page.get_by_role("button", name="Copy", exact=True)
    )
    page.mouse.move(0, 0)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    expect(actions, "the actions hidden without hover or focus").to_have_css("opacity", "0")
    answer.hover()
    expect(actions, "Copy shown while the answer is hovered").to_have_css("opacity", "1")
    page.mouse.move(0, 0)
    expect(actions, "Copy hidden once the pointer left").to_have_css("opacity", "0")
    copy.focus()
    expect(actions, "Copy shown while it holds the keyboard focus").to_have_css("opacity", "1")
    copy.blur()
