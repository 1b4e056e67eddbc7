"""The service's download and library API: files into the Hugging Face cache (one job each,
resumed after a cancel), the Hub's search and listings, and the local cache's models."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LLMWidgetsError
from ..hub import files as hub
from ..hub import library, search
from ..jobs import DownloadJob, download_key
from ._core import ServiceCore


class Downloads(ServiceCore):
    """Downloads, the Hub's search and listings, and the models in the local cache."""

    if TYPE_CHECKING:  # the generation API's, which this part asks

        def is_loaded(self, path: str | os.PathLike[str]) -> bool: ...

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
        access, cache_dir = self._hub(), self.cache_dir  # read now, in the caller's thread
        self._spawn(job, lambda: self._downloads.run(job, previous, cache_dir=cache_dir, **access))
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

    @property
    def downloads(self) -> list[DownloadJob]:
        """Every download job of this session, oldest first."""
        with self._lock:
            return [j for j in self._jobs.values() if isinstance(j, DownloadJob)]

    def file_size(self, repo_id: str, filename: str, revision: str | None = None) -> int:
        """The size of a file on the Hub (all parts of a split GGUF), from its metadata; raises
        DownloadError with what to do when it cannot be had."""
        hub.validate_repo_file(repo_id, filename, revision)
        return hub.file_size(repo_id, filename, revision, **self._hub())

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
            search.check_query(query), limit=limit, sort=sort, **self._hub()
        )

    def list_model_files(self, repo_id: str, revision: str | None = None) -> list[search.ModelFile]:
        """A repo's GGUF models with quantization, size, split parts and RAM fit."""
        hub.validate_repo_id(repo_id)
        hub.validate_revision(revision)
        return search.list_model_files(repo_id, revision=revision, **self._hub())

    def local_models(self) -> list[library.LocalModel]:
        """Every GGUF in the local cache, complete or partial."""
        return library.local_models(self.cache_dir)

    def delete_model(self, repo_id: str, filename: str) -> int:
        """Delete a downloaded file from the cache; refused while it is loaded or downloading.
        Returns the bytes freed."""
        return self._remove(repo_id, filename, "delete", library.delete_file)

    def discard_partial(self, repo_id: str, filename: str) -> int:
        """Delete a partial download; refused while it is downloading. Returns the bytes freed."""
        return self._remove(repo_id, filename, "discard", library.discard_partial)

    def _remove(
        self, repo_id: str, filename: str, action: str, remove: Callable[[Path, str, str], int]
    ) -> int:
        """`remove` a file of the cache unless it is busy, and forget its finished downloads."""
        hub.validate_repo_file(repo_id, filename)
        self._refuse_if_busy(repo_id, filename, action)
        freed = remove(self.cache_dir, repo_id, filename)
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


def _refuse_if_busy(
    jobs: Iterable[DownloadJob], repo_id: str, filename: str, action: str, loaded: bool
) -> None:
    """LLMWidgetsError if the file is downloading or loaded."""
    if any(j.repo_id == repo_id and filename in j.files and not j.finished for j in jobs):
        raise LLMWidgetsError(f"Cannot {action} {filename} while it is downloading: cancel first.")
    if loaded:
        raise LLMWidgetsError(f"Cannot {action} {filename} while it is loaded: unload first.")
