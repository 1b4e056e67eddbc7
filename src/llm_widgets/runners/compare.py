"""Comparisons (`service.compare`): the same prompts to several models. Local models are loaded
one after the other through the service (one in memory at a time) and the model loaded before
comes back at the end; server models answer at once, each through a connection of its own that
leaves the service's `connect()` alone. Answers go into the batch cache, so a run stopped and
started again goes on where it stopped."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .._events import PROGRESS_INTERVAL
from .._types import Thinking
from ..engines.openai_compat import DEFAULT_API_KEY_ENV, DEFAULT_TIMEOUT, RemoteEngine, server_name
from ..errors import JobCancelledError, LLMWidgetsError
from ..hub.files import redact
from ..jobs import CompareAnswer, CompareJob, DownloadJob, LoadJob
from ..request.messages import check_generation_params, check_load_options, check_messages
from ..request.structured import OutputFormat, output_format
from ._lifecycle import failure, in_words, run_job, say, wait_for
from .batch import (
    BatchCache,
    as_inputs,
    check_concurrency,
    digest,
    messages_for,
    model_identity,
)
from .model import ModelRunner, output_options, request_params

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class ServerModel:
    """A model on an OpenAI-compatible server, for `compare()`. The key is `api_key`, else the
    `api_key_env` environment variable; it is never shown, synced or saved."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = DEFAULT_API_KEY_ENV
    timeout: float = DEFAULT_TIMEOUT

    @property
    def name(self) -> str:
        """How the comparison names it: model @ host:port."""
        return f"{self.model} @ {server_name(self.base_url)}"


@dataclass(frozen=True)
class _Local:
    source: str | DownloadJob
    name: str


Source = _Local | ServerModel


class Loader(Protocol):
    """What the runner needs of the service: its public load, and where a card's file is."""

    def load_model(self, source: Any, *, n_ctx: int = ..., **options: Any) -> LoadJob: ...

    def find_download(
        self, repo_id: str, filename: str, revision: str | None = None
    ) -> DownloadJob | None: ...

    def cached_path(
        self, repo_id: str, filename: str, revision: str | None = None
    ) -> str | None: ...


# -- arguments ----------------------------------------------------------------------------------


def as_models(models: object, service: Loader) -> list[Source]:
    """Each model as a local source (a path, a download job, a card) or a ServerModel (one, or a
    dict {base_url, model, api_key?, api_key_env?}); TypeError / ValueError saying which."""
    if isinstance(models, (str, bytes, os.PathLike, dict)) or not isinstance(models, Sequence):
        raise TypeError("compare() takes a list of models")
    if not models:
        raise ValueError("compare() needs at least one model")
    return [_as_source(m, i, service) for i, m in enumerate(models)]


def unique_names(sources: list[Source]) -> list[str]:
    """A name per model; a name given twice gets " #2", " #3"..."""
    seen: dict[str, int] = {}
    names = []
    for source in sources:
        seen[source.name] = seen.get(source.name, 0) + 1
        count = seen[source.name]
        names.append(source.name if count == 1 else f"{source.name} #{count}")
    return names


def _as_source(model: object, index: int, service: Loader) -> Source:
    if isinstance(model, ServerModel):
        return model
    if isinstance(model, dict):
        extra = set(model) - {"base_url", "model", "api_key", "api_key_env", "timeout"}
        if extra or not isinstance(model.get("base_url"), str):
            raise ValueError(
                f"models[{index}]: a server model is {{'base_url', 'model', 'api_key'?, "
                f"'api_key_env'?}}; got the keys {sorted(map(str, model))}"
            )
        if not isinstance(model.get("model"), str) or not model["model"].strip():
            raise ValueError(f"models[{index}]: 'model' names the server's model (a str)")
        return ServerModel(**model)
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        return _Local(path, _stem(path))
    if isinstance(model, DownloadJob):
        return _Local(model, _stem(model.filename))
    if hasattr(model, "repo_id") and hasattr(model, "filename"):  # a ModelCard
        key = (str(model.repo_id), str(model.filename), getattr(model, "revision", "") or None)
        found = service.cached_path(*key) or service.find_download(*key)
        if found is None:
            raise ValueError(f"models[{index}]: {key[1]} is not downloaded: download it first")
        return _Local(found, _stem(key[1]))
    raise TypeError(
        f"models[{index}] is a {type(model).__name__}: a model is a GGUF path, a DownloadJob, "
        "a ModelCard, a ServerModel or a {'base_url', 'model'} dict"
    )


