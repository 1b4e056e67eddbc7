"""The installed distribution's version."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llm-widgets")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "unknown"
