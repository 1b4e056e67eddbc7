"""Backend-neutral values: what a model is (`ModelFacts`), how a generation went
(`GenerationStats`), and the typed pieces a backend's stream yields (`Thinking`, `ToolCall`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ModelFacts:
    """What on_model_loaded reports about a model."""

    path: str
    size: int
    architecture: str
    name: str
    context_length: int  # what the model was trained for
    n_ctx: int = 0  # the context created (0 before loading)
    has_chat_template: bool = False
    chat_format: str = ""
    quantization: str | None = None
    n_layer: int = 0
    load_seconds: float = 0.0
    gpu_layers: int = 0  # layers offloaded to a GPU; 0: the model runs on the CPU
    gpu_note: str = ""  # a GPU asked for (n_gpu_layers) that this build cannot use, in words
    backend: str = "local"  # "local": an engine in this kernel; "remote": a server
    server: str = ""  # the answering server's host[:port] (remote models only)
    engine: str = ""  # the engine that runs it: "xllamacpp", "llama-cpp-python", "openai"
    engine_version: str = ""  # e.g. "llama.cpp b11549", "0.3.36"
    can_think: bool = False  # the chat template has thinking (`think=` switches it)
    embedding: bool = False  # an embedding model: it makes vectors, not text (no chat)
    sampling_defaults: dict[str, float] = field(default_factory=dict, compare=False)
    # the model's own sampling settings (GGUF `general.sampling.*`, or what a server reports):
    # used where a request sets nothing


@dataclass
class GenerationStats:
    """Figures of one generation."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft: float = 0.0  # seconds to the first token
    tokens_per_second: float = 0.0  # completion tokens / time after the first token
    total_time: float = 0.0
    stop_reason: str = "stop"  # stop, length, aborted, error
    cached_prompt_tokens: int = 0  # prompt tokens reused from the previous turn's KV cache
    trimmed_messages: int = 0  # oldest chat messages left out so the prompt fits the context
    reasoning_seconds: float = 0.0  # how long the model thought before its answer began
    reasoning_tokens: int = 0  # tokens of thinking, where known (0: none, or not reported)

    @property
    def time_to_first_token(self) -> float:
        """Seconds from the request to the first token (the same as `ttft`)."""
        return self.ttft


class Thinking(str):
    """A streamed piece of the model's thinking (reasoning), not of its answer.

    A backend's stream yields plain `str` pieces for the answer and `Thinking` pieces for the
    reasoning, already parsed at the engine's edge: nothing above it sees raw `<think>` markers.
    `on_completion_chunk` subscribers get these pieces as they are: `isinstance(piece,
    Thinking)` tells thinking from answer.
    """

    __slots__ = ()


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for, as the OpenAI API carries it."""

    id: str
    name: str
    arguments: str  # the JSON text the model wrote (checked before any call is made)


CallStatus = Literal["waiting", "running", "done", "error", "declined", "stopped", "not run"]


@dataclass
class ToolCallRecord:
    """One call the model asked for, and what became of it (`job.tool_calls`)."""

    id: str
    name: str
    arguments: dict[str, Any]
    result: str = ""  # the text sent back to the model
    error: str | None = None  # why the call failed, was declined or did not run
    approved: bool | None = None  # None: nobody was asked (approve=None), or no answer came
    seconds: float = 0.0  # how long the function ran
    status: CallStatus = "running"
    note: str = ""  # e.g. that Stop came while the function ran
    output: str = ""  # what the function printed (stdout and stderr), secrets masked
    server: str = ""  # the MCP server whose tool this is ("" for a Python function)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON values (what a Chat view gets)."""
        return dataclasses.asdict(self)
