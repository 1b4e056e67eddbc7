"""Batch runs (`service.map`): the inputs turned into chat requests, the worker body that runs
them through the model runner one at a time (or a few at once on a server), and the on-disk
cache that lets a new run over the same inputs skip what is done."""

from __future__ import annotations

import hashlib
import json
import os
import string
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

from .._format import shorten
from .._types import GenerationStats, ModelFacts, Thinking
from ..engines.base import Backend
from ..errors import JobCancelledError, LLMWidgetsError
from ..jobs import BatchJob, GenerationJob
from ..request.messages import check_generation_params, check_think_with, with_think
from ..request.structured import OutputFormat, output_format
from ..request.tools import ToolSettings, tool_settings
from ._lifecycle import failure, run_job, say
from .model import ModelRunner, output_options, request_params, starting_words
from .tool_loop import ToolTurn

RECENT = 5  # results a BatchJob keeps in `recent` for the views
MAX_REMOTE_CONCURRENCY = 32


def check_concurrency(concurrency: object) -> None:
    """TypeError / ValueError unless `concurrency` is an int from 1 to MAX_REMOTE_CONCURRENCY."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError("concurrency must be an int")
    if not 1 <= concurrency <= MAX_REMOTE_CONCURRENCY:
        raise ValueError(f"concurrency must be between 1 and {MAX_REMOTE_CONCURRENCY}")


def as_inputs(inputs: object) -> list[Any]:
    """The inputs as a list of strings and dicts (a pandas DataFrame gives one dict per row, a
    Series its values); TypeError for anything else."""
    if hasattr(inputs, "to_dict") and hasattr(inputs, "columns"):  # a DataFrame
        rows: list[Any] = list(inputs.to_dict("records"))
    elif isinstance(inputs, (str, bytes, dict)):
        raise TypeError("map() takes an iterable of inputs (a list of strings, say), not one")
    elif isinstance(inputs, Iterable):
        rows = list(inputs.tolist() if hasattr(inputs, "tolist") else inputs)
    else:
        raise TypeError(f"map() takes an iterable of inputs, not {type(inputs).__name__}")
    for i, row in enumerate(rows):
        if not isinstance(row, (str, dict)):
            raise TypeError(f"inputs[{i}] is a {type(row).__name__}: each input is a str or a dict")
    return rows


def messages_for(
    row: str | dict[str, Any], prompt: str | None, system: str | None
) -> list[dict[str, str]]:
    """The chat request of one input: `prompt` formatted with the row (a dict's keys, or
    `{input}` for a string), or the string itself as the user message."""
    if prompt is None:
        if not isinstance(row, str):
            raise ValueError("a dict input needs prompt= (a template using its keys)")
        text = row
    else:
        fields = row if isinstance(row, dict) else {"input": row}
        try:
            text = prompt.format(**fields)
        except (KeyError, IndexError) as exc:
            raise ValueError(f"the prompt template needs {exc} that this input lacks") from None
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": text}]


def check_map_args(
    prompt: object, system: object, concurrency: object, cache: object
) -> Path | None:
    """Raise TypeError / ValueError for a bad `map()` argument; returns the cache folder (None:
    no cache)."""
    if prompt is not None and not isinstance(prompt, str):
        raise TypeError("prompt must be a str template or None")
    if system is not None and not isinstance(system, str):
        raise TypeError("system must be a str or None")
    check_concurrency(concurrency)
    return cache_folder(cache)


def cache_folder(cache: object) -> Path | None:
    """Where finished answers are kept: True the default folder, False / None none, or the
    folder given."""
    if cache is True:
        return default_cache_dir()
    if cache is False or cache is None:
        return None
    return Path(os.fspath(cast(Any, cache)))


def default_cache_dir() -> Path:
    """Where batch results are kept for resuming: $LLM_WIDGETS_CACHE/batches, else
    $XDG_CACHE_HOME (or ~/.cache)/llm-widgets/batches."""
    root = os.environ.get("LLM_WIDGETS_CACHE")
    if root:
        return Path(root) / "batches"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "llm-widgets" / "batches"


def digest(value: Any) -> str:
    """A stable hash of a JSON-able value (the cache's keys)."""
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def model_identity(facts: ModelFacts) -> dict[str, Any]:
    """What makes two runs' answers comparable: the same model file (or server model)."""
    if facts.backend == "remote":
        return {"server": facts.server, "model": facts.name}
    return {
        "file": os.path.basename(facts.path),
        "size": facts.size,
        "name": facts.name,
        "n_ctx": facts.n_ctx,
    }


class BatchCache:
    """Results of one (model, parameters) combination, one JSON line per finished input,
    appended as they come: a killed run loses at most the line being written."""

    def __init__(self, folder: Path, key: dict[str, Any]) -> None:
        self.path = folder / f"{digest(key)[:32]}.jsonl"
        self._lock = threading.Lock()

    def load(self) -> dict[str, str]:
        """input digest -> answer text, of what earlier runs finished."""
        return {key: entry["text"] for key, entry in self.entries().items()}

    def entries(self) -> dict[str, dict[str, Any]]:
        """input digest -> its line ({input, text} and the figures, when kept)."""
        found: dict[str, dict[str, Any]] = {}
        try:
            with self.path.open(encoding="utf-8") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                        if isinstance(entry.get("text"), str):
                            found[str(entry["input"])] = entry
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue  # a line cut short by a crash
        except FileNotFoundError:
            pass
        return found

    def add(self, input_digest: str, text: str, figures: dict[str, Any] | None = None) -> None:
        """Record one finished input (with its figures, if given)."""
        entry: dict[str, Any] = {"input": input_digest, "text": text}
        if figures:
            entry["figures"] = figures
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)


