"""OpenAI-shaped stream chunks (from the openai client's objects or plain dicts) into the typed
pieces of the stream contract (see `base`): answer text as `str`, reasoning as `Thinking`, and
the tool calls assembled from their deltas. One reader per generation, shared by every engine
that receives OpenAI-shaped chunks."""

from __future__ import annotations

from typing import Any

from .._types import Thinking, ToolCall
from ._thinking import ThinkSplitter


def field(obj: Any, name: str) -> Any:
    """`obj.name` or `obj[name]`, None when absent (openai objects and dicts alike)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


class DeltaReader:
    """Reads the choices of one streamed generation, in order."""

    def __init__(self, *, chat: bool, thinking: bool = False, raw: bool = False) -> None:
        """`thinking`: the prompt left a `<think>` open; `raw`: take the text as it is
        (structured output: its thinking markers would be inside the JSON)."""
        self.chat = chat
        self.finish_reason: str | None = None
        self._calls: list[ToolCall] = []
        self._text = None if raw else ThinkSplitter(thinking=thinking)
        self._parts: dict[int, list[str]] = {}  # index -> [id, name, arguments so far]

    def feed(self, choice: Any) -> list[str]:
        """The pieces one streamed choice carries (possibly none)."""
        reason = field(choice, "finish_reason")
        if reason:
            self.finish_reason = str(reason)
        if not self.chat:
            return self._split(field(choice, "text"))
        delta = field(choice, "delta")
        pieces = self._reasoning_of(delta)
        self._tool_call_deltas(delta)
        return pieces + self._split(field(delta, "content"))

    def finish(self) -> list[str]:
        """Pieces held back until the stream's end (e.g. a marker split across chunks)."""
        return self._text.finish() if self._text is not None else []

    def _split(self, text: Any) -> list[str]:
        if not text or not isinstance(text, str):
            return []
        return self._text.feed(text) if self._text is not None else [text]

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The complete tool calls the stream carried."""
        return [
            ToolCall(ident, name, arguments)
            for ident, name, arguments in (self._parts[i] for i in sorted(self._parts))
            if name
        ]

    # -- per kind of delta ----------------------------------------------------------------------

    def _reasoning_of(self, delta: Any) -> list[str]:
        """`Thinking` pieces of a delta's reasoning fields: `reasoning_content` (llama.cpp's
        server, vLLM) or `reasoning` (vLLM >= 0.10, Ollama, OpenRouter)."""
        pieces: list[str] = []
        for name in ("reasoning_content", "reasoning"):
            text = field(delta, name)
            if text and isinstance(text, str):
                pieces.append(Thinking(text))
                break
        return pieces

    def _tool_call_deltas(self, delta: Any) -> None:
        """Accumulate a delta's `tool_calls` fragments, by index: the id and the name come once
        (some servers repeat them in every fragment), the argument text in pieces."""
        for fragment in field(delta, "tool_calls") or ():
            index = field(fragment, "index")
            slot = index if isinstance(index, int) and index >= 0 else len(self._parts)
            part = self._parts.setdefault(slot, ["", "", ""])
            function = field(fragment, "function")
            ident, name = field(fragment, "id"), field(function, "name")
            if ident and not part[0]:
                part[0] = str(ident)
            if name and name != part[1]:
                part[1] += str(name)
            part[2] += str(field(function, "arguments") or "")