def _stem(path: str) -> str:
    name = os.path.basename(path)
    return name[:-5] if name.lower().endswith(".gguf") else name


def as_prompts(
    prompts: object, prompt: str | None, system: str | None, label: str | None
) -> tuple[list[Messages | str], list[str], list[Any] | None]:
    """Each prompt's chat request (or why it cannot be made), the text that names it, and the
    expected answers from the `label` column."""
    if isinstance(prompts, Sequence) and not isinstance(prompts, (str, bytes)):
        rows: list[Any] = list(prompts)
        for i, row in enumerate(rows):
            if not isinstance(row, (str, dict, list)):
                raise TypeError(
                    f"prompts[{i}] is a {type(row).__name__}: a prompt is a str, a row dict "
                    "or a list of chat messages"
                )
    else:
        rows = as_inputs(prompts)  # a DataFrame's rows, a Series' values
    if not rows:
        raise ValueError("compare() needs at least one prompt")
    labels = None
    if label is not None:
        if not all(isinstance(r, dict) and label in r for r in rows):
            raise ValueError(f"label={label!r} names a column that every prompt row has")
        labels = [r[label] for r in rows]
    requests = [_request(row, prompt, system) for row in rows]
    shown = [_shown(row, request) for row, request in zip(rows, requests, strict=True)]
    return requests, shown, labels


def _request(row: Any, prompt: str | None, system: str | None) -> Messages | str:
    try:
        if isinstance(row, list):
            messages = check_messages(row)
            if system and messages[0]["role"] != "system":
                messages = [{"role": "system", "content": system}] + messages
            return messages
        return messages_for(row, prompt, system)
    except ValueError as exc:
        return str(exc)  # this prompt fails for every model; the others go on


def _shown(row: Any, request: Messages | str) -> str:
    if isinstance(request, list):
        users = [m["content"] for m in request if m["role"] == "user"]
        return users[-1] if users else request[-1]["content"]
    return row if isinstance(row, str) else str(row)


def local_identity(path: str, n_ctx: int) -> dict[str, Any]:
    """What makes two runs of a local file comparable, known before loading it: its name, size,
    the start of its header (metadata, chat template) and the context size."""
    with open(path, "rb") as f:
        head = hashlib.sha256(f.read(1 << 16)).hexdigest()
    return {
        "file": os.path.basename(path),
        "size": os.path.getsize(path),
        "head": head,
        "n_ctx": n_ctx,
    }


def plan_comparison(
    service: Loader,
    runner: ModelRunner,
    cache_dir: Path | None,
    *,
    models: Sequence[Any],
    prompts: Any,
    prompt: str | None,
    system: str | None,
    response_format: dict[str, Any] | type | None,
    choices: Sequence[str] | None,
    label: str | None,
    blind: bool,
    cache: Any,
    concurrency: int,
    n_ctx: int,
    **params: Any,
) -> tuple[CompareJob, CompareRunner]:
    """compare()'s arguments checked (errors raise here, in the caller's thread) and turned into
    a job and the runner that will run it."""
    sources = as_models(models, service)
    if prompt is not None and not isinstance(prompt, str):
        raise TypeError("prompt must be a str template or None")
    requests, shown, labels = as_prompts(prompts, prompt, system, label)
    check_concurrency(concurrency)
    check_load_options(n_ctx, None)
    check_generation_params(params)
    output = output_format(response_format, choices)
    job = CompareJob(unique_names(sources), shown, blind=bool(blind))
    job.labels, job.choices = labels, list(choices) if choices else None
    job.request = dict(
        models=models, prompts=prompts, prompt=prompt, system=system, label=label,
        response_format=response_format, choices=choices, blind=blind, cache=cache,
        concurrency=concurrency, n_ctx=n_ctx, **params,
    )  # fmt: skip
    return job, CompareRunner(
        job, runner, service, sources, requests, output=output, params=params,
        cache_dir=cache_dir, concurrency=concurrency, n_ctx=n_ctx,
    )  # fmt: skip


