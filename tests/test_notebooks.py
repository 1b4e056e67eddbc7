"""The shipped notebooks open clean: valid nbformat 4.5 with an id on every cell and no saved
outputs, so opening one does not mark it modified (and autosave does not rewrite a tracked file)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_notebook_validates_without_warnings_or_changes(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert (raw["nbformat"], raw["nbformat_minor"]) >= (4, 5), "cell ids need nbformat 4.5"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nbformat warns (MissingIDFieldWarning) and would fix it
        changes, normalized = nbformat.validator.normalize(raw)
        nbformat.validate(normalized)
    assert changes == 0, f"nbformat would change {changes} thing(s) on opening {path.name}"
    for cell in raw["cells"]:
        assert cell.get("id"), f"a cell of {path.name} has no id"
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, (
                f"{path.name} was saved with outputs"
            )


def test_every_notebook_is_checked() -> None:
    assert {p.name for p in NOTEBOOKS} >= {
        "demo.ipynb",
        "download.ipynb",
        "model_browser.ipynb",
        "batch.ipynb",
        "magic.ipynb",
    }
