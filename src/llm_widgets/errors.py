"""Every exception llm_widgets raises, in one place."""

from __future__ import annotations

from typing import Literal, get_args

DownloadErrorKind = Literal[
    "not_found",  # no such repo, file or revision
    "gated",  # the repo's conditions must be accepted first
    "auth",  # the token was rejected (401)
    "forbidden",  # the token lacks permission (403)
    "server",  # the Hub answered with an error, or not like a Hub
    "offline",  # the Hub cannot be reached, or HF_HUB_OFFLINE is set
    "disk_full",  # not enough space in the cache
    "disk",  # the cache cannot be written or read
    "checksum",  # the bytes do not match the Hub's sha256
    "unexpected",  # anything else (the message has the details)
]
DOWNLOAD_ERROR_KINDS: frozenset[str] = frozenset(get_args(DownloadErrorKind))

RemoteErrorKind = Literal[
    "missing_extra",  # the `openai` package is not installed (the `remote` extra)
    "bad_url",  # the base URL is not an http(s) URL
    "unreachable",  # nothing answers at the URL
    "timeout",  # the server did not answer in time
    "auth",  # the API key is missing, wrong (401) or lacks permission (403)
    "not_found",  # no OpenAI-compatible API at the URL (404): most often a missing /v1
    "unknown_model",  # the model is not one the server lists
    "context_overflow",  # the prompt does not fit the server's context
    "interrupted",  # the answer ended without a reason (another client took the server)
    "server",  # the server answered with an error
]
REMOTE_ERROR_KINDS: frozenset[str] = frozenset(get_args(RemoteErrorKind))


class LLMWidgetsError(Exception):
    """Base class of every error raised by llm_widgets."""


class GGUFFormatError(ValueError):
    """The file is not a (complete) GGUF."""


class JobCancelledError(LLMWidgetsError):
    """The job was cancelled before it finished."""


class JobFailedError(LLMWidgetsError):
    """The job failed; the message says why and what to do."""


class DownloadError(JobFailedError):
    """A download failed; `kind` names the cause (a `DownloadErrorKind`)."""

    def __init__(self, kind: DownloadErrorKind, message: str) -> None:
        if kind not in DOWNLOAD_ERROR_KINDS:
            raise ValueError(f"unknown download error kind {kind!r}")
        super().__init__(message)
        self.kind: DownloadErrorKind = kind


class RemoteServerError(JobFailedError):
    """Talking to an OpenAI-compatible server failed; `kind` names the cause (a
    `RemoteErrorKind`)."""

    def __init__(self, kind: RemoteErrorKind, message: str) -> None:
        if kind not in REMOTE_ERROR_KINDS:
            raise ValueError(f"unknown remote error kind {kind!r}")
        super().__init__(message)
        self.kind: RemoteErrorKind = kind


class OutputParseError(JobFailedError, ValueError):
    """A structured answer did not parse or validate; `text` keeps what the model wrote."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


class ModelFileError(LLMWidgetsError, ValueError):
    """The file cannot be a model llama.cpp loads: not a GGUF, truncated, unknown architecture."""


class ModelTooLargeError(LLMWidgetsError, MemoryError):
    """The model would not fit in the memory available now."""


class EngineNotInstalledError(LLMWidgetsError, ImportError):
    """The engine asked for is not installed; the message gives the pip command."""


class ProtocolError(LLMWidgetsError, ValueError):
    """A message from the front end was malformed or unknown."""


class PromptFormatError(LLMWidgetsError, ValueError):
    """A `{name}` in a prompt names no variable, or cannot be formatted; nothing was sent."""


class ToolArgumentsError(ValueError):
    """The model's arguments do not match the tool's schema (sent back to the model)."""


class MCPServerError(LLMWidgetsError):
    """An MCP server did not start, answer or stay up; the message says which and why."""


class _PromptTooLong(Exception):
    """The prompt would leave too little room for the answer (raised before evaluating it)."""


class _RangeIgnored(Exception):
    """The server answered a ranged request with something else (the whole file, say)."""


__all__ = [
    "DOWNLOAD_ERROR_KINDS",
    "DownloadError",
    "DownloadErrorKind",
    "JobCancelledError",
    "JobFailedError",
    "LLMWidgetsError",
    "MCPServerError",
    "ModelFileError",
    "ModelTooLargeError",
    "OutputParseError",
    "PromptFormatError",
    "ProtocolError",
    "REMOTE_ERROR_KINDS",
    "RemoteErrorKind",
    "RemoteServerError",
    "ToolArgumentsError",
]
