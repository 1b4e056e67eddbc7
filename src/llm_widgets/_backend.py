"""What the model runner needs of a model, wherever it runs: in the kernel (`engine.Engine`,
llama-cpp-python) or behind an OpenAI-compatible URL (`_openai_backend.RemoteEngine`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from .engine import GenerationStats, ModelFacts
from .jobs import Cancellation


class Backend(Protocol):
    """One model that answers; the runner serialises its use."""

    last_stats: GenerationStats | None

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
        self,
        messages: list[dict[str, str]],
        *,
        abort: Cancellation,
        trim_history: bool = False,
        **params: Any,
    ) -> Iterator[str]:
        """Yield the assistant's answer to `messages`; `last_stats` is set at the end."""
        ...

    def create_context(self, *, n_ctx: int | None = None, seed: int | None = None) -> ModelFacts:
        """Start afresh: no reused state, the given seed."""
        ...

    def unload(self) -> None:
        """Let go of the model (free it, or close the connection)."""
        ...
