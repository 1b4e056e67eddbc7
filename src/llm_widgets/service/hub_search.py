"""HubSearch: the Hub search from a script, in the background, where the newest search wins (the
ModelBrowser's search box uses it too)."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from ..hub.search import ModelFile, ModelSummary, SortKey, check_query, explain_search_error
from ._service import LLMKernelService


class HubSearch:
    """Search the Hub for GGUF repos from a script, in the background; a newer search supersedes
    an older one (the older future is cancelled and its results are dropped).

    >>> search = HubSearch()
    >>> search.search("qwen")[:3]                      # blocking
    >>> future = search.start("llama"); future.result()  # background, newest wins
    """

    def __init__(
        self,
        service: LLMKernelService | None = None,
        *,
        limit: int = 50,
        sort: SortKey = "downloads",
    ) -> None:
        self.service = service or LLMKernelService.instance()
        self.limit = limit
        self.sort: SortKey = sort
        self.query = ""
        self.results: list[ModelSummary] = []
        self._lock = threading.Lock()
        self._current: Future[list[ModelSummary]] | None = None

    @property
    def current(self) -> Future[list[ModelSummary]] | None:
        """The future of the newest search (the only one whose results count)."""
        return self._current

    def search(self, query: str) -> list[ModelSummary]:
        """Search now and wait for the results."""
        return self.start(query).result()

    def start(self, query: str) -> Future[list[ModelSummary]]:
        """Search in a worker thread; returns a future of the results (awaitable with
        `asyncio.wrap_future`). Starting another search cancels this one's future."""
        check_query(query)
        future: Future[list[ModelSummary]] = Future()
        with self._lock:
            previous, self._current = self._current, future
        if previous is not None:
            previous.cancel()
        threading.Thread(
            target=self._run, args=(future, query), name="llm-widgets-search", daemon=True
        ).start()
        return future

    def files(self, repo_id: str, revision: str | None = None) -> list[ModelFile]:
        """A repo's GGUF models (quantization, size, split parts, RAM fit)."""
        return list(self.service.list_model_files(repo_id, revision=revision))

    def _run(self, future: Future[list[ModelSummary]], query: str) -> None:
        try:
            found: list[ModelSummary] = self.service.search_models(
                query, limit=self.limit, sort=self.sort
            )
        except Exception as exc:
            if future.set_running_or_notify_cancel():
                future.set_exception(explain_search_error(exc, self.service.endpoint))
            return
        with self._lock:
            if future is self._current:
                self.query, self.results = query, found
        if future.set_running_or_notify_cancel():
            future.set_result(found)
