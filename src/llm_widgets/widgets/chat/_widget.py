"""Chat: talk to the loaded model, answers streamed token by token."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import traitlets

from ..._types import GenerationStats, ModelFacts, Thinking, ToolCallRecord
from ...context import attach, user_namespace
from ...errors import LLMWidgetsError
from ...jobs import GenerationJob, Job
from ...request.messages import check_generation_params, check_messages
from ...request.tools import Approve, tool_settings
from ...service._service import LLMKernelService
from .. import _protocol
from .._base import ServiceWidget, bundled
from .._model_label import describe_model
from .._protocol import Message, bounds_text
from ..model_card import ModelCard
from ._thinking import (
    SAMPLING_TRAITS,
    answer_entry,
    checked_choice,
    chunk_message,
    model_note,
    partial_of,
    transcript_markdown,
)

CHUNK_INTERVAL = 1 / 30  # at most ~30 chunk messages a second to the front end


class Chat(ServiceWidget):
    """A chat with the kernel's loaded model: transcript, input, Send / Stop / Clear, Regenerate,
    Edit, settings; answers rendered as Markdown.

    The transcript lives in Python (`chat.messages`, the list to save; `Chat(..., messages=saved)`
    starts from it); it is saved with the notebook's widget state only when `persist_transcript`
    is True. A thinking model's reasoning streams into a folded block above its answer and is
    kept in the entry's `reasoning_content`; `generation_params` adds parameters to every turn.
    is True. With `tools=[f, g]` the model may call those functions (see
    `generate_chat_completion`): each call is a card in the transcript; with `approve="ask"` it
    waits for the card's Approve or Deny.
    """

    _esm = bundled("chat.js")
    _css = bundled("chat.css")
    _schema = _protocol.CHAT
    _editable = frozenset(
        {"system_prompt", "temperature", "top_p", "max_tokens", "trim_history", "think", "mode"}
    )
    _bounded = ("temperature", "top_p", "max_tokens")

    status = traitlets.Unicode("idle", help="idle or generating (a turn is under way).").tag(
        sync=True
    )
    detail = traitlets.Unicode(
        "",
        help="What the turn waits for ('waiting for the running answer', 'waiting for the model "
        "to load'); '' while it streams or when idle.",
    ).tag(sync=True)
    system_prompt = traitlets.Unicode(
        "You are a helpful assistant.", help="The system message of every turn."
    ).tag(sync=True)
    temperature = traitlets.Float(
        0.7, help=f"Sampling temperature, {bounds_text('temperature')}."
    ).tag(sync=True)
    top_p = traitlets.Float(0.95, help=f"Nucleus sampling, {bounds_text('top_p')}.").tag(sync=True)
    max_tokens = traitlets.Int(
        512, help=f"Longest answer, in tokens ({bounds_text('max_tokens')})."
    ).tag(sync=True)
    model_name = traitlets.Unicode(
        "", help="The answering model's own name (the GGUF's general.name, or the server's id)."
    ).tag(sync=True)
    model_label = traitlets.Unicode(
        "",
        help="How the view names the answering model: its Hub repo and quantization "
        "('SmolLM2-135M-Instruct · Q4_1'), a file's name, or the server's model id.",
    ).tag(sync=True)
    model_detail = traitlets.Unicode(
        "", help="The model exactly: repo, file and the GGUF's own name (the label's tooltip)."
    ).tag(sync=True)
    model_server = traitlets.Unicode(
        "", help="The host[:port] of the server answering; '' when the model is in the kernel."
    ).tag(sync=True)
    model_engine = traitlets.Unicode(
        "", help="The in-kernel engine and its version, e.g. 'xllamacpp llama.cpp b11549'."
    ).tag(sync=True)
    last_stats = traitlets.Dict(
        help="Figures of the last answer; {} while the next one is being written."
    ).tag(sync=True)
    trim_history = traitlets.Bool(
        True,
        help="When the conversation outgrows the context, leave the oldest turns out of what the "
        "model sees (the transcript keeps them); False: fail with an error instead.",
    ).tag(sync=True)
    think = traitlets.Any(
        None,
        help="Thinking: None (the model's own default), True, False, or 'low' / 'medium' / "
        "'high'; the view's Think switch sets True or False.",
    ).tag(sync=True)
    can_think = traitlets.Bool(
        False, help="Whether the model can think (the view then shows the Think switch)."
    ).tag(sync=True)
    model_defaults = traitlets.Dict(
        help="The model's own sampling settings (GGUF general.sampling.*): the settings start "
        "from them unless set here."
    ).tag(sync=True)
    model_note = traitlets.Unicode(
        "", help="What to know about the model, in words (e.g. that it has no chat template)."
    ).tag(sync=True)
    mode = traitlets.Unicode(
        "chat",
        help="'chat', or 'completion': Send has the model continue the text as it is (a base "
        "model without a chat template).",
    ).tag(sync=True)
    persist_transcript = traitlets.Bool(
        False, help="Save the transcript in the notebook's widget state."
    ).tag(sync=True)
    tool_names = traitlets.List(
        traitlets.Unicode(), help="The names of the functions the model may call."
    ).tag(sync=True)
    transcript: traitlets.List[dict[str, Any]] = traitlets.List(
        help="The transcript, when persist_transcript is True."
    ).tag(sync=True)

    def __init__(
        self,
        model_card_or_service: ModelCard | LLMKernelService | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        generation_params: Mapping[str, Any] | None = None,
        tools: Sequence[Callable[..., Any]] | None = None,
        tool_choice: str = "auto",
        approve: Approve = None,
        max_tool_rounds: int = 8,
        **kwargs: Any,
    ) -> None:
        self._tools = tool_settings(tools, tool_choice, approve, max_tool_rounds)
        restored = _restored(messages)
        extra = dict(generation_params or {})
        check_generation_params(extra)
        if restored and restored[0]["role"] == "system":
            kwargs.setdefault("system_prompt", restored.pop(0)["content"])
        card = model_card_or_service if isinstance(model_card_or_service, ModelCard) else None
        if card is not None:
            service: LLMKernelService | None = card.service
        elif isinstance(model_card_or_service, LLMKernelService) or model_card_or_service is None:
            service = model_card_or_service
        else:
            raise TypeError("Chat takes a ModelCard, an LLMKernelService or nothing")
        self._messages: list[dict[str, Any]] = restored  # before the traits: they may read it
        self._user_set = set(kwargs) & set(SAMPLING_TRAITS)  # the model's defaults stay out
        super().__init__(service=service, **kwargs)
        self.tool_names = [t.name for t in self._tools.tools] if self._tools else []
        self._card = card
        self.generation_params = extra  # more parameters for every turn (top_k, stop, ...)
        self._window = 0  # messages before this index no longer fit the context
        self._job: GenerationJob | None = None
        self._buffer: list[str] = []  # chunks not sent to the views yet
        self._thought: list[str] = []  # thinking chunks not sent yet
        self._last_flush = 0.0
        self._subscribe(self.service.on_progress(self._on_progress))
        self._subscribe(self.service.on_completion_chunk(self._on_chunk))
        self._subscribe(self.service.on_completion_done(self._on_done))
        self._subscribe(self.service.on_tool_call(self._on_tool_call))
        self._subscribe(self.service.on_model_loaded(self._on_model))
        self._subscribe(self.service.on_model_unloaded(lambda: self._on_model(None)))
        self._on_model(self.service.model)
        self._sync_transcript()

    def __repr__(self) -> str:
        """What a host without a live view shows."""
        turns = len(getattr(self, "_messages", ()))
        model = self.model_label or "no model loaded"
        if self.model_server:
            model += f" on {self.model_server}"
        return f"Chat({model} · {turns} message{'s' * (turns != 1)} · {self.status})"

    # -- Python API ---------------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The transcript: a list of {"role", "content"} dicts in the OpenAI shape (an
        assistant's `tool_calls`, `tool` results), a copy; an assistant entry holds its answer
        in `content` and the model's thinking, if any, in `reasoning_content`."""
        return copy.deepcopy(self._messages)

    @property
    def job(self) -> GenerationJob | None:
        """The current or last generation."""
        return self._job

    def send(self, text: str) -> GenerationJob:
        """Ask the model; returns the generation job (iterate it, await it, or wait). Each
        `@name` of a kernel variable attaches it as context (said in a notice)."""
        _check_text(text, "send()")
        self._check_ready()
        text = self._attach(text)
        return self._in_event_order(lambda: self._start_turn(text, len(self._messages)))

    def regenerate(self) -> GenerationJob:
        """Answer the last user message again; the new answer replaces the last one."""
        self._check_ready()
        last = self._last_user()
        if last is None:
            raise LLMWidgetsError("There is no message to answer again: send one first.")
        return self._in_event_order(lambda: self._start_turn(self._messages[last]["content"], last))

    def edit_last(self, text: str) -> GenerationJob:
        """Replace the last user message with `text` (its answer is dropped) and send it."""
        _check_text(text, "edit_last()")
        self._check_ready()
        last = self._last_user()
        if last is None:
            raise LLMWidgetsError("There is no message to edit: send one first.")
        text = self._attach(text)
        return self._in_event_order(lambda: self._start_turn(text, last))

    def approve_tool_call(self, call_id: str) -> None:
        """Let the call that waits for approval run (the card's Approve)."""
        self._decide(call_id, True)

    def deny_tool_call(self, call_id: str) -> None:
        """Decline the call that waits for approval (the card's Deny): the model is told."""
        self._decide(call_id, False)

    def _decide(self, call_id: str, approved: bool) -> None:
        job = self._job
        decide = None if job is None else job.approve_tool_call if approved else job.deny_tool_call
        if decide is None or not decide(call_id):
            raise LLMWidgetsError("That tool call no longer waits for an answer.")

    def to_markdown(self) -> str:
        """The conversation as Markdown, for a notebook cell or a file (thinking folded in a
        `<details>` block)."""
        return transcript_markdown(self._messages)

    def _attach(self, text: str) -> str:
        """`text` with the kernel variables its `@name`s mention; a notice says what came."""
        attached = attach(text, user_namespace())
        if attached.attachments:
            self.notify("info", attached.summary())
        return attached.text

    def _check_ready(self) -> None:
        if self._job is not None and not self._job.finished:
            raise LLMWidgetsError("The model is still answering: stop() it first.")
        if self.service.model is None and self.service.loading is None:
            raise LLMWidgetsError(_no_model_hint(self._card))

    def _last_user(self) -> int | None:
        """Index of the last user message, if only its answer (or nothing) follows it."""
        tail = len(self._messages) - 1
        while tail >= 0 and self._messages[tail]["role"] in ("assistant", "tool"):
            tail -= 1
        return tail if tail >= 0 and self._messages[tail]["role"] == "user" else None

    def _start_turn(self, text: str, keep: int) -> GenerationJob:
        """Start the answer to `text` after the first `keep` messages, on the event thread, so
        the views get the turn before its chunks."""
        window = min(self._window, keep)
        history = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        history += self._messages[window:keep] + [{"role": "user", "content": text}]
        sampling: dict[str, Any] = dict(
            self.generation_params,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            **self._tool_arguments(),
        )
        if self.mode == "completion":
            job = self.service.generate_completion(text, **sampling)
        else:
            job = self.service.generate_chat_completion(
                history, trim_history=self.trim_history, think=self.think, **sampling
            )
        replaced = keep < len(self._messages)
        self._messages[keep:] = [{"role": "user", "content": text}]
        self._window = window
        self._job = job
        self._buffer, self._thought, self._last_flush = [], [], 0.0
        with self.hold_sync():
            self.status = "generating"
            self.error = ""
            self.last_stats = {}  # the figures shown are never the previous answer's
            self._sync_transcript()
        if replaced:  # the views drop the replaced turns and open an empty answer
            self._post({"type": "transcript", "messages": self.messages, "partial": ""})
        else:
            self._post({"type": "turn_start", "role": "user", "content": text})
        return job

    def _tool_arguments(self) -> dict[str, Any]:
        tools = self._tools
        if tools is None:
            return {}
        return {
            "tools": list(tools.tools),
            "tool_choice": tools.choice,
            "approve": tools.approve,
            "max_tool_rounds": tools.max_rounds,
        }

    def stop_running(self) -> None:
        """Stop whatever answer is running now (another Chat's, say); queued turns stay."""
        self.service.abort(queued=False)

    def stop(self) -> None:
        """Stop the answer being generated; what came so far is kept."""
        if self._job is not None and not self._job.finished:
            self._job.cancel()

    def clear(self) -> None:
        """Stop and forget the conversation."""
        self.stop()
        self._in_event_order(self._forget)

    def _forget(self) -> None:
        self._job, self._buffer = None, []  # a stopped answer still ending is ignored
        self._messages, self._window = [], 0
        with self.hold_sync():
            self.last_stats, self.status, self.detail = {}, "idle", ""
            self._sync_transcript()
        self._post({"type": "transcript", "messages": []})

    # -- service events -----------------------------------------------------------------------

    def _on_model(self, facts: ModelFacts | None) -> None:
        label, detail = describe_model(facts) if facts is not None else ("", "")
        with self.hold_sync():
            self.model_name = facts.name if facts is not None else ""
            self.model_server = facts.server if facts is not None else ""
            self.model_label, self.model_detail = label, detail
            local = facts if facts is not None and facts.backend == "local" else None
            self.model_engine = f"{local.engine} {local.engine_version}".strip() if local else ""
            self.can_think = facts is not None and facts.can_think
            self.model_note = model_note(facts)
            if facts is not None and self.error.startswith(NO_MODEL):
                self.error = ""  # said before a model was there: no longer true
            defaults = dict(facts.sampling_defaults) if facts is not None else {}
            self.model_defaults = defaults
            self._applying = True
            try:
                for name in set(SAMPLING_TRAITS) - self._user_set:
                    setattr(self, name, defaults.get(name, SAMPLING_TRAITS[name]))
            finally:
                self._applying = False

    @traitlets.observe(*SAMPLING_TRAITS)
    def _sampling_set(self, change: dict[str, Any]) -> None:
        if not self.__dict__.get("_applying", True):
            self._user_set.add(change["name"])  # a user's value wins over the model's

    def _on_progress(self, job: Job) -> None:
        if job is self._job and not job.finished:
            self.detail = job.detail

    def _on_chunk(self, job: GenerationJob, text: str) -> None:
        if job is not self._job:
            return
        if isinstance(text, Thinking):
            self._thought.append(text)
            if not self.can_think:  # a server's model that thinks: offer the switch
                self.can_think = True
        else:
            self._buffer.append(text)
        now = time.monotonic()
        if now - self._last_flush >= CHUNK_INTERVAL:
            self._last_flush = now
            self._flush_chunks()

    def _on_tool_call(self, job: GenerationJob, record: ToolCallRecord) -> None:
        if job is not self._job:
            return
        self._flush_chunks()  # the text before the call comes first
        self._post({"type": "tool_call", "call": record.to_dict()})

    def _flush_chunks(self) -> None:
        pending, self._buffer = "".join(self._buffer), []
        thought, self._thought = "".join(self._thought), []
        if pending or thought:
            self._post(chunk_message(pending, thought, self._job))

    def _on_done(self, job: GenerationJob) -> None:
        """The turn's end (after all its chunks, before waiters wake): close it in the views and
        make the transcript final."""
        if job is not self._job:
            return
        self._flush_chunks()
        if job.state == "failed":
            self.error = job.error or "The generation failed."
            self.notify("error", self.error)
        for note in job.notes:
            self.notify("info", note)
        trimmed = job.stats.trimmed_messages if job.stats is not None else 0
        if trimmed:
            self._window += trimmed
            self.notify(
                "info",
                f"The conversation outgrew the context: the model no longer sees the oldest "
                f"{self._window} message{'s' if self._window > 1 else ''}.",
            )
        if job.tools is not None:
            self._messages += copy.deepcopy(job.new_messages)
        else:
            self._messages.append(answer_entry(job))
        stats = _stats_dict(job.stats)
        with self.hold_sync():
            self.last_stats = stats
            self.status, self.detail = "idle", ""
            self._sync_transcript()
        self._post({"type": "done", "stats": stats})

    # -- helpers ------------------------------------------------------------------------------

    def _sync_transcript(self) -> None:
        self.transcript = self.messages if self.persist_transcript else []

    @traitlets.observe("persist_transcript")
    def _persist_changed(self, change: dict[str, Any]) -> None:
        self._sync_transcript()

    @traitlets.validate(*_bounded)
    def _check_setting(self, proposal: dict[str, Any]) -> Any:
        return self._in_range(proposal, proposal["trait"].name)

    @traitlets.validate("think", "mode")
    def _check_choice(self, proposal: dict[str, Any]) -> Any:
        return checked_choice(proposal["trait"].name, proposal["value"])

    # -- front-end messages -------------------------------------------------------------------

    def _on_send(self, message: Message) -> None:
        self.send(message["text"])

    def _on_regenerate(self, message: Message) -> None:
        self.regenerate()

    def _on_edit_last(self, message: Message) -> None:
        self.edit_last(message["text"])

    def _on_stop(self, message: Message) -> None:
        self.stop()

    def _on_stop_running(self, message: Message) -> None:
        self.stop_running()

    def _on_clear(self, message: Message) -> None:
        self.clear()

    def _on_approve(self, message: Message) -> None:
        self.approve_tool_call(message["call_id"])

    def _on_deny(self, message: Message) -> None:
        self.deny_tool_call(message["call_id"])

    def _on_sync(self, message: Message) -> None:
        self._in_event_order(self._send_transcript)

    def _send_transcript(self) -> None:
        job = self._job
        running = job is not None and not job.finished  # then "done" comes next
        message: dict[str, Any] = {"type": "transcript", "messages": self.messages}
        message.update(partial_of(job) if running and job is not None else {"partial": None})
        if job is not None and running and job.tool_calls:  # the open turn's cards
            message["calls"] = [c.to_dict() for c in job.tool_calls]
        self._post(message)


