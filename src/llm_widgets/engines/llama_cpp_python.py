"""The llama-cpp-python engine (the `llama-cpp-python` extra): loading a GGUF, streaming
completions, aborting.

A thin layer: sampling, chat templates and prompt-prefix reuse are llama-cpp-python's own.
"""

from __future__ import annotations

import collections
import ctypes
import functools
import importlib.metadata
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .._types import GenerationStats, Thinking, ToolCall
from ..errors import LLMWidgetsError, _PromptTooLong
from ..jobs import Cancellation
from ._chunks import DeltaReader
from ._history import answer_reserve, drop_oldest_turn
from ._in_kernel import InKernelEngine, LoadPlan, distribution_installed, load_failure
from ._thinking import opens_thinking, template_kwargs, without_reasoning
from .base import Messages

NAME = "llama-cpp-python"


def installed() -> bool:
    """Whether the llama-cpp-python package is installed."""
    return distribution_installed("llama-cpp-python")


def version() -> str:
    """The binding's version, e.g. "0.3.36"."""
    return importlib.metadata.version("llama-cpp-python")


def can_offload() -> bool:
    """Whether this build of llama-cpp-python can put layers on a GPU."""
    return bool(_llama_cpp().llama_supports_gpu_offload())


_LOOSE_CHAR = r'char ::= [^"\\] |'
_JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'