# -- the run -----------------------------------------------------------------------------------


class CompareRunner:
    """The worker body of a comparison (one per job)."""

    def __init__(
        self,
        job: CompareJob,
        models: ModelRunner,
        service: Loader,
        sources: list[Source],
        requests: list[Messages | str],
        *,
        output: OutputFormat | None,
        params: dict[str, Any],
        cache_dir: Path | None,
        concurrency: int,
        n_ctx: int,
    ) -> None:
        self.job, self.models, self.service = job, models, service
        self.sources, self.requests = sources, requests
        self.output, self.params = output, dict(params)
        self.options = output_options(output)
        self.cache_dir, self.concurrency, self.n_ctx = cache_dir, concurrency, n_ctx
        self._last_report = 0.0
        self._aside: tuple[RemoteEngine, Any] | None = None  # the connection set aside

    def run(self) -> None:
        """Every model's answers, then the model loaded before back; a failed answer does not
        end the job."""
        job = self.job
        run_job(
            job,
            self._run,
            explain=failure("The comparison", own=()),
            partial=lambda: job.results,
            running=True,
        )

    def _run(self) -> list[list[Any]]:
        job = self.job
        self._fail_bad_prompts()
        servers = [
            threading.Thread(
                target=self._server, args=(m, s), name=f"llm-widgets-compare-{job.id}-{m}"
            )
            for m, s in enumerate(self.sources)
            if isinstance(s, ServerModel)
        ]
        for thread in servers:
            thread.start()
        before, touched = self.models.local_load, False
        try:
            for m, source in enumerate(self.sources):
                if isinstance(source, _Local) and not job.cancel_requested:
                    touched = self._local(m, source) or touched
        finally:
            for thread in servers:
                thread.join()
            if self._aside is not None:
                say(self.job, "connecting to the server again")
                self.models.bring_back(self._aside)  # the local model is freed
                say(self.job, "")
            elif touched:
                self._restore(before)
        job.cancellation.raise_if_set()
        return job.results

    # -- one model ------------------------------------------------------------------------------

    def _local(self, m: int, source: _Local) -> bool:
        """Run every prompt not done yet through one local model; True if it was loaded."""
        try:
            path = self._path(source)
            cache = self._cache(local_identity(path, self.n_ctx))
        except (LLMWidgetsError, ValueError, OSError) as exc:
            if self.job.cancel_requested:
                raise
            self._fail_model(m, self._pending(m), in_words(exc))
            return False
        pending = self._reuse(m, cache)
        if not pending:
            return False  # every answer is cached: no need to load it
        if self._aside is None:  # the service's server connection waits, open, till the end
            self._aside = self.models.set_aside()
        load = self.service.load_model(path, n_ctx=self.n_ctx)
        say(self.job, f"loading {source.name}")
        while not load.join(0.05):
            if self.job.cancel_requested:
                load.cancel()
        say(self.job, "")
        if load.state != "done":
            if load.state == "failed":
                self._fail_model(m, pending, load.error or f"Loading {source.name} failed.")
            return True
        for i in pending:
            if self.job.cancel_requested:
                break
            with self.models.turn(self.job):
                if not self.models.is_loaded(path):
                    self._fail_model(m, [i], "Another model was loaded during the comparison.")
                    continue
                self._answer(self.models.require_engine("chat"), m, i, cache)
        return True

    def _server(self, m: int, spec: ServerModel) -> None:
        engine = None
        try:
            engine = RemoteEngine(
                spec.base_url,
                api_key=spec.api_key,
                api_key_env=spec.api_key_env,
                timeout=spec.timeout,
            )
            cache = self._cache(model_identity(engine.open(spec.model)))
            pending = self._reuse(m, cache)
            with ThreadPoolExecutor(
                self.concurrency, thread_name_prefix=f"llm-widgets-compare-{self.job.id}"
            ) as pool:
                for _ in pool.map(lambda i: self._answer(engine, m, i, cache), pending):
                    pass
        except Exception as exc:
            self._fail_model(m, self._pending(m), redact(in_words(exc), spec.api_key))
        finally:
            if engine is not None:
                engine.unload()

    def _answer(self, engine: Any, m: int, i: int, cache: BatchCache | None) -> None:
        """One answer, streamed into the job; its failure stays in its cell."""
        job, answer = self.job, self.job.answers[i][m]
        if job.cancel_requested:
            return
        answer.state, answer.text, answer.thinking = "running", "", ""
        try:
            params = request_params(engine.facts, self.options, self.params)
            pieces = engine.stream_chat(self.requests[i], abort=job.cancellation, **params)
            for piece in pieces:
                if isinstance(piece, Thinking):
                    answer.thinking += piece  # the reasoning is not the answer
                else:
                    answer.text += piece
                self._report()
            stats = engine.last_stats
            if job.cancel_requested:
                raise JobCancelledError("cancelled")  # a cut answer is not a result
            answer.value = self.output.parse(answer.text) if self.output else answer.text
        except JobCancelledError:
            answer.state, answer.text = "pending", ""
            job.report_progress()
            return
        except Exception as exc:
            answer.state, answer.error = "failed", in_words(exc)
            job.report_progress()
            return
        if stats is not None:
            answer.completion_tokens, answer.prompt_tokens = (
                stats.completion_tokens,
                stats.prompt_tokens,
            )
            answer.ttft, answer.tokens_per_second = stats.ttft, stats.tokens_per_second
            answer.stop_reason = stats.stop_reason
        answer.state = "done"
        if cache is not None:
            cache.add(digest(self.requests[i]), answer.text, _figures(answer))
        job.report_progress()

    def _restore(self, before: tuple[str, int, int | None, dict[str, Any]] | None) -> None:
        """The model loaded before the comparison comes back (none: the memory is freed)."""
        if before is None:
            self.models.unload()
            return
        path, n_ctx, n_threads, options = before
        if not self.models.is_loaded(path):
            say(self.job, "loading the model loaded before")
            self.service.load_model(path, n_ctx=n_ctx, n_threads=n_threads, **options).join()
            say(self.job, "")

    # -- the cache ------------------------------------------------------------------------------

    def _cache(self, identity: dict[str, Any]) -> BatchCache | None:
        if self.cache_dir is None:
            return None
        key = {
            "model": identity,
            "params": self.params,
            "format": asdict(self.output) if self.output else None,
        }
        return BatchCache(self.cache_dir, key)

    def _reuse(self, m: int, cache: BatchCache | None) -> list[int]:
        """Fill in this model's answers an earlier run finished; return the prompts left."""
        entries = cache.entries() if cache is not None else {}
        pending = []
        for i in self._pending(m):
            entry = entries.get(digest(self.requests[i]))
            answer = self.job.answers[i][m]
            try:
                if entry is None:
                    raise LLMWidgetsError("not cached")
                answer.value = self.output.parse(entry["text"]) if self.output else entry["text"]
            except LLMWidgetsError:
                pending.append(i)  # not there, or a format changed under the same key
                continue
            answer.text, answer.state, answer.reused = entry["text"], "done", True
            for name, value in (entry.get("figures") or {}).items():
                if name in _FIGURES:
                    setattr(answer, name, value)
        self.job.report_progress()
        return pending

    # -- internals ------------------------------------------------------------------------------

    def _path(self, source: _Local) -> str:
        if not isinstance(source.source, DownloadJob):
            return source.source
        wait_for(self.job, source.source, f"waiting for the download of {source.name}")
        say(self.job, "")
        return source.source.wait(0)

    def _pending(self, m: int) -> list[int]:
        return [i for i, row in enumerate(self.job.answers) if row[m].state == "pending"]

    def _fail_bad_prompts(self) -> None:
        for i, request in enumerate(self.requests):
            if isinstance(request, str):
                for answer in self.job.answers[i]:
                    answer.state, answer.error = "failed", request

    def _fail_model(self, m: int, prompts: list[int], error: str) -> None:
        for i in prompts:
            answer = self.job.answers[i][m]
            answer.state, answer.error = "failed", error
        self.job.report_progress()

    def _report(self) -> None:
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_INTERVAL:
            self._last_report = now
            self.job.report_progress()


_FIGURES = ("completion_tokens", "prompt_tokens", "ttft", "tokens_per_second", "stop_reason")


def _figures(answer: CompareAnswer) -> dict[str, Any]:
    return {name: getattr(answer, name) for name in _FIGURES}
