"""ModelBrowser: search the Hub for GGUF models, pick a repo (its files become ModelCards), and
manage the local library below them — several downloads at once, queued past the limit."""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets
import traitlets

from . import _protocol, hub
from ._protocol import Message
from ._widget import STATIC, ServiceWidget
from .errors import LLMWidgetsError
from .local_library import LocalLibrary
from .model_card import ModelCard
from .service import LLMKernelService


class ModelBrowserPanel(ServiceWidget):
    """The browser's search view: search box and results (see `ModelBrowser`)."""

    _esm = STATIC / "model_browser.js"
    _css = STATIC / "model_browser.css"
    _schema = _protocol.MODEL_BROWSER

    query = traitlets.Unicode("", help="The last search.").tag(sync=True)
    status = traitlets.Unicode("idle", help="idle, searching, offline, error.").tag(sync=True)
    results: traitlets.List[dict[str, Any]] = traitlets.List(help="Search results.").tag(sync=True)
    selected_repo = traitlets.Unicode("", help="The picked repo.").tag(sync=True)
    files_status = traitlets.Unicode("idle", help="idle, loading, error.").tag(sync=True)
    max_concurrent_downloads = traitlets.Int(2, help="Downloads at once.").tag(sync=True)

    def __init__(self, browser: ModelBrowser, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._browser = browser
        self.max_concurrent_downloads = self.service.max_concurrent_downloads

    @traitlets.validate("max_concurrent_downloads")
    def _check_limit(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if not 1 <= value <= 16:
            self.error = "max_concurrent_downloads must be between 1 and 16."
            return int(self.service.max_concurrent_downloads)
        self.service.max_concurrent_downloads = value
        return value

    def _on_search(self, message: Message) -> None:
        self._browser.search(message["query"])

    def _on_pick(self, message: Message) -> None:
        self._browser.pick(message["repo_id"])

    def _on_download(self, message: Message) -> None:
        self.service.start_download(message["repo_id"], message["filename"])

    def _on_cancel(self, message: Message) -> None:
        job = self.service.find_download(message["repo_id"], message["filename"])
        if job is not None:
            job.cancel()


class ModelBrowser(ipywidgets.VBox):
    """Search the Hub, pick a repo, download several files at once, manage the local library.

    The picked repo's GGUF files are ModelCards (download, progress, cancel, load), with a RAM-fit
    hint; searches and listings run in worker threads and a newer search supersedes an older one.
    """

    search_limit = 100  # results per search

    def __init__(
        self,
        query: str = "",
        *,
        service: LLMKernelService | None = None,
        max_concurrent_downloads: int | None = None,
    ) -> None:
        self.panel = ModelBrowserPanel(self, service=service)
        self.service = self.panel.service
        if max_concurrent_downloads is not None:
            self.panel.max_concurrent_downloads = max_concurrent_downloads
        self.files_box = ipywidgets.VBox()
        self.library = LocalLibrary(service=self.service)
        super().__init__([self.panel, self.files_box, self.library])
        self._cards: list[ModelCard] = []
        self._search_seq = 0
        self._pick_seq = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        if query:
            self.search(query)

    # -- what the view shows, for scripts ------------------------------------------------------

    @property
    def results(self) -> list[dict[str, Any]]:
        """The current search results."""
        return list(self.panel.results)

    @property
    def cards(self) -> list[ModelCard]:
        """The ModelCards of the picked repo's files."""
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

    def search(self, query: str) -> threading.Thread:
        """Search in a worker thread; returns the thread (join it to wait)."""
        if not isinstance(query, str) or len(query) > 200:
            raise ValueError("query must be a string of at most 200 characters")
        with self._lock:
            self._search_seq += 1
            seq = self._search_seq
        self.panel.query, self.panel.status, self.panel.error = query, "searching", ""
        return self._spawn(self._search, seq, query)

    def pick(self, repo_id: str) -> threading.Thread:
        """List a repo's GGUF files as ModelCards, in a worker thread; returns the thread."""
        hub.validate_repo_file(repo_id, "x")
        with self._lock:
            self._pick_seq += 1
            seq = self._pick_seq
        self.panel.selected_repo, self.panel.files_status = repo_id, "loading"
        return self._spawn(self._pick, seq, repo_id)

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

    # -- workers -------------------------------------------------------------------------------

    def _spawn(self, target: Any, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name="llm-widgets-browse", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def _search(self, seq: int, query: str) -> None:
        try:
            found = self.service.search_models(query, limit=self.search_limit)
            results = [
                {
                    "repo_id": m.repo_id,
                    "downloads": m.downloads,
                    "likes": m.likes,
                    "last_modified": m.last_modified,
                    "gated": m.gated,
                }
                for m in found
            ]
            status, error = "idle", ""
        except Exception as exc:
            results, (status, error) = [], _explain(exc, self.service.endpoint)
        if seq != self._search_seq:
            return  # a newer search superseded this one
        with self.panel.hold_sync():
            self.panel.results, self.panel.status, self.panel.error = results, status, error

    def _pick(self, seq: int, repo_id: str) -> None:
        try:
            files = self.service.list_model_files(repo_id)
        except Exception as exc:
            if seq == self._pick_seq:
                status, error = _explain(exc, self.service.endpoint, repo_id)
                self.panel.files_status, self.panel.error = "error", error
                if status == "offline":
                    self.panel.status = "offline"
            return
        if seq != self._pick_seq:
            return
        cards = []
        for f in files:
            card = ModelCard(repo_id, f.filename, service=self.service)
            card.size = card.size or f.size  # the card's fit hint follows size and n_ctx
            cards.append(card)
        old, self._cards = self._cards, cards
        self.files_box.children = tuple(cards)
        for card in old:
            card.close()
        self.panel.files_status = "idle"
        if not files:
            self.panel.error = f"{repo_id} has no GGUF files."


def _explain(exc: BaseException, endpoint: str, repo_id: str | None = None) -> tuple[str, str]:
    """(status, message) for a search or listing failure."""
    from huggingface_hub.errors import GatedRepoError

    if isinstance(exc, GatedRepoError) and repo_id:
        return "error", f"{repo_id} is gated: accept its conditions on the Hub and give a token."
    error = hub.explain_error(
        exc, repo_id=repo_id or "the Hub", filename="", revision=None, endpoint=endpoint
    )
    if error.kind == "offline":
        return "offline", f"{error} The local library below still works."
    message = str(error) if not isinstance(exc, LLMWidgetsError) else str(exc)
    return "error", message
