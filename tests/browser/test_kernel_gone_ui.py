"""Every way a kernel goes away is noticed by every live view: each says "Not connected to a
running kernel — run the cell again" and disables its controls (issue 26, item 8).

The ways: a restart from the page's own menu; a restart from another tab of the same notebook and
one through the server's REST API (what a kernel manager or the Running panel of another window
does: this page sees only a new kernel process start); a crash the server auto-restarts (SIGKILL
of the kernel process); a shut-down session, and a shut-down kernel.
"""

from __future__ import annotations

import os
import re
import signal
import urllib.request
from typing import Any

import pytest
from harness.jupyter import NotebookPage
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CELLS = [
    "import os, tempfile\n"
    "from llm_widgets import LLMKernelService, ModelCard, Chat\n"
    "from llm_widgets.testing import LocalHub\n"
    "hub = LocalHub().start()\n"
    "hub.add_file('demo-org/tiny-GGUF', 'tiny.Q4_K_M.gguf', os.urandom(100_000))\n"
    "service = LLMKernelService(endpoint=hub.url, cache_dir=tempfile.mkdtemp())\n"
    "LLMKernelService.set_instance(service)\n"
    "open('{pid_file}', 'w').write(str(os.getpid()))",
    "ModelCard('demo-org/tiny-GGUF', 'tiny.Q4_K_M.gguf')",
    "Chat()",
]
DISCONNECTED = re.compile(r"\bllmw-disconnected\b")
LINE = "Not connected to a running kernel — run the cell again."
WAYS = [
    "restart-from-page",
    "restart-from-other-tab",
    "restart-through-rest-api",
    "crash-auto-restart",
    "shutdown-session",
    "shutdown-kernel",
]
# how long a view may take to notice: the server's restarter polls a kernel every 3 s
NOTICE_MS = 20_000


def _request(server: Any, method: str, path: str) -> None:
    request = urllib.request.Request(f"{server.url}{path}", method=method, data=b"")
    urllib.request.urlopen(request, timeout=30).close()


def _session(nb: NotebookPage) -> dict[str, Any]:
    for session in nb.server.api("/api/sessions"):
        if session.get("path", "").endswith(nb.name) and session.get("kernel"):
            return dict(session)
    raise AssertionError(f"no session for {nb.name}: {nb.server.api('/api/sessions')}")


