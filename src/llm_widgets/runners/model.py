"""The kernel's one model, local or on a server: loads and generations run through it one at a
time, in order of arrival, each in its job's worker thread (the service starts the threads)."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from .._events import PROGRESS_INTERVAL, EventBus
from .._secrets import redact
from .._types import ModelFacts, ToolCallRecord
from ..engines.base import Backend
from ..engines.choice import make_engine, resolve_engine
from ..engines.gguf import refuse_embedding_model
from ..engines.openai_compat import RemoteEngine
from ..errors import JobCancelledError, LLMWidgetsError
from ..hub._cache import same_file
from ..jobs import BatchJob, GenerationJob, Job, LoadJob
from ..request.structured import OutputFormat
from ._lifecycle import failure, run_job, say, wait_for
from .tool_loop import ToolTurn


class ModelRunner:
    """Owns the one backend that answers: a llama.cpp engine in the kernel, or a connection to a
    server. `load` and `generate` are worker bodies: they run a job to its end (the job announces
    itself); generated pieces go out as "completion_chunk" events."""

    def __init__(self, events: EventBus) -> None:
        self._events = events
        self._engine: Backend | None = None
        self._turns = threading.Condition()
        self._line: deque[Job] = deque()  # jobs waiting for the engine, in order of arrival
        self._busy: Job | None = None
        self._closing = False  # shut down: the model is freed once no job holds it
        # the local load a server connection replaced: disconnect() brings it back
        self._local: tuple[str, int, int | None, dict[str, Any]] | None = None
        self._restore: tuple[str, int, int | None, dict[str, Any]] | None = None

    @property
    def facts(self) -> ModelFacts | None:
        """Facts about the loaded model, or None."""
        engine = self._engine
        return engine.facts if engine is not None and engine.loaded else None

    @property
    def remote(self) -> RemoteEngine | None:
        """The server connection answering now, if any."""
        engine = self._engine
        return engine if isinstance(engine, RemoteEngine) and engine.loaded else None

    @property
    def local_load(self) -> tuple[str, int, int | None, dict[str, Any]] | None:
        """How the local model in memory now was loaded (path, n_ctx, n_threads, options)."""
        facts = self.facts
        return self._local if facts is not None and facts.backend != "remote" else None

    def is_loaded(self, path: str | os.PathLike[str]) -> bool:
        """Whether `path` is the loaded model's file (through any symlink)."""
        facts = self.facts
        return facts is not None and bool(facts.path) and same_file(facts.path, path)

    # -- worker bodies ------------------------------------------------------------------------

    def load(
        self,
        job: LoadJob,
        source: str | os.PathLike[str] | Job,
        n_ctx: int,
        n_threads: int | None,
        llama_options: dict[str, Any],
    ) -> None:
        """Wait for `source` if it is a download job, then load the file (or re-use the loaded
        one, with a new context if n_ctx differs)."""

        def body() -> ModelFacts:
            if isinstance(source, Job):
                job.mark_running()
                wait_for(job, source)
                path = source.wait(0)
            else:
                path = os.fspath(source)
            job.path = path
            with self.turn(job):
                job.mark_running()
                facts = self._load_file(job, path, n_ctx, n_threads, llama_options)
            self._local = (path, facts.n_ctx, n_threads, dict(llama_options))
            job.facts = facts
            if facts.gpu_note:
                job.notes.append(f"{facts.gpu_note}.")
            job.load_progress = 100.0
            return facts

        run_job(job, body, explain=failure(f"Loading {job.source}", words=redact))

    def generate(self, job: GenerationJob, after: Sequence[LoadJob] = ()) -> None:
        """Stream the job's completion, pushing pieces to the job and the chunk event (once the
        loads in `after`, started before it, have ended)."""
        run_job(
            job,
            lambda: self._generate(job, after),
            explain=failure("Generation", own=(LLMWidgetsError,)),
            partial=lambda: job.text,
        )

    def tool_turn(self, job: GenerationJob) -> ToolTurn:
        """A turn with tools for `job`: its pieces and call records go out as events."""

        def piece(text: str) -> None:
            job.push(text)
            self._events.emit("completion_chunk", job, text)

        def calls(record: ToolCallRecord) -> None:  # the state now: the record moves on
            self._events.emit("tool_call", job, replace(record, arguments=dict(record.arguments)))

        return ToolTurn(job, job.tools, on_piece=piece, on_call=calls)

    def _stream(self, engine: Backend, job: GenerationJob) -> None:
        abort = job.cancellation
        params = request_params(engine.facts, job.options, job.params)
        stream = (
            engine.stream_chat(job.request, abort=abort, **params)
            if job.mode == "chat"
            else engine.stream_completion(job.request, abort=abort, **params)
        )
        for piece in stream:
            job.push(piece)
            self._events.emit("completion_chunk", job, piece)
        job.stats = engine.last_stats

    # -- calls that wait for their turn -------------------------------------------------------

    def create_context(self, *, n_ctx: int | None = None, seed: int | None = None) -> ModelFacts:
        """Reset the loaded model's context once the engine is free."""
        with self.turn(None):
            return self.require_engine().create_context(n_ctx=n_ctx, seed=seed)

    def unload(self) -> None:
        """Free the loaded model (or close the server connection) once the engine is free."""
        with self.turn(None):
            self._drop_engine()
            self._local = self._restore = None

    def connect(self, engine: RemoteEngine) -> ModelFacts:
        """Make a checked server connection the backend, once the engine is free: the local
        model, or the previous connection, is let go."""
        facts = engine.facts
        if facts is None:
            raise LLMWidgetsError("connect() takes a connection that was opened")
        with self.turn(None):
            if self._engine is not None and self._engine.loaded and self.remote is None:
                self._restore = self._local
            self._drop_engine()
            self._engine = engine
        self._events.emit("model_loaded", facts)
        return facts

    def disconnect(self) -> tuple[str, int, int | None, dict[str, Any]] | None:
        """Close the server connection, if one answers now; returns the local load it replaced
        (path, n_ctx, n_threads, options), to load again, or None."""
        with self.turn(None):
            if not isinstance(self._engine, RemoteEngine):
                return None
            self._drop_engine()
            restore, self._restore = self._restore, None
            return restore

    def set_aside(self) -> tuple[RemoteEngine, Any] | None:
        """Take the server connection answering now out, still open, so local models can be
        loaded (a comparison does); `bring_back` makes it answer again. None if none answers."""
        with self.turn(None):
            engine = self.remote
            if engine is None:
                return None
            self._engine = None
            aside, self._restore = (engine, self._restore), None
        self._events.emit("model_unloaded")
        return aside

    def bring_back(self, aside: tuple[RemoteEngine, Any]) -> None:
        """Free the local model loaded meanwhile and let the connection `set_aside` took out
        answer again (with the local load it had replaced, for disconnect())."""
        engine, restore = aside
        with self.turn(None):
            newer = self.remote is not None  # connect() was called meanwhile: that one stays
            if not newer:
                self._drop_engine()
                self._engine, self._restore = engine, restore
        if newer:
            engine.unload()
        elif engine.facts is not None:
            self._events.emit("model_loaded", engine.facts)

    def close(self) -> None:
        """Free the model at shutdown (the workers have been cancelled). A worker that has not
        ended yet still holds the engine: the model is freed when it lets go, never under it."""
        with self._turns:
            self._closing = True
            if self._busy is not None:
                return
            engine, self._engine = self._engine, None
        if engine is not None and engine.loaded:
            engine.unload()

    def require_engine(self, to: str | None = None) -> Backend:
        """The engine with a model in it, or a clear error; `to` ("chat", "complete text"): what
        it is asked to do (an embedding model can do neither)."""
        engine = self._engine
        if engine is None or not engine.loaded:
            raise LLMWidgetsError(
                "No model is loaded: call load_model() first (or connect() to a server)."
            )
        if to is not None:
            refuse_embedding_model(engine.facts, to)
        return engine

    @contextmanager
    def turn(self, job: Job | None) -> Iterator[None]:
        """Hold the engine: wait, in order of arrival, until it is free (a cancelled job stops
        waiting at once)."""
        me = job if job is not None else Job()
        remove_hook = me.cancellation.add_hook(self._wake)
        try:
            with self._turns:
                self._line.append(me)
                try:
                    while self._busy is not None or self._line[0] is not me:
                        if me.cancel_requested:
                            raise JobCancelledError("cancelled while waiting for the model")
                        say(me, _waiting_for(self._busy))
                        self._turns.wait(0.5)
                except BaseException:
                    self._line.remove(me)
                    self._turns.notify_all()
                    raise
                self._line.popleft()
                self._busy = me
        finally:
            remove_hook()
        say(me, "")
        try:
            yield
        finally:
            with self._turns:
                self._busy = None
                self._turns.notify_all()
                engine = self._engine if self._closing else None
                if engine is not None:
                    self._engine = None
            if engine is not None and engine.loaded:
                engine.unload()  # shut down while this turn ran: the last one frees the model

    # -- internals ----------------------------------------------------------------------------

    def _generate(self, job: GenerationJob, after: Sequence[LoadJob]) -> str:
        try:
            for load in after:
                wait_for(job, load, "waiting for the model to load")
            if job.tools is not None:  # MCP servers start here, not on the caller's thread
                job.tools = job.tools.ready(lambda name: say(job, starting_words(name)))
            with self.turn(job):
                engine = self.require_engine("chat" if job.mode == "chat" else "complete text")
                job.notes += think_notes(engine.facts, job.params.get("think"))
                job.mark_running()
                if job.tools is not None:
                    params = request_params(engine.facts, job.options, job.params)
                    self.tool_turn(job).run(engine, job.request, **params)
                else:
                    self._stream(engine, job)
                if job.stats is not None:
                    job.stats.reasoning_seconds = round(job.reasoning_seconds(), 4)
                if job.reasoning.strip() and not job.text.strip() and not job.tool_calls:
                    job.notes.append(ALL_THINKING)
        finally:
            job.close_stream()
        job.cancellation.raise_if_set()  # a cut answer is not parsed
        if job.output is not None:
            job.value = job.output.parse(job.text)  # OutputParseError keeps the text
        return job.text

    def _wake(self) -> None:
        with self._turns:
            self._turns.notify_all()

    def _drop_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None and engine.loaded:
            engine.unload()
            self._events.emit("model_unloaded")

    def _load_file(
        self,
        job: LoadJob,
        path: str,
        n_ctx: int,
        n_threads: int | None,
        llama_options: dict[str, Any],
    ) -> ModelFacts:
        options = dict(llama_options)
        name = resolve_engine(options.pop("engine", "auto"))
        engine, current = self._engine, self.facts
        if (
            engine is not None
            and current is not None
            and current.engine == name
            and self.is_loaded(path)
        ):
            return current if current.n_ctx == n_ctx else engine.create_context(n_ctx=n_ctx)
        if engine is not None and engine.loaded and current is not None:
            job.replaced = _model_name(current)
            say(job, f"unloading {job.replaced} first")
            job.notes.append(f"Unloaded {job.replaced} to load {os.path.basename(path)}.")
        self._drop_engine()  # one model per kernel, and a local one replaces a server
        if job.replaced:
            say(job, "")
        local = make_engine(name)
        self._engine = local
        last = [0.0]

        def progress(fraction: float) -> bool:
            job.load_progress = round(100.0 * fraction, 1)
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL:
                last[0] = now
                job.report_progress()
            return not job.cancel_requested

        return local.load(path, n_ctx=n_ctx, n_threads=n_threads, progress=progress, **options)


