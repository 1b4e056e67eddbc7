"""The conversation a Chat keeps: a saved one checked on the way in, the entries a turn adds (an
answer with its thinking in `reasoning_content`), its figures, and its Markdown export."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ..._types import GenerationStats
from ...jobs import GenerationJob
from ...request.messages import check_messages


def restored(messages: object) -> list[dict[str, Any]]:
    """A saved conversation, checked: role/content dicts; a system message only first."""
    if messages is None:
        return []
    if isinstance(messages, Sequence) and not isinstance(messages, (str, bytes)) and not messages:
        return []
    checked = check_messages(messages)
    for i, m in enumerate(checked[1:], 1):
        if m["role"] == "system":
            raise ValueError(
                f"messages[{i}] is a system message: only the first message may be one "
                "(it becomes the system_prompt)"
            )
    return checked


def check_text(text: object, where: str) -> None:
    """A message to send: a non-empty string, or a ValueError naming `where`."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where} needs a non-empty message")


def last_user(messages: list[dict[str, Any]]) -> int | None:
    """Index of the last user message, if only its answer (or nothing) follows it."""
    tail = len(messages) - 1
    while tail >= 0 and messages[tail]["role"] in ("assistant", "tool"):
        tail -= 1
    return tail if tail >= 0 and messages[tail]["role"] == "user" else None


def answer_entry(job: GenerationJob) -> dict[str, str]:
    """The transcript entry of a finished answer: the answer in `content`, the thinking (if
    any) in `reasoning_content`."""
    entry = {"role": "assistant", "content": job.text}
    if job.reasoning.strip():
        entry["reasoning_content"] = job.reasoning.strip()
    return entry


def stats_dict(stats: GenerationStats | None) -> dict[str, Any]:
    """An answer's figures as the view's `last_stats` ({} when none)."""
    if stats is None:
        return {}
    return {k: v for k, v in asdict(stats).items() if isinstance(v, (str, int, float, bool))}


def transcript_markdown(messages: list[dict[str, Any]]) -> str:
    """A conversation as Markdown; thinking folded in `<details>` above its answer, tool calls
    and their results as their own lines."""
    names = {"system": "System", "user": "User", "assistant": "Assistant", "tool": "Tool result"}
    turns = []
    for m in messages:
        body = m["content"].strip()
        for call in m.get("tool_calls", ()):
            function = call["function"]
            body += f"\n\nCalls `{function['name']}({function['arguments']})`"
        body = close_fences(body.strip())
        thought = close_fences(m.get("reasoning_content", "").strip())
        if thought:
            body = f"<details><summary>Thought</summary>\n\n{thought}\n\n</details>\n\n{body}"
        turns.append(f"**{names[m['role']]}:**\n\n{body}")
    return "\n\n---\n\n".join(turns) + ("\n" if turns else "")


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def close_fences(text: str) -> str:
    """`text` with a code fence it leaves open closed (an answer cut inside a code block):
    otherwise everything after it in a document would render as code."""
    opened = ""
    for line in text.split("\n"):
        found = _FENCE.match(line)
        if found is None:
            continue
        fence, rest = found.groups()
        if not opened:
            if not (fence[0] == "`" and "`" in rest):  # a backtick fence's info has none
                opened = fence
        elif fence[0] == opened[0] and len(fence) >= len(opened) and not rest.strip():
            opened = ""
    return f"{text}\n{opened}" if opened else text
