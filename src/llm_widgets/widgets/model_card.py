"""ModelCard: one GGUF file on the Hub — download with progress and cancel, then load it."""

from __future__ import annotations

import weakref
from concurrent.futures import Future
from dataclasses import asdict
from pathlib import Path
from typing import Any

import traitlets

from .._format import format_bytes
from .._names import parse_quantization, split_parts, validate_repo_file
from .._types import ModelFacts
from ..engines.choice import check_engine
from ..engines.memory import DEFAULT_N_CTX, ModelShape, fit_hint, shape_of
from ..hub._cache import same_file
from ..jobs import DownloadJob, Job, LoadJob, download_key
from ..service._service import LLMKernelService
from . import _protocol
from ._base import ServiceWidget, bundled
from ._protocol import Message, bounds_text


class ModelCard(ServiceWidget):
    """A card for one model file: Download, Cancel, Retry, Load, Unload, with live progress.

    Every card of the same file shows the same job, whether the download was started from Python
    (`card.start_download()`) or by a click.
    """

    _esm = bundled("model_card.js")
    _css = bundled("model_card.css")
    _schema = _protocol.MODEL_CARD
    _editable = frozenset({"n_ctx"})
    _bounded = ("n_ctx",)

    repo_id = traitlets.Unicode(help="The Hub repo, 'owner/name'.").tag(sync=True)
    filename = traitlets.Unicode(help="The file in the repo.").tag(sync=True)
    revision = traitlets.Unicode("", help="Branch, tag or commit ('' = main).").tag(sync=True)
    status = traitlets.Unicode("idle", help="idle, queued, running, done, cancelled, failed.").tag(
        sync=True
    )
    progress = traitlets.Float(0.0, help="Download progress, 0 to 100.").tag(sync=True)
    is_downloading = traitlets.Bool(False, help="A download is queued or running.").tag(sync=True)
    size = traitlets.Int(0, help="File size in bytes (0 while unknown).").tag(sync=True)
    bytes_done = traitlets.Int(0, help="Bytes on disk so far.").tag(sync=True)
    speed = traitlets.Float(0.0, help="Download speed in bytes/s.").tag(sync=True)
    eta = traitlets.Float(-1.0, help="Seconds left; -1 when unknown.").tag(sync=True)
    detail = traitlets.Unicode(
        "", help="What the download waits for now ('server busy — retrying', …); '' while it flows."
    ).tag(sync=True)
    path = traitlets.Unicode(
        "", help="Local path once the file is complete (kept in Python: it names the user's home)."
    )
    load_status = traitlets.Unicode("unloaded", help="unloaded, loading, loaded, failed.").tag(
        sync=True
    )
    load_progress = traitlets.Float(0.0, help="Model load progress, 0 to 100.").tag(sync=True)
    load_detail = traitlets.Unicode(
        "", help="What the load waits for ('waiting for the running answer', …); '' otherwise."
    ).tag(sync=True)
    model_info = traitlets.Dict(help="Facts about the loaded model.").tag(sync=True)
    quant = traitlets.Unicode("", help="The quantization named in the file name.").tag(sync=True)
    fit = traitlets.Unicode("", help="RAM fit hint: fits, tight, does not fit ('' = unknown).").tag(
        sync=True
    )
    fit_detail = traitlets.Unicode("", help="The numbers behind the fit hint.").tag(sync=True)
    n_ctx = traitlets.Int(
        DEFAULT_N_CTX,
        help=f"Context size (tokens) that Load uses; {bounds_text('n_ctx')}, checked against RAM.",
    ).tag(sync=True)

    engine = traitlets.Unicode(
        "auto", help='The engine Load uses: "auto", "xllamacpp" or "llama-cpp-python".'
    ).tag(sync=True)

    def __init__(
        self,
        repo_id: str,
        filename: str,
        revision: str | None = None,
        *,
        service: LLMKernelService | None = None,
        **kwargs: Any,
    ) -> None:
        validate_repo_file(repo_id, filename, revision)
        super().__init__(
            service=service,
            repo_id=repo_id,
            filename=filename,
            revision=revision or "",
            quant=parse_quantization(filename) or "",
            **kwargs,
        )
        self._job: DownloadJob | None = None
        self._load_job: LoadJob | None = None
        self._shown: tuple[str, str] | None = None  # (job id, state) of the download shown
        self._resume_from: float | None = None  # percent kept that the shown job resumes from
        self._kept: tuple[int, float] | None = None  # (bytes, percent) kept, until it counts them
        self._load_shown: tuple[str, str] | None = None  # (job id, state) of the load shown
        self._shape: tuple[str, ModelShape | None] | None = None  # (path, its shape)
        self._subscribe(self.service.on_progress(self._on_job_event))
        self._subscribe(self.service.on_model_unloaded(self._on_unloaded))
        self._subscribe(self.service.on_model_deleted(self._on_deleted))
        self._in_event_order(self._show_initial)
        if self.status == "idle" and not self.size:
            self._probe_size()

    def _show_initial(self) -> None:
        job = self.service.find_download(self.repo_id, self.filename, self.revision or None)
        if job is not None:
            self._show(job, announce=False)
        else:
            cached = self.service.cached_path(self.repo_id, self.filename, self.revision or None)
            if cached is not None:
                size = Path(cached).stat().st_size
                with self.hold_sync():
                    self.status, self.progress, self.path = "done", 100.0, cached
                    self.size = self.bytes_done = size
        loaded = self.service.model
        if loaded is not None and self.path and self.service.is_loaded(self.path):
            self._show_loaded(loaded)

    @traitlets.observe("size", "n_ctx", "path")
    def _update_fit(self, change: dict[str, Any]) -> None:
        """The RAM-fit hint follows the file's size and the context size Load will use, with the
        file's real shape once it is on disk (the same estimate Load checks)."""
        if self.size > 0:
            self.fit, self.fit_detail = fit_hint(self.size, self.n_ctx, shape=self._file_shape())

    def _file_shape(self) -> ModelShape | None:
        if not self.path:
            return None
        if self._shape is None or self._shape[0] != self.path:
            self._shape = (self.path, shape_of(self.path))
        return self._shape[1]

    def _probe_size(self) -> None:
        """Ask the Hub for the file's size in the background, so the card shows it at once (the
        call holds no reference to the card: a card closed meanwhile is freed)."""
        service, card = self.service, weakref.ref(self)
        where = (self.repo_id, self.filename, self.revision or None)
        service.call_in_background(
            "probe", lambda: service.file_size(*where), lambda size: _show_probed_size(card, size)
        )

    def __repr__(self) -> str:
        """What a host without a live view shows (a terminal, nbconvert to text, a preview)."""
        state = {"done": "downloaded", "running": f"downloading {self.progress:.0f}%"}.get(
            self.status, self.status
        )
        parts = [self.repo_id, self.filename, format_bytes(self.size) if self.size else "", state]
        if self.load_status != "unloaded":
            parts.append(self.load_status)
        return f"ModelCard({' · '.join(p for p in parts if p)})"

    @property
    def job(self) -> DownloadJob | None:
        """The download job this card shows, if any."""
        return self._job

    @property
    def key(self) -> tuple[str, str, str]:
        """(repo_id, filename, revision) of the file."""
        return download_key(self.repo_id, self.filename, self.revision or None)

    def start_download(self) -> DownloadJob:
        """Start (or join) the download of this file; returns the job at once."""

        def start() -> DownloadJob:
            job = self.service.start_download(self.repo_id, self.filename, self.revision or None)
            self._show(job)
            return job

        return self._in_event_order(start)

    def cancel_download(self) -> None:
        """Cancel this card's download, keeping the partial file for a later resume."""
        job = self._job or self.service.find_download(*self.key)
        if job is not None:
            job.cancel()

    def load_model(self, **options: Any) -> LoadJob:
        """Load this file into llama.cpp (after its download, if one is running); returns the job.

        Options go to `LLMKernelService.load_model` (n_ctx, n_threads, llama.cpp options);
        n_ctx defaults to the card's `n_ctx`.
        """
        options.setdefault("n_ctx", self.n_ctx)
        options.setdefault("engine", self.engine)

        def start() -> LoadJob:
            job = self._job or self.service.find_download(*self.key)
            source: str | DownloadJob
            if job is not None and not job.finished:
                source = job
            elif self.path:
                source = self.path
            else:
                raise ValueError(
                    f"{self.repo_id}/{self.filename} is not downloaded yet: download it first."
                )
            load = self.service.load_model(source, **options)
            self._show_load(load)
            return load

        return self._in_event_order(start)

    def unload_model(self) -> None:
        """Free the model if this card's file is the one loaded."""
        if self.path and self.service.is_loaded(self.path):
            self.service.unload_model()
        elif self._load_job is not None:
            self._load_job.cancel()

    # -- service events -> traits (on the event thread) --------------------------------------

    def _on_job_event(self, job: Job) -> None:
        if isinstance(job, DownloadJob) and job.key == self.key:
            self._show(job)
        elif isinstance(job, LoadJob):
            if job is self._load_job or (
                job.path is not None and self.path and same_file(job.path, self.path)
            ):
                self._show_load(job)
            elif job.state == "done" and self.load_status == "loaded":
                self._show_unloaded()  # another model replaced ours

    def _on_unloaded(self) -> None:
        if self.load_status == "loaded":
            self._show_unloaded()
            loading = self.service.loading  # a load replaces it: say which
            path = loading.path if loading is not None else None
            if path and not (self.path and same_file(path, self.path)):
                self.notify("info", f"{self.filename} was unloaded to load {Path(path).name}")
            else:
                self.notify("info", f"{self.filename} was unloaded")

    def _on_deleted(self, repo_id: str, filename: str) -> None:
        """The file (or its partial download) was removed: the card shows it as not downloaded,
        with Download. (A loaded model cannot be deleted: the service refuses that.)"""
        if repo_id != self.repo_id or filename not in split_parts(self.filename):
            return
        if self.is_downloading or self.service.cached_path(
            self.repo_id, self.filename, self.revision or None
        ):
            return  # a new download already started, or another revision is still there
        self._job, self._shown = None, None
        with self.hold_sync():
            self.status, self.progress, self.bytes_done, self.path = "idle", 0.0, 0, ""
            self.speed, self.eta, self.detail, self.error = 0.0, -1.0, "", ""
            if self.load_status == "failed":
                self.load_status = "unloaded"

    def _show_unloaded(self) -> None:
        with self.hold_sync():
            self.load_status, self.load_progress, self.model_info = "unloaded", 0.0, {}

    def _show_loaded(self, facts: ModelFacts | None) -> None:
        with self.hold_sync():
            self.load_status, self.load_progress = "loaded", 100.0
            self.model_info = _facts_dict(facts)

    def _show_load(self, job: LoadJob) -> None:
        self._load_job = job
        state = job.state
        entered = (job.id, state) != self._load_shown
        self._load_shown = (job.id, state)
        with self.hold_sync():
            self.load_detail = job.detail if state in ("queued", "running") else ""
            if state in ("queued", "running"):
                self.load_status = "loading"
                self.load_progress = job.progress
            elif state == "done":
                self._show_loaded(job.facts)
                if entered:  # a later event of the same state keeps a newer error
                    self.error = ""
            elif state == "failed":
                self.load_status, self.load_progress = "failed", 0.0
                self.error = job.error or "Loading the model failed."
            else:
                self.load_status, self.load_progress = "unloaded", 0.0
        if entered and state == "done":
            self.notify("success", f"{self.filename} is loaded")
            for note in job.notes:  # the model it replaced, a GPU the build does not have
                self.notify("info", note)
        elif entered and state == "failed":
            self.notify("error", job.error or "Loading the model failed.")

    def _show(self, job: DownloadJob, announce: bool = True) -> None:
        if self._shown is None or job.id != self._shown[0]:  # a new job: does it resume ours?
            kept = self.status in ("cancelled", "failed") and self.bytes_done > 0
            self._resume_from = self.progress if kept else None
            self._kept = (self.bytes_done, self.progress) if kept else None
        self._job = job
        state = job.state
        entered = (job.id, state) != self._shown
        self._shown = (job.id, state)
        with self.hold_sync():
            self.status = state
            self.is_downloading = state in ("queued", "running")
            self.size = job.bytes_total or self.size
            shown = (job.bytes_done, round(job.progress, 2))  # a cancelled one: the part kept
            if self._kept is not None and state in ("queued", "running") and not job.bytes_done:
                shown = self._kept  # a resume before its transfer counts what is on disk
            else:
                self._kept = None
            self.bytes_done, self.progress = shown
            self.speed = float(job.speed) if state == "running" else 0.0
            self.eta = float(job.eta) if job.eta is not None and state == "running" else -1.0
            self.detail = job.detail if state == "running" else ""
            self.path = job.path or ""
            if state == "failed":
                self.error = job.error or "The download failed."
            elif entered and state in ("queued", "running", "done"):
                self.error = ""  # only as the state changes: progress keeps a newer error
        if announce and entered:
            self._announce(job, state)

    def _announce(self, job: DownloadJob, state: str) -> None:
        name = f"{job.repo_id}/{job.filename}"
        if state == "running" and self._resume_from:
            self.notify("info", f"Resuming download of {name} from {self._resume_from:.0f}%")
        elif state == "running":
            self.notify("info", f"Starting download of {name}")
        elif state == "cancelled":
            done, total = format_bytes(job.bytes_done), format_bytes(job.bytes_total)
            kept = f"; {done} of {total} kept for a resume" if job.bytes_done else ""
            self.notify("info", f"Download of {name} cancelled{kept}")
        elif state == "done":
            self.notify("success", f"{name} is ready")
        elif state == "failed":
            self.notify("error", job.error or f"Download of {name} failed")

    # -- front-end messages ---------------------------------------------------------------------

    def _on_download(self, message: Message) -> None:
        self.start_download()

    def _on_retry(self, message: Message) -> None:
        self.start_download()

    def _on_cancel(self, message: Message) -> None:
        self.cancel_download()

    def _on_load(self, message: Message) -> None:
        self.load_model()

    def _on_unload(self, message: Message) -> None:
        self.unload_model()

    def _on_stop_running(self, message: Message) -> None:
        self.service.abort(queued=False)  # the answer a queued load waits for

    @traitlets.validate("engine")
    def _check_engine(self, proposal: dict[str, Any]) -> str:
        return check_engine(proposal["value"])

    @traitlets.validate("n_ctx")
    def _check_n_ctx(self, proposal: dict[str, Any]) -> int:
        return int(self._in_range(proposal, "The context size (tokens)"))


def _show_probed_size(card: weakref.ref[ModelCard], size: Future[int]) -> None:
    if size.exception() is not None:
        return  # offline or not found: the download will say so, with a message
    shown = card()
    if shown is not None and shown.size == 0 and shown.status == "idle":
        shown.size = size.result()


def _facts_dict(facts: ModelFacts | None) -> dict[str, Any]:
    """The loaded model's facts as plain values a view can show."""
    if facts is None:
        return {}
    plain = (str, int, float, bool)
    return {k: v for k, v in asdict(facts).items() if isinstance(v, plain) and k != "path"}
