"""The notebook's own ways in: the `%%llm` magic and its answers as display updates."""
