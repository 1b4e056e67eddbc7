"""A model behind an OpenAI-compatible HTTP API (llama.cpp's server, llama-cpp-python's, vLLM,
Ollama, LM Studio), spoken with the official `openai` client (the `remote` extra).

The client's async flavour runs on one event loop thread per connection: Stop cancels the task
that reads the stream, which closes the stream in that task at once, even while it waits for a
server still evaluating the prompt (a blocked synchronous reader cannot be woken).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any
from urllib.parse import urlsplit

from .._http import httpx
from .._names import check_base_url
from .._secrets import redact, remember_secret
from .._types import GenerationStats, ModelFacts, Thinking, ToolCall
from ..errors import LLMWidgetsError, RemoteServerError
from ..jobs import Cancellation
from ._chunks import DeltaReader
from ._server_errors import Server, classify, ended_early
from ._thinking import template_kwargs, without_reasoning
from .base import SAMPLING_DEFAULTS
from .gguf import SAMPLING_KEYS, sampling_values

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_TIMEOUT = 120.0  # seconds a server may stay silent (a long prompt on a CPU server)
CONNECT_TIMEOUT = 10.0
PROPS_TIMEOUT = 5.0  # seconds for llama.cpp's /props (other servers answer 404 at once)
# what a request can set, named as llama.cpp's server names it
SERVER_SAMPLING = {name: name for name in SAMPLING_KEYS.values()}
_NO_KEY = "no-key"  # what the client sends when the user has no key (it requires one)
_END = object()  # the stream's end, in the queue between the loop thread and the reader
# the standard OpenAI fields every request carries; llama.cpp's samplers go in the extra body
_STANDARD = ("temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty")
_EXTRA = ("top_k", "min_p", "repeat_penalty", "grammar")  # grammar: llama.cpp's servers


def _openai() -> Any:
    """The `openai` package, or a clear error naming the extra that brings it."""
    try:
        import openai
    except ImportError:
        raise RemoteServerError(
            "missing_extra",
            "Talking to a server needs the openai package: pip install 'llm-widgets[remote]'.",
        ) from None
    return openai


def server_name(base_url: str) -> str:
    """How the UI names a server: its host[:port]."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port}" if parts.port else host


