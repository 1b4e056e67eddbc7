"""What the engines that run a model in this process share: the checks before llama.cpp loads a
GGUF, the facts after it, a new context, and tools that go into the prompt."""

from __future__ import annotations

import importlib.metadata
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from .._types import ModelFacts, ToolCall
from ..errors import JobCancelledError, LLMWidgetsError, ModelFileError
from ..jobs import Cancellation
from . import _tool_prompt
from .base import Messages
from .gguf import (
    EMBEDDING,
    NO_TEMPLATE,
    check_fits,
    gpu_note,
    inspect_file,
    offloaded_layers,
    unknown_architecture,
)
from .memory import DEFAULT_N_CTX, ModelShape


@dataclass(frozen=True)
class LoadPlan:
    """A load that passed the checks: what the engine is to start."""

    facts: ModelFacts  # the file's, before it is loaded
    meta: dict[str, Any]  # the GGUF's metadata
    n_ctx: int
    n_threads: int | None
    seed: int | None
    gpu_layers: int  # the layers to offload
    options: dict[str, Any]  # the engine's own load options


class InKernelEngine:
    """A llama.cpp engine in this process; a subclass starts the model (`_start`), answers, and
    frees it (`unload`)."""

    name = ""  # the engine's name in `ModelFacts.engine`
    last_tool_calls: list[ToolCall]

    def __init__(self) -> None:
        self._facts: ModelFacts | None = None
        self._load_args: dict[str, Any] = {}  # what the last load asked, beside path and n_ctx

    @property
    def facts(self) -> ModelFacts | None:
        """Facts about the loaded model."""
        return self._facts

    def load(
        self,
        path: str | os.PathLike[str],
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        seed: int | None = None,
        progress: Callable[[float], bool] | None = None,
        **options: Any,
    ) -> ModelFacts:
        """Check, then load a GGUF; `progress(fraction)` returning False cancels (before
        llama.cpp loads: its load cannot be interrupted)."""
        facts, meta = inspect_file(path)  # the architecture: llama.cpp itself says, below
        check_fits(facts, n_ctx, ModelShape.from_metadata(meta))
        if progress is not None and not progress(0.05):
            raise JobCancelledError("cancelled")
        self.unload()
        requested, gpu = options.pop("n_gpu_layers", None), self._can_offload()
        layers = offloaded_layers(requested, gpu, facts)
        plan = LoadPlan(facts, meta, n_ctx, n_threads, seed, layers, options)
        started = time.perf_counter()
        loaded_ctx, fallback = self._start(plan)
        # what was asked, not what it came to: a new context asks the same (and says so again)
        self._load_args = dict(n_threads=n_threads, seed=seed, n_gpu_layers=requested, **options)
        self._facts = replace(
            facts,
            n_ctx=loaded_ctx,
            chat_format=(
                EMBEDDING
                if facts.embedding
                else "the GGUF's chat template"
                if facts.has_chat_template
                else f"{NO_TEMPLATE} (the chat falls back to {fallback})"
            ),
            load_seconds=round(time.perf_counter() - started, 4),
            gpu_layers=layers,
            gpu_note=gpu_note(requested, gpu),
            engine=self.name,
            engine_version=self._version(),
        )
        if progress is not None:
            progress(1.0)
        return self._facts

    def create_context(self, *, n_ctx: int | None = None, seed: int | None = None) -> ModelFacts:
        """Start afresh: the next request reuses no evaluated prompt, `seed` is used from now on;
        a new n_ctx loads the file again (its weights are memory-mapped: fast)."""
        facts = self._loaded()
        if n_ctx is not None and n_ctx != facts.n_ctx:
            args = dict(self._load_args)
            if seed is not None:
                args["seed"] = seed
            return self.load(facts.path, n_ctx=n_ctx, **args)
        self._afresh(seed)
        return facts

    def stream_chat(
        self, messages: Messages, *, abort: Cancellation, trim_history: bool = False, **params: Any
    ) -> Iterator[str]:
        """Yield the assistant's answer to `messages` with the model's chat template. With
        `trim_history`, the oldest turns (never the system message or the last message) are left
        out until the prompt fits the context; `last_stats.trimmed_messages` says how many.
        Tools the engine cannot offer as the round asks go into the prompt, the answer held to
        our JSON schema (see `_tool_prompt`)."""
        self._loaded()
        if params.get("tools") and self._tools_in_prompt(params):
            params = {**params, "trim_history": trim_history}
            return _tool_prompt.stream_in_prompt(self, messages, abort, params)
        return self._chat(messages, abort, trim_history, params)

    def unload(self) -> None:
        """Free the model."""
        raise NotImplementedError

    # -- what an engine adds --------------------------------------------------------------------

    def _can_offload(self) -> bool:
        """Whether this build of the engine sees a GPU."""
        raise NotImplementedError

    def _version(self) -> str:
        """The engine's version, as the model's facts show it."""
        raise NotImplementedError

    def _start(self, plan: LoadPlan) -> tuple[int, str]:
        """Load the model: (its context size, the chat format a GGUF without a template gets)."""
        raise NotImplementedError

    def _afresh(self, seed: int | None) -> None:
        """Drop what the model has evaluated; use `seed` from now on (None: the same)."""
        raise NotImplementedError

    def _tools_in_prompt(self, params: dict[str, Any]) -> bool:
        """Whether the round's tools go into the prompt rather than to the engine."""
        raise NotImplementedError

    def _chat(
        self, messages: Messages, abort: Cancellation, trim_history: bool, params: dict[str, Any]
    ) -> Iterator[str]:
        """The engine's own answer to `messages` (see `stream_chat`)."""
        raise NotImplementedError

    def _loaded(self) -> ModelFacts:
        if self._facts is None:
            raise LLMWidgetsError("No model is loaded: call load_model() first.")
        return self._facts


def distribution_installed(name: str) -> bool:
    """Whether the Python distribution `name` (an engine's package) is installed."""
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def load_failure(facts: ModelFacts, log_lines: list[str], detail: object) -> ModelFileError:
    """Why llama.cpp could not load the file: an architecture it does not know, or its words."""
    return unknown_architecture(facts, log_lines) or ModelFileError(
        f"llama.cpp could not load {os.path.basename(facts.path)}: {detail}"
    )
