"""Drive a widget from Python the way a front end does, for tests of notebooks and widgets."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ipywidgets import Widget


def send_from_frontend(widget: Widget, content: Any) -> None:
    """Deliver `content` to `widget` exactly as a custom comm message from a browser arrives
    (through ipywidgets' own message handler, so validation and errors run as in a notebook)."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def capture_messages(widget: Widget) -> list[tuple[float, dict[str, Any]]]:
    """Record (monotonic time, content) of every custom message the widget sends to its views
    from now on, instead of sending it."""
    sent: list[tuple[float, dict[str, Any]]] = []
    widget._post = lambda content: sent.append((time.monotonic(), content))
    return sent


def wait_until(
    predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.01, what: str = ""
) -> None:
    """Poll `predicate` until it is true; AssertionError after `timeout` seconds, naming `what`
    was waited for when given."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not reached in {timeout} s")
        time.sleep(interval)
