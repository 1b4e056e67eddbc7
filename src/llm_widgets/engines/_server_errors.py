"""What went wrong talking to an OpenAI-compatible server, in words a user can act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import RemoteServerError


@dataclass(frozen=True)
class Server:
    """A connection's server, as its errors name it."""

    base_url: str
    name: str  # host[:port]
    timeout: float
    key_source: str  # where the key came from: "api_key" or an environment variable
    keyed: bool  # whether there is a key


def classify(
    exc: BaseException, openai: Any, server: Server, *, listing: bool
) -> RemoteServerError:
    """The error for whatever the openai client raised; `listing`: while listing the models."""
    where = server.name
    if isinstance(exc, RemoteServerError):
        return exc
    # while a stream is read, some openai versions let httpx's own errors through
    transport = {c.__name__ for c in type(exc).__mro__ if c.__module__.startswith("httpx")}
    if isinstance(exc, openai.APITimeoutError) or "TimeoutException" in transport:
        return RemoteServerError(
            "timeout",
            f"The server at {where} did not answer within {server.timeout:g} s. It may be busy "
            "with a long prompt: try again, or connect with a longer timeout.",
        )
    if "TransportError" in transport:
        return RemoteServerError(
            "unreachable",
            f"The connection to the server at {where} broke ({_first_line(exc)}): check "
            "that it is still running.",
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        reason = f" ({_first_line(cause)})" if cause is not None else ""
        return RemoteServerError(
            "unreachable",
            f"Cannot reach the server at {server.base_url}{reason}. Check that it is running "
            "and that the URL is right.",
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return _refused(exc, openai, server)
    if isinstance(exc, openai.NotFoundError):
        return _not_found(exc, server, listing)
    if isinstance(exc, openai.APIStatusError):
        message = _server_message(exc)
        if _is_context_error(message):
            return RemoteServerError(
                "context_overflow",
                f"The prompt does not fit the model's context on {where}: {message} Clear "
                "the chat or shorten the prompt.",
            )
        return RemoteServerError(
            "server", f"The server at {where} answered {exc.status_code}: {message}"
        )
    return RemoteServerError(
        "server", f"Talking to {where} failed: {type(exc).__name__}: {_first_line(exc)}"
    )


def _refused(exc: BaseException, openai: Any, server: Server) -> RemoteServerError:
    """A 401 (no key, or a wrong one) or a 403."""
    where = server.name
    if isinstance(exc, openai.PermissionDeniedError):
        return RemoteServerError("auth", f"The server at {where} refused this key access (403).")
    if not server.keyed:
        return RemoteServerError(
            "auth",
            f"The server at {where} needs an API key (401): pass api_key=..., or set "
            f"the {server.key_source} environment variable.",
        )
    return RemoteServerError(
        "auth", f"The server at {where} rejected the API key from {server.key_source} (401)."
    )


def _not_found(exc: BaseException, server: Server, listing: bool) -> RemoteServerError:
    """A 404: no OpenAI-compatible API at the URL (while listing the models), else no model."""
    base_url = server.base_url
    if listing:
        hint = (
            f" An OpenAI-compatible base URL usually ends in /v1: try {base_url}/v1."
            if not base_url.endswith("/v1")
            else ""
        )
        return RemoteServerError(
            "not_found",
            f"{base_url} has no OpenAI-compatible API (404 at /models).{hint}",
        )
    return RemoteServerError(
        "unknown_model",
        f"The server at {server.name} answered 404: {_server_message(exc)}",
    )


def ended_early(server: str, pieces: int) -> RemoteServerError:
    """Why a stream ended without a finish reason, in words."""
    if pieces == 0:
        return RemoteServerError(
            "context_overflow",
            f"The server at {server} ended the answer before its first word, without a "
            "reason. Most often the prompt is longer than the model's context on the server "
            "(llama-cpp-python's server does this): Clear the chat, shorten the prompt, or "
            "start the server with a larger context. Another client taking the server ends "
            "an answer this way too.",
        )
    return RemoteServerError(
        "interrupted",
        f"The answer was interrupted: the server at {server} ended the stream without "
        "finishing it, most likely because another client sent it a request (a server "
        "answering one request at a time drops the one it was answering).",
    )


def _is_context_error(message: str) -> bool:
    text = message.lower()
    return "context" in text and any(w in text for w in ("length", "exceed", "window", "long"))


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        text = inner.get("message") if isinstance(inner, dict) else inner
        if text is None and isinstance(body.get("detail"), str):
            text = body["detail"]
        if text:
            return _first_line(text)[:500]
    return _first_line(getattr(exc, "message", None) or exc)[:500]


def _first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0] if lines else type(value).__name__
