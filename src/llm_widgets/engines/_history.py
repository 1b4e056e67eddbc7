"""Leaving out the oldest turns of a chat that outgrows the context: the same rule on every
engine that can count a prompt's tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def answer_reserve(n_ctx: int, max_tokens: int | None) -> int:
    """Room kept for the answer when trimming: max_tokens, at most a quarter of the context."""
    return min(int(max_tokens or n_ctx), n_ctx // 4)


def drop_oldest_turn(history: list[dict[str, Any]]) -> int:
    """Remove the oldest message after the system message (with the answer that follows it, so
    turns stay paired), never the last message; returns how many were removed."""
    first = 1 if history and history[0]["role"] == "system" else 0
    if len(history) - first <= 1:
        return 0
    count = 1
    if (
        history[first]["role"] == "user"
        and len(history) - first > 2
        and history[first + 1]["role"] == "assistant"
    ):
        count = 2
    del history[first : first + count]
    return count


def fit_history(
    messages: list[dict[str, Any]], budget: int, count_tokens: Callable[[list[Any]], int]
) -> tuple[list[dict[str, Any]], int]:
    """The messages whose prompt fits `budget` tokens (oldest turns left out; the last message
    and the system message always stay) and how many were left out."""
    history, dropped = list(messages), 0
    while count_tokens(history) > budget:
        removed = drop_oldest_turn(history)
        if not removed:
            break  # nothing left to leave out: answer in what room is left
        dropped += removed
    return history, dropped
