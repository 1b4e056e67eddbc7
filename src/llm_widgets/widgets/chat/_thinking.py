"""What the Chat keeps and shows of a thinking model: the assistant entry with its
`reasoning_content`, the chunk and transcript messages that carry thinking to the views, the
Markdown export with thinking folded, and the model's notes (no chat template)."""

from __future__ import annotations

import re
from typing import Any

from ..._types import ModelFacts
from ...jobs import GenerationJob
from ...request.messages import THINK_LEVELS, check_think

# the Chat's sampling settings a model's own defaults may set, with the Chat's own defaults
SAMPLING_TRAITS: dict[str, float] = {"temperature": 0.7, "top_p": 0.95}
NO_TEMPLATE_NOTE = (
    "This model has no chat template — a base model? use completion: it continues your text "
    "instead of answering it."
)
MODES = ("chat", "completion")


def answer_entry(job: GenerationJob) -> dict[str, str]:
    """The transcript entry of a finished answer: the answer in `content`, the thinking (if
    any) in `reasoning_content`."""
    entry = {"role": "assistant", "content": job.text}
    if job.reasoning.strip():
        entry["reasoning_content"] = job.reasoning.strip()
    return entry


def chunk_message(text: str, thinking: str, job: GenerationJob | None) -> dict[str, Any]:
    """A `chunk` message: answer text, thinking text, and how long the model has thought."""
    message: dict[str, Any] = {"type": "chunk", "text": text}
    if job is not None and job.thinking_started is not None:
        message["thinking"] = thinking
        message["thinking_seconds"] = round(job.reasoning_seconds(), 1)
        message["thinking_done"] = not job.thinking
    return message


def partial_of(job: GenerationJob) -> dict[str, Any]:
    """What a `transcript` message carries of an answer still streaming."""
    out: dict[str, Any] = {"partial": job.text}
    if job.thinking_started is not None:
        out["partial_thinking"] = job.reasoning
        out["thinking_seconds"] = round(job.reasoning_seconds(), 1)
        out["thinking_done"] = not job.thinking
    return out


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


EMBEDDING_NOTE = (
    "This is an embedding model: it turns text into vectors and cannot chat or complete text. "
    "Load a chat (instruct) model to talk to."
)


def model_note(facts: ModelFacts | None) -> str:
    """What the Chat says about a model beyond its name ('' when nothing)."""
    if facts is not None and facts.embedding:
        return EMBEDDING_NOTE
    if facts is not None and facts.backend == "local" and not facts.has_chat_template:
        return NO_TEMPLATE_NOTE
    return ""


def checked_choice(name: str, value: Any) -> Any:
    """A `think` or `mode` value the Chat accepts, or a TraitError saying what it takes."""
    import traitlets

    if name == "mode":
        if value not in MODES:
            raise traitlets.TraitError(f"mode must be 'chat' or 'completion', not {value!r}")
        return value
    try:
        check_think(value)
    except ValueError:
        raise traitlets.TraitError(
            f"think must be None, True, False or one of {', '.join(THINK_LEVELS)}, not {value!r}"
        ) from None
    return value
