"""What the browser tests share. Assertions on the page are Playwright's `expect`, which retries
until its timeout (the default, EXPECT_TIMEOUT_MS, is set once in conftest for a busy 2-core
machine); each is given a message naming what it waited for. A wait Playwright cannot express (a
number that must grow, a kernel's or a server's state, the clipboard) goes through `wait_until`:
a deadline, and a message naming what did not come and what was there instead. No test polls by
hand."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from typing import Any

from harness.jupyter import wait_until
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

__all__ = [
    "EXPECT_TIMEOUT_MS",
    "ENDLESS_GRAMMAR",
    "expect",
    "progress",
    "server_up",
    "wait_each_frame",
    "wait_idle_chat",
    "wait_progress",
    "wait_until",
]

EXPECT_TIMEOUT_MS = 30_000  # `expect`'s default: a busy 2-core machine runs a model besides

# an answer that cannot end by itself (no end of text is allowed): it runs until max_tokens or
# Stop, so a test that stops it mid-answer never races the model's own end
ENDLESS_GRAMMAR = (
    'root ::= word " " root\nword ::= [a-z]{1,9} | [A-Z] [a-z]{0,8} | [a-z]{1,8} [,.]\n'
)

FULL = re.compile(r"^100(\.0)?$")  # aria-valuenow of a full progress bar ("100" or "100.0")


def progress(bar: Any) -> float:
    """A progress bar's value (aria-valuenow), 0 before it has one."""
    return float(bar.get_attribute("aria-valuenow") or 0)


def wait_progress(
    bar: Any, reached: Callable[[float], bool], what: str, timeout: float = 30
) -> float:
    """Wait until `reached(value)` holds for the bar's value; returns that value."""
    last = [0.0]

    def check() -> bool:
        last[0] = progress(bar)
        return reached(last[0])

    wait_until(check, what, timeout=timeout, seen=lambda: f"{last[0]:g}%", every=0.05)
    return last[0]


def wait_idle_chat(chat: Any, what: str, timeout: float = 60) -> None:
    """The Chat's turn has ended (`what`: which turn): Send is enabled again and nothing streams.
    Wait first for a sign that the turn began (its message shown): before it, both hold too."""
    ms = timeout * 1000
    expect(
        chat.get_by_role("button", name="Send", exact=True), f"Send enabled again: {what}"
    ).to_be_enabled(timeout=ms)
    expect(chat.locator(".llmw-streaming"), f"nothing streaming: {what}").to_have_count(
        0, timeout=ms
    )


def wait_each_frame(page: Any, predicate: str, arg: Any, what: str, timeout: float = 30) -> None:
    """Wait until the JavaScript `predicate(arg)` holds, looked at on every animation frame: for
    a state that may last only a moment (expect and wait_for look every 500 ms at most)."""
    try:
        page.wait_for_function(predicate, arg=arg, polling="raf", timeout=timeout * 1000)
    except PlaywrightTimeoutError:
        raise AssertionError(f"no {what} within {timeout:g} s") from None


def server_up(url: str) -> bool:
    """Whether `url` answers (a server that is starting)."""
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except OSError:
        return False
