"""Numbers and texts as people read them: one formatter per unit (decimal units, as the Hub
shows sizes), and long texts cut short."""

from __future__ import annotations


def format_bytes(n: float) -> str:
    """1234567 -> '1.2 MB'."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def format_share(part: int, whole: int) -> str:
    """33 of 40 -> '82%': Python's own `{:.0%}` of part / whole, so the widgets say what a
    notebook that prints `f"{right / total:.0%}"` prints (one rounding rule everywhere)."""
    return f"{part / whole:.0%}" if whole else ""


def shorten(text: str, limit: int = 200) -> str:
    """`text`, cut at `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[:limit] + "…"
