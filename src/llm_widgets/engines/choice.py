"""Which in-kernel engine runs a model: "xllamacpp" (the default), "llama-cpp-python" (the extra
of that name), or "auto".

"auto" (also what `LLM_WIDGETS_ENGINE` names when no engine is asked for) never silently loses a
GPU: an installed engine that can offload layers beats one that cannot; otherwise xllamacpp.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from ..errors import EngineNotInstalledError
from . import llama_cpp_python, xllamacpp

ENGINES = (xllamacpp.NAME, llama_cpp_python.NAME)
ENGINE_ENV = "LLM_WIDGETS_ENGINE"
INSTALL = {
    xllamacpp.NAME: "pip install xllamacpp",
    llama_cpp_python.NAME: "pip install 'llm-widgets[llama-cpp-python]'",
}
_MODULES: dict[str, Any] = {xllamacpp.NAME: xllamacpp, llama_cpp_python.NAME: llama_cpp_python}


def check_engine(engine: object) -> str:
    """`engine` if it names an engine or "auto"; ValueError otherwise."""
    if engine != "auto" and engine not in ENGINES:
        choices = ", ".join(repr(e) for e in ("auto", *ENGINES))
        raise ValueError(f"engine must be one of {choices}, got {engine!r}")
    return str(engine)


def resolve_engine(engine: str = "auto") -> str:
    """The engine that will run a model: `engine` itself (EngineNotInstalledError with the pip
    command when it is missing), or for "auto" the choice described above."""
    if engine == "auto":
        engine = check_engine(os.environ.get(ENGINE_ENV, "").strip() or "auto")
    if engine != "auto":
        if not _MODULES[engine].installed():
            raise EngineNotInstalledError(
                f"The {engine} engine is not installed: {INSTALL[engine]}"
            )
        return engine
    present = [e for e in ENGINES if _MODULES[e].installed()]
    if not present:
        raise EngineNotInstalledError(
            f"No llama.cpp engine is installed: {INSTALL[xllamacpp.NAME]}"
        )
    return next((e for e in present if _can_offload(e)), present[0])


@functools.cache
def _can_offload(engine: str) -> bool:
    try:
        return bool(_MODULES[engine].can_offload())
    except Exception:  # a broken GPU runtime: this engine cannot offload
        return False


def make_engine(engine: str) -> Any:
    """A new, empty engine object of that name."""
    if engine == xllamacpp.NAME:
        return xllamacpp.XllamacppEngine()
    return llama_cpp_python.LlamaCppPythonEngine()
