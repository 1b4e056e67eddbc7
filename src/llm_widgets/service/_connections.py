"""The service's server API: `connect()` a model on an OpenAI-compatible server,
`disconnect()` back to the kernel's model, and what is connected."""

from __future__ import annotations

from .._types import ModelFacts
from ..engines.openai_compat import DEFAULT_API_KEY_ENV, DEFAULT_TIMEOUT, RemoteEngine
from ..jobs import LoadJob
from ..request.messages import check_connect_args
from ._generation import Generation


class ServerConnections(Generation):
    """Connecting the service's model runner (`self._models`) to a server and back."""

    def connect(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ModelFacts:
        """Answer from a model on an OpenAI-compatible server (llama.cpp, vLLM, Ollama, LM
        Studio...) instead of the kernel: the Chat and the generation API then talk to it.

        Checks the server first: that it answers at `base_url` (e.g. http://host:8000/v1), accepts
        the key (`api_key`, else the `api_key_env` environment variable) and lists `model` (None:
        its only or first model). Raises RemoteServerError saying what is wrong; on success the
        local model, or the previous server, is let go. `timeout`: seconds the server may stay
        silent. Needs the `remote` extra (the openai package).
        """
        check_connect_args(api_key, model, api_key_env, timeout)
        engine = RemoteEngine(base_url, api_key=api_key, api_key_env=api_key_env, timeout=timeout)
        try:
            engine.open(model.strip() if model else None)
            self.abort()
            return self._models.connect(engine)
        except BaseException:
            engine.unload()
            raise

    def disconnect(self) -> LoadJob | None:
        """Stop answering from the server (the running answer is stopped). The local model that
        answered before connect() is loaded again: its LoadJob is returned (None if there was
        none; load_model() loads one)."""
        if self._models.remote is None:
            return None
        self.abort()
        restore = self._models.disconnect()
        if restore is None:
            return None
        path, n_ctx, n_threads, options = restore
        return self.load_model(path, n_ctx=n_ctx, n_threads=n_threads, **options)

    @property
    def server(self) -> str | None:
        """The base URL of the server answering now, or None when the model is local (or none)."""
        remote = self._models.remote
        return remote.base_url if remote is not None else None

    @property
    def server_models(self) -> list[str]:
        """The models the connected server lists (empty when not connected)."""
        remote = self._models.remote
        return list(remote.models) if remote is not None else []
