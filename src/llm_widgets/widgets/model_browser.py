"""ModelBrowser: search the Hub for GGUF models, pick a repo (its files become ModelCards), and
manage the local library below them — several downloads at once, queued past the limit."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import ipywidgets
import traitlets

from .._names import validate_repo_id
from ..errors import DownloadError
from ..hub.search import (
    ModelFile,
    ModelSummary,
    explain_search_error,
    in_browsing_order,
    recommended,
)
from ..service._background import BackgroundCall
from ..service._service import LLMKernelService
from ..service.hub_search import HubSearch
from . import _protocol
from ._base import ServiceWidget, bundled
from ._protocol import Message, bounds_text
from .local_library import LocalLibrary
from .model_card import ModelCard

SEARCH_LIMIT = 100  # results a search shows


class ModelBrowserPanel(ServiceWidget):
    """The browser's search view: search box and results (see `ModelBrowser`). Searches run
    through a `HubSearch`, so the newest one wins; a picked repo goes to the `on_pick` callbacks."""

    _esm = bundled("model_browser.js")
    _css = bundled("model_browser.css")
    _schema = _protocol.MODEL_BROWSER
    _editable = frozenset({"max_concurrent_downloads"})
    _bounded = ("max_concurrent_downloads",)

    query = traitlets.Unicode("", help="The last search.").tag(sync=True)
    status = traitlets.Unicode("idle", help="idle, searching, offline, error.").tag(sync=True)
    results: traitlets.List[dict[str, Any]] = traitlets.List(help="Search results.").tag(sync=True)
    selected_repo = traitlets.Unicode("", help="The picked repo.").tag(sync=True)
    files_status = traitlets.Unicode("idle", help="idle, loading, error.").tag(sync=True)
    files: traitlets.List[dict[str, Any]] = traitlets.List(
        help="The picked repo's models, recommended first: {filename, quant, size, parts, fit, "
        "fit_detail, recommended, status} (status: the card's, idle until downloaded)."
    ).tag(sync=True)
    max_concurrent_downloads = traitlets.Int(
        2, help=f"Downloads at once ({bounds_text('max_concurrent_downloads')})."
    ).tag(sync=True)

    def __init__(self, *, service: LLMKernelService | None = None, **kwargs: Any) -> None:
        super().__init__(service=service, **kwargs)
        self.max_concurrent_downloads = self.service.max_concurrent_downloads
        self.hub_search = HubSearch(self.service, limit=SEARCH_LIMIT)
        self._pick_callbacks: list[Callable[[str], Any]] = []
        self._download_callbacks: list[Callable[[str], Any]] = []

    def search(self, query: str) -> BackgroundCall[list[ModelSummary]]:
        """Search in the background; returns the call that shows the results (join it to
        wait). A newer search supersedes this one."""

        def start() -> BackgroundCall[list[ModelSummary]]:
            future = self.hub_search.start(query)
            with self.hold_sync():
                self.query, self.status, self.error = query, "searching", ""
            return self.service.show_when_done(future, self._show_results)

        return self._in_event_order(start)

    def __repr__(self) -> str:
        """What a host without a live view shows."""
        found = f"{len(self.results)} results for {self.query!r}" if self.query else "no search"
        return f"ModelBrowser({found} · {self.status})"

    def on_pick(self, callback: Callable[[str], Any]) -> None:
        """Call `callback(repo_id)` when a repo is picked in the view."""
        self._pick_callbacks.append(callback)

    def on_download(self, callback: Callable[[str], Any]) -> None:
        """Call `callback(filename)` when Download is clicked in the picked repo's list."""
        self._download_callbacks.append(callback)

    def show_error(self, exc: BaseException, repo_id: str | None = None) -> None:
        """Show why a search or a listing failed (an unreachable Hub turns the status offline)."""
        error = explain_search_error(exc, self.service.endpoint, repo_id)
        if isinstance(error, DownloadError) and error.kind == "offline":
            self.status, self.error = "offline", f"{error} The local library below still works."
        else:
            self.error = str(error)

    def _show_results(self, found: Future[list[ModelSummary]]) -> None:
        if found.cancelled() or found is not self.hub_search.current:
            return  # a newer search superseded this one
        failure = found.exception()
        with self.hold_sync():
            if failure is not None:
                self.results, self.status = [], "error"
                self.show_error(failure)
            else:
                self.results = [_result_row(m) for m in found.result()]
                self.status, self.error = "idle", ""

    @traitlets.validate("max_concurrent_downloads")
    def _check_limit(self, proposal: dict[str, Any]) -> int:
        value = int(self._in_range(proposal, "max_concurrent_downloads"))
        self.service.max_concurrent_downloads = value
        return value

    def _on_search(self, message: Message) -> None:
        self.search(message["query"])

    def _on_pick(self, message: Message) -> None:
        for callback in self._pick_callbacks:
            callback(message["repo_id"])

    def _on_download(self, message: Message) -> None:
        if message["filename"] not in {f["filename"] for f in self.files}:
            raise ValueError(f"{message['filename']} is not a file of {self.selected_repo}.")
        for callback in self._download_callbacks:
            callback(message["filename"])


def _result_row(m: ModelSummary) -> dict[str, Any]:
    return {
        "repo_id": m.repo_id,
        "downloads": m.downloads,
        "likes": m.likes,
        "last_modified": m.last_modified,
        "gated": m.gated,
    }


