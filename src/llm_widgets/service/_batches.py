"""The service's batch API: `map` (one answer per input) and `compare` (the same prompts to
several models), each a job whose answers are kept on disk."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from ..engines.memory import DEFAULT_N_CTX
from ..jobs import BatchJob, CompareJob
from ..request.tools import Approve, ToolLike
from ..runners.batch import cache_folder, plan_map
from ..runners.compare import plan_comparison
from ._downloads import Downloads
from ._generation import Generation


class Batches(Downloads, Generation):
    """Runs over many prompts: through the model that answers, or through several models."""

    def map(
        self,
        inputs: Iterable[Any],
        *,
        prompt: str | None = None,
        response_format: dict[str, Any] | type | None = None,
        choices: Sequence[str] | None = None,
        system: str | None = None,
        cache: bool | str | os.PathLike[str] = True,
        concurrency: int = 1,
        think: bool | str | None = None,
        tools: Sequence[ToolLike] | None = None,
        tool_choice: str = "auto",
        approve: Approve = None,
        max_tool_rounds: int = 8,
        **params: Any,
    ) -> BatchJob:
        """Run one chat answer per input through the model that answers; returns a BatchJob at
        once (`wait()` gives the results in input order; `cancel()` stops within a token).

        Each input is a str or a dict (a pandas DataFrame gives its rows, a Series its values).
        With `prompt=None` a string is the user message; otherwise `prompt` is a template
        formatted with the row (a dict's keys, or `{input}`). `response_format` / `choices`
        constrain every answer as in `generate_chat_completion`. An item that fails gets an
        entry in `job.errors`; the run goes on. Finished answers are kept on disk (`cache`: True
        for the default folder, a folder, or False), keyed by model, parameters and input, so a
        new `map` over the same inputs skips them (`job.reused`). `concurrency` > 1 runs that
        many at once on a server that serves requests in parallel (vLLM, llama.cpp's server with
        --parallel); the kernel's model runs one at a time. `tools` (with `tool_choice`,
        `approve`, `max_tool_rounds`) run the same loop as `generate_chat_completion` per item;
        `job.tool_calls[index]` holds an item's calls (approve="ask" has no one to ask here).
        """
        job, runner = plan_map(
            self._models, inputs, prompt=prompt, response_format=response_format,
            choices=choices, system=system, cache=cache, concurrency=concurrency, think=think,
            tools=tools, tool_choice=tool_choice, approve=approve,
            max_tool_rounds=max_tool_rounds, params=params,
        )  # fmt: skip
        self._keep_servers(tools)
        self._spawn(job, self._after_loads(runner.run))
        return job

    def compare(
        self,
        models: Sequence[Any],
        prompts: Any,
        *,
        prompt: str | None = None,
        system: str | None = None,
        response_format: dict[str, Any] | type | None = None,
        choices: Sequence[str] | None = None,
        label: str | None = None,
        blind: bool = False,
        cache: bool | str | os.PathLike[str] = True,
        concurrency: int = 1,
        n_ctx: int = DEFAULT_N_CTX,
        **params: Any,
    ) -> CompareJob:
        """The same prompts to several models; returns a CompareJob at once (`wait()` gives the
        answers per prompt, `to_pandas()` one row per prompt and model).

        `models`: GGUF paths, DownloadJobs, ModelCards (loaded one at a time; the model, or the
        server connection, answering before comes back at the end) and ServerModels or
        {base_url, model, api_key} dicts (all at once, `concurrency` requests each). `prompts`:
        strings, chat message lists, or rows (a DataFrame) for the `prompt` template, as in
        `map`; `label` names the column of the expected answers. Answers are cached as `map`'s
        are, so the same call after a Stop goes on (`job.reused`); a failing model or prompt is
        recorded and the rest goes on.
        """
        job, runner = plan_comparison(
            self, self._models, cache_folder(cache), models=models, prompts=prompts,
            prompt=prompt, system=system, response_format=response_format, choices=choices,
            label=label, blind=blind, cache=cache, concurrency=concurrency, n_ctx=n_ctx, **params,
        )  # fmt: skip
        self._spawn(job, self._after_loads(runner.run))
        return job
