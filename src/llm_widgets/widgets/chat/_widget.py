"""Chat: talk to the loaded model, answers streamed token by token. Here: its Python API, its
turns and the service's events about them, and the view's requests; its traits are ChatState's
(_state.py)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import traitlets

from ..._types import Thinking, ToolCallRecord
from ...context import attach, user_namespace
from ...errors import LLMWidgetsError
from ...jobs import GenerationJob, Job
from ...request.messages import check_generation_params
from ...request.tools import Approve, ToolLike, tool_settings
from ...service._service import LLMKernelService
from .._base import bundled
from .._protocol import Message
from ..model_card import ModelCard
from ._state import ChatState
from ._stream import TurnStream, transcript_message
from ._transcript import (
    answer_entry,
    check_text,
    last_user,
    restored,
    stats_dict,
    transcript_markdown,
)


class Chat(ChatState):
    """A chat with the kernel's loaded model: transcript, input, Send / Stop / Clear, Regenerate,
    Edit, settings; answers rendered as Markdown.

    The transcript lives in Python (`chat.messages`, the list to save; `Chat(..., messages=saved)`
    starts from it); it is saved with the notebook's widget state only when `persist_transcript`
    is True. A thinking model's reasoning streams into a folded block above its answer and is
    kept in the entry's `reasoning_content`; `generation_params` adds parameters to every turn.
    With `tools=[f, g]` the model may call those functions (see
    `generate_chat_completion`): each call is a card in the transcript; with `approve="ask"` it
    waits for the card's Approve or Deny.
    """

    _esm = bundled("chat.js")
    _css = bundled("chat.css")

    def __init__(
        self,
        model_card_or_service: ModelCard | LLMKernelService | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        generation_params: Mapping[str, Any] | None = None,
        tools: Sequence[ToolLike] | None = None,
        tool_choice: str = "auto",
        approve: Approve = None,
        max_tool_rounds: int = 8,
        **kwargs: Any,
    ) -> None:
        self._tools = tool_settings(tools, tool_choice, approve, max_tool_rounds)
        saved = restored(messages)
        extra = dict(generation_params or {})
        check_generation_params(extra)
        if saved and saved[0]["role"] == "system":
            kwargs.setdefault("system_prompt", saved.pop(0)["content"])
        card = model_card_or_service if isinstance(model_card_or_service, ModelCard) else None
        if card is not None:
            service: LLMKernelService | None = card.service
        elif isinstance(model_card_or_service, LLMKernelService) or model_card_or_service is None:
            service = model_card_or_service
        else:
            raise TypeError("Chat takes a ModelCard, an LLMKernelService or nothing")
        self._messages: list[dict[str, Any]] = saved  # before the traits: they may read it
        super().__init__(service=service, **kwargs)
        self.tool_names = [t.name for t in self._tools.tools] if self._tools else []
        self._card = card
        self.generation_params = extra  # more parameters for every turn (top_k, stop, ...)
        self._window = 0  # messages before this index no longer fit the context
        self._job: GenerationJob | None = None
        self._stream = TurnStream(lambda message: self._post(message))  # _post as it is then
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
        check_text(text, "send()")
        self._check_ready()
        text = self._attach(text)
        return self._in_event_order(lambda: self._start_turn(text, len(self._messages)))

    def regenerate(self) -> GenerationJob:
        """Answer the last user message again; the new answer replaces the last one."""
        self._check_ready()
        last = last_user(self._messages)
        if last is None:
            raise LLMWidgetsError("There is no message to answer again: send one first.")
        return self._in_event_order(lambda: self._start_turn(self._messages[last]["content"], last))

    def edit_last(self, text: str) -> GenerationJob:
        """Replace the last user message with `text` (its answer is dropped) and send it."""
        check_text(text, "edit_last()")
        self._check_ready()
        last = last_user(self._messages)
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
            raise LLMWidgetsError(no_model_hint(self._card))

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
        self._stream.reset()
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
            "tools": list(tools.given or tools.tools),  # servers not up start in the worker
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
        self._job = None  # a stopped answer still ending is ignored
        self._stream.reset()
        self._messages, self._window = [], 0
        with self.hold_sync():
            self.last_stats, self.status, self.detail = {}, "idle", ""
            self._sync_transcript()
        self._post({"type": "transcript", "messages": []})

    # -- service events -----------------------------------------------------------------------

    def _on_progress(self, job: Job) -> None:
        if job is self._job and not job.finished:
            self.detail = job.detail

    def _on_chunk(self, job: GenerationJob, text: str) -> None:
        if job is not self._job:
            return
        if isinstance(text, Thinking) and not self.can_think:
            self.can_think = True  # a server's model that thinks: offer the switch
        self._stream.chunk(job, text)

    def _on_tool_call(self, job: GenerationJob, record: ToolCallRecord) -> None:
        if job is not self._job:
            return
        self._stream.tool_call(job, record)

    def _on_done(self, job: GenerationJob) -> None:
        """The turn's end (after all its chunks, before waiters wake): close it in the views and
        make the transcript final."""
        if job is not self._job:
            return
        self._stream.flush(job)
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
            if not job.tools.given:  # the servers' tools, known once they started
                self.tool_names = [t.name for t in job.tools.tools]
        else:
            self._messages.append(answer_entry(job))
        stats = stats_dict(job.stats)
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
        self._in_event_order(lambda: self._post(transcript_message(self.messages, self._job)))


def no_model_hint(card: ModelCard | None) -> str:
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
