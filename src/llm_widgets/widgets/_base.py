"""The base of every widget: a service handle, validated front-end messages, notices, bounds."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import anywidget
import traitlets

from ..errors import LLMWidgetsError, ProtocolError
from ..hub.files import redact
from ..service._service import LLMKernelService
from ._protocol import TRAIT_BOUNDS, Message, Schema, parse_message

logger = logging.getLogger("llm_widgets")

STATIC = Path(__file__).parent.parent / "static"
T = TypeVar("T")


def bundled(name: str) -> str | Path:
    """A front-end file built into the package, as text. anywidget keeps every instance of a
    widget whose `_esm`/`_css` is a file path alive forever (to reload it when the file changes),
    so closed widgets were never freed; with the text they are. With ANYWIDGET_HMR=1 (developing
    the front end) the path is given, for live reload."""
    path = STATIC / name
    if os.environ.get("ANYWIDGET_HMR"):
        return path
    text = path.read_text(encoding="utf-8")
    return text if "\n" in text else text + "\n"  # anywidget reads one line as a file name


class ServiceWidget(anywidget.AnyWidget):
    """An anywidget whose front-end messages are validated and turned into service calls.

    A message `{"type": "x", ...}` that passes `_schema` calls `self._on_x(message)`. A message
    that does not, or a call that raises, sets `error` and sends an error notice; nothing escapes
    into the kernel as a traceback. Traits that follow the service are written on the service's
    event thread only (`_in_event_order`), so the latest state is always the one shown.
    """

    _schema: ClassVar[Schema] = {}
    _editable: ClassVar[frozenset[str]] = frozenset()  # the only traits the view may change
    _bounded: ClassVar[tuple[str, ...]] = ()  # those of them bounded by TRAIT_BOUNDS

    error = traitlets.Unicode("", help="The last error message; empty when none.").tag(sync=True)
    limits = traitlets.Dict(
        help="The bounds of the numbers the view edits: {trait: [low, high]}."
    ).tag(sync=True)

    def __init__(self, *, service: LLMKernelService | None = None, **kwargs: Any) -> None:
        self._good_values: dict[str, Any] = {}
        self._origin: dict[str, Any] = {}  # the request that started this widget's latest work
        limits = {name: list(TRAIT_BOUNDS[name]) for name in self._bounded}
        super().__init__(limits=limits, **kwargs)
        self._service = service or LLMKernelService.instance()
        self._unsubscribers: list[Callable[[], None]] = []
        self.on_msg(self._receive)

    @property
    def service(self) -> LLMKernelService:
        """The kernel service this widget talks to."""
        return self._service

    def notify(self, level: str, text: str) -> None:
        """Show a short notice in every view of this widget."""
        self._post({"type": "notice", "level": level, "text": text})

    def close(self) -> None:
        """Unsubscribe from the service and close the widget."""
        for unsubscribe in getattr(self, "_unsubscribers", ()):
            unsubscribe()
        if hasattr(self, "_unsubscribers"):
            self._unsubscribers.clear()
        super().close()

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Apply a state update from the front end: only the traits its view edits, each checked
        like a Python assignment. Anything else, or a value of the wrong type, is put back in the
        view and reported in `error` (never a traceback in the kernel)."""
        refused: list[str] = []
        problems: list[str] = []
        for name, value in sync_data.items():
            if name not in self._editable:
                refused.append(name)
                problems.append(f"{name} is set by the kernel, not by the page")
                continue
            try:
                super().set_state({name: value})
            except traitlets.TraitError as exc:
                refused.append(name)
                problems.append(_first_sentence(str(exc)))
        if refused:
            self.send_state([n for n in refused if n in self.keys])  # the views show ours again
            self.error = "Ignored a change from the page: " + "; ".join(problems) + "."

    @traitlets.validate("error")
    def _no_home_in_error(self, proposal: dict[str, Any]) -> str:
        """Errors are saved with the notebook: a path in one shows the home folder as ~."""
        return _without_home(str(proposal["value"]))

    # -- for subclasses -----------------------------------------------------------------------

    def _in_event_order(self, function: Callable[[], T]) -> T:
        """Run `function` on the service's event thread, after the events already queued, and
        return its result: a job started there has all its events delivered after it. What
        this widget sends from then on carries the request that asked for it as its parent."""
        if threading.current_thread() is threading.main_thread():
            self._origin = _current_request(self.comm)
        return self.service.events.call(function)

    def _send(self, msg: Any, buffers: Any = None) -> None:
        """Send a comm message. From a background thread, it carries the request that started
        the work as its parent: ipykernel would stamp it with whatever request came last (some
        later cell), and hosts that route outputs by parent (Colab) may then not show it."""
        comm = self.comm
        kernel = getattr(comm, "kernel", None)
        if (
            threading.current_thread() is threading.main_thread()
            or not self._origin
            or kernel is None
            or getattr(kernel, "session", None) is None
        ):
            super()._send(msg, buffers=buffers)
            return
        kernel.session.send(
            kernel.iopub_socket,
            "comm_msg",
            {"comm_id": comm.comm_id, "data": msg},
            parent=self._origin,
            ident=comm.topic,
            buffers=buffers,
        )

    def _subscribe(self, unsubscribe: Callable[[], None]) -> None:
        self._unsubscribers.append(unsubscribe)

    def _in_range(self, proposal: dict[str, Any], what: str) -> Any:
        """For a trait validator: the proposed value if it is within TRAIT_BOUNDS; otherwise the
        last good value (or the default) and an `error` saying so — a bad value from the front
        end becomes a message, never a traceback in the kernel."""
        name, value = proposal["trait"].name, proposal["value"]
        low, high = TRAIT_BOUNDS[name]
        # validators can run inside __init__, before any attribute of ours exists
        good = self.__dict__.setdefault("_good_values", {})
        if low <= value <= high:
            good[name] = value
            return value
        kept = good.get(name, proposal["trait"].default_value)
        self.error = f"{what} must be between {low} and {high}; kept {kept}."
        return kept

    def _post(self, content: dict[str, Any]) -> None:
        """Send a custom message to every view (Chat.send means something else)."""
        anywidget.AnyWidget.send(self, content)

    def _receive(self, _: Any, content: Any, buffers: Any) -> None:
        request_id = content.get("request_id") if isinstance(content, dict) else None
        try:
            message = parse_message(content, self._schema)
        except ProtocolError as exc:
            self._fail(str(exc), request_id if isinstance(request_id, str) else None)
            return
        try:
            getattr(self, f"_on_{message.type}")(message)
        except (LLMWidgetsError, ValueError, KeyError, RuntimeError) as exc:
            self._fail(redact(str(exc)), message.request_id)
            return
        except Exception as exc:
            logger.exception("llm_widgets: handling %r failed", message.type)
            self._fail(redact(f"{type(exc).__name__}: {exc}"), message.request_id)
            return
        if message.request_id is not None:
            self._post({"type": "ack", "request_id": message.request_id, "ok": True, "error": ""})

    def _on_sync(self, message: Message) -> None:
        """A view that heard nothing for a while asks for the whole state again."""
        self.send_state()

    def _fail(self, text: str, request_id: str | None) -> None:
        self.error = text
        self.notify("error", text)
        if request_id is not None and len(request_id) <= 64:
            self._post({"type": "ack", "request_id": request_id, "ok": False, "error": text})


def _current_request(comm: Any) -> dict[str, Any]:
    """The parent header of the request being handled now (a cell or a front-end message)."""
    kernel = getattr(comm, "kernel", None)
    try:
        parent = kernel.get_parent("shell") if kernel is not None else None
    except Exception:  # an older or another kernel: its default stamping stays
        return {}
    return parent if isinstance(parent, dict) and parent.get("header") else {}


def _without_home(text: str) -> str:
    home = os.path.expanduser("~")
    return text.replace(home + os.sep, "~" + os.sep) if len(home) > 1 else text


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".")
