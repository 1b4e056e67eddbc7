"""A real OpenAI-compatible server for tests, benchmarks and notebooks on a local GGUF:
llama-cpp-python's own (`python -m llama_cpp.server`, the `llama-cpp-python[server]` extra), or
llama.cpp's own through xllamacpp (`llm_widgets.testing.xllamacpp_server`) where that is all a
set-up has (the demo's).

It runs with the interpreter in `LLM_WIDGETS_TEST_SERVER_PYTHON` when that is set: the Colab row
installs llm-widgets as a user would (no llama-cpp-python) and borrows the main row's."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_python() -> str:
    """The interpreter that runs the server (one with `llama-cpp-python[server]`)."""
    return os.environ.get("LLM_WIDGETS_TEST_SERVER_PYTHON") or sys.executable


def has_llama_cpp_python(python: str) -> bool:
    """Whether `python` can run llama-cpp-python's server."""
    check = "import importlib.util, sys; sys.exit(importlib.util.find_spec('llama_cpp') is None)"
    return subprocess.run([python, "-c", check], check=False).returncode == 0


class OpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 serving `model_path` as `alias`, in a process of
    its own; a context manager. `base_url` ends in /v1. `kind`: "llama-cpp-python", "xllamacpp"
    or "auto" (llama-cpp-python's where it is installed, else llama.cpp's own)."""

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        alias: str = "smollm2",
        api_key: str | None = None,
        n_ctx: int = 2048,
        interrupt_requests: bool = True,
        port: int | None = None,
        kind: str = "llama-cpp-python",
    ) -> None:
        if kind not in ("llama-cpp-python", "xllamacpp", "auto"):
            raise ValueError(
                f"kind must be 'llama-cpp-python', 'xllamacpp' or 'auto', not {kind!r}"
            )
        self.kind = kind
        self.model_path = os.fspath(model_path)
        self.alias = alias
        self.api_key = api_key
        self.n_ctx = n_ctx
        self.interrupt_requests = interrupt_requests
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/v1"
        self.process: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.mkstemp(prefix="llmw-openai-server-", suffix=".log")[1])

    def start(self, timeout: float = 120.0) -> OpenAIServer:
        """Start the server and wait until it lists its model."""
        python = server_python()
        if self.kind == "auto":
            self.kind = "llama-cpp-python" if has_llama_cpp_python(python) else "xllamacpp"
        if self.kind == "xllamacpp":
            command = [
                python, "-m", "llm_widgets.testing.xllamacpp_server",
                "--model", self.model_path, "--alias", self.alias,
                "--port", str(self.port), "--n_ctx", str(self.n_ctx),
            ]  # fmt: skip
        else:
            command = [
                python, "-m", "llama_cpp.server",
                "--model", self.model_path, "--model_alias", self.alias,
                "--host", "127.0.0.1", "--port", str(self.port),
                "--n_ctx", str(self.n_ctx),
                "--interrupt_requests", str(self.interrupt_requests),
                "--verbose", "False",
            ]  # fmt: skip
        if self.api_key:
            command += ["--api_key", self.api_key]
        with self._log.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.kind} server exited:\n{self.log()[-3000:]}")
            if self._lists_model():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the {self.kind} server did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server process."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def log(self) -> str:
        """What the server printed."""
        return self._log.read_text(errors="replace")

    def _lists_model(self) -> bool:
        request = urllib.request.Request(f"{self.base_url}/models")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                return bool(json.load(answer).get("data"))
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self._log.unlink(missing_ok=True)


# what tests/conftest.py's `llama_server` fixture gives: (model=None, *, api_key=None, n_ctx=2048,
# interrupt_requests=True) -> a started server, shared by every test that asks for the same one
ServerFactory = Callable[..., OpenAIServer]
