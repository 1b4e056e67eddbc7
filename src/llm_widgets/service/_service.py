"""LLMKernelService: one per kernel, the public API every widget and script talks to.

It keeps the registry of jobs and hands each to a runner in a worker thread: downloads to
`DownloadRunner`, loads and generations to `ModelRunner`. Jobs announce themselves on `events`.
Each family of the API is a part of its own: downloads and the library (`_downloads`), the model
and its answers (`_generation`), batches and comparisons (`_batches`), servers
(`_connections`), subscriptions (`_subscriptions`), widgets' background calls (`_background`).
"""

from __future__ import annotations

import atexit
import threading
import time

from ..jobs import DownloadJob, download_key
from ._background import Background
from ._batches import Batches
from ._connections import ServerConnections
from ._subscriptions import EventSubscriptions

# DownloadJob and download_key are also importable from here, where they used to live
__all__ = ["DownloadJob", "LLMKernelService", "download_key"]


class LLMKernelService(EventSubscriptions, ServerConnections, Batches, Background):
    """Owns this kernel's downloads and its loaded model; every widget talks to it.

    Long work runs in worker threads, one per job. Subscribe with `on_progress`, `on_download_done`,
    `on_error` (and the inference events); each returns a function that unsubscribes. Callbacks run
    on one event thread, never on a worker's hot loop, and one that raises never breaks a job.
    """

    _instance: LLMKernelService | None = None
    _instance_lock = threading.Lock()

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

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every job, wait for the worker threads, close the MCP servers its requests
        used, stop the event thread."""
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
        for server in list(self._servers):  # the MCP servers its requests used
            server.close()
        self.events.close(max(0.1, deadline - time.monotonic()))
