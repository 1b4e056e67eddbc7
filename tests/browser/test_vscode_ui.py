"""VS Code's notebook widget renderer: the page in tests/vscode/ loads VS Code's own renderer
bundle (npm @vscode/jupyter-ipywidgets8, what VS Code puts in its notebook webview) and talks to a
real kernel through @jupyterlab/services, then the whole flow runs in it: Download, Cancel,
resume, Load, chat, Stop. It does not cover VS Code's extension-host kernel proxy (messages relayed
over postMessage) nor its webview's content security policy."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from compare_checks import BLIND as COMPARE_BLIND
from compare_checks import GRID as COMPARE_GRID
from compare_checks import SETUP as SETUP_COMPARE
from compare_checks import check_blind, check_grid
from markdown_chat import SAVED, check_rendered
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from tool_cards import check_tool_cards

from llm_widgets.demo import packaged_model_path
from llm_widgets.testing.jupyter import free_port
from llm_widgets.testing.openai_server import OpenAIServer

pytestmark = [pytest.mark.browser, pytest.mark.extra_host]

# the model thinks a few seconds (the grammar writes the block), then answers
GRAMMAR = 'root ::= "<think>" [a-z]{3,6} (" " [a-z]{3,6}){60,80} "</think>" "It is six."\n'

HARNESS = Path(__file__).parent.parent / "vscode"
SETUP = """
import os, tempfile
from llm_widgets import LLMKernelService, ModelCard, Chat
from llm_widgets.testing import LocalHub
from llm_widgets.testing.tiny_gguf import write_tiny_gguf, CHATML_TEMPLATE
from llm_widgets.testing.gguf_copy import QWEN3_STYLE_TEMPLATE
hub = LocalHub().start()
REPO, FILE = "demo-org/tiny-GGUF", "tiny.F32.gguf"
model = write_tiny_gguf(tempfile.mkdtemp() + "/t.gguf", n_ctx=4096, chat_template=CHATML_TEMPLATE,
                        n_embd=128, n_layer=3)
thinker = write_tiny_gguf(tempfile.mkdtemp() + "/think.gguf", n_ctx=4096,
                          chat_template=QWEN3_STYLE_TEMPLATE, n_embd=128, n_layer=3)
hub.add_file(REPO, FILE, model)
hub.add_file(REPO, "big.Q4_K_M.gguf", os.urandom(12_000_000))
hub.faults.throttle_bps = 2_000_000
LLMKernelService.set_instance(LLMKernelService(endpoint=hub.url, cache_dir=tempfile.mkdtemp()))
"""


@pytest.fixture
def vscode_page(browser: Any) -> Iterator[Any]:
    """The harness page on a real Jupyter server (same origin), with a kernel started."""
    dist = HARNESS / "dist"
    assert (dist / "bundle.js").is_file(), "build it: cd tests/vscode && npm ci && npm run build"
    home = Path(tempfile.mkdtemp(prefix="llmw-vscode-"))
    static = home / "static" / "harness"
    shutil.copytree(dist, static)
    # where VS Code's extension finds a third-party widget's AMD build: the kernel's environment
    anywidget_amd = Path(sys.prefix) / "share" / "jupyter" / "nbextensions" / "anywidget"
    shutil.copytree(anywidget_amd, static / "nbextensions" / "anywidget")
    (home / "root").mkdir()
    port = free_port()
    env = dict(os.environ, HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1")
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "server",
            "--allow-root",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={home / 'root'}",
            "--ServerApp.disable_check_xsrf=True",
            # not /files/: that answers with `Content-Security-Policy: sandbox` (origin null)
            f"--ServerApp.extra_static_paths=['{home / 'static'}']",
        ],  # fmt: skip
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    _wait(lambda: _up(f"{url}/api/status"), 60, lambda: (home / "server.log").read_text())
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    try:
        page.goto(f"{url}/static/harness/index.html")
        page.wait_for_function("document.body.dataset.ready", timeout=60_000)
        assert page.evaluate("document.body.dataset.ready") == "true", page.evaluate(
            "window.harnessErrors"
        )
        yield page
        assert page.evaluate("window.harnessErrors") == []
    finally:
        page.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def _up(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except OSError:
        return False


def _wait(predicate: Any, timeout: float, why: Any = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, why()
        time.sleep(0.1)


def _cell(page: Any, code: str) -> Any:
    """Run a cell through the page's kernel; the locator of its output."""
    reply = page.evaluate("code => window.runCell(code)", code)
    assert reply["status"] == "ok", f"{reply.get('ename')}: {reply.get('evalue')}"
    return page.locator(f'.cell-output[data-cell="{reply["cell"]}"]')


def _value(bar: Any) -> float:
    return float(bar.get_attribute("aria-valuenow") or 0)


