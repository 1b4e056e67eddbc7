"""One place masks every secret: a key wherever it stands, a short value only as a word."""

from __future__ import annotations

from llm_widgets._secrets import MASK, redact, remember_secret, scrub


def test_a_key_is_masked_even_inside_other_text() -> None:
    key = "sk-abcdefgh12345"
    assert redact(f"url?key={key}&x=1", key) == f"url?key={MASK}&x=1"
    assert redact(f"Bearer{key}", key) == f"Bearer{MASK}"  # run into other letters


def test_a_short_value_is_masked_only_as_a_word() -> None:
    assert redact("a cat sat", "cat") == f"a {MASK} sat"
    assert redact("concatenate", "cat") == "concatenate"


def test_scrub_masks_remembered_keys_and_token_shapes() -> None:
    remember_secret("mcp-header-value-0123")
    text = scrub("sent mcp-header-value-0123 and hf_abcdefghijkl")
    assert "mcp-header-value-0123" not in text and "hf_abcdefghijkl" not in text
