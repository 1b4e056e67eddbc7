"""A real OpenAI-compatible server for tests and benchmarks: llama-cpp-python's own
(`python -m llama_cpp.server`, the `llama-cpp-python[server]` extra) on a local GGUF.

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
from pathlib import Path
from types import TracebackType


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_python() -> str:
    """The interpreter that runs the server (one with `llama-cpp-python[server]`)."""
    return os.environ.get("LLM_WIDGETS_TEST_SERVER_PYTHON") or sys.executable


class OpenAIServer:
    """`python -m llama_cpp.server` on 127.0.0.1 serving `model_path` as `alias`, in a process of
    its own; a context manager. `base_url` ends in /v1."""

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        alias: str = "smollm2",
        api_key: str | None = None,
        n_ctx: int = 2048,
        interrupt_requests: bool = True,
        port: int | None = None,
    ) -> None:
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
        command = [
            server_python(), "-m", "llama_cpp.server",
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
                raise RuntimeError(f"llama_cpp.server exited:\n{self.log()[-3000:]}")
            if self._lists_model():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"llama_cpp.server did not start:\n{self.log()[-3000:]}")
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