class BatchRunner:
    """The worker body of a batch job (one per job)."""

    def __init__(
        self,
        job: BatchJob,
        models: ModelRunner,
        *,
        prompt: str | None,
        system: str | None,
        output: OutputFormat | None,
        params: dict[str, Any],
        cache_dir: Path | None,
        concurrency: int,
        tools: ToolSettings | None = None,
    ) -> None:
        self.job = job
        self.models = models
        self.prompt, self.system, self.output = prompt, system, output
        self.params = dict(params)
        self.options = output_options(output)
        self.cache_dir = cache_dir
        self.concurrency = concurrency
        self.tools = tools
        self._lock = threading.Lock()
        self._started = 0.0

    def run(self) -> None:
        """Run every input not done yet, then end the job (a failed input does not end it)."""
        job = self.job
        run_job(job, self._run, explain=failure("The batch"), partial=job.to_list, running=True)

    # -- internals ----------------------------------------------------------------------------

    def _run(self) -> list[Any]:
        job = self.job
        facts = self.models.require_engine().facts
        if facts is None:
            raise LLMWidgetsError("No model is loaded: call load_model() first.")
        if self.concurrency > 1 and facts.backend != "remote":
            raise ValueError(
                "concurrency > 1 needs a model on a server (the kernel's runs one at a time)"
            )
        if self.tools is not None:  # MCP servers start here, not on the caller's thread
            self.tools = self.tools.ready(lambda name: say(job, starting_words(name)))
            say(job, "")
        cache = self._cache(facts)
        pending = self._reuse(cache)
        self._started = time.perf_counter()
        if self.concurrency > 1:
            with ThreadPoolExecutor(
                self.concurrency, thread_name_prefix="llm-widgets-batch"
            ) as pool:
                for _ in pool.map(lambda i: self._item(i, cache), pending):
                    pass
        else:
            for index in pending:
                if job.cancel_requested:
                    break
                self._item(index, cache)
        job.cancellation.raise_if_set()
        return job.to_list()

    def _cache(self, facts: ModelFacts) -> BatchCache | None:
        if self.cache_dir is None:
            return None
        key: dict[str, Any] = {
            "model": model_identity(facts),
            "params": self.params,
            "format": asdict(self.output) if self.output else None,
            "prompt": self.prompt,
            "system": self.system,
        }
        if self.tools is not None:  # other functions, other answers
            key["tools"] = [self.tools.openai(), self.tools.choice, self.tools.max_rounds]
        return BatchCache(self.cache_dir, key)

    def _reuse(self, cache: BatchCache | None) -> list[int]:
        """Fill in what an earlier run finished; return the indices still to run."""
        job = self.job
        done = cache.load() if cache is not None else {}
        pending = []
        for index, row in enumerate(job.inputs):
            text = done.get(digest(row))
            if text is None:
                pending.append(index)
                continue
            try:
                job.results[index] = self.output.parse(text) if self.output else text
            except LLMWidgetsError:
                pending.append(index)  # a format changed under the same key: run it again
                continue
            job.texts[index] = text
            job.reused += 1
            job.completed += 1
        job.report_progress()
        return pending

    def _item(self, index: int, cache: BatchCache | None) -> None:
        job = self.job
        if job.cancel_requested:
            return
        row = job.inputs[index]
        # one at a time through the runner's line (a Chat's turn can come between two items);
        # several at once on a server, straight to it
        turn = self.models.turn(job) if self.concurrency == 1 else nullcontext()
        if self.models.facts is None:
            raise LLMWidgetsError(
                f"The model was let go during the run ({job.completed} of {job.total} done): "
                "load it again and run map() again to go on."
            )
        try:
            messages = messages_for(row, self.prompt, self.system)
            with turn:
                engine = self.models.require_engine("chat")
                if self.tools is not None:
                    text, stats = self._with_tools(index, engine, messages)
                else:
                    params = request_params(engine.facts, self.options, self.params)
                    pieces = engine.stream_chat(messages, abort=job.cancellation, **params)
                    text = "".join(p for p in pieces if not isinstance(p, Thinking))  # the answer
                    stats = engine.last_stats
            if job.cancel_requested:
                return  # a cut answer is not a result
            value = self.output.parse(text) if self.output else text
        except JobCancelledError:
            return
        except (LLMWidgetsError, ValueError) as exc:
            with self._lock:
                job.errors[index] = str(exc)
            job.report_progress()
            return
        if cache is not None:
            cache.add(digest(row), text)
        with self._lock:
            job.results[index], job.texts[index] = value, text
            job.completed += 1
            job.completion_tokens += stats.completion_tokens if stats else 0
            self._rates()
            shown = {"index": index, "input": shorten(_as_text(row, self.prompt), 80)}
            shown["output"] = shorten(text)
            job.recent = (job.recent + [shown])[-RECENT:]
        job.report_progress()

    def _with_tools(
        self, index: int, engine: Backend, messages: list[dict[str, Any]]
    ) -> tuple[str, GenerationStats | None]:
        """One item's turn with tools: its calls go into `job.tool_calls[index]`."""
        item = GenerationJob("chat", messages, self.params)
        item.cancellation = self.job.cancellation
        item.tool_calls = self.job.tool_calls.setdefault(index, [])
        turn = ToolTurn(item, self.tools, on_piece=item.push, on_call=lambda _: None)  # type: ignore[arg-type]
        turn.run(engine, messages, **request_params(engine.facts, self.options, self.params))
        return item.new_messages[-1]["content"] if item.new_messages else item.text, item.stats

    def _rates(self) -> None:
        job = self.job
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        ran = job.completed - job.reused
        job.tokens_per_second = job.completion_tokens / elapsed
        job.items_per_second = ran / elapsed
        left = job.total - job.completed - len(job.errors)
        job.eta = left / job.items_per_second if job.items_per_second > 0 else None


