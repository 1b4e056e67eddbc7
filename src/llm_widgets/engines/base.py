"""What the model runner needs of a model, wherever it runs: in the kernel (an engine on
llama.cpp) or behind an OpenAI-compatible URL (`openai_compat.RemoteEngine`).

The stream contract, the same for every engine: `stream_chat` / `stream_completion` yield plain
`str` pieces of the answer and `Thinking` pieces of the model's reasoning, parsed at the engine's
edge (no raw `<think>` or harmony markers reach the layers above). After the stream ends,
`last_stats` holds its figures and `last_tool_calls` the function calls the model asked for
(empty unless `tools=` was given). Parameters every engine understands beyond sampling:
`grammar` (GBNF text), `structured` (True: the answer is structured output, taken as it is,
with no thinking markers parsed), `think` (None: the model's default; True / False; "low" /
"medium" / "high"), `tools` (OpenAI tool dicts) and `tool_choice`. Chat templates get `think`
as `enable_thinking` (and a level as `reasoning_effort`); servers as `chat_template_kwargs:
{"enable_thinking": ...}` and `reasoning_effort`. An assistant message's `reasoning_content`
reaches the template only where it reads it; an engine that cannot tell leaves it out. Chat
`messages` are OpenAI-shaped dicts (an assistant entry may carry `tool_calls` and
`reasoning_content`; `tool` entries a `tool_call_id`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from .._types import GenerationStats, ModelFacts, ToolCall
from ..jobs import Cancellation

# What an unset sampling parameter means, on every engine and server: llama-cpp-python's
# defaults of `create_chat_completion` / `create_completion` (0.3.x), which the kernel has
# always used; llama.cpp's server has its own (temperature 0.8, top_k 40...), so every request
# states them all.
SAMPLING_DEFAULTS: dict[str, dict[str, Any]] = {
    "chat": {
        "temperature": 0.2,
        "top_p": 0.95,
        "top_k": 40,
        "min_p": 0.05,
        "repeat_penalty": 1.0,
        "max_tokens": None,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
    },
    "completion": {
        "temperature": 0.8,
        "top_p": 0.95,
        "top_k": 40,
        "min_p": 0.05,
        "repeat_penalty": 1.0,
        "max_tokens": 16,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
    },
}

Messages = list[dict[str, Any]]  # an OpenAI-shaped chat

# the chat template a GGUF without one is answered with (ChatML, as llama.cpp's "chatml")
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class Backend(Protocol):
    """One model that answers; the runner serialises its use."""

    last_stats: GenerationStats | None
    last_tool_calls: list[ToolCall]

    @property
    def loaded(self) -> bool:
        """Whether the model can answer."""
        ...

    @property
    def facts(self) -> ModelFacts | None:
        """What the model is and where it runs."""
        ...

    def stream_completion(
        self, prompt: str, *, abort: Cancellation, **params: Any
    ) -> Iterator[str]:
        """Yield the completion of `prompt` piece by piece; `last_stats` is set at the end."""
        ...

    def stream_chat(
        self, messages: Messages, *, abort: Cancellation, trim_history: bool = False, **params: Any
    ) -> Iterator[str]:
        """Yield the assistant's answer to `messages` (str pieces, `Thinking` pieces);
        `last_stats` and `last_tool_calls` are set at the end."""
        ...

    def create_context(self, *, n_ctx: int | None = None, seed: int | None = None) -> ModelFacts:
        """Start afresh: no reused state, the given seed."""
        ...

    def unload(self) -> None:
        """Let go of the model (free it, or close the connection)."""
        ...
