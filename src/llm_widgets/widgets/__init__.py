"""The widgets: thin front ends of the service, one module per widget (`_base.ServiceWidget`
holds what they share)."""

from .batch_run import BatchRun
from .chat import Chat
from .compare import Compare
from .local_library import LocalLibrary
from .model_browser import ModelBrowser
from .model_card import ModelCard
from .server_connection import ServerConnection

__all__ = [
    "BatchRun",
    "Chat",
    "Compare",
    "LocalLibrary",
    "ModelBrowser",
    "ModelCard",
    "ServerConnection",
]
