"""The secrets this process was given (Hub tokens, API keys), and the one way they are masked in
text before it is shown, logged or sent back to a model."""

from __future__ import annotations

import os
import re

MASK = "***"
_TOKEN_LIKE = re.compile(r"hf_[A-Za-z0-9]{8,}")  # anything shaped like a Hugging Face token
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
_MIN_LENGTH = 8  # shorter values ("EMPTY", "none") are placeholders, not secrets
_KNOWN: set[str] = set()  # tokens and keys handed to this process's objects


def remember_secret(secret: object) -> None:
    """Note a token or key this process was given, so that `scrub()` masks it."""
    if isinstance(secret, str) and len(secret) >= _MIN_LENGTH:
        _KNOWN.add(secret)


def known_secrets() -> frozenset[str]:
    """Every token and key this process's services and connections were given."""
    return frozenset(_KNOWN)


def redact(text: str, *secrets: str | None) -> str:
    """`text` with each of `secrets` masked wherever it stands (one shorter than a real key only
    as a whole word, so it is not cut out of other words), and anything shaped like an HF
    token."""
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        if len(secret) >= _MIN_LENGTH:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, text)
    return _TOKEN_LIKE.sub(f"hf_{MASK}", text)


def scrub(text: str) -> str:
    """`text` with every secret this process knows masked: the HF token, the tokens and keys it
    was given, secret-looking environment variables, and anything shaped like an HF token."""
    return redact(text, *_every_secret())


def _every_secret() -> set[str]:
    found = {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= _MIN_LENGTH}
    found |= _KNOWN
    try:
        from huggingface_hub import get_token

        token = get_token()
    except Exception:
        token = None
    if token:
        found.add(token)
    return found
