"""Test helpers that are also useful to users: a local Hub-compatible server."""

from .local_hub import Faults, LocalHub, RequestRecord

__all__ = ["Faults", "LocalHub", "RequestRecord"]
