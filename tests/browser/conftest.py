"""A real JupyterLab 4 / Notebook 7 on 127.0.0.1 and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

CHROMIUM = os.environ.get("LLMW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterServer:
    """A running server: `flavour` is "lab" (JupyterLab 4) or "notebook" (Notebook 7)."""

    def __init__(self, flavour: str) -> None:
        self.flavour = flavour
        self.home = Path(tempfile.mkdtemp(prefix=f"llmw-{flavour}-"))
        self.root = self.home / "root"
        self.root.mkdir()
        settings = self.home / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.home / "server.log"
        env = dict(os.environ)
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(self.home / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
            JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_XET="1",
            HF_HOME=str(self.home / "hf-home"),
            PYTHONUNBUFFERED="1",
        )
        app = "JupyterNotebookApp" if flavour == "notebook" else "LabApp"
        command = [
            sys.executable, "-m", "jupyter", "lab" if flavour == "lab" else "notebook",
            "--allow-root", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--IdentityProvider.token=", "--ServerApp.password=",
            f"--ServerApp.root_dir={self.root}",
            f"--{app}.expose_app_in_browser=True",
            "--ServerApp.disable_check_xsrf=True",
        ]  # fmt: skip
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter {flavour} exited:\n{self.log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"jupyter {flavour} did not start:\n{self.log.read_text()[-4000:]}"
                )
            time.sleep(0.3)

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as r:
            return json.loads(r.read())

    def notebook_url(self, name: str) -> str:
        if self.flavour == "lab":  # a workspace of its own: no tabs restored from other tests
            return f"{self.url}/lab/workspaces/{Path(name).stem}/tree/{name}?reset"
        return f"{self.url}/notebooks/{name}"

    def write_notebook(self, name: str, cells: list[str]) -> str:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        nbformat.write(nb, self.root / name)
        return name

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self._log_file.close()
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="session", params=["lab", "notebook"])
def jupyter_server(request: pytest.FixtureRequest) -> Iterator[JupyterServer]:
    """JupyterLab 4 and Notebook 7, each once per session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not at {CHROMIUM}: run scripts/setup.sh --test (apt-get install chromium)"
        )
    server = JupyterServer(request.param)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class NotebookPage:
    """A notebook open in the browser, with helpers to run cells and wait for the kernel."""

    def __init__(self, server: JupyterServer, page: Any, name: str) -> None:
        self.server, self.page, self.name = server, page, name

    def open(self) -> NotebookPage:
        self.page.goto(self.server.notebook_url(self.name))
        self.page.wait_for_function(
            """(name) => {
                const app = window.jupyterapp;
                if (!app) return false;
                const panel = Array.from(app.shell.widgets("main"))
                    .find((w) => w.context && w.context.path === name);
                return Boolean(panel && panel.content.widgets.length > 0);
            }""",
            arg=self.name,
            timeout=60_000,
        )
        self.wait_idle(timeout=60)
        return self

    def kernel_state(self) -> str | None:
        for session in self.server.api("/api/sessions"):
            if session.get("path", "").endswith(self.name) and session.get("kernel"):
                return str(
                    self.server.api(f"/api/kernels/{session['kernel']['id']}")["execution_state"]
                )
        return None

    def wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.kernel_state() != "idle":
            if time.monotonic() > deadline:
                raise AssertionError(f"kernel not idle after {timeout} s ({self.kernel_state()})")
            time.sleep(0.2)

    def run_cell(self, index: int, wait: bool = True) -> None:
        self.page.evaluate(
            """async ([name, i]) => {
                const app = window.jupyterapp;
                const panel = Array.from(app.shell.widgets("main"))
                    .find((w) => w.context && w.context.path === name);
                app.shell.activateById(panel.id);
                await panel.sessionContext.ready;
                panel.content.activeCellIndex = i;
                await app.commands.execute("notebook:run-cell");
            }""",
            [self.name, index],
        )
        if wait:
            time.sleep(0.3)
            self.wait_idle()

    def output(self, index: int) -> Any:
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea")


@pytest.fixture
def notebook_page(
    jupyter_server: JupyterServer, browser: Any, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A factory: `notebook_page(name, cells)` writes the notebook and opens it."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    opened: list[NotebookPage] = []

    def make(name: str, cells: list[str]) -> NotebookPage:
        jupyter_server.write_notebook(name, cells)
        nbp = NotebookPage(jupyter_server, page, name).open()
        opened.append(nbp)
        return nbp

    yield make
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        shot = Path(tempfile.gettempdir()) / f"llmw-{request.node.name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot}")
    for nbp in opened:  # stop the kernels: no thread or server outlives the test
        for session in jupyter_server.api("/api/sessions"):
            if session.get("path", "").endswith(nbp.name):
                req = urllib.request.Request(
                    f"{jupyter_server.url}/api/sessions/{session['id']}", method="DELETE"
                )
                urllib.request.urlopen(req, timeout=10).close()
    context.close()


@pytest.fixture
def screenshot() -> Any:
    """`screenshot(element, name)` saves a PNG when LLMW_SCREENSHOTS names a folder (for people
    to look at; tests never assert on pixels)."""

    def save(element: Any, name: str) -> None:
        folder = os.environ.get("LLMW_SCREENSHOTS")
        if folder:
            element.screenshot(path=os.path.join(folder, f"{name}.png"))

    return save


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
