"""The Chat widget: a conversation with a loaded model, its thinking, tools and exports."""

from ._widget import Chat

__all__ = ["Chat"]