def _as_text(row: str | dict[str, Any], prompt: str | None) -> str:
    """An input as the views show it: a dict by the fields its prompt uses (a true label kept
    beside it is not part of the input)."""
    if isinstance(row, str):
        return row
    used = {name for _, name, _, _ in string.Formatter().parse(prompt or "") if name}
    shown = {k: v for k, v in row.items() if k in used} or row
    if len(shown) == 1:
        return str(next(iter(shown.values())))
    return ", ".join(f"{k}: {v}" for k, v in shown.items())


def plan_map(
    models: ModelRunner,
    inputs: Iterable[Any],
    *,
    prompt: str | None,
    response_format: Any,
    choices: Any,
    system: str | None,
    cache: Any,
    concurrency: int,
    think: Any,
    tools: Any,
    tool_choice: str,
    approve: Any,
    max_tool_rounds: int,
    params: dict[str, Any],
) -> tuple[BatchJob, BatchRunner]:
    """`service.map()`'s checks, its job and the runner that will run it."""
    rows = as_inputs(inputs)
    params = with_think(params, think)
    cache_dir = check_map_args(prompt, system, concurrency, cache)
    check_generation_params(params)
    output = output_format(response_format, choices)
    check_think_with(output, params)
    settings = tool_settings(tools, tool_choice, approve, max_tool_rounds)
    if settings is not None and (output is not None or approve == "ask"):
        raise ValueError("map(tools=...) takes no response_format, choices or approve='ask'")
    shape: dict[str, Any] = dict(prompt=prompt, system=system, concurrency=concurrency)
    if tools:  # map(**job.request) resumes with the same tools
        shape.update(tools=tools, tool_choice=tool_choice, approve=approve)
        shape.update(max_tool_rounds=max_tool_rounds)
    job = BatchJob(rows)
    job.request = dict(inputs=rows, response_format=response_format, choices=choices, cache=cache)
    job.request.update(shape, **params)
    runner = BatchRunner(
        job,
        models,
        output=output,
        params=params,
        cache_dir=cache_dir,
        prompt=prompt,
        system=system,
        concurrency=concurrency,
        tools=settings,
    )
    return job, runner
