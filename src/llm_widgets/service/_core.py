"""The state every part of the service reads (its runners, the job registry, its threads, its
configuration) and the internals they share: a job started in a worker thread, the jobs running."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict, TypeVar

from .._events import EventBus
from .._secrets import remember_secret
from ..hub import files as hub
from ..jobs import DownloadJob, Job, LoadJob
from ..request.tools import servers_in
from ..runners.download import DEFAULT_PARALLEL_PARTS, MAX_PARALLEL_PARTS, DownloadRunner
from ..runners.model import ModelRunner

J = TypeVar("J", bound=Job)


class HubAccess(TypedDict):
    """How the hub functions reach the Hub (`**service._hub()`)."""

    endpoint: str
    token: str | bool | None


class ServiceCore:
    """The service's state and configuration, shared by each family of its API."""

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
        remember_secret(token)  # and masked in what tools send back to a model
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
        self._servers: set[Any] = set()  # the MCP servers its requests used: closed at shutdown
        self._closed = False

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

    def _hub(self) -> HubAccess:
        """How to reach the Hub: `endpoint=` and `token=` for the hub functions."""
        return {"endpoint": self.endpoint, "token": self.__token}

    # -- jobs and threads -----------------------------------------------------------------------

    def _keep_servers(self, tools: object) -> None:
        """Note the MCP servers among `tools`, so that `shutdown()` closes them."""
        with self._lock:
            self._servers.update(servers_in(tools))

    def get_job(self, job_id: str) -> Job:
        """A job by its id."""
        with self._lock:
            return self._jobs[job_id]

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