@functools.lru_cache(maxsize=64)
def json_schema_grammar(schema_json: str) -> str:
    """llama-cpp-python's GBNF grammar for answers that match a JSON schema (JSON text)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar = str(json_schema_to_gbnf(schema_json))
    # this converter lets a JSON string hold raw control characters (a newline), which is not
    # JSON: keep them out, as llama.cpp's own converter does
    return grammar.replace(_LOOSE_CHAR, _JSON_CHAR)


@functools.lru_cache(maxsize=64)
def _grammar(text: str) -> Any:
    return _llama_cpp().LlamaGrammar.from_string(text, verbose=False)


def _llama_cpp() -> Any:
    """The llama_cpp module, imported on first use: loading its shared library takes a moment
    that a notebook which only downloads should not pay at `import llm_widgets`."""
    import llama_cpp

    return llama_cpp


# ggml_log_level in ggml.h: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues a line)
_LOG_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_LOG_CONT = 5
_llama_log_callback: Any = None
_recent_lines: collections.deque[str] = collections.deque(maxlen=64)  # to explain a failed load


def _route_llama_logs() -> None:
    """Send llama.cpp's log lines to the `llm_widgets.llama_cpp` logger instead of printing them
    to stderr from a worker thread (in a kernel they would land in some unrelated cell)."""
    global _llama_log_callback
    if _llama_log_callback is not None:
        return
    llama_cpp = _llama_cpp()
    log = logging.getLogger("llm_widgets.llama_cpp")
    lock = threading.Lock()
    line: list[Any] = [logging.DEBUG, ""]  # the level and text of the line being assembled

    def forward(level: int, text: bytes, _: Any) -> None:
        # llama.cpp writes a line in pieces (CONT continues it): log whole lines at their level
        with lock:
            if level != _LOG_CONT:
                line[0] = _LOG_LEVELS.get(level, logging.DEBUG)
            line[1] += text.decode("utf-8", "replace")
            if not line[1].endswith("\n"):
                return
            message, line[1] = line[1].rstrip(), ""
        if message:
            _recent_lines.append(message)
            log.log(line[0], "%s", message)

    _llama_log_callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(_llama_log_callback, ctypes.c_void_p(0))


class LlamaCppPythonEngine(InKernelEngine):
    """One llama.cpp model in memory, through llama-cpp-python. Not thread-safe: the service
    serialises its use."""

    name = NAME

    def __init__(self) -> None:
        super().__init__()
        self._llm: Any = None
        self.last_stats: GenerationStats | None = None
        self.last_tool_calls: list[ToolCall] = []
        self._abort_cb: Any = None
        self._prompt_budget: int | None = None  # longest prompt the next evaluation may take
        self._evals: list[tuple[int, int]] = []  # (n_past, n_tokens) of each eval call
        self._template: _TemplateCall | None = None  # the GGUF's chat template, when it is used

    @property
    def loaded(self) -> bool:
        """Whether a model is in memory."""
        return self._llm is not None

    def unload(self) -> None:
        """Free the model."""
        llm, self._llm, self._facts = self._llm, None, None
        if llm is not None:
            self._abort_cb = None
            llm.close()

    def stream_completion(
        self, prompt: str, *, abort: Cancellation, **params: Any
    ) -> Iterator[str]:
        """Yield the completion of `prompt` piece by piece; `last_stats` is set at the end."""
        llm = self._require()
        params.pop("think", None)  # a raw completion has no template to switch thinking in
        raw = bool(params.pop("structured", False))
        sampling = _sampling(params)
        sampling["stopping_criteria"] = _stop_on(abort)  # checked after every token, text or not
        return self._stream(
            lambda _stats: llm.create_completion(prompt, stream=True, **sampling),
            abort,
            reader=lambda: DeltaReader(chat=False, raw=raw),
        )

    # -- the engine's part of a load, a context and a chat ----------------------------------------

    def _can_offload(self) -> bool:
        return can_offload()

    def _version(self) -> str:
        return version()

    def _start(self, plan: LoadPlan) -> tuple[int, str]:
        options: dict[str, Any] = {"n_ctx": plan.n_ctx, "verbose": False}
        if plan.n_threads is not None:
            options["n_threads"] = plan.n_threads
        if plan.seed is not None:
            options["seed"] = plan.seed
        if not plan.facts.has_chat_template and "chat_format" not in plan.options:
            options["chat_format"] = "chatml"  # a clear fallback; llama-cpp-python's is llama-2
        options.update(plan.options, n_gpu_layers=plan.gpu_layers)
        _route_llama_logs()
        _recent_lines.clear()
        try:
            llm = _llama_cpp().Llama(model_path=plan.facts.path, **options)
        except Exception as exc:
            raise load_failure(plan.facts, list(_recent_lines), exc) from None
        self._count_evaluations(llm)
        self._template = _TemplateCall.install(llm)
        self._llm = llm
        return int(llm.n_ctx()), str(llm.chat_format)

    def _afresh(self, seed: int | None) -> None:
        llm = self._require()
        llm.reset()
        if seed is not None:
            llm.set_seed(seed)

    def _tools_in_prompt(self, params: dict[str, Any]) -> bool:
        """A "required" choice among several tools: llama-cpp-python forces only a named tool."""
        return len(params["tools"]) > 1 and params.get("tool_choice") == "required"

    def _chat(
        self, messages: Messages, abort: Cancellation, trim_history: bool, params: dict[str, Any]
    ) -> Iterator[str]:
        llm = self._require()
        template = self._template
        think = params.pop("think", None)
        if template is not None:
            template.kwargs, template.abort = template_kwargs(think), abort
        raw = bool(params.pop("structured", False))
        keep = template is not None and template.reads_reasoning
        messages = without_reasoning(list(messages), keep=keep)
        sampling = _sampling(params)
        tools, choice = sampling.pop("tools", None), sampling.pop("tool_choice", None)
        sampling.update(_tool_options(tools, choice, answering=messages[-1]["role"] == "tool"))
        n_ctx = int(llm.n_ctx())
        reserve = answer_reserve(n_ctx, params.get("max_tokens"))

        def start(stats: GenerationStats) -> Iterator[Any]:
            history = list(messages)
            budget = n_ctx - reserve if trim_history else None
            while True:
                self._evals, self._prompt_budget = [], budget
                stream = llm.create_chat_completion(history, stream=True, **sampling)
                try:
                    head = next(stream)
                except StopIteration:
                    return iter(())
                except (ValueError, _PromptTooLong) as exc:
                    overflow = isinstance(exc, _PromptTooLong) or _context_overflow(exc)
                    if not (trim_history and overflow):
                        raise
                    dropped = drop_oldest_turn(history)
                    if dropped:
                        stats.trimmed_messages += dropped
                    elif isinstance(exc, _PromptTooLong):
                        budget = None  # nothing left to leave out: answer in what room is left
                    else:
                        raise
                    continue
                finally:
                    self._prompt_budget = None
                return itertools.chain([head], stream)

        def reader() -> DeltaReader:
            opened = template is not None and template.opened
            return DeltaReader(chat=True, thinking=opened, raw=raw)

        return self._stream(start, abort, reader=reader)

    # -- internals ----------------------------------------------------------------------------

    def _require(self) -> Any:
        if self._llm is None:
            raise LLMWidgetsError("No model is loaded: call load_model() first.")
        return self._llm

    def _count_evaluations(self, llm: Any) -> None:
        """Record what each generation evaluates: the prompt's length and the reused prefix."""
        original = llm.eval
        self._evals = []

        def counting_eval(tokens: Any) -> None:
            n_past = int(llm.n_tokens)
            budget = self._prompt_budget
            if not self._evals and budget is not None and n_past + len(tokens) > budget:
                raise _PromptTooLong(n_past + len(tokens))  # before any work is done
            self._evals.append((n_past, len(tokens)))
            original(tokens)

        llm.eval = counting_eval

    def _watch_abort(self, abort: Cancellation | None) -> None:
        """While the prompt is evaluated, llama.cpp polls `abort` between graph nodes, so a long
        prompt can be interrupted; the callback is removed once tokens flow (it takes the GIL)."""
        llama_cpp = _llama_cpp()
        if abort is None:
            if self._abort_cb is not None and self._llm is not None:
                llama_cpp.llama_set_abort_callback(
                    self._llm._ctx.ctx, llama_cpp.ggml_abort_callback(), ctypes.c_void_p()
                )
            self._abort_cb = None
            return
        self._abort_cb = llama_cpp.ggml_abort_callback(lambda _: abort.is_set())
        llama_cpp.llama_set_abort_callback(self._llm._ctx.ctx, self._abort_cb, ctypes.c_void_p())

    def _stream(
        self,
        start: Callable[[GenerationStats], Iterator[Any]],
        abort: Cancellation,
        reader: Callable[[], DeltaReader],
    ) -> Iterator[str]:
        stats = GenerationStats()
        self.last_stats = stats
        began = time.perf_counter()
        first: float | None = None
        pieces = 0
        self._evals = []
        parse: DeltaReader | None = None
        self.last_tool_calls = []
        self._watch_abort(abort)
        try:
            if abort.is_set():
                stats.stop_reason = "aborted"
                return
            stream: Any = None
            try:
                stream = start(stats)
                parse = reader()  # after start(): the template has rendered the prompt
                for chunk in stream:
                    choice = chunk["choices"][0]
                    if first is None:
                        first = time.perf_counter()
                        self._watch_abort(None)  # per-token checks below are enough now
                    got = parse.feed(choice)
                    if parse.finish_reason:
                        stats.stop_reason = parse.finish_reason
                    if _has_text(choice):
                        pieces += 1
                        stats.reasoning_tokens += bool(got) and all(
                            isinstance(p, Thinking) for p in got
                        )
                    yield from got
                    if abort.is_set():
                        stats.stop_reason = "aborted"
                        break
                yield from parse.finish()
                self.last_tool_calls = [] if abort.is_set() else parse.tool_calls
            except ValueError as exc:
                stats.stop_reason = "error"
                match = _context_overflow(exc)
                if match is None:
                    raise
                raise LLMWidgetsError(
                    f"The prompt needs {match[0]} tokens but the context holds {match[1]}: "
                    "shorten the conversation (Clear) or load the model with a larger n_ctx."
                ) from None
            except RuntimeError as exc:
                if abort.is_set() and "llama_decode" in str(exc):
                    stats.stop_reason = (
                        "aborted"  # llama.cpp stopped mid-prompt; state is consistent
                    )
                else:
                    stats.stop_reason = "error"
                    raise
            finally:
                close = getattr(stream, "close", None)  # None too when start() failed
                if close is not None:
                    close()
        finally:
            self._watch_abort(None)
            end = time.perf_counter()
            stats.total_time = end - began
            stats.ttft = (first - began) if first is not None else 0.0
            if self._evals:
                n_past, n_prompt = self._evals[0]
                stats.cached_prompt_tokens = n_past
                stats.prompt_tokens = n_past + n_prompt
            if first is not None:
                generated = len(self._evals) - 1 + (stats.stop_reason != "aborted")
                stats.completion_tokens = max(pieces, generated)
                decode_time = end - first
                if stats.completion_tokens > 1 and decode_time > 0:
                    stats.tokens_per_second = (stats.completion_tokens - 1) / decode_time


