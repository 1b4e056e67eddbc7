"""The xllamacpp engine (the default): llama.cpp's own server code — the one its maintainers ship
as `llama-server`, with their chat templates, reasoning and tool-call parsers — running in this
process from a prebuilt wheel.

The server listens on 127.0.0.1 only, on a random port, with a random API key made for each load
(never logged, never synced) and its web UI off. It is spoken to like any OpenAI-compatible
server (`openai_compat.RemoteEngine` on its loopback address): Stop cancels the task reading the
stream, which makes the server drop the request at once, also while it still evaluates the
prompt (xllamacpp's in-process callback runs only per token, so it cannot stop a prompt).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from .._http import httpx
from .._types import GenerationStats, ModelFacts, ToolCall
from ..errors import LLMWidgetsError, RemoteServerError
from ..jobs import Cancellation
from . import _tool_prompt
from ._history import answer_reserve, fit_history
from ._in_kernel import InKernelEngine, LoadPlan, distribution_installed, load_failure
from ._native_log import LOGGER, NativeLog, stderr_to_logging, verbosity_for
from .base import CHATML_TEMPLATE, Messages
from .openai_compat import RemoteEngine

NAME = "xllamacpp"
# tokens per prompt-evaluation step: llama.cpp's server sees a Stop between steps. Measured
# (SmolLM2, ~3,000-token prompt, 2 cores): 512 evaluates 366-369 tokens/s but frees the model
# 1.2-1.6 s after a Stop; 256: 331-350 tokens/s (-7%), 0.56-0.66 s (benchmarks/prompt_stop.py)
N_BATCH = 256
LOCAL_TIMEOUT = 3600.0  # seconds the in-kernel server may stay silent (a long prompt on a CPU)


def installed() -> bool:
    """Whether the xllamacpp package can be imported."""
    return distribution_installed("xllamacpp")


@functools.cache
def version() -> str:
    """The llama.cpp build xllamacpp carries, e.g. "llama.cpp b11549" (its version is
    year.month.build)."""
    build = importlib.metadata.version("xllamacpp").rsplit(".", 1)[-1]
    return f"llama.cpp b{build}" if build.isdigit() else f"xllamacpp {build}"


@functools.cache
def can_offload() -> bool:
    """Whether this xllamacpp build sees a GPU (a CUDA / ROCm / Vulkan / Metal wheel with one)."""
    xllamacpp = _xllamacpp()
    gpu = {"GPU", "IGPU"}
    return any(str(d.get("type")).rsplit("_", 1)[-1] in gpu for d in xllamacpp.get_device_info())


def _xllamacpp() -> Any:
    """The module, imported on first use: its 100 MB native library is not loaded at
    `import llm_widgets`."""
    import xllamacpp

    return xllamacpp


class XllamacppEngine(InKernelEngine):
    """One model in an in-process llama.cpp server. The runner serialises its use."""

    name = NAME

    def __init__(self) -> None:
        super().__init__()
        self._server: Any = None
        self._client: RemoteEngine | None = None
        self._http: Any = None  # a plain client for the server's own endpoints (/tokenize)
        self._stats: GenerationStats | None = None
        self._native = NativeLog(None)
        self.supports_tools = True  # whether the chat template renders tools (llama.cpp's /props)

    # -- the Backend interface ------------------------------------------------------------------

    @property
    def last_stats(self) -> GenerationStats | None:
        """The figures of the last generation."""
        return self._stats

    @last_stats.setter
    def last_stats(self, stats: GenerationStats | None) -> None:
        self._stats = stats

    @property
    def last_tool_calls(self) -> list[ToolCall]:
        """The function calls the last generation asked for."""
        return self._client.last_tool_calls if self._client is not None else []

    @last_tool_calls.setter
    def last_tool_calls(self, calls: list[ToolCall]) -> None:
        if self._client is not None:
            self._client.last_tool_calls = calls

    @property
    def loaded(self) -> bool:
        """Whether a model is in memory and its server answers."""
        return self._server is not None

    def unload(self) -> None:
        """Stop the server and free the model: its port closes, its memory is returned."""
        client, http, server = self._client, self._http, self._server
        self._client = self._http = self._server = None
        self._facts = None
        if client is not None:
            client.unload()
        if http is not None:
            http.close()
        del server  # the last reference: the server's threads stop, the model is freed

    def stream_completion(
        self, prompt: str, *, abort: Cancellation, **params: Any
    ) -> Iterator[str]:
        """Yield the completion of `prompt` piece by piece; `last_stats` is set at the end."""
        _, client = self._require()
        stream = client.stream_completion(prompt, abort=abort, **params)
        client.extra_body.pop("cache_prompt", None)  # the request is made: later ones reuse
        return self._relay(stream, client, lambda: self._count_text(prompt))

    # -- the engine's part of a load, a context and a chat ----------------------------------------

    def _can_offload(self) -> bool:
        return can_offload()

    def _version(self) -> str:
        return version()

    def _start(self, plan: LoadPlan) -> tuple[int, str]:
        """A fresh loopback server on the GGUF (llama.cpp's load cannot be interrupted)."""
        xllamacpp = _xllamacpp()
        self._native = NativeLog(getattr(xllamacpp.xllamacpp, "__file__", None))
        key = secrets.token_urlsafe(24)
        params = self._params(plan, key)
        lines: list[str] = []
        try:
            with stderr_to_logging(self._native, lines):
                server = xllamacpp.Server(params)
        except Exception as exc:
            raise load_failure(plan.facts, lines, _reason(lines) or exc) from None
        finally:
            self._native.errors_only()  # answering writes nothing to the notebook
        self._server = server
        try:
            self._connect(server.listening_address, key)
            caps = self._http.get("/props").raise_for_status().json().get("chat_template_caps")
        except BaseException:
            self.unload()
            raise
        self.supports_tools = bool((caps or {}).get("supports_tools", True))
        template = str(plan.meta.get("tokenizer.chat_template") or "")
        if self._client is not None:  # the template decides what an earlier turn's thinking is
            self._client.pass_reasoning = "reasoning_content" in template
        return plan.n_ctx, "chatml"

    def _afresh(self, seed: int | None) -> None:
        _, client = self._require()
        client.extra_body["cache_prompt"] = False  # the next request reuses nothing (once)
        client.create_context(seed=seed)

    def _tools_in_prompt(self, params: dict[str, Any]) -> bool:
        """When the template cannot render tools, or the round must make a call."""
        return not self.supports_tools or _tool_prompt.needs_call(params.get("tool_choice"))

    def _chat(
        self, messages: Messages, abort: Cancellation, trim_history: bool, params: dict[str, Any]
    ) -> Iterator[str]:
        facts, client = self._require()
        trimmed = 0
        if trim_history:
            budget = facts.n_ctx - answer_reserve(facts.n_ctx, params.get("max_tokens"))
            messages, trimmed = fit_history(
                messages, budget, lambda history: self._count_prompt(history, budget)
            )
        stream = client.stream_chat(messages, abort=abort, **params)
        client.extra_body.pop("cache_prompt", None)
        return self._relay(stream, client, lambda: self._count_prompt(messages, 0), trimmed)

    # -- internals ----------------------------------------------------------------------------

    def _params(self, plan: LoadPlan, key: str) -> Any:
        params = _xllamacpp().CommonParams()
        params.model.path = plan.facts.path
        params.n_ctx = plan.n_ctx
        params.n_batch = params.n_ubatch = N_BATCH
        params.n_parallel = 1  # one conversation: the runner sends one request at a time
        params.n_gpu_layers = plan.gpu_layers
        params.fit_params = False  # our own memory check decided; llama.cpp must not shrink n_ctx
        params.cache_ram_mib = 0  # no second prompt cache in RAM beside the KV cache
        params.cache_idle_slots = False  # (it needs that cache)
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # a free port, picked by the system
        params.api_keys = [key]
        params.ui = False
        params.verbosity = verbosity_for(LOGGER)
        # llama-cpp-python's defaults: half the cores to decode (one per physical core, and a
        # spinning barrier of two threads on two busy cores is ~50x slower: measured), all of them
        # for prompts
        cores = os.cpu_count() or 1
        params.cpuparams.n_threads = plan.n_threads or max(cores // 2, 1)
        params.cpuparams_batch.n_threads = plan.n_threads or cores
        if plan.seed is not None and plan.seed >= 0:
            params.sampling.seed = plan.seed
        if not plan.facts.has_chat_template and "chat_template" not in plan.options:
            params.chat_template = CHATML_TEMPLATE
        for name, value in plan.options.items():
            if name.startswith("_") or not hasattr(params, name):
                raise ValueError(f"{name!r} is not a load option of the xllamacpp engine")
            setattr(params, name, value)
        return params

    def _connect(self, address: str, key: str) -> None:
        base = address.rstrip("/")
        self._http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=LOCAL_TIMEOUT
        )
        # one retry: the loopback server closes a kept-alive connection now and then (after its
        # keep-alive count or idle time), and a request sent on it at that moment is refused
        # unanswered ("Server disconnected without sending a response"); the server is up
        client = RemoteEngine(
            f"{base}/v1",
            api_key=key,
            timeout=LOCAL_TIMEOUT,
            thread_name="llm-widgets-xllamacpp",
            retries=1,
        )
        client.extra_body = {"timings_per_token": True}  # the prompt's figures, even after a Stop
        self._client = client
        client.open(None, read_defaults=False)  # the engine has them from the GGUF

    def _require(self) -> tuple[ModelFacts, RemoteEngine]:
        if self._facts is None or self._client is None:
            raise LLMWidgetsError("No model is loaded: call load_model() first.")
        return self._facts, self._client

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self._http.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def _count_prompt(self, messages: list[Any], budget: int) -> int:
        """The tokens the chat template makes of `messages`, as the server will count them (a
        bound from their length when that surely fits: a token holds at least one byte)."""
        bound = sum(len(str(m.get("content", "")).encode()) + 16 for m in messages) + 256
        if bound <= budget:
            return bound
        return self._count_text(self._post("/apply-template", {"messages": messages})["prompt"])

    def _count_text(self, prompt: str) -> int:
        return len(self._post("/tokenize", {"content": prompt, "add_special": True})["tokens"])

    def _relay(
        self,
        stream: Iterator[str],
        client: RemoteEngine,
        needed: Callable[[], int],
        trimmed: int = 0,
    ) -> Iterator[str]:
        """The loopback stream, with the figures and errors of an in-kernel model."""
        try:
            yield from stream
        except RemoteServerError as exc:
            if exc.kind != "context_overflow":
                raise LLMWidgetsError(f"llama.cpp (xllamacpp) failed: {exc}") from None
            n_ctx = self._facts.n_ctx if self._facts is not None else 0
            raise LLMWidgetsError(
                f"The prompt needs {needed()} tokens but the context holds {n_ctx}: shorten "
                "the conversation (Clear) or load the model with a larger n_ctx."
            ) from None
        finally:
            stats = client.last_stats
            if stats is not None:
                stats.trimmed_messages = trimmed
            self._stats = stats


def _reason(lines: list[str]) -> str:
    """The last error llama.cpp logged while loading, if any."""
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    return errors[-1] if errors else ""
