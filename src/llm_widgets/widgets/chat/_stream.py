"""A Chat's running turn on its way to the views: answer and thinking chunks batched into `chunk`
messages, tool calls as cards, and the `transcript` message that catches a view up mid-answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..._types import Thinking, ToolCallRecord
from ...jobs import GenerationJob

CHUNK_INTERVAL = 1 / 30  # at most ~30 chunk messages a second to the front end

Post = Callable[[dict[str, Any]], None]


class TurnStream:
    """Sends a turn's chunks to the views through `post`, at most one message a CHUNK_INTERVAL;
    the rest wait for the next chunk, a tool call or the turn's end (`flush`)."""

    def __init__(self, post: Post) -> None:
        self._post = post
        self._text: list[str] = []  # answer chunks not sent to the views yet
        self._thought: list[str] = []  # thinking chunks not sent yet
        self._last_flush = 0.0

    def reset(self) -> None:
        """Drop what waits: a new turn starts, or the conversation is forgotten."""
        self._text, self._thought, self._last_flush = [], [], 0.0

    def chunk(self, job: GenerationJob, text: str) -> None:
        """A chunk of `job`'s answer, or of its thinking (a `Thinking` string)."""
        (self._thought if isinstance(text, Thinking) else self._text).append(text)
        now = time.monotonic()
        if now - self._last_flush >= CHUNK_INTERVAL:
            self._last_flush = now
            self.flush(job)

    def tool_call(self, job: GenerationJob, record: ToolCallRecord) -> None:
        """A call's card, after the text that came before it."""
        self.flush(job)
        self._post({"type": "tool_call", "call": record.to_dict()})

    def flush(self, job: GenerationJob | None) -> None:
        """Send what waits, if anything."""
        text, self._text = "".join(self._text), []
        thought, self._thought = "".join(self._thought), []
        if text or thought:
            self._post(chunk_message(text, thought, job))


def chunk_message(text: str, thinking: str, job: GenerationJob | None) -> dict[str, Any]:
    """A `chunk` message: answer text, thinking text, and how long the model has thought."""
    message: dict[str, Any] = {"type": "chunk", "text": text}
    if job is not None and job.thinking_started is not None:
        message.update(thinking=thinking, **_thought_so_far(job))
    return message


def transcript_message(messages: list[dict[str, Any]], job: GenerationJob | None) -> dict[str, Any]:
    """The whole conversation for a view; while `job` runs (its `done` comes next), also its
    answer and thinking so far and its tool calls' cards."""
    message: dict[str, Any] = {"type": "transcript", "messages": messages}
    if job is None or job.finished:
        message["partial"] = None
        return message
    message["partial"] = job.text
    if job.thinking_started is not None:
        message.update(partial_thinking=job.reasoning, **_thought_so_far(job))
    if job.tool_calls:
        message["calls"] = [c.to_dict() for c in job.tool_calls]
    return message


def _thought_so_far(job: GenerationJob) -> dict[str, Any]:
    """How long the model has thought, and whether it is done."""
    return {
        "thinking_seconds": round(job.reasoning_seconds(), 1),
        "thinking_done": not job.thinking,
    }
