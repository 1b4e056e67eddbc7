"""The tree shows the architecture: each layer a package, imports only go down, and no unit is
too large to read (docs/architecture.md)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import llm_widgets

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "llm_widgets"
JS = ROOT / "js"

# from the bottom up; a module imports only from its own layer or one below it
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "bottom",
        (
            "errors",
            "_types",
            "_format",
            "_events",
            "_http",
            "_names",
            "_secrets",
            "_version",
            "context",
            "demo",
        ),
    ),
    ("jobs", ("jobs",)),
    ("engines", ("engines",)),
    ("requests and the Hub", ("request", "hub")),
    ("runners", ("runners",)),
    ("service", ("service",)),
    ("widgets and the notebook", ("widgets", "notebook")),
    ("test helpers", ("testing",)),
]
RANK = {top: rank for rank, (_, tops) in enumerate(LAYERS) for top in tops}

MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 350
MAX_FUNCTION_LINES = 80


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def top_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def imported_tops(path: Path) -> set[str]:
    """The top-level names of llm_widgets that a module imports (relative or absolute)."""
    parts = path.relative_to(SRC).with_suffix("").parts
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                target = base + (node.module.split(".") if node.module else [])
                if target:
                    found.add(target[0])
                else:  # from . import x (in the package root)
                    found.update(alias.name for alias in node.names)
            elif node.module and node.module.split(".")[0] == "llm_widgets":
                rest = node.module.split(".")[1:]
                found.update(rest[:1] or [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names = alias.name.split(".")
                if names[0] == "llm_widgets" and len(names) > 1:
                    found.add(names[1])
    return found


def test_every_module_belongs_to_a_layer() -> None:
    strays = {top_of(p) for p in modules()} - set(RANK) - {"__init__", "__main__"}
    assert not strays, f"modules outside every layer of docs/architecture.md: {sorted(strays)}"


def test_imports_only_go_down() -> None:
    upward = []
    for path in modules():
        top = top_of(path)
        if top == "__init__":  # the package root re-exports the public names
            continue
        for other in imported_tops(path) - {top}:
            if other in RANK and RANK[other] > RANK[top]:
                upward.append(f"{path.relative_to(SRC)} imports {other} (a layer above)")
    assert not upward, "\n".join(upward)


def code_lines(source: list[str], first: int, last: int) -> int:
    """Lines of code from `first` to `last` (1-based), without blank and comment-only lines."""
    body = source[first - 1 : last]
    return sum(1 for line in body if line.strip() and not line.strip().startswith("#"))


def too_large_python() -> list[str]:
    found = []
    for path in modules():
        text = path.read_text()
        lines = text.splitlines()
        name = path.relative_to(SRC)
        if len(lines) > MAX_MODULE_LINES:
            found.append(f"{name}: {len(lines)} lines (module limit {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                size = code_lines(lines, node.lineno, node.end_lineno or node.lineno)
                if size > MAX_CLASS_LINES:
                    found.append(f"{name}: class {node.name} {size} lines of code")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    found.append(f"{name}: {node.name}() {size} lines")
    return found


_TS_FUNCTION = re.compile(
    r"^(\s*)(?:export\s+)?(?:async\s+)?(?:function\s+(\w+)|(?:const|let)\s+(\w+)\s*=\s*(?:async\s*)?\(.*=>\s*\{$|(\w+)\s*\([^;]*\)\s*(?::[^{]*)?\{$)"
)


def too_large_typescript() -> list[str]:
    """Functions in js/*.ts longer than the limit (a function: a line that opens one, to the line
    with the same indentation that closes it)."""
    found = []
    for path in sorted(JS.glob("*.ts")):
        lines = path.read_text().splitlines()
        if len(lines) > MAX_MODULE_LINES:
            found.append(f"js/{path.name}: {len(lines)} lines (module limit {MAX_MODULE_LINES})")
        for i, line in enumerate(lines):
            match = _TS_FUNCTION.match(line)
            if not match or line.strip().startswith(("if ", "for ", "while ", "switch ", "}")):
                continue
            indent = match.group(1)
            name = match.group(2) or match.group(3) or match.group(4)
            for j in range(i + 1, len(lines)):
                if lines[j].startswith(indent + "}") and not lines[j].startswith(indent + "} "):
                    if j - i + 1 > MAX_FUNCTION_LINES:
                        found.append(f"js/{path.name}: {name}() {j - i + 1} lines")
                    break
    return found


def test_no_unit_is_too_large() -> None:
    found = too_large_python() + too_large_typescript()
    assert not found, "\n".join(found)


def test_every_exception_type_lives_in_errors() -> None:
    elsewhere = []
    for path in modules():
        if path.name == "errors.py" or path.parts[-2] == "testing":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                if any(b.endswith(("Error", "Exception")) for b in bases):
                    elsewhere.append(f"{path.relative_to(SRC)}: {node.name}")
    assert not elsewhere, "exception types outside errors.py:\n" + "\n".join(elsewhere)


def test_widgets_start_no_threads() -> None:
    """The service's runners do the work; a widget only starts jobs (docs/architecture.md)."""
    starting = []
    for path in [*(SRC / "widgets").rglob("*.py"), *(SRC / "notebook").rglob("*.py")]:
        text = path.read_text()
        if re.search(r"threading\.Thread\(|ThreadPoolExecutor\(", text):
            starting.append(str(path.relative_to(SRC)))
    assert not starting, f"widgets that start threads of their own: {starting}"


def test_the_version_is_written_once() -> None:
    found = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert found, "pyproject.toml names no version"
    assert llm_widgets.__version__ == found.group(1)  # the installed metadata's
    assert json.loads((ROOT / "package.json").read_text())["version"] == found.group(1)
    written = [p.name for p in modules() if re.search(r"__version__ = \"\d", p.read_text())]
    assert not written, f"a version written by hand in {written}"


@pytest.mark.parametrize(
    "path, name",
    [
        ("llm_widgets.service", "LLMKernelService"),
        ("llm_widgets.testing", "LocalHub"),
        ("llm_widgets.errors", "JobFailedError"),
        ("llm_widgets.errors", "ToolArgumentsError"),
    ],
)
def test_public_import_paths_hold(path: str, name: str) -> None:
    module = __import__(path, fromlist=[name])
    assert getattr(module, name) is not None
    if hasattr(llm_widgets, name):
        assert getattr(module, name) is getattr(llm_widgets, name)


def test_every_public_name_imports_from_the_package() -> None:
    missing = [name for name in llm_widgets.__all__ if not hasattr(llm_widgets, name)]
    assert not missing, missing


def test_the_ci_harness_is_not_in_the_wheel() -> None:
    shipped = {p.name for p in (SRC / "testing").glob("*.py")}
    assert not shipped & {"jupyter.py", "soak.py", "kernel.py", "services.py"}
