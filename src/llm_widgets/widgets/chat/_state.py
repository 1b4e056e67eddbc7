"""The Chat's synced state (js/protocol.ts `ChatState`): the settings a view shows and sets, with
their checks, and what it shows of the answering model, whose own sampling defaults fill the
settings the user has not set."""

from __future__ import annotations

from typing import Any

import traitlets

from ..._types import ModelFacts
from ...request.messages import THINK_LEVELS, check_think
from .. import _protocol
from .._base import ServiceWidget
from .._model_label import describe_model
from .._protocol import bounds_text

# the Chat's sampling settings a model's own defaults may set, with the Chat's own defaults
SAMPLING_TRAITS: dict[str, float] = {"temperature": 0.7, "top_p": 0.95}
MODES = ("chat", "completion")
NO_MODEL = "No model is loaded"
NO_TEMPLATE_NOTE = (
    "This model has no chat template — a base model? use completion: it continues your text "
    "instead of answering it."
)
EMBEDDING_NOTE = (
    "This is an embedding model: it turns text into vectors and cannot chat or complete text. "
    "Load a chat (instruct) model to talk to."
)


class ChatState(ServiceWidget):
    """The traits of a Chat (see Chat for what it does with them)."""

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

    def __init__(self, **kwargs: Any) -> None:
        self._user_set = set(kwargs) & set(SAMPLING_TRAITS)  # the model's defaults stay out
        super().__init__(**kwargs)

    def _on_model(self, facts: ModelFacts | None) -> None:
        """Show the model now answering (None: none), and take its sampling defaults."""
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

    @traitlets.validate(*_bounded)
    def _check_setting(self, proposal: dict[str, Any]) -> Any:
        return self._in_range(proposal, proposal["trait"].name)

    @traitlets.validate("think", "mode")
    def _check_choice(self, proposal: dict[str, Any]) -> Any:
        return checked_choice(proposal["trait"].name, proposal["value"])


def model_note(facts: ModelFacts | None) -> str:
    """What the Chat says about a model beyond its name ('' when nothing)."""
    if facts is not None and facts.embedding:
        return EMBEDDING_NOTE
    if facts is not None and facts.backend == "local" and not facts.has_chat_template:
        return NO_TEMPLATE_NOTE
    return ""


def checked_choice(name: str, value: Any) -> Any:
    """A `think` or `mode` value the Chat accepts, or a TraitError saying what it takes."""
    if name == "mode":
        if value not in MODES:
            raise traitlets.TraitError(f"mode must be 'chat' or 'completion', not {value!r}")
        return value
    try:
        check_think(value)
    except ValueError:
        raise traitlets.TraitError(
            f"think must be None, True, False or one of {', '.join(THINK_LEVELS)}, not {value!r}"
        ) from None
    return value