NO_MODEL = "No model is loaded"


def _no_model_hint(card: ModelCard | None) -> str:
    """What to do first, in the words of the buttons the card shows now."""
    if card is None:
        return (
            "No model is loaded: show a ModelCard and click Download, then Load (or call "
            "LLMKernelService.load_model(path)), or connect to a server with ServerConnection."
        )
    if card.status in ("queued", "running"):
        return (
            f"No model is loaded: {card.filename} is still downloading; click Load on the model "
            "card when the download is done."
        )
    if card.status == "failed":
        return "No model is loaded: the download failed; click Retry on the model card, then Load."
    if card.status != "done":
        return "No model is loaded: click Download on the model card, then Load."
    return "No model is loaded: click Load on the model card."


def _check_text(text: object, where: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where} needs a non-empty message")


def _restored(messages: object) -> list[dict[str, Any]]:
    """A saved conversation, checked: role/content dicts; a system message only first."""
    if messages is None:
        return []
    if isinstance(messages, Sequence) and not isinstance(messages, (str, bytes)) and not messages:
        return []
    checked = check_messages(messages)
    for i, m in enumerate(checked[1:], 1):
        if m["role"] == "system":
            raise ValueError(
                f"messages[{i}] is a system message: only the first message may be one "
                "(it becomes the system_prompt)"
            )
    return checked


def _stats_dict(stats: GenerationStats | None) -> dict[str, Any]:
    if stats is None:
        return {}
    return {k: v for k, v in asdict(stats).items() if isinstance(v, (str, int, float, bool))}
