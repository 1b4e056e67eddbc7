"""Jupyter widgets to find, download, load and chat with local GGUF LLMs."""

from __future__ import annotations

import logging

from ._compare import ServerModel
from ._types import GenerationStats, ModelFacts, Thinking, ToolCall, ToolCallRecord
from .batch_run import BatchRun
from .chat import Chat
from .compare import Compare
from .errors import (
    DownloadError,
    DownloadErrorKind,
    JobCancelledError,
    JobFailedError,
    LLMWidgetsError,
    ModelFileError,
    ModelTooLargeError,
    OutputParseError,
    PromptFormatError,
    ProtocolError,
    RemoteErrorKind,
    RemoteServerError,
)
from .hub import TransferOptions
from .hub_search import HubSearch
from .jobs import BatchJob, CompareJob, DownloadJob, GenerationJob, Job, JobState, LoadJob
from .library import LocalModel
from .local_library import LocalLibrary
from .magic import LLMMagics, load_ipython_extension, unload_ipython_extension
from .model_browser import ModelBrowser
from .model_card import ModelCard
from .search import ModelFile, ModelSummary
from .server_connection import ServerConnection
from .service import LLMKernelService

__version__ = "0.1.0"

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
