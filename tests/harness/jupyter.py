"""Drive a real JupyterLab 4, Notebook 7 or classic Notebook 6.5 on 127.0.0.1 from Python, for
browser tests and benchmarks: start a server in a temp folder, write a notebook, run its cells,
wait for the kernel. Pair it with Playwright and a Chromium (Debian's /usr/bin/chromium here)."""

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    check: Callable[[], object],
    what: str,
    timeout: float = 30,
    seen: Callable[[], object] | None = None,
    every: float = 0.1,
) -> None:
    """Wait until `check()` is true, for what Playwright's `expect` cannot express (a number that
    must grow, a kernel's or a server's state). Raises AssertionError("no {what} within {timeout}
    s; last seen: ...") at the deadline; `seen()` says what was there instead."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            last = "" if seen is None else f"; last seen: {_safe(seen)}"
            raise AssertionError(f"no {what} within {timeout:g} s{last}")
        time.sleep(every)


def _safe(seen: Callable[[], object]) -> str:
    try:
        return repr(seen())
    except Exception as exc:  # what was seen is for the message only: never hide the timeout
        return f"<{type(exc).__name__}: {exc}>"


FLAVOURS = ("lab", "notebook", "classic")


def flavours_to_test() -> list[str]:
    """The hosts the browser tests run in: LLMW_HOSTS (comma-separated), else Lab and Notebook 7
    (the Colab row sets "classic": Notebook 6.5 with ipywidgets 7's front end)."""
    chosen = [f for f in os.environ.get("LLMW_HOSTS", "lab,notebook").split(",") if f]
    unknown = set(chosen) - set(FLAVOURS)
    if unknown:
        raise ValueError(f"LLMW_HOSTS names unknown hosts {sorted(unknown)}; known: {FLAVOURS}")
    return chosen


class JupyterServer:
    """A running server: `flavour` is "lab" (JupyterLab 4), "notebook" (Notebook 7) or "classic"
    (Notebook 6.5, whose widget front end is ipywidgets 7's, like Colab's)."""

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
        widgets = self.home / "settings" / "@jupyter-widgets" / "jupyterlab-manager"
        widgets.mkdir(parents=True)  # saving a notebook saves its widgets' state, as users can
        (widgets / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))
        self.port = free_port()
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
        if flavour == "classic":
            command = [
                sys.executable, "-m", "jupyter", "notebook", "--allow-root", "--no-browser",
                "--NotebookApp.ip=127.0.0.1", f"--NotebookApp.port={self.port}",
                "--NotebookApp.token=", "--NotebookApp.password=",
                f"--NotebookApp.notebook_dir={self.root}",
                "--NotebookApp.disable_check_xsrf=True",
            ]  # fmt: skip
        else:
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
        try:
            wait_until(
                self._started,
                f"jupyter {flavour} answering on {self.url}/api/status",
                timeout=90,
                seen=lambda: self.log.read_text()[-4000:],
                every=0.3,
            )
        except AssertionError as exc:
            self.stop()
            raise RuntimeError(f"jupyter {flavour} did not start: {exc}") from None

    def _started(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"jupyter {self.flavour} exited:\n{self.log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as r:
            return json.loads(r.read())

    def notebook_url(self, name: str) -> str:
        if self.flavour == "lab":  # a workspace of its own: no tabs restored from other tests
            return f"{self.url}/lab/workspaces/{Path(name).stem}/tree/{name}?reset"
        return f"{self.url}/notebooks/{name}"

    def write_notebook(self, name: str, cells: list[str]) -> str:
        import nbformat

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


class NotebookPage:
    """A notebook open in the browser, with helpers to run cells and wait for the kernel."""

    def __init__(self, server: JupyterServer, page: Any, name: str) -> None:
        self.server, self.page, self.name = server, page, name

    @property
    def classic(self) -> bool:
        return self.server.flavour == "classic"

    def open(self) -> NotebookPage:
        self.page.goto(self.server.notebook_url(self.name))
        if self.classic:
            self.page.wait_for_function(
                """() => {
                    const nb = window.Jupyter && window.Jupyter.notebook;
                    return Boolean(nb && nb._fully_loaded && nb.kernel && nb.kernel.is_connected());
                }""",
                timeout=60_000,
            )
            return self
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
        wait_until(
            lambda: self.kernel_state() == "idle",
            f"idle kernel for {self.name}",
            timeout=timeout,
            seen=self.kernel_state,
            every=0.2,
        )

    def run_cell(self, index: int, wait: bool = True) -> None:
        if self.classic:  # the cell's prompt shows its number once it has run
            self.page.evaluate(
                """(i) => {
                    const cell = window.Jupyter.notebook.get_cell(i);
                    cell.set_input_prompt();
                    window.Jupyter.notebook.execute_cells([i]);
                }""",
                index,
            )
            if wait:
                self.page.wait_for_function(
                    """(i) => typeof window.Jupyter.notebook.get_cell(i).input_prompt_number
                        === "number" && !window.Jupyter.notebook.kernel_busy""",
                    arg=index,
                    timeout=120_000,
                )
            return
        self.page.evaluate(  # the command's promise ends with the cell: not awaited unless `wait`
            """async ([name, i, wait]) => {
                const app = window.jupyterapp;
                const panel = Array.from(app.shell.widgets("main"))
                    .find((w) => w.context && w.context.path === name);
                app.shell.activateById(panel.id);
                await panel.sessionContext.ready;
                panel.content.activeCellIndex = i;
                const ran = app.commands.execute("notebook:run-cell");
                if (wait) await ran;
            }""",
            [self.name, index, wait],
        )
        if wait:  # the cell has run: its outputs are on the page; the server hears the idle
            self.wait_idle()

    def save_with_widgets(self) -> None:
        """Save the notebook with its widgets' state (what a notebook whose kernel is gone, or an
        HTML export of it, renders)."""
        if self.classic:
            self.page.evaluate("() => window.Jupyter.actions.call('widgets:save-with-widgets')")
        else:
            self.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        wait_until(
            lambda: '"application/vnd.jupyter.widget-state+json"' in self._saved_text(),
            f"widget state saved in {self.name}",
            timeout=30,
            every=0.2,
        )

    def _saved_text(self) -> str:
        return (self.server.root / self.name).read_text()

    def interrupt_kernel(self) -> None:
        """Interrupt the notebook's kernel, as Kernel → Interrupt does (SIGINT in the kernel)."""
        for session in self.server.api("/api/sessions"):
            if session.get("path", "").endswith(self.name) and session.get("kernel"):
                request = urllib.request.Request(
                    f"{self.server.url}/api/kernels/{session['kernel']['id']}/interrupt",
                    method="POST",
                )
                urllib.request.urlopen(request, timeout=10).close()

    def stop_kernel(self) -> None:
        """Shut the notebook's kernel down (its views stay on the page)."""
        for session in self.server.api("/api/sessions"):
            if session.get("path", "").endswith(self.name):
                request = urllib.request.Request(
                    f"{self.server.url}/api/sessions/{session['id']}", method="DELETE"
                )
                urllib.request.urlopen(request, timeout=10).close()

    def restart_kernel(self) -> None:
        """Restart the notebook's kernel from the page, as its Restart menu item does (no dialog);
        returns once the new kernel is idle."""
        if self.classic:  # the promise ends with the server's answer: the new kernel runs
            self.page.evaluate(
                """() => new Promise((done, fail) =>
                    window.Jupyter.notebook.kernel.restart(done, fail))"""
            )
        else:  # the promise ends once the server restarted the kernel
            self.page.evaluate(
                """async (name) => {
                    const panel = Array.from(window.jupyterapp.shell.widgets("main"))
                        .find((w) => w.context && w.context.path === name);
                    await panel.sessionContext.session.kernel.restart();
                }""",
                self.name,
            )
        self.wait_idle()

    def output(self, index: int) -> Any:
        if self.classic:
            return self.page.locator("#notebook-container .cell").nth(index).locator(".output")
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea")


def launch_chromium(playwright: Any) -> Any:
    """Launch headless Chromium with the flags that work on a closed network as root."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
