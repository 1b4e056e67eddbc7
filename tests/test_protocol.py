"""The protocol is written twice, in `_protocol.py` and `js/protocol.ts`: the two agree."""

from __future__ import annotations

import re
from pathlib import Path

import anywidget
import pytest

from llm_widgets import (
    BatchRun,
    Chat,
    Compare,
    LLMKernelService,
    LocalLibrary,
    ModelCard,
    ServerConnection,
)
from llm_widgets.testing import capture_messages, send_from_frontend
from llm_widgets.widgets import _protocol
from llm_widgets.widgets.model_browser import ModelBrowserPanel

PROTOCOL_TS = (Path(__file__).parent.parent / "js" / "protocol.ts").read_text()

WIDGETS = [
    ("ModelCard", _protocol.MODEL_CARD, ModelCard),
    ("Chat", _protocol.CHAT, Chat),
    ("ModelBrowser", _protocol.MODEL_BROWSER, ModelBrowserPanel),
    ("LocalLibrary", _protocol.LOCAL_LIBRARY, LocalLibrary),
    ("ServerConnection", _protocol.SERVER_CONNECTION, ServerConnection),
    ("BatchRun", _protocol.BATCH_RUN, BatchRun),
    ("Compare", _protocol.COMPARE, Compare),
]


def _declaration(keyword: str, name: str) -> str:
    """The text of `export <keyword> <name> ...` up to the next declaration."""
    match = re.search(rf"^export {keyword} {name}\b(.*?)(?=^export |\Z)", PROTOCOL_TS, re.S | re.M)
    assert match, f"js/protocol.ts declares no {keyword} {name}"
    return match.group(1)


def ts_requests(name: str) -> dict[str, set[str]]:
    """{message type: its fields} of the `<name>Request` union in protocol.ts."""
    messages: dict[str, set[str]] = {}
    for body in re.findall(r"\{([^{}]*)\}", _declaration("type", f"{name}Request")):
        types = re.search(r"type:\s*((?:\"\w+\"\s*\|?\s*)+)", body)
        assert types, f"a {name}Request member has no type: {body}"
        fields = set(re.findall(r"(\w+)\??\s*:", body)) - {"type", "request_id"}
        for kind in re.findall(r"\"(\w+)\"", types.group(1)):
            messages[kind] = fields
    return messages


def ts_state(name: str) -> set[str]:
    """The keys of the `<name>State` interface in protocol.ts."""
    return set(re.findall(r"^\s+(\w+)\??:", _declaration("interface", f"{name}State"), re.M))


@pytest.mark.parametrize(("name", "schema", "widget"), WIDGETS, ids=[w[0] for w in WIDGETS])
def test_python_and_typescript_declare_the_same_messages(
    name: str, schema: _protocol.Schema, widget: type
) -> None:
    python = {kind: set(fields) for kind, fields in schema.items()}
    assert ts_requests(name) == python


@pytest.mark.parametrize(("name", "schema", "widget"), WIDGETS, ids=[w[0] for w in WIDGETS])
def test_python_and_typescript_declare_the_same_synced_traits(
    name: str, schema: _protocol.Schema, widget: type
) -> None:
    base = set(anywidget.AnyWidget.class_trait_names(sync=True))
    synced = set(widget.class_trait_names(sync=True)) - base
    assert ts_state(name) == synced


def test_every_handler_has_a_message_and_every_message_a_handler() -> None:
    for _, schema, widget in WIDGETS:
        handlers = {n[len("_on_") :] for n in dir(widget) if n.startswith("_on_")}
        assert set(schema) <= handlers, f"{widget.__name__} lacks a handler"


def test_the_checker_sees_a_disagreement() -> None:
    # the parser above is what the two tests rely on: it must notice a missing field
    assert ts_requests("LocalLibrary")["delete"] == {"repo_id", "filename"}
    assert "n_ctx" in ts_state("ModelCard") and "limits" in ts_state("Chat")


def test_the_bounds_a_view_edits_are_synced_to_it(service: LLMKernelService) -> None:
    card = ModelCard("org/repo", "model-Q4_K_M.gguf")
    chat = Chat(service)
    low, high = _protocol.TRAIT_BOUNDS["n_ctx"]
    assert card.limits == {"n_ctx": [low, high]}
    assert set(chat.limits) == {"temperature", "top_p", "max_tokens"}
    assert str(high) in ModelCard.n_ctx.help  # the help text quotes the same numbers


def test_a_message_with_a_request_id_is_answered_with_an_ack(service: LLMKernelService) -> None:
    library = LocalLibrary()
    sent = capture_messages(library)
    send_from_frontend(library, {"type": "refresh", "request_id": "view-1"})
    send_from_frontend(library, {"type": "delete", "request_id": "view-2"})  # no repo_id
    acks = [m for _, m in sent if m["type"] == "ack"]
    assert acks[0] == {"type": "ack", "request_id": "view-1", "ok": True, "error": ""}
    assert acks[1]["request_id"] == "view-2" and not acks[1]["ok"]
    assert "repo_id" in acks[1]["error"] and library.error == acks[1]["error"]


def test_every_trait_a_view_edits_is_synced_and_declared() -> None:
    for name, _, widget in WIDGETS:
        assert widget._editable <= ts_state(name), widget.__name__
        assert set(widget._bounded) <= widget._editable, widget.__name__