def test_the_whole_flow_in_vscodes_widget_renderer(vscode_page: Any) -> None:
    page = vscode_page
    _cell(page, SETUP)

    card = _cell(page, 'ModelCard(REPO, "big.Q4_K_M.gguf")')
    download = card.get_by_role("button", name="Download", exact=True)
    download.wait_for(timeout=60_000)
    assert any(line.startswith("loaded AnyModel") for line in page.evaluate("window.harnessLog"))
    bar = card.get_by_role("progressbar", name="Download progress")
    download.click()
    _wait(lambda: 15 <= _value(bar) < 90, 30)  # background updates reach the view
    card.get_by_role("button", name="Cancel", exact=True).click()
    card.get_by_text(re.compile(r"Cancelled — .* MB of 12\.0 MB kept")).wait_for(timeout=15_000)
    kept = _value(bar)
    assert kept >= 15  # the bar shows what is kept, not 0
    card.get_by_role("button", name="Download", exact=True).click()
    card.get_by_text(re.compile(rf"Resuming download of .* from {kept:.0f}%")).wait_for(
        timeout=15_000
    )
    _wait(lambda: _value(bar) == 100, 60)
    card.get_by_text("Downloaded").first.wait_for(timeout=10_000)

    tiny = _cell(page, "card = ModelCard(REPO, FILE); card")
    # a Send before the model is there: the text stays, the hint names the card's buttons
    early = _cell(page, "Chat(card)")
    early.get_by_role("textbox", name="Message").fill("Too early?")
    early.get_by_role("button", name="Send", exact=True).click(timeout=30_000)
    hint = "click Download on the model card, then Load"
    early.locator(".llmw-error", has_text=hint).wait_for(timeout=15_000)
    assert early.get_by_role("textbox", name="Message").input_value() == "Too early?"
    tiny.get_by_role("button", name="Download", exact=True).click(timeout=60_000)
    tiny.get_by_role("button", name="Load", exact=True).click(timeout=60_000)
    tiny.get_by_text("Loaded").first.wait_for(timeout=60_000)

    chat = _cell(page, "chat = Chat(card); chat.max_tokens = 2000; chat")
    chat.get_by_text("tiny · F32 · in this kernel").wait_for(timeout=30_000)  # repo and file
    chat.get_by_role("textbox", name="Message").fill("Hello there")
    chat.get_by_role("button", name="Send", exact=True).click(timeout=30_000)
    transcript = chat.get_by_role("log", name="Transcript")
    transcript.get_by_text("Hello there").wait_for(timeout=30_000)
    answer = transcript.locator(".llmw-msg-assistant .llmw-text").last
    _wait(lambda: len(answer.inner_text().strip()) > 0, 60)
    send, stop = (chat.get_by_role("button", name=n, exact=True) for n in ("Send", "Stop"))
    if stop.is_enabled():
        try:
            stop.click(timeout=5_000)
        except PlaywrightTimeoutError:  # the answer ended between the look and the click
            assert stop.is_disabled()
    _wait(lambda: send.is_enabled() and stop.is_disabled(), 60)
    assert chat.locator(".llmw-error").inner_text() == ""
    chat.get_by_role("button", name="Regenerate", exact=True).click()  # answered again, in place
    _wait(lambda: send.is_enabled() and chat.locator(".llmw-streaming").count() == 0, 60)
    assert chat.locator(".llmw-msg-assistant").count() == 1
    assert chat.locator(".llmw-error").inner_text() == ""

    # a model whose template thinks: the Think switch; a thinking turn streams into a folded
    # block, then "Thought for N s"
    assert chat.get_by_role("switch", name="Think").is_hidden()  # chatml cannot think
    _cell(page, "LLMKernelService.instance().load_model(thinker).wait(60)")
    thinker = _cell(page, f"chat2 = Chat(generation_params={{'grammar': {GRAMMAR!r}}}); chat2")
    switch = thinker.get_by_role("switch", name="Think")
    switch.wait_for(timeout=30_000)
    assert switch.is_checked()
    thinker.get_by_role("textbox", name="Message").fill("What is 3+3?")
    thinker.get_by_role("button", name="Send", exact=True).click(timeout=30_000)
    # the block by its place: the harness may deliver a short thinking late and at once, so it
    # can already be "Thought for N s" when first seen (the Lab and Notebook rows see it live)
    toggle = thinker.locator(".llmw-thinking-toggle").last
    toggle.wait_for(timeout=120_000)
    assert re.match(r"^(Thinking|Thought)", toggle.inner_text().strip()), toggle.inner_text()
    assert toggle.get_attribute("aria-expanded") == "false"
    thinker.get_by_role("button", name=re.compile(r"^Thought for \d+ s$")).wait_for(timeout=60_000)
    answer = thinker.locator(".llmw-msg-assistant .llmw-text").last
    _wait(lambda: answer.inner_text().strip() == "It is six.", 30)
    switch.uncheck()
    _wait(lambda: "False" in _cell(page, "print(chat2.think)").inner_text(), 30)

    restored = _cell(page, f"Chat(messages={SAVED})")
    check_rendered(restored, page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    restored.get_by_role("button", name="Copy code").click()
    _wait(lambda: page.evaluate("() => navigator.clipboard.readText()") == "print('hi')", 10)

    page.evaluate("() => window.harnessKernel.restart()")  # the views say their kernel is gone
    for view in (card, tiny, chat):
        view.get_by_text("Not connected to a running kernel — run the cell again.").wait_for(
            timeout=15_000
        )
    # the thinking model above replaced tiny's: its card offers Load again, disabled now
    load = tiny.get_by_role("button", name=re.compile("^(Load|Unload)$"))
    assert load.get_attribute("aria-disabled") == "true"


def test_a_model_on_a_server_in_vscodes_widget_renderer(vscode_page: Any) -> None:
    """ServerConnection and the Chat against a real OpenAI-compatible server, in VS Code's
    renderer: Connect, stream, Stop; then a `%%llm` cell on the same server."""
    page = vscode_page
    with OpenAIServer(packaged_model_path(), alias="smollm2-server") as server:
        _cell(page, "from llm_widgets import ServerConnection, Chat")
        panel = _cell(page, f"ServerConnection(base_url={server.base_url!r})")
        panel.get_by_role("button", name="Connect", exact=True).click(timeout=60_000)
        panel.get_by_text("Connected", exact=True).wait_for(timeout=30_000)
        chat = _cell(page, "chat = Chat(); chat.max_tokens = 1500; chat")
        chat.get_by_text("smollm2-server · on 127.0.0.1").wait_for(timeout=30_000)
        chat.get_by_role("textbox", name="Message").fill("Write a long story about a storm.")
        chat.get_by_role("button", name="Send", exact=True).click()
        answer = chat.get_by_role("log", name="Transcript").locator(".llmw-msg-assistant").last
        _wait(lambda: len(answer.inner_text().strip()) > 20, 60)
        chat.get_by_role("button", name="Stop", exact=True).click()
        chat.get_by_text("Stopped by you").wait_for(timeout=15_000)
        assert chat.locator(".llmw-error").inner_text() == ""
        check_a_streamed_magic_cell(page)  # the magic on the same server


def test_a_batch_run_in_vscodes_widget_renderer(vscode_page: Any) -> None:
    """BatchRun in VS Code's renderer: progress reaches the view, Stop, then Resume to the end."""
    page = vscode_page
    _cell(
        page,
        "import tempfile\n"
        "from llm_widgets import BatchRun, LLMKernelService\n"
        "from llm_widgets.demo import packaged_model_path, sample_reviews\n"
        "service = LLMKernelService.instance()\n"
        "service.load_model(packaged_model_path(), n_ctx=2048).wait(120)",
    )
    panel = _cell(
        page,
        "BatchRun.map(sample_reviews()[:60], prompt='Is this review positive or negative? {text}',"
        " choices=['positive', 'negative'], temperature=0.0, cache=tempfile.mkdtemp())",
    )
    bar = panel.get_by_role("progressbar", name="Batch progress")
    bar.wait_for(timeout=60_000)
    _wait(lambda: _value(bar) >= 5, 60)
    panel.get_by_role("button", name="Stop", exact=True).click()
    panel.get_by_text("Stopped — Resume goes on where it stopped").wait_for(timeout=15_000)
    panel.get_by_role("button", name="Resume", exact=True).click()
    _wait(lambda: _value(bar) == 100, 240)
    panel.get_by_text("Done", exact=True).wait_for(timeout=15_000)


def test_tool_cards_in_vscodes_widget_renderer(vscode_page: Any) -> None:
    """The Chat's tool cards in VS Code's renderer: Approve, Deny, Stop, a restored chat."""
    check_tool_cards(lambda code: _cell(vscode_page, code))


def check_a_streamed_magic_cell(page: Any) -> None:
    """A `%%llm` answer streams into one output (display_data, then update_display_data under its
    display id, as VS Code renders them), and the kernel's interrupt keeps what came."""
    _cell(page, "%load_ext llm_widgets\nimport pandas as pd\ndf = pd.DataFrame({'n': [1, 2]})")
    index = page.evaluate(
        "code => { window.pendingCell = window.runCell(code);"
        " return document.querySelectorAll('.cell-output').length - 1; }",
        "%%llm --max-tokens 1500\nWrite a very long story about the numbers in @df.",
    )
    shown = page.locator(f'.cell-output[data-cell="{index}"] pre.display_data')
    lengths: list[int] = []
    _wait(lambda: shown.count() == 1, 30)
    while len(set(lengths)) < 3:  # updated in place as the answer grows
        assert len(lengths) < 600, f"the answer did not stream: {lengths[-5:]}"
        lengths.append(len(shown.inner_text()))
        time.sleep(0.1)
    assert shown.inner_text().startswith("> Attached @df (pandas DataFrame, 2 rows × 1 columns")
    page.evaluate("() => window.harnessKernel.interrupt()")
    reply = page.evaluate("() => window.pendingCell")
    assert reply["status"] == "ok", reply
    assert shown.count() == 1 and shown.inner_text().endswith(
        "*stopped — the answer so far is kept*"
    )


def test_a_comparison_in_vscodes_widget_renderer(vscode_page: Any) -> None:
    """Compare in VS Code's renderer: the grid, Stop / Resume, and a blind round's picks."""
    page = vscode_page
    _cell(page, SETUP_COMPARE)
    check_grid(_cell(page, COMPARE_GRID))
    check_blind(_cell(page, COMPARE_BLIND))
