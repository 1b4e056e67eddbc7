"""Thinking inside a model's raw text, split off at the engine's edge: `<think>…</think>` blocks
(also when the chat template opened `<think>` in the prompt, so the output starts inside it) and
gpt-oss's harmony channels (`analysis` → thinking, `final` → answer), across chunk boundaries."""

from __future__ import annotations

import re
from typing import Any

from .._types import Thinking

OPEN, CLOSE = "<think>", "</think>"
_HEADER = ("<|start|>", "<|channel|>")  # a harmony header follows, up to <|message|>
_MESSAGE = "<|message|>"
_ENDS = ("<|end|>", "<|return|>", "<|call|>")
_MARKERS = (OPEN, CLOSE, *_HEADER, _MESSAGE, *_ENDS)
_BLOCK = re.compile(r"\s*<think>(.*?)(?:</think>|$)\s*", re.DOTALL)


class ThinkSplitter:
    """Feed raw text pieces in order; get `str` answer pieces and `Thinking` pieces back. A
    marker split across two pieces is held back until it is whole (`finish()` lets go of it)."""

    def __init__(self, *, thinking: bool = False) -> None:
        self._thinking = thinking  # inside a thinking block (or harmony's analysis channel)
        self._header: str | None = None  # the harmony header being read, when in one
        self._held = ""
        self._trim = thinking  # drop the whitespace that follows a marker

    def feed(self, text: str) -> list[str]:
        """The pieces `text` completes (possibly none)."""
        buffer, out = self._held + text, list[str]()
        if "<" not in buffer:  # the common case: no marker can start here
            self._held = ""
            self._emit(buffer, out)
            return out
        while buffer:
            at, marker = _first_marker(buffer)
            if marker is None:
                keep = _partial_marker(buffer)
                self._emit(buffer[: len(buffer) - keep], out)
                self._held = buffer[len(buffer) - keep :]
                return out
            self._emit(buffer[:at], out)
            self._apply(marker)
            buffer = buffer[at + len(marker) :]
        self._held = ""
        return out

    def finish(self) -> list[str]:
        """What was held back, at the stream's end."""
        held, self._held = self._held, ""
        out: list[str] = []
        self._emit(held, out)
        return out

    def _apply(self, marker: str) -> None:
        if marker in _HEADER:
            self._header = self._header or ""
            return
        if marker == _MESSAGE:
            header, self._header = self._header or "", None
            self._thinking = "final" not in header
        elif marker in _ENDS:
            self._header, self._thinking = None, False
        else:
            self._thinking = marker == OPEN
        self._trim = True

    def _emit(self, text: str, out: list[str]) -> None:
        if self._header is not None:
            self._header += text
            return
        if self._trim:
            text = text.lstrip()
            self._trim = not text
        if text:
            out.append(Thinking(text) if self._thinking else text)


def _first_marker(text: str) -> tuple[int, str | None]:
    found: tuple[int, str | None] = (len(text), None)
    for marker in _MARKERS:
        at = text.find(marker)
        if 0 <= at < found[0]:
            found = (at, marker)
    return found


def _partial_marker(text: str) -> int:
    """How many characters at the end of `text` could begin a marker."""
    start = text.rfind("<", max(0, len(text) - max(map(len, _MARKERS))))
    if start < 0:
        return 0
    tail = text[start:]
    return len(tail) if any(m.startswith(tail) for m in _MARKERS) else 0


def opens_thinking(prompt: str) -> bool:
    """Whether a rendered prompt ends inside an open `<think>` (DeepSeek-R1's template)."""
    tail = prompt.rstrip()
    return tail.endswith(OPEN)


def split_content(content: str) -> tuple[str, str]:
    """(answer, thinking) of a stored assistant message whose content may hold `<think>` blocks."""
    if OPEN not in content and CLOSE not in content:
        return content, ""
    if CLOSE in content and OPEN not in content.split(CLOSE, 1)[0]:
        content = OPEN + content  # the template had opened it
    thoughts = [m.strip() for m in _BLOCK.findall(content)]
    answer = _BLOCK.sub("\n\n", content).strip()
    return answer, "\n\n".join(t for t in thoughts if t)


def without_reasoning(messages: list[dict[str, Any]], *, keep: bool) -> list[dict[str, Any]]:
    """`messages` as a model gets them: `reasoning_content` kept only where the template reads
    it (`keep`); an earlier turn's thinking is never inside `content`."""
    if keep:
        return messages
    return [{k: v for k, v in m.items() if k != "reasoning_content"} for m in messages]


def template_kwargs(think: object) -> dict[str, Any]:
    """What a chat template reads for `think=` (True / False / "low" / "medium" / "high")."""
    if think is None:
        return {}
    if isinstance(think, str):
        return {"enable_thinking": True, "reasoning_effort": think}
    return {"enable_thinking": bool(think)}
