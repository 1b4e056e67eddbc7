"""Downloads: one model file (all the parts of a split GGUF) into the Hugging Face cache."""

from __future__ import annotations

from typing import Any

from .._format import format_bytes
from .._names import DEFAULT_REVISION, split_parts
from ._base import Job


def download_key(repo_id: str, filename: str, revision: str | None) -> tuple[str, str, str]:
    """The identity of a download: the same key means the same file (any part of a split GGUF
    names the whole model)."""
    return (repo_id, split_parts(filename)[0], revision or DEFAULT_REVISION)


class DownloadJob(Job):
    """One model file being downloaded into the Hugging Face cache.

    A split GGUF (`name-00001-of-00003.gguf`) is one job for all its parts, with one progress;
    `path` is then the first part, which is what llama.cpp opens.
    """

    kind = "download"

    def __init__(self, repo_id: str, filename: str, revision: str | None) -> None:
        super().__init__()
        self.files: list[str] = split_parts(filename)
        self.repo_id = repo_id
        self.filename = self.files[0]
        self.revision = revision
        self.bytes_done: int = 0
        self.bytes_total: int = 0
        self.resumed_from: int = 0
        self.speed: float = 0.0
        self.eta: float | None = None
        self.path: str | None = None
        self.commit: str | None = None
        self.error_kind: str | None = None

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

    def _describe(self) -> list[str]:
        parts = [f"{self.repo_id}/{self.filename}"]
        if self.bytes_total and self.state != "done":
            done, total = format_bytes(self.bytes_done), format_bytes(self.bytes_total)
            parts += [f"{done} of {total}", f"{int(self.progress)}%"]
        elif self.bytes_total:
            parts.append(format_bytes(self.bytes_total))
        return parts

    def wait(self, timeout: float | None = None) -> str:
        """Block until the file is in the cache and return its path; raise on failure or cancel."""
        return str(super().wait(timeout))

    def _end_events(self) -> list[tuple[str, tuple[Any, ...]]]:
        done = [("download_done", (self,))] if self.state == "done" else []
        return done + super()._end_events()
