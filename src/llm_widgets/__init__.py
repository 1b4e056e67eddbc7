"""Jupyter widgets to find, download, load and chat with local GGUF LLMs."""

from __future__ import annotations

import logging

from ._types import GenerationStats, ModelFacts, Thinking, ToolCall, ToolCallRecord
from ._version import __version__
from .errors import (
    DownloadError,
    DownloadErrorKind,
    JobCancelledError,
    JobFailedError,
    LLMWidgetsError,
    MCPServerError,
    ModelFileError,
    ModelTooLargeError,
    OutputParseError,
    PromptFormatError,
    ProtocolError,
    RemoteErrorKind,
    RemoteServerError,
)
from .hub import TransferOptions
from .hub.library import LocalModel
from .hub.search import ModelFile, ModelSummary
from .jobs import BatchJob, CompareJob, DownloadJob, GenerationJob, Job, JobState, LoadJob
from .notebook.magic import LLMMagics, load_ipython_extension, unload_ipython_extension
from .request.mcp import MCPServer
from .runners.compare import ServerModel
from .service import LLMKernelService
from .service.hub_search import HubSearch
from .widgets import (
    BatchRun,
    Chat,
    Compare,
    LocalLibrary,
    ModelBrowser,
    ModelCard,
    ServerConnection,
)

# A library logs, it does not print: nothing reaches a notebook unless the user configures logging.
logging.getLogger("llm_widgets").addHandler(logging.NullHandler())

__all__ = [
    "BatchJob",
    "BatchRun",
    "Chat",
    "Compare",
    "CompareJob",
    "GenerationJob",
    "HubSearch",
    "LoadJob",
    "LocalLibrary",
    "LocalModel",
    "DownloadError",
    "DownloadErrorKind",
    "DownloadJob",
    "GenerationStats",
    "Thinking",
    "ToolCall",
    "ToolCallRecord",
    "Job",
    "JobCancelledError",
    "JobFailedError",
    "JobState",
    "LLMKernelService",
    "LLMMagics",
    "LLMWidgetsError",
    "MCPServer",
    "MCPServerError",
    "ModelBrowser",
    "ModelCard",
    "ModelFacts",
    "ModelFile",
    "ModelFileError",
    "ModelSummary",
    "ModelTooLargeError",
    "OutputParseError",
    "PromptFormatError",
    "ProtocolError",
    "RemoteErrorKind",
    "RemoteServerError",
    "ServerConnection",
    "ServerModel",
    "TransferOptions",
    "__version__",
    "load_ipython_extension",
    "unload_ipython_extension",
]
