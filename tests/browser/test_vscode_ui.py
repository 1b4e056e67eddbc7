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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from compare_checks import BLIND as COMPARE_BLIND
from compare_checks import GRID as COMPARE_GRID
from compare_checks import SETUP as SETUP_COMPARE
from compare_checks import check_blind, check_grid
from harness.jupyter import free_port
from helpers import (
    ENDLESS_GRAMMAR,
    FULL,
    expect,
    progress,
    server_up,
    wait_idle_chat,
    wait_progress,
    wait_until,
)
from markdown_chat import SAVED, check_rendered
from tool_cards import check_tool_cards

from llm_widgets.demo import packaged_model_path
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
    wait_until(
        lambda: server_up(f"{url}/api/status"),
        f"jupyter server answering on {url}",
        60,
        seen=lambda: (home / "server.log").read_text()[-3000:],
        every=0.3,
    )
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


def _cell(page: Any, code: str) -> Any:
    """Run a cell through the page's kernel; the locator of its output."""
    reply = page.evaluate("code => window.runCell(code)", code)
    assert reply["status"] == "ok", f"{reply.get('ename')}: {reply.get('evalue')}"
    return page.locator(f'.cell-output[data-cell="{reply["cell"]}"]')


def test_the_whole_flow_in_vscodes_widget_renderer(vscode_page: Any) -> None:
    page = vscode_page
    _cell(page, SETUP)

    card = _cell(page, 'ModelCard(REPO, "big.Q4_K_M.gguf")')
    download = card.get_by_role("button", name="Download", exact=True)
    expect(download, "the card's Download").to_be_visible(timeout=60_000)
    assert any(line.startswith("loaded AnyModel") for line in page.evaluate("window.harnessLog"))
    bar = card.get_by_role("progressbar", name="Download progress")
    download.click()
    # background updates reach the view
    wait_progress(bar, lambda v: 15 <= v < 90, "download progress between 15% and 90%")
    card.get_by_role("button", name="Cancel", exact=True).click()
    expect(
        card.get_by_text(re.compile(r"Cancelled — .* MB of 12\.0 MB kept")), "the Cancelled line"
    ).to_be_visible()
    kept = progress(bar)
    assert kept >= 15  # the bar shows what is kept, not 0
    card.get_by_role("button", name="Download", exact=True).click()
    expect(
        card.get_by_text(re.compile(rf"Resuming download of .* from {kept:.0f}%")),
        f"the notice of a resume from {kept:.0f}%",
    ).to_be_visible()
    expect(bar, "the resumed download's full bar").to_have_attribute(
        "aria-valuenow", FULL, timeout=60_000
    )
    expect(card.get_by_text("Downloaded").first, "the Downloaded line").to_be_visible()

    tiny = _cell(page, "card = ModelCard(REPO, FILE); card")
    # a Send before the model is there: the text stays, the hint names the card's buttons
    early = _cell(page, "Chat(card)")
    early.get_by_role("textbox", name="Message").fill("Too early?")
    early.get_by_role("button", name="Send", exact=True).click(timeout=30_000)
    hint = "click Download on the model card, then Load"
    expect(early.locator(".llmw-error", has_text=hint), "the hint: no model yet").to_be_visible()
    expect(early.get_by_role("textbox", name="Message"), "the text kept in the box").to_have_value(
        "Too early?"
    )
    tiny.get_by_role("button", name="Download", exact=True).click(timeout=60_000)
    tiny.get_by_role("button", name="Load", exact=True).click(timeout=60_000)
    expect(tiny.get_by_text("Loaded").first, "the tiny model loaded").to_be_visible(timeout=60_000)

    # an answer that cannot end by itself (its grammar never allows the end): Stop finds it
    # running, however fast the tiny model writes
    chat = _cell(
        page,
        f"chat = Chat(card, generation_params={{'grammar': {ENDLESS_GRAMMAR!r}}})\n"
        "chat.max_tokens = 3000; chat",
    )
    expect(  # repo and file
        chat.get_by_text("tiny · F32 · in this kernel"), "the model in the Chat"
    ).to_be_visible()
    chat.get_by_role("textbox", name="Message").fill("Hello there")
    chat.get_by_role("button", name="Send", exact=True).click(timeout=30_000)
    transcript = chat.get_by_role("log", name="Transcript")
    expect(transcript.get_by_text("Hello there"), "the message in the transcript").to_be_visible()
    answer = transcript.locator(".llmw-msg-assistant .llmw-text").last
    expect(answer, "the answer's first words").to_have_text(re.compile(r"\S"), timeout=60_000)
    send, stop = (chat.get_by_role("button", name=n, exact=True) for n in ("Send", "Stop"))
    stop.click()
    expect(chat.get_by_text("Stopped by you"), "the answer's Stopped mark").to_be_visible()
    expect(send, "Send once stopped").to_be_enabled()
    expect(stop, "Stop disabled once stopped").to_be_disabled()
    expect(chat.locator(".llmw-error"), "no error in the Chat").to_have_text("")
    chat.get_by_role("button", name="Regenerate", exact=True).click()  # answered again, in place
    expect(chat.get_by_text("Stopped by you"), "the stopped answer replaced").to_have_count(0)
    stop.click()  # the regenerated answer cannot end by itself either
    expect(chat.get_by_text("Stopped by you"), "the regenerated answer stopped").to_be_visible()
    wait_idle_chat(chat, "the regenerated answer ended")
    expect(chat.locator(".llmw-msg-assistant"), "one answer, regenerated").to_have_count(1)
    expect(chat.locator(".llmw-error"), "no error after Regenerate").to_have_text("")

    # a model whose template thinks: the Think switch; a thinking turn streams into a folded
    # block, then "Thought for N s"
    expect(chat.get_by_role("switch", name="Think"), "no Think: chatml cannot").to_be_hidden()
    _cell(page, "LLMKernelService.instance().load_model(thinker).wait(60)")
    thinker = _cell(page, f"chat2 = Chat(generation_params={{'grammar': {GRAMMAR!r}}}); chat2")
    switch = thinker.get_by_role("switch", name="Think")
    expect(switch, "the Think switch, on").to_be_checked()
    thinker.get_by_role("textbox", name="Message").fill("What is 3+3?")
    thinker.get_by_role("button", name="Send", exact=True).click(timeout=30_000)
    # the block by its place: the harness may deliver a short thinking late and at once, so it
    # can already be "Thought for N s" when first seen (the Lab and Notebook rows see it live)
    toggle = thinker.locator(".llmw-thinking-toggle").last
    expect(toggle, "the thinking's toggle").to_have_text(
        re.compile(r"^\s*(Thinking|Thought)"), timeout=120_000
    )
    expect(toggle, "the thinking folded").to_have_attribute("aria-expanded", "false")
    expect(
        thinker.get_by_role("button", name=re.compile(r"^Thought for \d+ s$")),
        "the thinking's end: Thought for N s",
    ).to_be_visible(timeout=60_000)
    answer = thinker.locator(".llmw-msg-assistant .llmw-text").last
    expect(answer, "the answer after the thinking").to_have_text("It is six.", use_inner_text=True)
    switch.uncheck()
    wait_until(
        lambda: "False" in _cell(page, "print(chat2.think)").inner_text(),
        "chat2.think False in Python",
        30,
    )

    restored = _cell(page, f"Chat(messages={SAVED})")
    check_rendered(restored, page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    restored.get_by_role("button", name="Copy code").click()
    wait_until(
        lambda: page.evaluate("() => navigator.clipboard.readText()") == "print('hi')",
        "the code on the clipboard",
        10,
        seen=lambda: page.evaluate("() => navigator.clipboard.readText()"),
    )

    page.evaluate("() => window.harnessKernel.restart()")  # the views say their kernel is gone
    for name, view in (("card", card), ("tiny card", tiny), ("Chat", chat)):
        expect(
            view.get_by_text("Not connected to a running kernel — run the cell again."),
            f"the {name}'s offline line after the restart",
        ).to_be_visible()
    # the thinking model above replaced tiny's: its card offers Load again, disabled now
    load = tiny.get_by_role("button", name=re.compile("^(Load|Unload)$"))
    expect(load, "the tiny card's Load disabled").to_have_attribute("aria-disabled", "true")


def test_a_model_on_a_server_in_vscodes_widget_renderer(vscode_page: Any) -> None:
    """ServerConnection and the Chat against a real OpenAI-compatible server, in VS Code's
    renderer: Connect, stream, Stop; then a `%%llm` cell on the same server."""
    page = vscode_page
    with OpenAIServer(packaged_model_path(), alias="smollm2-server") as server:
        _cell(page, "from llm_widgets import ServerConnection, Chat")
        panel = _cell(page, f"ServerConnection(base_url={server.base_url!r})")
        panel.get_by_role("button", name="Connect", exact=True).click(timeout=60_000)
        expect(panel.get_by_text("Connected", exact=True), "Connected").to_be_visible()
        # an answer that cannot end by itself: Stop always finds it running
        chat = _cell(
            page,
            f"chat = Chat(generation_params={{'grammar': {ENDLESS_GRAMMAR!r}}})\n"
            "chat.max_tokens = 1500; chat",
        )
        expect(
            chat.get_by_text("smollm2-server · on 127.0.0.1"), "the server in the Chat"
        ).to_be_visible()
        chat.get_by_role("textbox", name="Message").fill("Write a long story about a storm.")
        chat.get_by_role("button", name="Send", exact=True).click()
        answer = chat.get_by_role("log", name="Transcript").locator(".llmw-msg-assistant").last
        expect(answer, "20 characters streamed from the server").to_have_text(
            re.compile(r"\S[\s\S]{19,}\S"), use_inner_text=True, timeout=60_000
        )
        chat.get_by_role("button", name="Stop", exact=True).click()
        expect(chat.get_by_text("Stopped by you"), "the answer's Stopped mark").to_be_visible()
        expect(chat.locator(".llmw-error"), "no error in the Chat").to_have_text("")
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
    expect(bar, "the batch's progress bar").to_be_visible(timeout=60_000)
    wait_progress(bar, lambda v: v >= 5, "batch progress of 5%", timeout=60)
    panel.get_by_role("button", name="Stop", exact=True).click()
    expect(
        panel.get_by_text("Stopped — Resume goes on where it stopped"), "the Stopped line"
    ).to_be_visible()
    panel.get_by_role("button", name="Resume", exact=True).click()
    expect(bar, "the resumed run's full bar").to_have_attribute(
        "aria-valuenow", FULL, timeout=240_000
    )
    expect(panel.get_by_text("Done", exact=True), "the Done line").to_be_visible()


def test_tool_cards_in_vscodes_widget_renderer(vscode_page: Any) -> None:
    """The Chat's tool cards in VS Code's renderer: Approve, Deny, Stop, a restored chat."""
    check_tool_cards(lambda code: _cell(vscode_page, code))


def check_a_streamed_magic_cell(page: Any) -> None:
    """A `%%llm` answer streams into one output (display_data, then update_display_data under its
    display id, as VS Code renders them), and the kernel's interrupt keeps what came."""
    _cell(
        page,
        "%load_ext llm_widgets\nimport pandas as pd\ndf = pd.DataFrame({'n': [1, 2]})\n"
        # an answer that cannot end by itself: the interrupt always finds it running
        "from llm_widgets import LLMKernelService\n"
        "service = LLMKernelService.instance()\n"
        "_generate = service.generate_chat_completion\n"
        "service.generate_chat_completion = lambda messages, **kw: _generate(\n"
        f"    messages, **{{'grammar': {ENDLESS_GRAMMAR!r}, **kw}})",
    )
    index = page.evaluate(
        "code => { window.pendingCell = window.runCell(code);"
        " return document.querySelectorAll('.cell-output').length - 1; }",
        "%%llm --max-tokens 1500\nWrite a very long story about the numbers in @df.",
    )
    shown = page.locator(f'.cell-output[data-cell="{index}"] pre.display_data')
    lengths: list[int] = []
    expect(shown, "the magic's one output").to_have_count(1)

    def grown() -> bool:  # updated in place as the answer grows
        lengths.append(len(shown.inner_text()))
        return len(set(lengths)) >= 3

    wait_until(grown, "three lengths of the streamed answer", 60, seen=lambda: lengths[-5:])
    expect(shown, "the magic's attachment line").to_have_text(
        re.compile(r"^> Attached @df \(pandas DataFrame, 2 rows × 1 columns"), use_inner_text=True
    )
    page.evaluate("() => window.harnessKernel.interrupt()")  # the answer cannot have ended
    reply = page.evaluate("() => window.pendingCell")
    assert reply["status"] == "ok", reply
    expect(shown, "still one output").to_have_count(1)
    expect(shown, "the magic's Stopped line").to_have_text(
        re.compile(r"\*stopped — the answer so far is kept\*\s*$"), use_inner_text=True
    )


def test_a_comparison_in_vscodes_widget_renderer(vscode_page: Any) -> None:
    """Compare in VS Code's renderer: the grid, Stop / Resume, and a blind round's picks."""
    page = vscode_page
    _cell(page, SETUP_COMPARE)
    check_grid(_cell(page, COMPARE_GRID))
    check_blind(_cell(page, COMPARE_BLIND))
