"""The service's event API: `on_progress`, `on_completion_chunk`, ... (the seed's `onProgress`,
`onCompletionChunk`): each subscribes a callback on the service's EventBus and returns an
unsubscribe function. Callbacks run on the event thread, in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._events import EventBus
from .._types import ModelFacts, ToolCallRecord
from ..jobs import DownloadJob, GenerationJob, Job


class EventSubscriptions:
    """Subscriptions to the events of `self.events`."""

    events: EventBus

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

    def on_model_deleted(self, callback: Callable[[str, str], Any]) -> Callable[[], None]:
        """Call `callback(repo_id, filename)` when a file is deleted from the cache, or its
        partial download discarded; returns an unsubscribe function."""
        return self.events.subscribe("model_deleted", callback)

    def on_completion_chunk(
        self, callback: Callable[[GenerationJob, str], Any]
    ) -> Callable[[], None]:
        """Call `callback(job, text)` for each streamed piece; returns an unsubscribe function.
        A piece of the model's thinking is a `Thinking` (a str subclass): `isinstance(text,
        Thinking)` tells it from the answer's pieces."""
        return self.events.subscribe("completion_chunk", callback)

    def on_tool_call(
        self, callback: Callable[[GenerationJob, ToolCallRecord], Any]
    ) -> Callable[[], None]:
        """Call `callback(job, record)` as a tool call moves (asked, waiting, running, done);
        returns an unsubscribe function."""
        return self.events.subscribe("tool_call", callback)

    def on_completion_done(self, callback: Callable[[GenerationJob], Any]) -> Callable[[], None]:
        """Call `callback(job)` when a generation ends (`job.stats` has the figures, also after
        an abort); returns an unsubscribe function."""
        return self.events.subscribe("completion_done", callback)
