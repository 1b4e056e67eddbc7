"""The HTTP client library under huggingface_hub: `httpx2` (its own fork, from 2.0) or `httpx`
(1.x, which Colab runs). The transfer loop uses the same one, so exceptions and timeouts match
what `get_session()` raises and takes."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING


def _library() -> ModuleType:
    from huggingface_hub.utils import _http as hf_http

    found = getattr(hf_http, "httpx2", None) or getattr(hf_http, "httpx", None)
    if isinstance(found, ModuleType):
        return found
    try:  # where huggingface_hub keeps it moved: the fork first, as 2.x does
        import httpx2

        return httpx2
    except ImportError:
        import httpx

        return httpx


if TYPE_CHECKING:  # for type checkers: the two share one API
    import httpx2 as httpx
else:
    httpx = _library()

__all__ = ["httpx"]
