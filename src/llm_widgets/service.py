"""LLMKernelService: one per kernel; runs downloads and inference in worker threads."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import hub
from ._events import EventBus
from ._inference import GenerationJob, LoadJob
from ._jobs import Job
from ._model_runner import ModelRunner, check_messages
from .errors import JobCancelledError, LLMWidgetsError

if TYPE_CHECKING:
    from . import library
    from .engine import ModelFacts

logger = logging.getLogger("llm_widgets")

PROGRESS_INTERVAL = 0.1  # seconds between progress events of one job: at most 10 per second


class DownloadJob(Job):
    """One model file being downloaded into the Hugging Face cache.

    A split GGUF (`name-00001-of-00003.gguf`) is one job for all its parts, with one progress;
    `path` is then the first part, which is what llama.cpp opens.
    """

    kind = "download"

    def __init__(self, repo_id: str, filename: str, revision: str | None) -> None:
        super().__init__()
        self.repo_id = repo_id
        self.filename = filename
        self.revision = revision
        self.bytes_done: int = 0
        self.bytes_total: int = 0
        self.resumed_from: int = 0
        self.speed: float = 0.0
        self.eta: float | None = None
        self.path: str | None = None
        self.commit: str | None = None
        self.error_kind: str | None = None
        self.files: list[str] = hub.split_parts(filename)
        self.filename = self.files[0]

    @property
    def key(self) -> tuple[str, str, str]:
        """(repo_id, filename, revision): one running job per key."""
        return download_key(self.repo_id, self.filename, self.revision)

    @property
    def progress(self) -> float:
        """Percent done, 0 to 100."""
        if self.state == "done":
            return 100.0
        if not self.bytes_total:
            return 0.0
        return min(100.0, 100.0 * self.bytes_done / self.bytes_total)

    def wait(self, timeout: float | None = None) -> str:
        """Block until the file is in the cache and return its path; raise on failure or cancel."""
        return str(super().wait(timeout))


def download_key(repo_id: str, filename: str, revision: str | None) -> tuple[str, str, str]:
    """The identity of a download: the same key means the same file (any part of a split GGUF
    names the whole model)."""
    return (repo_id, hub.split_parts(filename)[0], revision or hub.DEFAULT_REVISION)


class _Rate:
    """Smoothed transfer speed and the time of the last progress event."""

    def __init__(self, start_bytes: int) -> None:
        now = time.monotonic()
        self.last_emit = 0.0
        self.sample_time = now
        self.sample_bytes = start_bytes
        self.speed = 0.0

    def update(self, now: float, done: int) -> float:
        dt = now - self.sample_time
        if dt >= 0.25:
            instant = (done - self.sample_bytes) / dt
            self.speed = instant if self.speed == 0 else 0.3 * instant + 0.7 * self.speed
            self.sample_time, self.sample_bytes = now, done
        return self.speed


class LLMKernelService:
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
    ) -> None:
        self._endpoint = endpoint
        self._cache_dir = cache_dir
        self.__token = token  # never stored in a trait, a message or a log line
        self._max_concurrent = max(1, int(max_concurrent_downloads))
        self.transfer_options = transfer_options or hub.TransferOptions()
        self.events = EventBus()
        self._lock = threading.Condition()
        self._running_downloads = 0
        self._jobs: dict[str, Job] = {}
        self._active: dict[tuple[str, str, str], DownloadJob] = {}
        self._threads: set[threading.Thread] = set()
        self._closed = False
        self._models = ModelRunner(self.events, self._emit_progress, self._finished)

    # -- the one per kernel -------------------------------------------------------------------

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
    def max_concurrent_downloads(self) -> int:
        """How many downloads transfer at once; the others wait as "queued"."""
        return self._max_concurrent

    @max_concurrent_downloads.setter
    def max_concurrent_downloads(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"max_concurrent_downloads must be an int >= 1, got {value!r}")
        with self._lock:
            self._max_concurrent = value
            self._lock.notify_all()

    # -- events -------------------------------------------------------------------------------

    def on_progress(self, callback: Callable[[Job], Any]) -> Callable[[], None]:
        """Call `callback(job)` as a job moves (at most 10 times a second per job) and on every
        state change; returns an unsubscribe function."""
        return self.events.subscribe("progress", callback)

    def on_download_done(self, callback: Callable[[DownloadJob], Any]) -> Callable[[], None]:
        """Call `callback(job)` when a download completes; returns an unsubscribe function."""
        return self.events.subscribe("download_done", callback)

    def on_error(self, callback: Callable[[Job], Any]) -> Callable[[], None]:
        """Call `callback(job)` when a job fails (`job.error` says why); returns an unsubscribe
        function."""
        return self.events.subscribe("error", callback)

    def on_model_loaded(self, callback: Callable[[ModelFacts], Any]) -> Callable[[], None]:
        """Call `callback(facts)` when a model is loaded; returns an unsubscribe function."""
        return self.events.subscribe("model_loaded", callback)

    def on_model_unloaded(self, callback: Callable[[], Any]) -> Callable[[], None]:
        """Call `callback()` when the model is unloaded; returns an unsubscribe function."""
        return self.events.subscribe("model_unloaded", callback)

    def on_completion_chunk(
        self, callback: Callable[[GenerationJob, str], Any]
    ) -> Callable[[], None]:
        """Call `callback(job, text)` for each streamed piece; returns an unsubscribe function."""
        return self.events.subscribe("completion_chunk", callback)

    def on_completion_done(self, callback: Callable[[GenerationJob], Any]) -> Callable[[], None]:
        """Call `callback(job)` when a generation ends (`job.stats` has the figures, also after
        an abort); returns an unsubscribe function."""
        return self.events.subscribe("completion_done", callback)

    def _emit_progress(self, job: Job) -> None:
        self.events.emit("progress", job, coalesce_key=job.id)

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
            running = self._active.get(key)
            if running is not None and not running.finished and not running.cancel_requested:
                return running
            job = DownloadJob(repo_id, filename, revision)
            self._active[key] = job
        previous = running if running is not None and not running.finished else None
        self._spawn(job, lambda j: self._download(j, previous), f"llm-widgets-download-{job.id}")
        return job

    def cancel_download(self, job_id: str | None = None) -> list[DownloadJob]:
        """Cancel one download by id, or every unfinished one when `job_id` is None."""
        with self._lock:
            if job_id is None:
                jobs = [j for j in self._active.values() if not j.finished]
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
            return self._active.get(download_key(repo_id, filename, revision))

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
        endpoint = self.endpoint
        try:
            return sum(
                hub.fetch_remote_file(
                    repo_id, name, revision, endpoint=endpoint, token=self.__token, timeout=5
                ).size
                for name in hub.split_parts(filename)
            )
        except Exception as exc:
            raise hub.explain_error(
                exc,
                repo_id=repo_id,
                filename=filename,
                revision=revision,
                endpoint=endpoint,
                token=self.__token,
            ) from None

    def cached_path(self, repo_id: str, filename: str, revision: str | None = None) -> str | None:
        """The local path of a file complete in the cache, or None."""
        path = hub.cached_file(self.cache_dir, repo_id, filename, revision)
        return str(path) if path is not None else None

    def _cached_parts(self, job: DownloadJob) -> list[str] | None:
        paths = [self.cached_path(job.repo_id, name, job.revision) for name in job.files]
        return [p for p in paths if p is not None] if all(paths) else None

    def _wake(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def _spawn(self, job: Job, target: Callable[[Any], None], name: str) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the service was shut down")
            self._jobs[job.id] = job
            job._add_cancel_hook(self._wake)
            thread = threading.Thread(target=self._run_job, args=(target, job), name=name)
            thread.daemon = True
            self._threads.add(thread)
        self._emit_progress(job)
        thread.start()

    def _run_job(self, target: Callable[[Any], None], job: Job) -> None:
        try:
            target(job)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
                self._lock.notify_all()

    def _take_slot(self, job: Job) -> bool:
        with self._lock:
            while self._running_downloads >= self._max_concurrent:
                if job.cancel_requested or self._closed:
                    return False
                self._lock.wait(0.5)
            if job.cancel_requested:
                return False
            self._running_downloads += 1
            return True

    def _release_slot(self) -> None:
        with self._lock:
            self._running_downloads -= 1
            self._lock.notify_all()

    def _download(self, job: DownloadJob, previous: DownloadJob | None = None) -> None:
        endpoint = self.endpoint
        cache_dir = self.cache_dir
        token = self.__token
        try:
            while previous is not None and not previous._finished.wait(0.05):
                if job.cancel_requested:  # a cancelled transfer of this file is still stopping
                    raise JobCancelledError("cancelled")
            local = self._cached_parts(job)
            if local is not None:
                job.bytes_done = job.bytes_total = sum(Path(p).stat().st_size for p in local)
                job.path = local[0]
                job._finish("done", result=local[0])
                self._finished(job)
                return
            if not self._take_slot(job):
                raise JobCancelledError("cancelled")
            try:
                job._set_running()
                self._emit_progress(job)
                if hub.is_offline():
                    raise hub.OfflineModeIsEnabled("HF_HUB_OFFLINE is set")

                def fetcher(name: str) -> Callable[[], hub.RemoteFile]:
                    return lambda: hub.fetch_remote_file(
                        job.repo_id, name, job.revision, endpoint=endpoint, token=token
                    )

                remotes = [fetcher(name)() for name in job.files]
                job.commit = remotes[0].commit
                job.bytes_total = sum(r.size for r in remotes)
                rate = _Rate(0)
                base = 0  # bytes of the parts before the one in transfer

                def on_bytes(done: int) -> None:
                    job.bytes_done = base + done
                    now = time.monotonic()
                    if now - rate.last_emit >= PROGRESS_INTERVAL:
                        if rate.last_emit == 0.0:
                            rate.sample_bytes, rate.sample_time = job.bytes_done, now
                        rate.last_emit = now
                        job.speed = rate.update(now, job.bytes_done)
                        left = job.bytes_total - job.bytes_done
                        job.eta = left / job.speed if job.speed > 0 else None
                        self._emit_progress(job)

                paths = []
                for name, remote in zip(job.files, remotes, strict=True):
                    path, resumed = hub.download_file(
                        remote,
                        cache_dir,
                        cancel=job._cancel_event,
                        on_bytes=on_bytes,
                        add_cancel_hook=job._add_cancel_hook,
                        endpoint=endpoint,
                        token=token,
                        options=self.transfer_options,
                        refresh=fetcher(name),
                    )
                    paths.append(path)
                    job.resumed_from += resumed
                    base += remote.size
            finally:
                self._release_slot()
            job.bytes_done = job.bytes_total
            job.eta = 0.0
            job.path = str(paths[0])
            job._finish("done", result=str(paths[0]))
        except JobCancelledError:
            job.speed, job.eta = 0.0, None
            job._finish("cancelled")
        except BaseException as exc:  # every failure becomes a message, never a kernel traceback
            error = hub.explain_error(
                exc,
                repo_id=job.repo_id,
                filename=job.filename,
                revision=job.revision,
                endpoint=endpoint,
                token=token,
            )
            logger.debug("download %s failed: %s", job.id, error)
            job.error_kind = error.kind
            job.speed, job.eta = 0.0, None
            job._finish("failed", error=str(error), exception=error)
        self._finished(job)

    def _finished(self, job: Job) -> None:
        self._emit_progress(job)
        if job.state == "done" and isinstance(job, DownloadJob):
            self.events.emit("download_done", job)
        elif job.state == "failed":
            self.events.emit("error", job)

    # -- finding and managing models -----------------------------------------------------------

    def search_models(
        self, query: str, *, limit: int = 50, sort: library.SortKey = "downloads"
    ) -> list[library.ModelSummary]:
        """GGUF repos on the Hub matching `query`, most downloaded first."""
        from . import library

        return library.search_models(
            query, endpoint=self.endpoint, token=self.__token, limit=limit, sort=sort
        )

    def list_model_files(
        self, repo_id: str, revision: str | None = None
    ) -> list[library.ModelFile]:
        """A repo's GGUF models with quantization, size, split parts and RAM fit."""
        from . import library

        hub.validate_repo_file(repo_id, "x", revision)
        return library.list_model_files(
            repo_id, endpoint=self.endpoint, token=self.__token, revision=revision
        )

    def local_models(self) -> list[library.LocalModel]:
        """Every GGUF in the local cache, complete or partial."""
        from . import library

        return library.local_models(self.cache_dir)

    def delete_model(self, repo_id: str, filename: str) -> int:
        """Delete a downloaded file from the cache; refused while it is loaded or downloading.
        Returns the bytes freed."""
        from . import library

        hub.validate_repo_file(repo_id, filename)
        self._refuse_if_busy(repo_id, filename, "delete")
        return library.delete_file(self.cache_dir, repo_id, filename)

    def discard_partial(self, repo_id: str, filename: str) -> int:
        """Delete a partial download; refused while it is downloading. Returns the bytes freed."""
        from . import library

        hub.validate_repo_file(repo_id, filename)
        self._refuse_if_busy(repo_id, filename, "discard")
        return library.discard_partial(self.cache_dir, repo_id, filename)

    def _refuse_if_busy(self, repo_id: str, filename: str, action: str) -> None:
        with self._lock:
            busy = [
                j
                for j in self._active.values()
                if j.repo_id == repo_id and filename in j.files and not j.finished
            ]
        if busy:
            raise LLMWidgetsError(
                f"Cannot {action} {filename} while it is downloading: cancel first."
            )
        model = self.model
        if model is not None:
            cached = self.cached_path(repo_id, filename)
            if cached is not None and Path(cached).resolve() == Path(model.path).resolve():
                raise LLMWidgetsError(
                    f"Cannot {action} {filename} while it is loaded: unload first."
                )

    # -- inference ----------------------------------------------------------------------------

    @property
    def model(self) -> ModelFacts | None:
        """Facts about the loaded model, or None."""
        return self._models.facts

    def load_model(
        self,
        source: str | os.PathLike[str] | DownloadJob,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        **llama_options: Any,
    ) -> LoadJob:
        """Load a GGUF file (a path, or a download job to wait for) in a worker thread.

        The file is checked first (GGUF header, architecture, fits in RAM). One model is in memory
        per kernel: loading another unloads the current one. Returns the job at once.
        """
        if isinstance(n_ctx, bool) or not isinstance(n_ctx, int) or not 16 <= n_ctx <= 1 << 20:
            raise ValueError(f"n_ctx must be an int between 16 and 1048576, got {n_ctx!r}")
        if n_threads is not None and (not isinstance(n_threads, int) or n_threads < 1):
            raise ValueError(f"n_threads must be a positive int, got {n_threads!r}")
        if isinstance(source, DownloadJob):
            label = f"{source.repo_id}/{source.filename}"
        elif isinstance(source, (str, os.PathLike)):
            label = os.fspath(source)
        else:
            raise TypeError(
                f"load_model takes a path or a DownloadJob, not {type(source).__name__}"
            )
        job = LoadJob(label)
        self._spawn(
            job,
            lambda j: self._models.load(j, source, n_ctx, n_threads, llama_options),
            f"llm-widgets-load-{job.id}",
        )
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

    def generate_completion(self, prompt: str, **params: Any) -> GenerationJob:
        """Stream a completion of `prompt`; returns the job at once (iterate it, or wait)."""
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, not {type(prompt).__name__}")
        return self._generate("completion", prompt, params)

    def generate_chat_completion(
        self, messages: Sequence[dict[str, str]], *, trim_history: bool = False, **params: Any
    ) -> GenerationJob:
        """Stream the assistant's answer to `messages` (role/content dicts) with the model's chat
        template; returns the job at once. With `trim_history`, the oldest turns are left out
        when the conversation outgrows the context (`job.stats.trimmed_messages` counts them)."""
        checked = check_messages(messages)
        if not isinstance(trim_history, bool):
            raise ValueError("trim_history must be True or False")
        return self._generate("chat", checked, params, trim_history=trim_history)

    def abort(self) -> list[GenerationJob]:
        """Stop the running generation (and drop queued ones); the model stays loaded."""
        with self._lock:
            jobs = [
                j for j in self._jobs.values() if isinstance(j, GenerationJob) and not j.finished
            ]
        return [j for j in jobs if j.cancel()]

    def _generate(
        self, mode: str, request: Any, params: dict[str, Any], **options: Any
    ) -> GenerationJob:
        from .engine import check_generation_params

        check_generation_params(params)
        job = GenerationJob(mode, request, params)
        job.options = options
        self._spawn(job, self._models.generate, f"llm-widgets-generate-{job.id}")
        return job

    # -- lifetime -----------------------------------------------------------------------------

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every job, wait for the worker threads, stop the event thread."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        deadline = time.monotonic() + timeout
        with self._lock:
            self._lock.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._models.close()
        self.events.close(max(0.1, deadline - time.monotonic()))