class ModelBrowser(ipywidgets.VBox):
    """Search the Hub, pick a repo, download several files at once, manage the local library.

    The picked repo's GGUF models are listed compactly (quantization, size, RAM fit, a
    recommended pick first; a split model is one entry); each is a ModelCard (`cards`), shown in
    full once it is downloading or downloaded. Searches and listings run in worker threads and a
    newer search supersedes an older one; what they find is shown on the service's event thread.
    """

    def __init__(
        self,
        query: str = "",
        *,
        service: LLMKernelService | None = None,
        max_concurrent_downloads: int | None = None,
    ) -> None:
        self.panel = ModelBrowserPanel(service=service)
        self.service = self.panel.service
        if max_concurrent_downloads is not None:
            self.panel.max_concurrent_downloads = max_concurrent_downloads
        self.files_box = ipywidgets.VBox()
        self.library = LocalLibrary(service=self.service)
        super().__init__([self.panel, self.files_box, self.library])
        self._cards: list[ModelCard] = []
        # the compact list's rows, their cards in the same order, and the files shown in full
        self._listing: tuple[list[dict[str, Any]], list[ModelCard], set[str]] = ([], [], set())
        self._pick_seq = 0  # the latest pick; an older listing that ends later is not shown
        self.panel.on_pick(self.pick)
        self.panel.on_download(self._download)
        if query:
            self.search(query)

    def __repr__(self) -> str:
        """What a host without a live view shows."""
        cards = getattr(self, "_cards", ())
        picked = f" · {self.panel.selected_repo}: {len(cards)} files" if cards else ""
        return repr(self.panel)[:-1] + picked + ")"

    # -- what the view shows, for scripts ------------------------------------------------------

    @property
    def results(self) -> list[dict[str, Any]]:
        """The current search results."""
        return list(self.panel.results)

    @property
    def cards(self) -> list[ModelCard]:
        """The ModelCards of the picked repo's models (recommended first; the view shows a card
        in full once it is downloading or downloaded)."""
        return list(self._cards)

    @property
    def local(self) -> list[dict[str, Any]]:
        """The local library (see `LocalLibrary.models`)."""
        return self.library.models

    @property
    def status(self) -> str:
        """idle, searching, offline or error."""
        return str(self.panel.status)

    @property
    def error(self) -> str:
        """The last error message of the search or of the library."""
        return str(self.panel.error or self.library.error)

    # -- actions -------------------------------------------------------------------------------

    def search(self, query: str) -> BackgroundCall[list[ModelSummary]]:
        """Search in the background; returns the call that shows the results (join it to wait)."""
        return self.panel.search(query)

    def pick(self, repo_id: str) -> BackgroundCall[list[ModelFile]]:
        """List a repo's GGUF files as ModelCards, in the background; returns the call that
        shows them (join it to wait)."""
        validate_repo_id(repo_id)
        service = self.service

        def start() -> BackgroundCall[list[ModelFile]]:
            self._pick_seq += 1
            seq = self._pick_seq
            with self.panel.hold_sync():
                self.panel.selected_repo, self.panel.files_status = repo_id, "loading"
            return service.call_in_background(
                "files",
                lambda: service.list_model_files(repo_id),
                lambda files: self._show_listing(seq, repo_id, files),
            )

        return self.panel._in_event_order(start)

    def refresh_local(self) -> None:
        """Re-scan the local cache."""
        self.library.refresh()

    def close(self) -> None:
        """Close the browser, its cards and its panel."""
        for card in self._cards:
            card.close()
        self.library.close()
        self.panel.close()
        super().close()

    # -- what the service found -> the view (on the event thread) -----------------------------

    def _show_listing(self, seq: int, repo_id: str, listed: Future[list[ModelFile]]) -> None:
        if seq != self._pick_seq:
            return
        failure = listed.exception()
        if failure is not None:
            with self.panel.hold_sync():
                self.panel.files_status = "error"
                self.panel.show_error(failure, repo_id)
            return
        files = in_browsing_order(listed.result())
        pick = recommended(files)
        # the listing knows each size: the cards need not ask the Hub again
        cards = [ModelCard(repo_id, f.filename, service=self.service, size=f.size) for f in files]
        old, self._cards = self._cards, cards
        rows = [_file_row(f, f is pick) for f in files]
        self._listing = (rows, cards, set())  # swapped whole: rows, their cards, those shown
        for card in cards:
            card.observe(lambda _: self._show_files(), names="status")
        self._show_files()
        for card in old:
            card.close()
        self.panel.files_status = "idle"
        if not files:
            self.panel.error = f"{repo_id} has no GGUF files."

    def _show_files(self) -> None:
        """The compact list follows each card's status; a card is shown in full once it has
        something to show (a download under way, kept, failed or done), and stays (a deleted
        file's card says so, with Download)."""
        rows, cards, opened = self._listing
        with self.panel.hold_sync():
            self.panel.files = [
                row | {"status": card.status} for row, card in zip(rows, cards, strict=True)
            ]
        opened.update(c.filename for c in cards if c.status != "idle")
        self.files_box.children = tuple(c for c in cards if c.filename in opened)

    def _download(self, filename: str) -> None:
        card = next(c for c in self._listing[1] if c.filename == filename)
        card.start_download()


def _file_row(f: ModelFile, recommended: bool) -> dict[str, Any]:
    return {
        "filename": f.filename,
        "quant": f.quant or "",
        "size": f.size,
        "parts": len(f.parts) or 1,
        "fit": f.fit,
        "fit_detail": f.fit_detail,
        "recommended": recommended,
    }
