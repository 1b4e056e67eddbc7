"""The HTTP client library under huggingface_hub: `httpx2` (its own fork, from 2.0) or `httpx`
(1.x, which Colab runs). The transfer loop and the engines' plain requests use the same one, so
exceptions and timeouts match what `get_session()` raises and takes, and nothing imports an HTTP
library that no dependency declares (`httpx` is not one under huggingface_hub 2.x)."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING


def _library() -> ModuleType:
    from huggingface_hub.utils import _http as hf_http

    for name in ("httpx2", "httpx"):
        found = getattr(hf_http, name, None)
        if isinstance(found, ModuleType):
            return found
    # where huggingface_hub keeps it moved: the package of the client it makes
    return sys.modules[type(hf_http.get_session()).__module__.partition(".")[0]]


if TYPE_CHECKING:  # for type checkers: the two share one API
    import httpx2 as httpx
else:
    httpx = _library()

__all__ = ["httpx"]
