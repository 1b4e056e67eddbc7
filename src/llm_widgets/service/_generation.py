"""The service's model API: load a GGUF (one model per kernel), generate completions and chat
answers (each a job in the model runner's line), stop them, unload."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .._types import ModelFacts
from ..engines.choice import check_engine
from ..engines.memory import DEFAULT_N_CTX
from ..jobs import DownloadJob, GenerationJob, LoadJob
from ..request.messages import (
    check_generation_params,
    check_load_options,
    check_messages,
    check_think_with,
    with_think,
)
from ..request.structured import OutputFormat, output_format
from ..request.tools import Approve, ToolLike, tool_settings
from ._core import ServiceCore


class Generation(ServiceCore):
    """The model that answers: loading it, its answers, stopping them."""

    @property
    def model(self) -> ModelFacts | None:
        """Facts about the model that answers (local, or on a server: `backend`), or None."""
        return self._models.facts

    @property
    def loading(self) -> LoadJob | None:
        """The load in progress (queued or running), if any."""
        loads = self._unfinished(LoadJob)
        return loads[-1] if loads else None

    def is_loaded(self, path: str | os.PathLike[str]) -> bool:
        """Whether `path` is the file of the loaded model (through any symlink)."""
        return self._models.is_loaded(path)

    def load_model(
        self,
        source: str | os.PathLike[str] | DownloadJob,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        engine: str = "auto",
        **llama_options: Any,
    ) -> LoadJob:
        """Load a GGUF file (a path, or a download job to wait for) in a worker thread.

        The file is checked first (GGUF header, fits in RAM; the engine's llama.cpp says whether
        it knows the architecture). One model is in memory per kernel: loading another unloads
        the current one. `engine`: "xllamacpp", "llama-cpp-python" or "auto" (the
        `LLM_WIDGETS_ENGINE` variable, else an engine that can use a GPU, else xllamacpp).
        Returns the job at once.
        """
        check_load_options(n_ctx, n_threads)
        llama_options["engine"] = check_engine(engine)
        if isinstance(source, DownloadJob):
            label = f"{source.repo_id}/{source.filename}"
        elif isinstance(source, (str, os.PathLike)):
            label = os.fspath(source)
        else:
            raise TypeError(
                f"load_model takes a path or a DownloadJob, not {type(source).__name__}"
            )
        job = LoadJob(label)
        self._spawn(job, lambda: self._models.load(job, source, n_ctx, n_threads, llama_options))
        return job

    def create_context(self, *, n_ctx: int | None = None, seed: int | None = None) -> ModelFacts:
        """Reset the loaded model's context (KV cache, seed; a new n_ctx) without reloading weights.

        Waits for a running generation to end first.
        """
        return self._models.create_context(n_ctx=n_ctx, seed=seed)

    def unload_model(self) -> None:
        """Abort any generation and free the loaded model."""
        self.abort()
        self._models.unload()

    def generate_completion(
        self,
        prompt: str,
        *,
        response_format: dict[str, Any] | type | None = None,
        choices: Sequence[str] | None = None,
        think: bool | str | None = None,
        **params: Any,
    ) -> GenerationJob:
        """Stream a completion of `prompt`; returns the job at once (iterate it, or wait).

        `response_format` (a JSON schema, or a pydantic model class) or `choices` (labels)
        constrain the answer with a grammar; `job.value` is then the parsed answer. Thinking in
        the text (`<think>` blocks) goes to `job.reasoning`; `think` has no chat template to
        switch here and is only checked.
        """
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, not {type(prompt).__name__}")
        job = GenerationJob("completion", prompt, with_think(params, think))
        return self._generate(job, output_format(response_format, choices))

    def generate_chat_completion(
        self,
        messages: Sequence[dict[str, str]],
        *,
        trim_history: bool = False,
        response_format: dict[str, Any] | type | None = None,
        choices: Sequence[str] | None = None,
        think: bool | str | None = None,
        tools: Sequence[ToolLike] | None = None,
        tool_choice: str = "auto",
        approve: Approve = None,
        max_tool_rounds: int = 8,
        **params: Any,
    ) -> GenerationJob:
        """Stream the assistant's answer to `messages` (role/content dicts) with the model's chat
        template; returns the job at once. A thinking model's reasoning streams to
        `job.reasoning`, the answer alone to `job.text`; `think` switches thinking on (True, or
        a level "low" / "medium" / "high") or off (False); None leaves the model's default. With
        `trim_history`, the oldest turns are left out when the conversation outgrows the
        context (`job.stats.trimmed_messages` counts them).

        `tools`: Python functions (and MCPServers) the model may call (`tool_choice` "auto",
        "required", "none" or a tool's name, for the first round); each call is checked against
        the function's signature (a server tool's input schema), approved (`approve`: None runs
        it, a function of the `ToolCallRecord` says yes or no, "ask" waits for
        `job.approve_tool_call(id)` or the Chat's Approve), run, and its result sent back, for
        up to `max_tool_rounds` rounds. `job.tool_calls` records each call; `job.new_messages`
        the turn's messages in the OpenAI shape.

        `response_format` (a JSON schema, or a pydantic model class) or `choices` (labels)
        constrain the answer with a grammar; `job.value` is then the parsed answer (a pydantic
        instance for a model class), and an answer that does not parse fails the job with
        OutputParseError (its `text` kept).
        """
        if not isinstance(trim_history, bool):
            raise ValueError("trim_history must be True or False")
        job = GenerationJob("chat", check_messages(messages), with_think(params, think))
        job.options = {"trim_history": trim_history}
        job.tools = tool_settings(tools, tool_choice, approve, max_tool_rounds)
        self._keep_servers(tools)
        if job.tools is not None and (response_format is not None or choices is not None):
            raise ValueError("tools cannot be combined with response_format or choices")
        return self._generate(job, output_format(response_format, choices))

    def abort(self, *, queued: bool = True) -> list[GenerationJob]:
        """Stop the running generation, and drop the queued ones unless `queued=False`; the
        model stays loaded (a batch run has its own `cancel()`). Returns the jobs stopped."""
        jobs = self._unfinished(GenerationJob)
        return [j for j in jobs if (queued or j.state == "running") and j.cancel()]

    def _generate(self, job: GenerationJob, output: OutputFormat | None = None) -> GenerationJob:
        check_generation_params(job.params)
        check_think_with(output, job.params)
        if output is not None:
            job.output = output
            job.options.update(output.request)
            job.options["structured"] = True  # the answer's text as it is
        loads = self._unfinished(LoadJob)  # an answer asked for while a model loads waits for it
        self._spawn(job, lambda: self._models.generate(job, after=loads))
        return job
