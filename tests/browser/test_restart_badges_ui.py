"""After a kernel restart no view claims what it cannot know (issue 27, item 7): the card's
"Loaded" badge, the Chat's "in this kernel" pill and the library's "Loaded" are greyed, and the
"Not connected…" notice is the first thing in each widget, not below a tall one's fold."""

from __future__ import annotations

import re
from typing import Any

import pytest
from helpers import expect

pytestmark = pytest.mark.browser

CELLS = [
    "import os, tempfile\n"
    "from llm_widgets import LLMKernelService, ModelCard, Chat, LocalLibrary\n"
    "from llm_widgets.testing import LocalHub\n"
    "from llm_widgets.testing.tiny_gguf import CHATML_TEMPLATE, write_tiny_gguf\n"
    "hub = LocalHub().start()\n"
    "tiny = write_tiny_gguf(os.path.join(tempfile.mkdtemp(), 't.gguf'), "
    "chat_template=CHATML_TEMPLATE)\n"
    "hub.add_file('demo-org/tiny-GGUF', 'tiny.Q8_0.gguf', tiny.read_bytes())\n"
    "service = LLMKernelService(endpoint=hub.url, cache_dir=tempfile.mkdtemp())\n"
    "LLMKernelService.set_instance(service)\n"
    "card = ModelCard('demo-org/tiny-GGUF', 'tiny.Q8_0.gguf')\n"
    "card.start_download().wait(60)\n"
    "card.load_model().wait(60)",
    "card",
    "Chat()",
    "LocalLibrary()",
]
DISCONNECTED = re.compile(r"\bllmw-disconnected\b")
LINE = "Not connected to a running kernel — run the cell again."


def _color(locator: Any, pseudo: str | None = None, prop: str = "color") -> str:
    return str(
        locator.evaluate(
            "(el, [pseudo, prop]) => getComputedStyle(el, pseudo).getPropertyValue(prop)",
            [pseudo, prop],
        )
    )


def test_a_restart_greys_every_badge_and_puts_the_notice_first(notebook_page: Any) -> None:
    nb = notebook_page("restart_badges.ipynb", CELLS)
    for index in range(len(CELLS)):
        nb.run_cell(index)
    card = nb.output(1).locator(".llmw-card")
    chat = nb.output(2).locator(".llmw-chat")
    library = nb.output(3).locator(".llmw-library")
    card_badge = card.locator(".llmw-head .llmw-badge")
    pill = chat.locator(".llmw-model")
    library_badge = library.locator(".llmw-badge", has_text="Loaded")
    expect(card_badge, "the card says its model is loaded").to_have_text("Loaded")
    expect(pill, "the Chat names the model in this kernel").to_contain_text("in this kernel")
    expect(library_badge, "the library marks the loaded file").to_be_visible()
    muted = _color(card.locator(".llmw-figures"))  # the theme's muted text
    live = {"card": _color(card_badge), "library": _color(library_badge)}
    dot = _color(pill, "::before", "background-color")
    assert muted not in live.values() and dot != muted, (muted, live, dot)

    nb.restart_kernel()

    for name, view in (("card", card), ("chat", chat), ("library", library)):
        expect(view.get_by_text(LINE), f"the {name} says its kernel is gone").to_be_visible(
            timeout=20_000
        )
        expect(view, f"the {name} is marked disconnected").to_have_class(DISCONNECTED)
        first = view.evaluate("el => el.firstElementChild.textContent")
        assert first == LINE, f"the {name}'s notice comes first, not {first!r}"
        top, line_top = view.bounding_box()["y"], view.get_by_text(LINE).bounding_box()["y"]
        assert line_top - top < 40, f"the {name}'s notice is at its top ({line_top} vs {top})"
    expect(card_badge, "the card's badge is greyed").to_have_css("color", muted)
    expect(library_badge, "the library's badge is greyed").to_have_css("color", muted)
    expect(pill, "the Chat's pill is greyed").to_have_css("color", muted)
    assert _color(pill, "::before", "background-color") == muted, "the pill's dot is greyed"
