"""LLMKernelService: one per kernel, the public API every widget and script talks to.

It keeps the registry of jobs and hands each to a runner in a worker thread: downloads to
`DownloadRunner`, loads and generations to `ModelRunner`. Jobs announce themselves on `events`.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .._events import EventBus
from .._types import ModelFacts
from ..engines.choice import check_engine
from ..engines.memory import DEFAULT_N_CTX
from ..errors import LLMWidgetsError
from ..hub import files as hub
from ..hub import library, search
from ..jobs import BatchJob, CompareJob, DownloadJob, GenerationJob, Job, LoadJob, download_key
from ..request.messages import (
    check_generation_params,
    check_load_options,
    check_messages,
    check_think_with,
    with_think,
)
from ..request.structured import OutputFormat, output_format
from ..request.tools import Approve, tool_settings
from ..runners.batch import cache_folder, plan_map
from ..runners.compare import plan_comparison
from ..runners.download import DEFAULT_PARALLEL_PARTS, MAX_PARALLEL_PARTS, DownloadRunner
from ..runners.model import ModelRunner
from ._connections import ServerConnections
from ._subscriptions import EventSubscriptions

J = TypeVar("J", bound=Job)

# DownloadJob and download_key are also importable from here, where they used to live
__all__ = ["DownloadJob", "LLMKernelService", "download_key"]


class LLMKernelService(EventSubscriptions, ServerConnections):
    """Owns this kernel's downloads and its loaded model; every widget talks to it.

    Long work runs in worker threads, one per job. Subscribe with `on_progress`, `on_download_done`,
    `on_error` (and the inference events); each returns a function that unsubscribes. Callbacks run
    on one event thread, never on a worker's hot loop, and one that raises never breaks a job.
    """

    _instance: LLMKernelService | None = None
    _instance_lock = threading.Lock()

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        cache_dir: str | Path | None = None,
        token: str | bool | None = None,
        max_concurrent_downloads: int = 2,
        transfer_options: hub.TransferOptions | None = None,
        parallel_parts: int = DEFAULT_PARALLEL_PARTS,
    ) -> None:
        self._endpoint = endpoint
        self._cache_dir = cache_dir
        self.__token = token  # never stored in a trait, a message or a log line
        hub.remember_secret(token)  # and masked in what tools send back to a model
        self.events = EventBus()
        self._downloads = DownloadRunner(
            max(1, int(max_concurrent_downloads)), transfer_options or hub.TransferOptions()
        )
        self.parallel_parts = parallel_parts
        self._models = ModelRunner(self.events)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._latest: dict[tuple[str, str, str], DownloadJob] = {}
        self._threads: set[threading.Thread] = set()
        self._closed = False

    @classmethod
    def instance(cls) -> LLMKernelService:
        """The service shared by every widget in this kernel (created on first use)."""
        with cls._instance_lock:
            if cls._instance is None or cls._instance._closed:
                cls._instance = cls()
                atexit.register(cls._instance.shutdown)
            return cls._instance

    @classmethod
    def set_instance(cls, service: LLMKernelService | None) -> None:
        """Make `service` the shared one (None: the next `instance()` makes a fresh one)."""
        with cls._instance_lock:
            cls._instance = service

    # -- configuration ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The Hub URL downloads use (HF_ENDPOINT, read when used)."""
        return hub.resolve_endpoint(self._endpoint)

    @property
    def cache_dir(self) -> Path:
        """The Hugging Face hub cache folder (HF_HUB_CACHE / HF_HOME, read when used)."""
        return hub.resolve_cache_dir(self._cache_dir)

    @property
    def transfer_options(self) -> hub.TransferOptions:
        """Knobs of the transfer loop (timeouts, retries), read when a download starts."""
        return self._downloads.options

    @transfer_options.setter
    def transfer_options(self, options: hub.TransferOptions) -> None:
        self._downloads.options = options

    @property
    def parallel_parts(self) -> int:
        """How many byte ranges of one file are fetched at once (1: a single stream), read when
        a download starts. A file up to two `transfer_options.min_part` (8 MiB) is one request."""
        return self._downloads.parallel_parts

    @parallel_parts.setter
    def parallel_parts(self, value: int) -> None:
        limit = MAX_PARALLEL_PARTS
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise ValueError(f"parallel_parts must be an int from 1 to {limit}, got {value!r}")
        self._downloads.parallel_parts = value

    @property
    def max_concurrent_downloads(self) -> int:
        """How many downloads transfer at once; the others wait as "queued"."""
        return self._downloads.max_concurrent

    @max_concurrent_downloads.setter
    def max_concurrent_downloads(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"max_concurrent_downloads must be an int >= 1, got {value!r}")
        self._downloads.max_concurrent = value

    # -- downloads ----------------------------------------------------------------------------

    def start_download(
        self, repo_id: str, filename: str, revision: str | None = None
    ) -> DownloadJob:
        """Download one file of a Hub repo into the HF cache in a worker thread.

        Returns the running job if this file is already downloading, and a job that finishes at
        once if the file is already complete in the cache. A partial file left by a cancel or a
        crash is resumed.
        """
        hub.validate_repo_file(repo_id, filename, revision)
        key = download_key(repo_id, filename, revision)
        with self._lock:
            running = self._latest.get(key)
            if running is not None and not running.finished and not running.cancel_requested:
                return running
            job = DownloadJob(repo_id, filename, revision)
            self._latest[key] = job
        previous = running if running is not None and not running.finished else None
        endpoint, cache_dir, token = self.endpoint, self.cache_dir, self.__token
        self._spawn(
            job,
            lambda: self._downloads.run(
                job, previous, endpoint=endpoint, token=token, cache_dir=cache_dir
            ),
        )
        return job

    def cancel_download(self, job_id: str | None = None) -> list[DownloadJob]:
        """Cancel one download by id, or every unfinished one when `job_id` is None."""
        with self._lock:
            if job_id is None:
                jobs = [j for j in self._latest.values() if not j.finished]
            else:
                job = self._jobs.get(job_id)
                if not isinstance(job, DownloadJob):
                    raise KeyError(f"no download job {job_id!r}")
                jobs = [job]
        return [j for j in jobs if j.cancel()]

    def find_download(
        self, repo_id: str, filename: str, revision: str | None = None
    ) -> DownloadJob | None:
        """The latest download job of this file (running or finished), or None."""
        with self._lock:
            return self._latest.get(download_key(repo_id, filename, revision))

    def get_job(self, job_id: str) -> Job:
        """A job by its id."""
        with self._lock:
            return self._jobs[job_id]

    @property
    def downloads(self) -> list[DownloadJob]:
        """Every download job of this session, oldest first."""
        with self._lock:
            return [j for j in self._jobs.values() if isinstance(j, DownloadJob)]

    def file_size(self, repo_id: str, filename: str, revision: str | None = None) -> int:
        """The size of a file on the Hub (all parts of a split GGUF), from its metadata; raises
        DownloadError with what to do when it cannot be had."""
        hub.validate_repo_file(repo_id, filename, revision)
        return hub.file_size(
            repo_id, filename, revision, endpoint=self.endpoint, token=self.__token
        )

    def cached_path(self, repo_id: str, filename: str, revision: str | None = None) -> str | None:
        """The local path of a file complete in the cache, or None."""
        path = hub.cached_file(self.cache_dir, repo_id, filename, revision)
        return str(path) if path is not None else None

    # -- finding and managing models -----------------------------------------------------------

    def search_models(
        self, query: str, *, limit: int = 50, sort: search.SortKey = "downloads"
    ) -> list[search.ModelSummary]:
        """GGUF repos on the Hub matching `query`, most downloaded first."""
        return search.search_models(
            search.check_query(query),
            endpoint=self.endpoint,
            token=self.__token,
            limit=limit,
            sort=sort,
        )

    def list_model_files(self, repo_id: str, revision: str | None = None) -> list[search.ModelFile]:
        """A repo's GGUF models with quantization, size, split parts and RAM fit."""
        hub.validate_repo_id(repo_id)
        hub.validate_revision(revision)
        return search.list_model_files(
            repo_id, endpoint=self.endpoint, token=self.__token, revision=revision
        )

    def local_models(self) -> list[library.LocalModel]:
        """Every GGUF in the local cache, complete or partial."""
        return library.local_models(self.cache_dir)

    def delete_model(self, repo_id: str, filename: str) -> int:
        """Delete a downloaded file from the cache; refused while it is loaded or downloading.
        Returns the bytes freed."""
        hub.validate_repo_file(repo_id, filename)
        self._refuse_if_busy(repo_id, filename, "delete")
        freed = library.delete_file(self.cache_dir, repo_id, filename)
        self._forget_finished(repo_id, filename)
        return freed

    def discard_partial(self, repo_id: str, filename: str) -> int:
        """Delete a partial download; refused while it is downloading. Returns the bytes freed."""
        hub.validate_repo_file(repo_id, filename)
        self._refuse_if_busy(repo_id, filename, "discard")
        freed = library.discard_partial(self.cache_dir, repo_id, filename)
        self._forget_finished(repo_id, filename)
        return freed

    def _forget_finished(self, repo_id: str, filename: str) -> None:
        """A file's finished downloads describe a file that is gone: forget them (a new card
        then shows it as not downloaded) and tell every widget (`model_deleted`)."""
        with self._lock:
            for key, job in list(self._latest.items()):
                if job.repo_id == repo_id and filename in job.files and job.finished:
                    del self._latest[key]
        self.events.emit("model_deleted", repo_id, filename)

    def _refuse_if_busy(self, repo_id: str, filename: str, action: str) -> None:
        with self._lock:
            jobs = list(self._latest.values())
        cached = self.cached_path(repo_id, filename)
        loaded = cached is not None and self.is_loaded(cached)
        _refuse_if_busy(jobs, repo_id, filename, action, loaded)

    # -- inference ----------------------------------------------------------------------------

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
        tools: Sequence[Callable[..., Any]] | None = None,
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

        `tools`: Python functions the model may call (`tool_choice` "auto", "required", "none"
        or a tool's name, for the first round); each call is checked against the function's
        signature, approved (`approve`: None runs it, a function of the `ToolCallRecord` says
        yes or no, "ask" waits for `job.approve_tool_call(id)` or the Chat's Approve), run, and
        its result sent back, for up to `max_tool_rounds` rounds. `job.tool_calls` records each
        call; `job.new_messages` the turn's messages in the OpenAI shape.

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
        if job.tools is not None and (response_format is not None or choices is not None):
            raise ValueError("tools cannot be combined with response_format or choices")
        return self._generate(job, output_format(response_format, choices))

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
        tools: Sequence[Callable[..., Any]] | None = None,
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

    # -- jobs and threads -----------------------------------------------------------------------

    def _unfinished(self, kind: type[J]) -> list[J]:
        """The jobs of one kind that have not ended, oldest first."""
        with self._lock:
            return [j for j in self._jobs.values() if isinstance(j, kind) and not j.finished]

    def _after_loads(self, work: Callable[[], None]) -> Callable[[], None]:
        """`work` run once the loads started before it have ended (a run waits for its model)."""
        loads = self._unfinished(LoadJob)

        def after() -> None:
            for load in loads:
                load.join()
            work()

        return after

    def _spawn(self, job: Job, work: Callable[[], None]) -> None:
        """Register `job`, bind it to the events, and run `work` in a worker thread of its own."""
        verb = {"generation": "generate"}.get(job.kind, job.kind)
        thread = threading.Thread(
            target=self._run, args=(work,), name=f"llm-widgets-{verb}-{job.id}", daemon=True
        )
        with self._lock:
            if self._closed:
                raise RuntimeError("the service was shut down")
            self._jobs[job.id] = job
            self._threads.add(thread)
        job.bind(self.events)
        job.report_progress()
        thread.start()

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    # -- lifetime -----------------------------------------------------------------------------

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every job, wait for the worker threads, stop the event thread."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
            threads = list(self._threads)
        for job in jobs:
            job.cancel()
        deadline = time.monotonic() + timeout
        self._downloads.close(timeout)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._models.close()
        self.events.close(max(0.1, deadline - time.monotonic()))


def _refuse_if_busy(
    jobs: Iterable[DownloadJob], repo_id: str, filename: str, action: str, loaded: bool
) -> None:
    """LLMWidgetsError if the file is downloading or loaded."""
    if any(j.repo_id == repo_id and filename in j.files and not j.finished for j in jobs):
        raise LLMWidgetsError(f"Cannot {action} {filename} while it is downloading: cancel first.")
    if loaded:
        raise LLMWidgetsError(f"Cannot {action} {filename} while it is loaded: unload first.")
