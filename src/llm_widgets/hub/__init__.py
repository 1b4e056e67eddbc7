"""All Hub I/O: files moved into the Hugging Face cache (in byte ranges, resumable, checked),
the cache's layout, names, the Hub search and the local library."""

from .files import *  # noqa: F403  (the public names are files.__all__)
from .files import __all__ as __all__
