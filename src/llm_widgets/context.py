"""Kernel variables in a prompt: `{name}` formats one into the text, `@name` attaches one as
context (a DataFrame as its schema and first rows, a str as itself, anything else as a bounded
repr). Shared by the `%%llm` magic and the Chat."""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from IPython import get_ipython

from .errors import PromptFormatError

MAX_ROWS = 20  # rows of a DataFrame or Series shown
MAX_CHARS = 4000  # characters of one attachment
MAX_CELL = 80  # characters of one table cell

# `@name` not preceded by a word character, '.', '@' or '/': bob@example.com is not a variable
_MENTION = re.compile(r"(?<![\w.@/])@([A-Za-z_][A-Za-z0-9_]*)")
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)  # code is left as written


@dataclass(frozen=True)
class Attachment:
    """One kernel variable attached to a message: what the model is given, and a summary."""

    name: str
    summary: str  # "pandas DataFrame, 3 rows × 4 columns"
    text: str  # what is appended to the message
    cut: bool  # whether a bound left part of it out

    @property
    def tokens(self) -> int:
        """An estimate of the tokens it costs (about 4 characters a token)."""
        return estimate_tokens(self.text)

    def describe(self) -> str:
        """One line for people: name, what it is, its cost, and whether it was cut."""
        cut = ", cut to fit" if self.cut else ""
        return f"@{self.name} ({self.summary}{cut}, ≈{self.tokens} tokens)"


@dataclass(frozen=True)
class Attached:
    """A message with its `@name` attachments: `text` is what the model is sent."""

    text: str
    attachments: list[Attachment] = field(default_factory=list)

    def summary(self) -> str:
        """'Attached @df (pandas DataFrame, 3 rows × 4 columns, ≈95 tokens)', or ''."""
        if not self.attachments:
            return ""
        return "Attached " + ", ".join(a.describe() for a in self.attachments)


def user_namespace() -> Mapping[str, Any]:
    """The kernel's user namespace (get_ipython().user_ns); empty outside IPython."""
    shell = get_ipython()
    namespace = getattr(shell, "user_ns", None)
    return namespace if isinstance(namespace, Mapping) else {}


def estimate_tokens(text: str) -> int:
    """About how many tokens `text` is (4 characters a token, the usual rule of thumb)."""
    return max(1, round(len(text) / 4)) if text else 0


def format_prompt(template: str, namespace: Mapping[str, Any]) -> str:
    """`template` with each `{name}` (`{name.attr}`, `{name[0]}`, `{name:.2f}`) formatted from
    `namespace`, as `str.format` would; `{{` and `}}` are literal braces. Raises
    PromptFormatError, naming the field, for an unknown name or a field that does not format."""
    formatter = _NamespaceFormatter()
    try:
        return formatter.vformat(template, (), namespace)
    except PromptFormatError:
        raise
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise PromptFormatError(
            f"The prompt does not format: {type(exc).__name__}: {exc}. Write {{{{ and }}}} for "
            "literal braces."
        ) from exc


class _NamespaceFormatter(string.Formatter):
    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int) or key == "":
            raise PromptFormatError(
                "A `{}` in the prompt names no variable: write {name}, or {{ and }} for literal "
                "braces."
            )
        if key not in kwargs:
            raise PromptFormatError(
                f"{{{key}}} in the prompt is not a variable in the notebook: define {key}, or "
                f"write {{{{{key}}}}} for the literal text. Nothing was sent."
            )
        return kwargs[key]


def find_mentions(text: str, namespace: Mapping[str, Any]) -> list[str]:
    """The `@name`s in `text` that name variables in `namespace`, once each, in order (outside
    code spans; an e-mail address or an unknown name is not one)."""
    prose = _CODE.sub(lambda m: " " * len(m.group()), text)
    names: list[str] = []
    for match in _MENTION.finditer(prose):
        name = match.group(1)
        if name in namespace and name not in names:
            names.append(name)
    return names


def attach(text: str, namespace: Mapping[str, Any], *, mentions_in: str | None = None) -> Attached:
    """`text` with the variables its `@name`s mention (in `mentions_in`, the text as written,
    when `text` was formatted from it) appended as context; unknown names stay text."""
    names = find_mentions(text if mentions_in is None else mentions_in, namespace)
    if not names:
        return Attached(text)
    attachments = [describe(name, namespace[name]) for name in names]
    parts = [text.rstrip(), "Context from the notebook:"] + [a.text for a in attachments]
    return Attached("\n\n".join(parts), attachments)


def describe(name: str, value: Any) -> Attachment:
    """How the variable `name` is shown to the model, within the bounds."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return _frame(name, value)
    if pandas is not None and isinstance(value, pandas.Series):
        return _series(name, value)
    if isinstance(value, str):
        body, cut = _bounded(value)
        summary = f"str, {len(value)} characters"
        return Attachment(name, summary, f"@{name} ({summary}):\n\n{body}", cut)
    try:
        shown = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the message
        shown = f"<{type(value).__name__}: repr() raised {type(exc).__name__}>"
    body, cut = _bounded(shown)
    kind = type(value).__qualname__
    module = type(value).__module__
    summary = kind if module == "builtins" else f"{module}.{kind}"
    return Attachment(name, summary, f"@{name} ({summary}, its repr):\n\n```\n{body}\n```", cut)


def _frame(name: str, df: Any) -> Attachment:
    rows, cols = df.shape
    summary = f"pandas DataFrame, {rows} rows × {cols} columns"
    dtypes = ", ".join(f"{_cell(c)} ({t})" for c, t in df.dtypes.items())
    head = f"@{name} ({summary})\n\ndtypes: {dtypes}"
    header = [""] + [_cell(c) for c in df.columns]
    first = df.head(MAX_ROWS)
    rows_shown = first.itertuples(index=False, name=None)
    body = [
        [_cell(i)] + [_cell(v) for v in row] for i, row in zip(first.index, rows_shown, strict=True)
    ]
    return _with_table(name, summary, head, header, body, rows, "rows")


def _series(name: str, series: Any) -> Attachment:
    label = "" if series.name is None else f" {_cell(series.name)!r}"
    summary = f"pandas Series{label}, {len(series)} values, dtype {series.dtype}"
    head = f"@{name} ({summary})"
    header = ["", _cell(series.name if series.name is not None else "value")]
    first = series.head(MAX_ROWS)
    body = [[_cell(i), _cell(v)] for i, v in zip(first.index, first.tolist(), strict=True)]
    return _with_table(name, summary, head, header, body, len(series), "values")


def _with_table(
    name: str,
    summary: str,
    head: str,
    header: list[str],
    body: list[list[str]],
    total: int,
    unit: str,
) -> Attachment:
    """`head` and a Markdown table of the first rows that fit MAX_ROWS and MAX_CHARS, with a
    line saying how many are shown when not all."""
    lines = [_row(header), _row(["---"] * len(header))]
    size = len(head) + sum(len(line) + 1 for line in lines)
    shown = 0
    for row in body:
        line = _row(row)
        if size + len(line) + 1 > MAX_CHARS and shown:
            break
        lines.append(line)
        size += len(line) + 1
        shown += 1
    text = head + "\n\n" + "\n".join(lines)
    cut = shown < total
    if cut:
        text += f"\n\n(first {shown} of {total} {unit} shown)"
    return Attachment(name, summary, text, cut)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(value: Any) -> str:
    text = str(value).replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _bounded(text: str) -> tuple[str, bool]:
    if len(text) <= MAX_CHARS:
        return text, False
    return f"{text[:MAX_CHARS]}\n… (cut: the first {MAX_CHARS} of {len(text)} characters)", True