class RemoteEngine:
    """One model on an OpenAI-compatible server. `open()` checks the server and the model; the
    runner serialises generations, as with the local engine."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        timeout: float = DEFAULT_TIMEOUT,
        thread_name: str = "llm-widgets-remote",
        retries: int = 0,
    ) -> None:
        self._openai = _openai()
        self._retries = retries  # 0 for a server elsewhere: a dead one must not look slow
        self.base_url = check_base_url(base_url)
        self.server = server_name(self.base_url)
        self.__api_key = api_key if api_key else os.environ.get(api_key_env) or None
        self._key_source = "api_key" if api_key else api_key_env
        remember_secret(self.__api_key)
        self._timeout = float(timeout)
        self._where = Server(
            self.base_url, self.server, self._timeout, self._key_source, bool(self.__api_key)
        )
        self._facts: ModelFacts | None = None
        self._seed: int | None = None
        self.models: list[str] = []  # what the server lists at /v1/models
        # True where the server's chat template reads an assistant's `reasoning_content` (an
        # engine that runs the server and knows its template sets it)
        self.pass_reasoning = False
        self.extra_body: dict[str, Any] = {}  # fields this server understands, on every request
        self._stats = threading.local()  # streams may run at once (a batch): stats per thread
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=thread_name, daemon=True
        )
        self._thread.start()
        self._client = self._new_client()

    # -- the Backend interface ------------------------------------------------------------------

    @property
    def last_stats(self) -> GenerationStats | None:
        """The figures of the last generation this thread ran."""
        return getattr(self._stats, "value", None)

    @last_stats.setter
    def last_stats(self, stats: GenerationStats | None) -> None:
        self._stats.value = stats

    @property
    def last_tool_calls(self) -> list[ToolCall]:
        """The function calls the last generation this thread ran asked for."""
        return list(getattr(self._stats, "tool_calls", ()))

    @last_tool_calls.setter
    def last_tool_calls(self, calls: list[ToolCall]) -> None:
        self._stats.tool_calls = calls

    @property
    def loaded(self) -> bool:
        """Whether the server was checked and the connection is open."""
        return self._facts is not None and not self._closed

    @property
    def facts(self) -> ModelFacts | None:
        """The model's name, the server and the context the server reports (0: not reported)."""
        return self._facts

    def open(self, model: str | None, *, read_defaults: bool = True) -> ModelFacts:
        """Check that the server answers, accepts the key and lists `model` (None: its only or
        first model); raise RemoteServerError saying what is wrong. `read_defaults`: ask a
        llama.cpp server for its sampling defaults."""
        started = time.perf_counter()
        try:
            page = self._run(self._list_models())
        except Exception as exc:
            raise self._explain(exc, listing=True) from None
        entries = {str(e.get("id")): e for e in page if isinstance(e, dict) and e.get("id")}
        self.models = list(entries)
        if not entries:
            raise RemoteServerError(
                "unknown_model", f"The server at {self.server} lists no model at /models."
            )
        name = self._pick(model, entries)
        context = _context_length(entries[name])
        self._facts = ModelFacts(
            path="",
            size=0,
            architecture="",
            name=name,
            context_length=context,
            n_ctx=context,
            has_chat_template=True,
            chat_format="the server's chat template",
            load_seconds=round(time.perf_counter() - started, 4),
            backend="remote",
            server=self.server,
            sampling_defaults=self._sampling_defaults(name) if read_defaults else {},
        )
        return self._facts

    def _sampling_defaults(self, model: str) -> dict[str, float]:
        """What llama.cpp's server samples with when a request sets nothing (its `/props`: the
        GGUF's own settings, else the server's); empty from servers that do not say."""
        root = self.base_url.removesuffix("/v1")
        key = self.__api_key
        try:
            reply = httpx.get(
                f"{root}/props",
                params={"model": model},
                headers={"Authorization": f"Bearer {key}"} if key else {},
                timeout=min(PROPS_TIMEOUT, self._timeout),
            )
            settings = reply.json().get("default_generation_settings") if reply.is_success else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return {}
        if not isinstance(settings, dict):
            return {}
        params = settings.get("params", settings)  # (older servers: the settings themselves)
        return sampling_values(params, SERVER_SAMPLING) if isinstance(params, dict) else {}

    def stream_completion(
        self, prompt: str, *, abort: Cancellation, **params: Any
    ) -> Iterator[str]:
        """Yield the server's completion of `prompt`; `last_stats` is set at the end."""
        raw = bool(params.pop("structured", False))
        body = {"prompt": prompt, **self._request("completion", params)}
        reader = DeltaReader(chat=False, raw=raw)
        return self._stream(lambda client: client.completions.create(**body), abort, reader)

    def stream_chat(
        self,
        messages: list[dict[str, Any]],
        *,
        abort: Cancellation,
        trim_history: bool = False,
        **params: Any,
    ) -> Iterator[str]:
        """Yield the server's answer to `messages` (its chat template applies). The server keeps
        the whole conversation: `trim_history` cannot count its tokens, so a conversation that
        outgrows the context is an error that says what to do."""
        # an earlier turn's thinking stays out, unless the server's template is known to read it
        sent = without_reasoning(list(messages), keep=self.pass_reasoning)
        raw = bool(params.pop("structured", False))
        body = {"messages": sent, **self._request("chat", params)}
        reader = DeltaReader(chat=True, raw=raw)
        return self._stream(lambda client: client.chat.completions.create(**body), abort, reader)

    def create_context(self, *, n_ctx: int | None = None, seed: int | None = None) -> ModelFacts:
        """Use `seed` from now on; the context size is the server's own setting."""
        facts = self._require()
        if n_ctx is not None and n_ctx != facts.n_ctx:
            raise LLMWidgetsError(
                f"The context size of {facts.name} is set where the server starts "
                f"({self.server}), not from here."
            )
        self._seed = seed
        return facts

    def unload(self) -> None:
        """Close the connection and stop the loop thread."""
        if self._closed:
            return
        self._closed = True

        async def close_all() -> None:
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            await self._client.close()
            await asyncio.get_running_loop().shutdown_default_executor()  # its resolver threads

        try:
            asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(5)
        except Exception:  # closing is best effort: the loop stops below either way
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    # -- internals ----------------------------------------------------------------------------

    def _new_client(self) -> Any:
        timeout = self._openai.Timeout(self._timeout, connect=min(CONNECT_TIMEOUT, self._timeout))
        return self._openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.__api_key or _NO_KEY,
            max_retries=self._retries,
            timeout=timeout,
        )

    def _renew_client(self) -> None:
        """A fresh connection pool after a stream that ended badly: some servers leave the
        connection in a state where the next request on it fails."""
        old, self._client = self._client, self._new_client()
        if not self._closed:
            asyncio.run_coroutine_threadsafe(old.close(), self._loop)

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _list_models(self) -> list[dict[str, Any]]:
        page = await self._client.models.list()
        return [m.model_dump() for m in page.data]

    def _pick(self, model: str | None, entries: dict[str, dict[str, Any]]) -> str:
        if model is None:
            return next(iter(entries))
        for name in (model, f"{model}:latest"):  # Ollama lists "name:tag"
            if name in entries:
                return name
        listed = ", ".join(list(entries)[:20])
        raise RemoteServerError(
            "unknown_model",
            f"The server at {self.server} has no model {model!r}; it lists: {listed}.",
        )

    def _require(self) -> ModelFacts:
        if self._facts is None or self._closed:
            raise LLMWidgetsError("Not connected to a server: call connect() first.")
        return self._facts

    def _request(self, mode: str, params: dict[str, Any]) -> dict[str, Any]:
        """Every sampling parameter, explicitly: an unset one means what it means in the kernel
        (servers have their own defaults, e.g. llama-cpp-python's repeat_penalty 1.1)."""
        facts = self._require()
        values = {**SAMPLING_DEFAULTS[mode], **params}
        body: dict[str, Any] = {
            "model": facts.name,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        body.update({k: values[k] for k in _STANDARD if values.get(k) is not None})
        body["extra_body"] = {k: values[k] for k in _EXTRA if values.get(k) is not None}
        body["extra_body"].update(self.extra_body)
        schema = params.get("json_schema")
        if schema is not None and mode == "chat":
            # OpenAI's JSON mode with a schema: llama.cpp's and llama-cpp-python's servers
            body["response_format"] = {"type": "json_object", "schema": schema}
        elif schema is not None:
            body["extra_body"]["json_schema"] = schema  # llama.cpp's servers, for completions
        think = params.get("think")
        if think is not None and mode == "chat":  # llama.cpp's server and vLLM read both
            switch = template_kwargs(think)
            body["extra_body"]["chat_template_kwargs"] = {
                "enable_thinking": switch["enable_thinking"]
            }
            if "reasoning_effort" in switch:
                body["reasoning_effort"] = switch["reasoning_effort"]
        seed = params.get("seed", self._seed)
        if seed is not None and seed >= 0:
            body["seed"] = seed
        if params.get("stop"):
            body["stop"] = params["stop"]
        if params.get("tools"):
            body["tools"] = params["tools"]
            body["tool_choice"] = wire_tool_choice(params.get("tool_choice") or "auto")
        return body

    def _stream(
        self, create: Callable[[Any], Any], abort: Cancellation, reader: DeltaReader
    ) -> Iterator[str]:
        stats = GenerationStats()
        self.last_stats = stats
        client = self._client
        chunks: queue.SimpleQueue[Any] = queue.SimpleQueue()

        async def pump() -> None:
            stream = await create(client)
            async with stream:
                async for chunk in stream:
                    chunks.put(chunk)

        began = time.perf_counter()
        first: float | None = None
        pieces, thought, usage, timings = 0, 0, None, None
        self.last_tool_calls = []
        future: concurrent.futures.Future[None] | None = None
        remove_hook: Callable[[], None] = lambda: None  # noqa: E731
        try:
            if abort.is_set():
                stats.stop_reason = "aborted"
                return
            future = asyncio.run_coroutine_threadsafe(pump(), self._loop)
            future.add_done_callback(lambda _: chunks.put(_END))
            remove_hook = abort.add_hook(future.cancel)  # cancels the reading task, in its loop
            while True:
                chunk = chunks.get()
                if chunk is _END or abort.is_set():
                    break
                if getattr(chunk, "usage", None) is not None:
                    usage = chunk.usage
                timings = getattr(chunk, "timings", None) or timings  # llama.cpp's servers
                if not chunk.choices:
                    continue
                got = reader.feed(chunk.choices[0])
                if got:
                    first = first if first is not None else time.perf_counter()
                    pieces += 1
                    thought += all(isinstance(p, Thinking) for p in got)
                yield from got
            if abort.is_set():
                stats.stop_reason = "aborted"
                return
            yield from reader.finish()
            self.last_tool_calls = reader.tool_calls
            finish = reader.finish_reason
            failure = None if future.cancelled() else future.exception()
            if failure is not None or finish is None:
                stats.stop_reason = "error"
                self._renew_client()
                if failure is not None:
                    raise self._explain(failure) from None
                raise ended_early(self.server, pieces)
            stats.stop_reason = finish
        finally:
            remove_hook()
            if future is not None and not future.done():
                future.cancel()  # Stop, or the reader let go: the task closes the stream
                self._renew_client()
            end = time.perf_counter()
            stats.total_time = end - began
            stats.ttft = (first - began) if first is not None else 0.0
            stats.completion_tokens, stats.reasoning_tokens = pieces, thought
            if usage is not None:
                stats.prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
                stats.cached_prompt_tokens = _cached_tokens(usage, timings)
                details = getattr(usage, "completion_tokens_details", None)
                reported = getattr(details, "reasoning_tokens", None)
                if isinstance(reported, int) and reported > 0:
                    stats.reasoning_tokens = reported
            elif isinstance(timings, dict):  # llama.cpp's per-token timings: also after a Stop
                stats.cached_prompt_tokens = int(timings.get("cache_n") or 0)
                stats.prompt_tokens = stats.cached_prompt_tokens + int(timings.get("prompt_n") or 0)
                if stats.stop_reason != "aborted":
                    stats.completion_tokens = int(getattr(usage, "completion_tokens", 0) or pieces)
            if first is not None and stats.completion_tokens > 1 and end > first:
                stats.tokens_per_second = (stats.completion_tokens - 1) / (end - first)

    def redact(self, text: str) -> str:
        """`text` without this connection's API key (nor anything shaped like an HF token)."""
        return redact(text, self.__api_key)

    def _explain(self, exc: BaseException, *, listing: bool = False) -> RemoteServerError:
        """The error a user can act on, for whatever the client raised (never the key)."""
        error = classify(exc, self._openai, self._where, listing=listing)
        text = self.redact(str(error))
        return error if text == str(error) else RemoteServerError(error.kind, text)


def wire_tool_choice(choice: str) -> str | dict[str, Any]:
    """A tool_choice as the OpenAI API takes it: "auto" / "required" / "none", or the named
    function's object."""
    if choice in ("auto", "required", "none"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _cached_tokens(usage: Any, timings: Any) -> int:
    """Prompt tokens the server reused from its cache: OpenAI's `cached_tokens`, else
    llama.cpp's `timings.cache_n`."""
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    if cached is None and isinstance(timings, dict):
        cached = timings.get("cache_n")
    return int(cached or 0)


def _context_length(entry: dict[str, Any]) -> int:
    """The context size a /models entry reports (vLLM, LM Studio, llama.cpp's server), or 0."""
    meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
    for value in (
        entry.get("max_model_len"),
        entry.get("context_length"),
        entry.get("max_context_length"),
        meta.get("n_ctx") if meta else None,
        meta.get("n_ctx_train") if meta else None,
    ):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0