def _has_text(choice: dict[str, Any]) -> bool:
    """Whether a llama-cpp-python chunk carries a token's text (the last carries none)."""
    return bool((choice.get("delta") or {}).get("content") or choice.get("text"))


class _TemplateCall:
    """The GGUF's chat template as llama-cpp-python renders it, with our variables added
    (`enable_thinking`, `reasoning_effort`), noting whether the prompt left `<think>` open."""

    def __init__(self, formatter: Any) -> None:
        self.formatter = formatter
        self.kwargs: dict[str, Any] = {}
        self.abort: Cancellation | None = None  # checked after every token, text or not
        self.opened = False
        self.reads_reasoning = "reasoning_content" in str(getattr(formatter, "template", ""))

    @classmethod
    def install(cls, llm: Any) -> _TemplateCall | None:
        """Wrap `llm`'s GGUF template handler; None when another chat format is used."""
        if llm.chat_format != "chat_template.default" or llm.chat_handler is not None:
            return None
        chat_format = _llama_cpp().llama_chat_format
        template = str(llm.metadata.get("tokenizer.chat_template") or "")
        eos = int(llm.token_eos())
        formatter = chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(eos) if eos >= 0 else "",
            bos_token=llm._model.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else "",
            stop_token_ids=[eos],
        )
        call = cls(formatter)
        handler = chat_format.chat_formatter_to_chat_completion_handler(call)
        llm._chat_handlers["chat_template.default"] = handler
        return call

    def __call__(self, **kwargs: Any) -> Any:
        result = self.formatter(**kwargs, **self.kwargs)
        self.opened = opens_thinking(result.prompt)
        if self.abort is not None:
            result.stopping_criteria = _stop_on(self.abort, result.stopping_criteria)
        return result