def _restart_from_other_tab(nb: NotebookPage, browser: Any) -> None:
    """A second window opens the same notebook (the same session, the same kernel) and restarts
    the kernel from its menu: the first page hears nothing of it but a new kernel starting."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        other = NotebookPage(nb.server, context.new_page(), nb.name).open()
        if other.classic:  # the promise ends with the server's answer: the new kernel runs
            other.page.evaluate(
                """() => new Promise((done, fail) =>
                    window.Jupyter.notebook.kernel.restart(done, fail))"""
            )
        else:  # the Restart menu item's call, once that page is connected to the kernel
            other.page.evaluate(
                """async (name) => {
                    const panel = Array.from(window.jupyterapp.shell.widgets("main"))
                        .find((w) => w.context && w.context.path === name);
                    await panel.sessionContext.ready;
                    await panel.sessionContext.session.kernel.restart();
                }""",
                nb.name,
            )
    finally:
        context.close()


def _make_kernel_go_away(way: str, nb: NotebookPage, browser: Any, pid: int) -> None:
    kernel = _session(nb)["kernel"]["id"]
    if way == "restart-from-page":
        nb.restart_kernel()
    elif way == "restart-from-other-tab":
        _restart_from_other_tab(nb, browser)
    elif way == "restart-through-rest-api":
        _request(nb.server, "POST", f"/api/kernels/{kernel}/restart")
    elif way == "crash-auto-restart":
        os.kill(pid, signal.SIGKILL)  # a crash, an OOM kill: the server's restarter starts anew
    elif way == "shutdown-session":
        _request(nb.server, "DELETE", f"/api/sessions/{_session(nb)['id']}")
    elif way == "shutdown-kernel":
        _request(nb.server, "DELETE", f"/api/kernels/{kernel}")
    else:
        raise ValueError(way)


@pytest.mark.parametrize("way", WAYS)
def test_every_live_view_notices_its_kernel_going_away(
    way: str, notebook_page: Any, browser: Any, tmp_path: Any
) -> None:
    pid_file = tmp_path / "kernel.pid"
    cells = [CELLS[0].replace("{pid_file}", str(pid_file)), *CELLS[1:]]
    nb = notebook_page(f"kernel_gone_{way.replace('-', '_')}.ipynb", cells)
    for index in range(len(cells)):
        nb.run_cell(index)
    card = nb.output(1).locator(".llmw-card")
    chat = nb.output(2).locator(".llmw-chat")
    controls = {
        "card": (card, [card.get_by_role("button", name="Download")]),
        "chat": (
            chat,
            [chat.get_by_role("textbox", name="Message"), chat.get_by_role("button", name="Send")],
        ),
    }
    for name, (view, needs_kernel) in controls.items():
        for control in needs_kernel:
            expect(control, f"the {name}'s control renders").to_be_visible(timeout=30_000)
            expect(control, f"a live kernel answers the {name}").not_to_have_attribute(
                "aria-disabled", "true", timeout=10_000
            )
        expect(view.get_by_text(LINE), f"the {name} is connected").to_be_hidden()

    _make_kernel_go_away(way, nb, browser, int(pid_file.read_text()))

    for name, (view, needs_kernel) in controls.items():
        expect(view.get_by_text(LINE), f"the {name} says its kernel is gone ({way})").to_be_visible(
            timeout=NOTICE_MS
        )
        expect(view, f"the {name} is marked disconnected ({way})").to_have_class(
            DISCONNECTED, timeout=1_000
        )
        for control in needs_kernel:
            expect(control, f"the {name}'s control is disabled ({way})").to_have_attribute(
                "aria-disabled", "true", timeout=1_000
            )
    # a click on the card reaches no kernel: the card stays idle, still says so
    card.get_by_role("button", name="Download").click(force=True)
    expect(card.get_by_text(LINE), f"the card still says so after a click ({way})").to_be_visible()
    expect(card, f"nothing was downloaded ({way})").to_have_attribute("data-status", "idle")


def test_a_page_opened_on_a_running_kernel_stays_connected_until_it_restarts(
    notebook_page: Any, browser: Any, tmp_path: Any
) -> None:
    """No false alarm: a second window opening the notebook on its running kernel (its views
    restored from that kernel, rendered while it is still being connected to) says nothing while
    the kernel runs cells, and says so once the kernel is restarted from elsewhere."""
    cells = [CELLS[0].replace("{pid_file}", str(tmp_path / "kernel.pid")), CELLS[1], "1 + 1"]
    nb = notebook_page("kernel_gone_second_window.ipynb", cells)
    nb.run_cell(0)
    nb.run_cell(1)
    download = nb.output(1).get_by_role("button", name="Download")
    expect(download, "the card renders").to_be_visible(timeout=30_000)
    nb.save_with_widgets()  # the second window's notebook has the card's output
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        other = NotebookPage(nb.server, context.new_page(), nb.name).open()
        card = other.output(1).locator(".llmw-card")
        expect(
            card.get_by_role("button", name="Download"), "the second window shows the live card"
        ).to_be_visible(timeout=30_000)
        expect(card, "the running kernel answers the second window's card").not_to_have_class(
            DISCONNECTED, timeout=10_000
        )
        other.run_cell(2)  # the kernel goes busy and idle again: nothing is gone
        nb.run_cell(2)
        for where, view in (("second", card), ("first", nb.output(1).locator(".llmw-card"))):
            expect(view.get_by_text(LINE), f"the {where} window's card is connected").to_be_hidden()
            expect(view, f"the {where} window's card is connected").not_to_have_class(DISCONNECTED)
        _make_kernel_go_away("restart-through-rest-api", nb, browser, 0)
        for where, view in (("second", card), ("first", nb.output(1).locator(".llmw-card"))):
            expect(
                view.get_by_text(LINE), f"the {where} window's card says its kernel is gone"
            ).to_be_visible(timeout=NOTICE_MS)
            expect(
                view.get_by_role("button", name="Download"),
                f"the {where} window's Download is disabled",
            ).to_have_attribute("aria-disabled", "true", timeout=1_000)
    finally:
        context.close()


def test_a_dropped_connection_that_comes_back_is_not_a_gone_kernel(notebook_page: Any) -> None:
    """The page's socket to the kernel drops and reconnects (a network blip; JupyterLab says
    "unknown" meanwhile): the kernel is the same, so the card ends up connected again."""
    nb = notebook_page(
        "kernel_gone_reconnect.ipynb", [CELLS[0].replace("{pid_file}", os.devnull), CELLS[1]]
    )
    nb.run_cell(0)
    nb.run_cell(1)
    card = nb.output(1).locator(".llmw-card")
    download = card.get_by_role("button", name="Download")
    expect(download, "the card renders").to_be_visible(timeout=30_000)
    expect(card, "a live kernel answers the card").not_to_have_class(DISCONNECTED, timeout=10_000)
    nb.page.evaluate(
        "() => window.Jupyter.notebook.kernel.reconnect()"
        if nb.classic
        else """async (name) => {
            const panel = Array.from(window.jupyterapp.shell.widgets("main"))
                .find((w) => w.context && w.context.path === name);
            await panel.sessionContext.session.kernel.reconnect();
        }""",
        nb.name,
    )
    expect(card.get_by_text(LINE), "the card is connected after the reconnection").to_be_hidden(
        timeout=NOTICE_MS
    )
    expect(download, "Download is enabled after the reconnection").not_to_have_attribute(
        "aria-disabled", "true"
    )
    download.click()  # and the kernel hears it: the card downloads
    expect(card, "the kernel took the download after the reconnection").not_to_have_attribute(
        "data-status", "idle", timeout=NOTICE_MS
    )
