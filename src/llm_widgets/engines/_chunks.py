"""OpenAI-shaped stream chunks (from the openai client's objects or plain dicts) into the typed
pieces of the stream contract (see `base`): answer text as `str`, reasoning as `Thinking`, and
the tool calls assembled from their deltas. One reader per generation, shared by every engine
that receives OpenAI-shaped chunks."""

from __future__ import annotations

from typing import Any

from .._types import ToolCall


def field(obj: Any, name: str) -> Any:
    """`obj.name` or `obj[name]`, None when absent (openai objects and dicts alike)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


class DeltaReader:
    """Reads the choices of one streamed generation, in order."""

    def __init__(self, *, chat: bool) -> None:
        self.chat = chat
        self.finish_reason: str | None = None
        self._parts: dict[int, list[str]] = {}  # index -> [id, name, arguments so far]

    def feed(self, choice: Any) -> list[str]:
        """The pieces one streamed choice carries (possibly none)."""
        reason = field(choice, "finish_reason")
        if reason:
            self.finish_reason = str(reason)
        if not self.chat:
            text = field(choice, "text")
            return [text] if text else []
        delta = field(choice, "delta")
        pieces = self._reasoning_of(delta)
        self._tool_call_deltas(delta)
        text = field(delta, "content")
        if text:
            pieces.append(text)
        return pieces

    def finish(self) -> list[str]:
        """Pieces held back until the stream's end (e.g. a marker split across chunks)."""
        return []

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
        """`Thinking` pieces of a delta's reasoning fields."""
        return []

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