def _stop_on(abort: Cancellation, previous: Any = None) -> Any:
    """llama-cpp-python stopping criteria that end a generation once `abort` is set. Stop must
    not wait for text: a model writing bytes that do not decode yet yields no chunk for many
    tokens."""

    def stop(ids: Any, logits: Any) -> bool:
        return abort.is_set() or bool(previous is not None and previous(ids, logits))

    return _llama_cpp().StoppingCriteriaList([stop])


def _context_overflow(exc: ValueError) -> tuple[int, int] | None:
    """(tokens needed, context size) when llama-cpp-python refused a prompt for its length."""
    match = re.search(r"Requested tokens \((\d+)\) exceed context window of (\d+)", str(exc))
    return (int(match.group(1)), int(match.group(2))) if match else None


def _sampling(params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    if "temperature" in out:
        out["temperature"] = float(out["temperature"])
    schema = out.pop("json_schema", None)
    if schema is not None:
        out["grammar"] = json_schema_grammar(json.dumps(schema))
    if out.get("grammar") is not None:
        out["grammar"] = _grammar(out["grammar"])  # GBNF text -> a compiled grammar
    return out


def _tool_options(
    tools: list[dict[str, Any]] | None, choice: str | None, *, answering: bool
) -> dict[str, Any]:
    """What create_chat_completion takes for tools. llama-cpp-python parses no call out of a
    free answer (abetlen/llama-cpp-python#1338); it constrains the arguments of a named tool
    with a grammar: so a named tool_choice, or "required" with one tool, work, and after the
    results (`answering`) "auto" answers from them; other choices are refused, naming the
    engines that can. ("required" among several tools is held to our own schema instead.)"""
    if not tools or choice == "none" or (answering and choice == "auto"):
        return {}
    names = [t["function"]["name"] for t in tools]
    name = (
        choice
        if choice in names
        else names[0]
        if choice == "required" and len(names) == 1
        else None
    )
    if name is None:
        raise LLMWidgetsError(
            f"The llama-cpp-python engine cannot let the model choose among tools "
            f"(tool_choice={choice!r}): it parses no tool call out of a free answer "
            "(abetlen/llama-cpp-python#1338). Name the tool (tool_choice="
            f"{names[0]!r}), or use an engine that parses calls: the default xllamacpp engine, "
            "or a server through connect() (llama.cpp's llama-server --jinja, vLLM, Ollama)."
        )
    return {"tools": tools, "tool_choice": {"type": "function", "function": {"name": name}}}
