"""LocalLibrary: the GGUF files in the Hugging Face cache — complete or partial — with Delete,
Resume and Discard. Shown by ModelBrowser below the picked repo's files, or on its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import traitlets

from .._format import format_bytes
from .._secrets import redact
from ..errors import LLMWidgetsError
from ..jobs import FINAL_STATES, DownloadJob, Job, LoadJob
from ..service._service import LLMKernelService
from . import _protocol
from ._base import ServiceWidget, bundled
from ._protocol import Message


class LocalLibrary(ServiceWidget):
    """Every GGUF in the local cache with its repo, quantization and size, and the disk they use.

    A complete file can be loaded (and the loaded one unloaded) from its row. Delete asks for
    confirmation in the view and is refused while the file is loaded or downloading; partial
    downloads can be resumed or discarded. The list follows downloads as they finish, fail or
    are cancelled, models as they are loaded and unloaded, and files deleted from Python.
    """

    _esm = bundled("local_library.js")
    _css = bundled("local_library.css")
    _schema = _protocol.LOCAL_LIBRARY

    local: traitlets.List[dict[str, Any]] = traitlets.List(help="GGUFs in the cache.").tag(
        sync=True
    )
    local_total = traitlets.Int(0, help="Bytes of GGUFs in the cache.").tag(sync=True)

    def __init__(self, *, service: LLMKernelService | None = None, **kwargs: Any) -> None:
        super().__init__(service=service, **kwargs)
        self._rows: list[dict[str, Any]] = []  # what `local` shows, with each local path
        self._loading: dict[str, str] = {}  # load job id -> file name, for the load's notices
        self._downloading: set[str] = set()  # ids of the running downloads the rows show
        self._subscribe(self.service.on_download_done(lambda _: self._rescan()))
        self._subscribe(self.service.on_progress(self._on_progress))
        self._subscribe(self.service.on_model_loaded(lambda _: self._rescan()))
        self._subscribe(self.service.on_model_unloaded(self._rescan))
        self._subscribe(self.service.on_model_deleted(lambda *_: self._rescan()))
        self.refresh()

    def __repr__(self) -> str:
        """What a host without a live view shows."""
        rows = getattr(self, "_rows", ())
        return f"LocalLibrary({len(rows)} models · {format_bytes(self.local_total)})"

    @property
    def models(self) -> list[dict[str, Any]]:
        """The listed models (repo_id, filename, size, quant, partial, stale, downloading,
        bytes_done, path, loaded)."""
        return [dict(m) for m in self._rows]

    def refresh(self) -> None:
        """Scan the cache again."""
        self._in_event_order(self._rescan)

    def _rescan(self) -> None:
        try:
            models = self.service.local_models()
        except Exception as exc:  # an unreadable cache is a message, not a traceback
            self.error = redact(f"Cannot read the cache: {exc}")
            return
        running = {
            (j.repo_id, j.filename): j
            for j in self.service.downloads
            if j.state not in FINAL_STATES  # (an ending one is not: its end is being told)
        }
        self._downloading = {j.id for j in running.values()}
        rows = []
        for m in models:
            row = {k: v for k, v in asdict(m).items() if k != "extra"} | {
                "quant": m.quant or "",
                "loaded": not m.partial and self.service.is_loaded(m.path),
                "downloading": False,
            }
            job = running.get((m.repo_id, m.filename)) if m.partial else None
            if job is not None:  # its partial grows: neither stale nor for Resume / Discard
                row |= _downloading_row(job, row)
            rows.append(row)
        self._show(rows)

    def _show(self, rows: list[dict[str, Any]]) -> None:
        with self.hold_sync():
            self._rows = rows
            # the view needs no local path (it names the user's home, and is saved in notebooks)
            self.local = [{k: v for k, v in row.items() if k != "path"} for row in rows]
            self.local_total = sum(r["bytes_done"] if r["partial"] else r["size"] for r in rows)

    def delete(self, repo_id: str, filename: str) -> int:
        """Delete a downloaded model from the cache; returns the bytes freed."""
        return self._remove(self.service.delete_model, repo_id, filename, "Deleted {} ({} freed)")

    def discard(self, repo_id: str, filename: str) -> int:
        """Delete a partial download; returns the bytes freed."""
        return self._remove(
            self.service.discard_partial, repo_id, filename, "Discarded the partial {} ({})"
        )

    def _remove(
        self, remove: Callable[[str, str], int], repo_id: str, filename: str, done: str
    ) -> int:
        """Remove files, say so and show the cache as it is now; files already gone elsewhere
        are said to be, not an error."""
        try:
            freed = remove(repo_id, filename)
            text = done.format(filename, format_bytes(freed))
        except FileNotFoundError:
            freed, text = 0, f"{filename} was already gone"
        self.error = ""
        self.notify("success", text)
        self.refresh()
        return freed

    def resume(self, repo_id: str, filename: str) -> DownloadJob:
        """Resume a partial download; returns its job."""
        job = self.service.start_download(repo_id, filename)
        self.error = ""
        self.notify("info", f"Resuming {filename}")
        return job

    def load(self, repo_id: str, filename: str, **options: Any) -> LoadJob:
        """Load a model of the library (options as for `LLMKernelService.load_model`)."""
        path = self.service.cached_path(repo_id, filename)
        if path is None:
            raise LLMWidgetsError(f"{repo_id}/{filename} is not complete in the cache.")

        def start() -> LoadJob:
            job = self.service.load_model(path, **options)
            self._loading[job.id] = filename
            self.notify("info", f"Loading {filename}…")
            return job

        return self._in_event_order(start)

    def unload(self) -> None:
        """Unload the kernel's model."""
        self.service.unload_model()

    def _load_ended(self, job: Job, filename: str) -> None:
        if job.state == "done":
            self.error = ""
            self.notify("success", f"{filename} is loaded")
        elif job.state == "failed":
            self.error = job.error or f"Loading {filename} failed."
            self.notify("error", self.error)

    def _on_progress(self, job: Job) -> None:
        if isinstance(job, DownloadJob) and job.state in ("cancelled", "failed"):
            self._rescan()  # a partial appeared
        elif isinstance(job, DownloadJob) and job.state == "running":
            if job.id not in self._downloading:
                self._rescan()  # a download began: its partial is no longer for Resume
            else:  # its row follows the transfer without a scan of the cache
                key = (job.repo_id, job.filename)
                self._show(
                    [
                        row | _downloading_row(job, row)
                        if row["downloading"] and (row["repo_id"], row["filename"]) == key
                        else row
                        for row in self._rows
                    ]
                )
        elif job.id in self._loading and job.state in FINAL_STATES:
            self._load_ended(job, self._loading.pop(job.id))

    def _fail(self, text: str, request_id: str | None) -> None:
        """A refused click is said once: on the error line (no notice repeating it)."""
        self.error = text
        if request_id is not None and len(request_id) <= 64:
            self._post({"type": "ack", "request_id": request_id, "ok": False, "error": text})

    # -- front-end messages -------------------------------------------------------------------

    def _on_delete(self, message: Message) -> None:
        self.delete(message["repo_id"], message["filename"])

    def _on_discard(self, message: Message) -> None:
        self.discard(message["repo_id"], message["filename"])

    def _on_resume(self, message: Message) -> None:
        self.resume(message["repo_id"], message["filename"])

    def _on_load(self, message: Message) -> None:
        self.load(message["repo_id"], message["filename"])

    def _on_unload(self, message: Message) -> None:
        self.unload()

    def _on_refresh(self, message: Message) -> None:
        self.error = ""
        self.refresh()


def _downloading_row(job: DownloadJob, row: dict[str, Any]) -> dict[str, Any]:
    """A row's fields while its file downloads: the job's bytes, never stale."""
    return {
        "downloading": True,
        "stale": False,
        "bytes_done": job.bytes_done or row["bytes_done"],
        "size": job.bytes_total or row["size"],
    }