ALL_THINKING = (
    "The model used the whole answer to think and wrote no answer after it: raise max_tokens, "
    "or ask with think=False."
)


def think_notes(facts: ModelFacts | None, think: object) -> list[str]:
    """What to say when `think` asks for thinking a model in this kernel cannot do."""
    if think in (None, False) or facts is None or facts.backend != "local" or facts.can_think:
        return []
    return [
        f"{facts.name} cannot think (its chat template has no thinking), so think={think!r} "
        "changed nothing."
    ]


def request_params(
    facts: ModelFacts | None, options: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """What the engine gets: the model's own sampling defaults where the request set nothing,
    then the request's options and parameters; structured output runs with thinking off, so
    its grammar shapes the answer from the first token."""
    defaults = dict(facts.sampling_defaults) if facts is not None else {}
    params = {**defaults, **options, **params}
    if params.get("structured") and facts is not None and facts.can_think:
        params.setdefault("think", False)
    return params


def starting_words(server: str) -> str:
    """A job's detail while an MCP server of its tools starts."""
    return f"Starting MCP server {server}…"


def output_options(output: OutputFormat | None) -> dict[str, Any]:
    """What structured output adds to a request: its grammar or schema, and `structured` (the
    answer's text taken as it is)."""
    return {**output.request, "structured": True} if output is not None else {}


def _waiting_for(holder: Job | None) -> str:
    """What a job in line for the engine waits for, in words."""
    if isinstance(holder, GenerationJob):
        return "waiting for the running answer"
    if isinstance(holder, LoadJob):
        return "waiting for the model to load"
    if isinstance(holder, BatchJob):
        return "waiting for the batch run's current item"
    return "queued"


def _model_name(facts: ModelFacts) -> str:
    """A loaded model in a few words: its file, or its name on its server."""
    if facts.backend == "remote":
        return f"{facts.name} on {facts.server}" if facts.server else facts.name
    return os.path.basename(facts.path) or facts.name
