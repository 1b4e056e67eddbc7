"""Jupyter widgets to find, download, load and chat with local GGUF LLMs."""

from __future__ import annotations

import logging

from ._inference import GenerationJob, LoadJob
from ._jobs import Job, JobState
from .chat import Chat
from .errors import DownloadError, JobCancelledError, JobFailedError, LLMWidgetsError, ProtocolError
from .library import HubSearch, LocalModel, ModelFile, ModelSummary
from .local_library import LocalLibrary
from .model_browser import ModelBrowser
from .model_card import ModelCard
from .service import DownloadJob, LLMKernelService

__version__ = "0.1.0"

# A library logs, it does not print: nothing reaches a notebook unless the user configures logging.
logging.getLogger("llm_widgets").addHandler(logging.NullHandler())

__all__ = [
    "Chat",
    "GenerationJob",
    "HubSearch",
    "LoadJob",
    "LocalLibrary",
    "LocalModel",
    "DownloadError",
    "DownloadJob",
    "Job",
    "JobCancelledError",
    "JobFailedError",
    "JobState",
    "LLMKernelService",
    "LLMWidgetsError",
    "ModelBrowser",
    "ModelCard",
    "ModelFile",
    "ModelSummary",
    "ProtocolError",
    "__version__",
]
