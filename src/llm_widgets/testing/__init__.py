"""Test helpers that are also useful to users: a local Hub-compatible server, and ways to drive a
widget as its front end would."""

from .local_hub import Faults, LocalHub, RequestRecord
from .widgets import capture_messages, send_from_frontend, wait_until

__all__ = [
    "Faults",
    "LocalHub",
    "RequestRecord",
    "capture_messages",
    "send_from_frontend",
    "wait_until",
]
