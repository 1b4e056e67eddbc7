"""Exceptions raised by llm_widgets."""

from __future__ import annotations


class LLMWidgetsError(Exception):
    """Base class of every error raised by llm_widgets."""


class JobCancelledError(LLMWidgetsError):
    """The job was cancelled before it finished."""


class JobFailedError(LLMWidgetsError):
    """The job failed; the message says why and what to do."""


class DownloadError(JobFailedError):
    """A download failed. `kind` names the cause (see `DownloadErrorKind`)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ProtocolError(LLMWidgetsError, ValueError):
    """A message from the front end was malformed or unknown."""


__all__ = [
    "DownloadError",
    "JobCancelledError",
    "JobFailedError",
    "LLMWidgetsError",
    "ProtocolError",
]
