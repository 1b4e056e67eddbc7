"""ServerConnection: answer from a model on an OpenAI-compatible server instead of the kernel."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import traitlets

from .._names import check_base_url
from .._types import ModelFacts
from ..engines.openai_compat import DEFAULT_API_KEY_ENV, server_name
from ..errors import LLMWidgetsError
from ..service._service import LLMKernelService
from . import _protocol
from ._base import ServiceWidget, bundled
from ._protocol import Message


class ServerConnection(ServiceWidget):
    """The server's URL, an API key field, a model picker filled from the server's /models,
    Connect / Disconnect and a status badge. Once connected, every Chat and the generation API
    of this kernel's service talk to that model.

    The key is kept in the kernel for this widget's connections: it is never a synced trait and
    never part of the notebook. Without one, the `api_key_env` environment variable is used.
    """

    _esm = bundled("server_connection.js")
    _css = bundled("server_connection.css")
    _schema = _protocol.SERVER_CONNECTION
    _editable = frozenset({"base_url", "api_key_env"})

    base_url = traitlets.Unicode(
        "http://127.0.0.1:8000/v1", help="The server's OpenAI-compatible base URL (ends in /v1)."
    ).tag(sync=True)
    api_key_env = traitlets.Unicode(
        DEFAULT_API_KEY_ENV, help="The environment variable read when no key is entered."
    ).tag(sync=True)
    status = traitlets.Unicode(
        "disconnected", help="disconnected, connecting, connected or failed."
    ).tag(sync=True)
    server = traitlets.Unicode("", help="The connected server's host[:port].").tag(sync=True)
    model = traitlets.Unicode("", help="The model answering, when connected.").tag(sync=True)
    models: traitlets.List[str] = traitlets.List(
        traitlets.Unicode(), help="The models the server lists."
    ).tag(sync=True)
    has_key = traitlets.Bool(
        False, help="Whether a key was entered (kept in the kernel; the key itself never syncs)."
    ).tag(sync=True)

    def __init__(self, *, service: LLMKernelService | None = None, **kwargs: Any) -> None:
        super().__init__(service=service, **kwargs)
        self.__api_key: str | None = None
        self._attempt = 0  # the latest connect; an older one finishing changes nothing
        self._subscribe(self.service.on_model_loaded(lambda _: self._follow_service()))
        self._subscribe(self.service.on_model_unloaded(self._follow_service))
        self._follow_service()

    def __repr__(self) -> str:
        """What a host without a live view shows."""
        where = f"{self.model} on {self.server}" if self.server else self.base_url
        return f"ServerConnection({self.status} · {where})"

    # -- Python API ---------------------------------------------------------------------------

    def connect(
        self, *, api_key: str | None = None, model: str | None = None
    ) -> concurrent.futures.Future[ModelFacts]:
        """Connect to `base_url` in the background (`.result()` waits): `api_key` is kept
        for this widget's next connections; `model` None picks the server's only or first."""
        base_url = check_base_url(self.base_url)
        if api_key is not None:
            if not isinstance(api_key, str):
                raise TypeError("api_key must be a str")
            self.__api_key = api_key or None
            self.has_key = bool(api_key)
        return self._in_event_order(lambda: self._start(base_url, model or None))

    def disconnect(self) -> None:
        """Stop answering from the server (a local model it replaced is loaded again)."""
        self._attempt += 1
        self.service.disconnect()
        self._in_event_order(self._follow_service)

    def forget_key(self) -> None:
        """Drop the key entered here (the environment variable is used again)."""
        self.__api_key = None
        self.has_key = False

    # -- internals ----------------------------------------------------------------------------

    def _start(self, base_url: str, model: str | None) -> concurrent.futures.Future[ModelFacts]:
        self._attempt += 1
        attempt = self._attempt
        with self.hold_sync():
            self.status, self.error = "connecting", ""
            self.server = server_name(base_url)
        key, env, service = self.__api_key, self.api_key_env, self.service
        return service.call_in_background(
            "connect",
            lambda: service.connect(base_url, api_key=key, model=model, api_key_env=env),
            lambda outcome: self._settled(attempt, outcome),
        ).future

    def _settled(self, attempt: int, outcome: concurrent.futures.Future[ModelFacts]) -> None:
        """A connect ended: the latest one is shown (an older one changes nothing)."""
        if attempt != self._attempt:
            return
        self._follow_service()
        exc = outcome.exception()
        if exc is None:
            return
        text = str(exc) if isinstance(exc, (LLMWidgetsError, ValueError)) else repr(exc)
        with self.hold_sync():
            self.status, self.error = "failed", text
        self.notify("error", text)

    def _follow_service(self) -> None:
        """Show what the service does now: connected to which model, or not."""
        facts = self.service.model
        with self.hold_sync():
            if facts is not None and facts.backend == "remote":
                self.status, self.error = "connected", ""
                self.server, self.model = facts.server, facts.name
                self.models = self.service.server_models
            else:  # a failure or a connect under way stays shown
                if self.status == "connected":
                    self.status = "disconnected"
                self.model = ""

    # -- front-end messages -------------------------------------------------------------------

    def _on_connect(self, message: Message) -> None:
        self.base_url = message["base_url"]
        self.connect(api_key=message.get("api_key"), model=message.get("model"))

    def _on_disconnect(self, message: Message) -> None:
        self.disconnect()

    def _on_forget_key(self, message: Message) -> None:
        self.forget_key()
