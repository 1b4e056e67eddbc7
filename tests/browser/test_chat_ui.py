"""Chat in a real browser with the real SmolLM2: Send, tokens stream in, Stop, and chat again."""

from __future__ import annotations

import time
from typing import Any

import pytest
from markdown_chat import ANSWER, SAVED, check_rendered

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "import tempfile\n"
    "from llm_widgets import Chat, LLMKernelService\n"
    "from llm_widgets.demo import packaged_model_path\n"
    "service = LLMKernelService(cache_dir=tempfile.mkdtemp())\n"
    "LLMKernelService.set_instance(service)\n"
    "facts = service.load_model(packaged_model_path(), n_ctx=2048).wait(120)",
    "chat = Chat()\nchat.max_tokens = 1500\nchat",
    "print('TURNS', [m['role'] for m in chat.messages], 'STOP', chat.job.stop_reason)",
    "print('SETTINGS', chat.temperature, chat.trim_history)",
    "chat.max_tokens = 60",
    "%load_ext llm_widgets\n"
    "import pandas as pd\n"
    "df = pd.DataFrame({'city': ['Paris', 'Lyon'], 'population': [2100000, 513000]})",
    "%%llm --max-tokens 1500\nWrite a very long, detailed story about the cities in @df.",
    "magic = get_ipython().magics_manager.registry['LLMMagics']\n"
    "print('MAGIC', magic.job.state, len(magic.messages), len(magic.job.text) > 0)",
]


def test_send_stream_stop_and_send_again(notebook_page: Any, screenshot: Any) -> None:
    nb = notebook_page("chat_ui.ipynb", CELLS)
    nb.run_cell(0)
    nb.run_cell(1)
    chat = nb.output(1).locator(".llmw-chat")
    chat.wait_for(timeout=30_000)
    message = chat.get_by_role("textbox", name="Message")
    send, stop = chat.get_by_role("button", name="Send"), chat.get_by_role("button", name="Stop")
    assert stop.is_disabled()

    message.fill("Write a very long, detailed story about a lighthouse keeper and a storm.")
    send.click()
    answer = chat.locator(".llmw-msg-assistant .llmw-text").last
    deadline = time.monotonic() + 30
    while len(answer.inner_text().strip()) < 5:  # tokens appear as they stream
        assert time.monotonic() < deadline, "no tokens streamed"
        time.sleep(0.05)
    assert stop.is_enabled() and send.is_disabled()
    # the page stays responsive while the answer streams: frames keep coming, typing works,
    # and the answer is Markdown (paragraphs), not raw text
    frames = nb.page.evaluate(
        "() => new Promise((done) => { let n = 0; const tick = () => "
        "(++n < 30 ? requestAnimationFrame(tick) : done(n)); requestAnimationFrame(tick); })"
    )
    assert frames == 30
    message.fill("typing while it streams")
    assert message.input_value() == "typing while it streams"
    message.fill("")
    assert answer.locator("p").count() >= 1
    partial = answer.inner_text()

    stop.click()
    # why it ended, in words, as a mark on the answer; the figures without jargon
    stopped = chat.locator(".llmw-msg-assistant").last
    stopped.get_by_text("Stopped by you").wait_for(timeout=10_000)
    assert stopped.get_attribute("data-stop") == "aborted"
    assert send.is_enabled() and stop.is_disabled()
    assert len(answer.inner_text()) >= len(partial)
    figures = chat.get_by_label("Answer statistics")
    assert "tokens/s" in figures.inner_text() and "stopped" not in figures.inner_text()
    assert "aborted" not in chat.inner_text()
    # the answering model, named by its file where the user looks (the GGUF's name: a tooltip)
    head = chat.locator(".llmw-head")
    assert "SmolLM2-135M-Instruct · Q4_1 · in this kernel" in head.inner_text()
    assert "Smollm2 135M" not in head.inner_text()
    assert "GGUF name: Smollm2 135M" in (head.locator(".llmw-model").get_attribute("title") or "")
    assert stopped.locator(".llmw-role").inner_text() == "SmolLM2-135M-Instruct · Q4_1"
    screenshot(chat, "chat-stopped")

    nb.run_cell(2)
    text = nb.output(2).inner_text()
    assert "TURNS ['user', 'assistant'] STOP aborted" in text, text

    # while the next answer streams, the stopped one's figures are not shown; its mark stays
    nb.page.evaluate(
        "() => { window.__llmwSeen = []; const look = () => {"
        " if (document.querySelector('.llmw-streaming')) window.__llmwSeen.push("
        " [...document.querySelectorAll('.llmw-stats')].map((s) => s.textContent).join(''));"
        " if (window.__llmwSeen.length < 100000) requestAnimationFrame(look); };"
        " requestAnimationFrame(look); }"
    )
    nb.run_cell(4)
    message.fill("Say hello.")
    message.press("Enter")
    deadline = time.monotonic() + 60
    while not (
        send.is_enabled()
        and chat.locator(".llmw-msg-assistant").count() == 2
        and chat.locator(".llmw-streaming").count() == 0
    ):
        assert time.monotonic() < deadline, "the second answer did not finish"
        time.sleep(0.1)
    seen = nb.page.evaluate("() => window.__llmwSeen")
    assert seen and set(seen) == {""}, f"figures shown while the answer streamed: {set(seen)}"
    assert chat.locator(".llmw-msg-assistant").first.get_by_text("Stopped by you").is_visible()
    assert chat.get_by_label("Answer statistics").count() == 1  # on the last answer only
    last = chat.locator(".llmw-msg-assistant").last
    assert "tokens/s" in last.get_by_label("Answer statistics").inner_text()
    assert last.locator(".llmw-text").inner_text().strip()

    chat.get_by_role("button", name="Clear").click()
    chat.get_by_text("No messages yet.").wait_for(timeout=10_000)

    # settings set in the page reach Python
    chat.get_by_text("Settings").click()
    trim = chat.get_by_role("checkbox", name="Leave out the oldest turns when the context is full")
    assert trim.is_checked()
    trim.uncheck()
    temperature = chat.get_by_role("spinbutton", name="Temperature")
    temperature.fill("0.3")
    temperature.press("Enter")
    screenshot(chat, "chat-settings")
    deadline = time.monotonic() + 15
    while True:
        nb.run_cell(3)
        text = nb.output(3).inner_text()
        if "SETTINGS 0.3 False" in text:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.2)

    check_a_streamed_magic_cell_and_at_df_in_the_chat(nb, chat)


def check_a_streamed_magic_cell_and_at_df_in_the_chat(nb: Any, chat: Any) -> None:
    """`%%llm` streams into its output as Markdown updated in place, says what @df attached,
    and the host's interrupt stops it with what came kept; then @df from the Chat's text box."""
    nb.run_cell(5)
    nb.run_cell(6, wait=False)
    output = nb.output(6)
    output.locator("blockquote").get_by_text("Attached @df").wait_for(timeout=60_000)
    lengths: list[int] = []
    deadline = time.monotonic() + 60
    while len(set(lengths)) < 3:  # the text grows, update after update
        assert time.monotonic() < deadline, f"the answer did not stream: {lengths}"
        lengths.append(len(output.inner_text()))
        time.sleep(0.1)
    assert output.locator("p").count() >= 1  # rendered as Markdown
    nb.interrupt_kernel()
    output.get_by_text("stopped — the answer so far is kept").wait_for(timeout=30_000)
    nb.wait_idle()
    assert "KeyboardInterrupt" not in output.inner_text()
    assert output.locator("blockquote").count() == 1  # one output, updated in place
    nb.run_cell(7)
    assert "MAGIC cancelled 2 True" in nb.output(7).inner_text()

    chat.get_by_role("button", name="Clear").click()
    chat.get_by_role("textbox", name="Message").fill("Which city in @df is larger?")
    chat.get_by_role("button", name="Send").click()
    chat.get_by_text("Attached @df (pandas DataFrame, 2 rows × 2 columns").wait_for(timeout=30_000)
    transcript = chat.get_by_role("log", name="Transcript")
    transcript.get_by_text("Context from the notebook").wait_for(timeout=30_000)
    send = chat.get_by_role("button", name="Send")
    deadline = time.monotonic() + 60
    while not send.is_enabled():  # the answer ends (max_tokens 60)
        assert time.monotonic() < deadline, "the Chat's answer did not end"
        time.sleep(0.1)


RESTORED_CELLS = [
    "from llm_widgets import Chat, LLMKernelService\n"
    "LLMKernelService.set_instance(LLMKernelService())",
    f"chat = Chat(messages={SAVED}, persist_transcript=True)\nchat",
]


def test_a_restored_conversation_renders_markdown_and_no_html(
    notebook_page: Any, screenshot: Any
) -> None:
    nb = notebook_page("chat_markdown.ipynb", RESTORED_CELLS)
    nb.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    nb.run_cell(0)
    nb.run_cell(1)
    chat = nb.output(1).locator(".llmw-chat")
    check_rendered(chat, nb.page)
    screenshot(chat, "chat-markdown")

    if not nb.classic:  # the host's theme: the Chat follows JupyterLab's dark theme and back
        shade = (  # the mean of a colour's red, green and blue: dark below 128
            "([node, name]) => getComputedStyle(node)[name].match(/\\d+/g).slice(0, 3)"
            ".reduce((s, v) => s + Number(v), 0) / 3"
        )
        bubble = chat.locator(".llmw-msg-user .llmw-turn-body")
        for theme, dark in (("JupyterLab Dark", True), ("JupyterLab Light", False)):
            nb.page.evaluate(
                "t => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})",
                theme,
            )
            deadline = time.monotonic() + 20
            while True:
                text = chat.evaluate(f"c => ({shade})([c, 'color'])")
                back = bubble.evaluate(f"b => ({shade})([b, 'backgroundColor'])")
                if (text > 128) == dark and (back < 128) == dark:
                    break  # light text on dark bubbles, or the other way round
                assert time.monotonic() < deadline, (theme, text, back)
                time.sleep(0.2)
            if dark:
                screenshot(chat, "chat-markdown-dark")

    # Send before any model is loaded: the text stays in the box, the hint says what to click
    message = chat.get_by_role("textbox", name="Message")
    message.fill("Are you there?")
    message.press("Enter")
    chat.locator(".llmw-error", has_text="No model is loaded").wait_for(timeout=10_000)
    alert = chat.locator(".llmw-error").inner_text()
    assert "click Download, then Load" in alert and "ServerConnection" in alert, alert
    assert "Click Load on the model card" not in alert
    assert message.input_value() == "Are you there?"
    assert chat.locator(".llmw-msg-user").count() == 1  # nothing sent, nothing lost

    chat.get_by_role("button", name="Copy code").click()
    chat.get_by_text("Copied to the clipboard.").wait_for(timeout=5_000)
    assert nb.page.evaluate("() => navigator.clipboard.readText()") == "print('hi')"
    chat.get_by_role("button", name="Copy", exact=True).click()
    deadline = time.monotonic() + 5
    while nb.page.evaluate("() => navigator.clipboard.readText()") != ANSWER:
        assert time.monotonic() < deadline, "Copy did not put the Markdown source on the clipboard"
        time.sleep(0.1)

    # a host that refuses the clipboard: the code is selected and the view says what to press
    nb.page.evaluate(
        "() => { navigator.clipboard.writeText = () => Promise.reject(new Error('refused'));"
        " document.execCommand = () => false; }"
    )
    chat.get_by_role("button", name="Copy code").click()
    chat.get_by_text("press Ctrl+C", exact=False).wait_for(timeout=5_000)
    assert nb.page.evaluate("() => window.getSelection().toString()").strip() == "print('hi')"

    # persist_transcript: the saved notebook shows the conversation rendered, without a kernel
    nb.save_with_widgets()
    nb.stop_kernel()
    nb.open()
    chat = nb.output(1).locator(".llmw-chat")
    check_rendered(chat, nb.page)
    chat.get_by_text("Not connected to a running kernel", exact=False).wait_for(timeout=20_000)
    assert chat.get_by_role("button", name="Copy code").get_attribute("aria-disabled") is None


EDIT_CELLS = [
    *CELLS[:1],
    # greedy: every answer is cut at 6 tokens (sampled, "How are you today?" ended at 5)
    "chat = Chat()\nchat.max_tokens = 6\nchat.temperature = 0.0\nchat",
    "print('TURNS', chat.messages[0]['content'], [m['role'] for m in chat.messages])",
]


def test_regenerate_and_edit_from_the_page(notebook_page: Any) -> None:
    nb = notebook_page("chat_edit.ipynb", EDIT_CELLS)
    nb.run_cell(0)
    nb.run_cell(1)
    chat = nb.output(1).locator(".llmw-chat")
    message = chat.get_by_role("textbox", name="Message")
    message.wait_for(timeout=30_000)
    send = chat.get_by_role("button", name="Send")

    def answered() -> None:
        deadline = time.monotonic() + 60
        while not (send.is_enabled() and chat.locator(".llmw-streaming").count() == 0):
            assert time.monotonic() < deadline, "the answer did not finish"
            time.sleep(0.1)

    regenerate, edit = (
        chat.get_by_role("button", name=n, exact=True) for n in ("Regenerate", "Edit")
    )
    assert regenerate.count() == 0 and edit.count() == 0  # nothing to regenerate yet
    message.fill("Say hello.")
    message.press("Enter")
    # the turn is open once the kernel's turn_start shows the message (Send's ack may come first)
    chat.locator(".llmw-msg-user", has_text="Say hello.").wait_for(timeout=30_000)
    answered()
    cut = chat.locator(".llmw-msg-assistant").last
    assert cut.get_by_text("Cut at the token limit (max_tokens)").is_visible()
    assert cut.get_attribute("data-stop") == "length" and "length" not in chat.inner_text()
    old = chat.locator(".llmw-msg-assistant").last.element_handle()
    regenerate.click()
    # the answer is written again: the kernel's transcript replaces the turns (greedy, from the
    # cached prompt, it may be over in milliseconds: no streaming to catch)
    deadline = time.monotonic() + 30
    while old.evaluate("node => node.isConnected"):
        assert time.monotonic() < deadline, "Regenerate did not replace the answer"
        time.sleep(0.05)
    answered()
    assert chat.locator(".llmw-msg").count() == 2
    assert chat.locator(".llmw-msg-assistant .llmw-text").inner_text().strip()

    edit.click()
    assert message.input_value() == "Say hello."
    assert chat.get_by_text("Editing your last message", exact=False).is_visible()
    message.fill("Say goodbye.")
    send.click()
    chat.locator(".llmw-msg-user", has_text="Say goodbye.").wait_for(timeout=10_000)
    answered()
    assert chat.locator(".llmw-msg-user .llmw-text").all_inner_texts() == ["Say goodbye."]
    assert chat.locator(".llmw-msg-assistant").count() == 1
    nb.run_cell(2)
    text = nb.output(2).inner_text()
    assert "TURNS Say goodbye. ['user', 'assistant']" in text, text


# the model thinks for a while (a few dozen words the grammar lets it choose), then answers
THINKING_GRAMMAR = 'root ::= "<think>" [a-z]{3,8} (" " [a-z]{3,8}){20,30} "</think>" "It is six."\n'
RESTORED_THINKING = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "<think>I recall <b>it</b>.</think>Paris."},
]


def thinking_cells(path: Any) -> list[str]:
    return [
        "import tempfile\n"
        "from llm_widgets import Chat, LLMKernelService\n"
        "service = LLMKernelService(cache_dir=tempfile.mkdtemp())\n"
        "LLMKernelService.set_instance(service)\n"
        # the engine every row has (the Colab row installs no llama-cpp-python)
        f"facts = service.load_model({str(path)!r}, n_ctx=1024)"
        ".wait(120)",
        f"chat = Chat(messages={RESTORED_THINKING!r},\n"
        f"            generation_params={{'grammar': {THINKING_GRAMMAR!r}}})\nchat",
        "print('THINK', chat.think, repr(chat.messages[-1].get('reasoning_content'))[:12],"
        " repr(chat.messages[-1]['content']))",
    ]


def test_thinking_folds_live_and_restored_and_the_think_switch(
    notebook_page: Any, thinking_gguf: Any, screenshot: Any
) -> None:
    import re

    nb = notebook_page("chat_thinking.ipynb", thinking_cells(thinking_gguf))
    nb.run_cell(0)
    nb.run_cell(1)
    chat = nb.output(1).locator(".llmw-chat")
    chat.wait_for(timeout=30_000)
    # restored: the thinking of a saved turn is folded above its answer, HTML shown as text
    restored = chat.get_by_role("button", name="Thought", exact=True)
    restored.wait_for(timeout=30_000)
    assert restored.get_attribute("aria-expanded") == "false"
    assert not chat.get_by_text("I recall", exact=False).is_visible()
    restored.click()
    assert chat.get_by_text("I recall <b>it</b>.", exact=False).is_visible()
    assert chat.locator(".llmw-thinking-body b").count() == 0
    assert chat.locator(".llmw-msg-assistant .llmw-text").first.inner_text().strip() == "Paris."

    switch = chat.get_by_role("switch", name="Think")
    switch.wait_for(timeout=30_000)  # the model's template can think
    assert switch.is_checked()

    chat.get_by_role("textbox", name="Message").fill("What is 3+3?")
    chat.get_by_role("button", name="Send").click()
    live = chat.get_by_role("button", name=re.compile(r"^Thinking"))
    live.wait_for(timeout=120_000)  # streaming, folded (a grammar is slow on a busy machine)
    # the same button by its place, not its name: the thinking may end (renaming it) any time now
    toggle = chat.locator(".llmw-thinking-toggle").last
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    body = chat.locator(".llmw-thinking-body").last
    assert body.is_visible()
    screenshot(chat, "chat-thinking-live")
    done = chat.get_by_role("button", name=re.compile(r"^Thought for \d+ s$"))
    done.wait_for(timeout=120_000)
    assert len(body.inner_text().split()) >= 20  # the thinking streamed into the open block
    answer = chat.locator(".llmw-msg-assistant .llmw-text").last
    deadline = time.monotonic() + 30
    while answer.inner_text().strip() != "It is six.":
        assert time.monotonic() < deadline, answer.inner_text()
        time.sleep(0.1)
    assert "<think>" not in answer.inner_text()
    screenshot(chat, "chat-thinking-done")

    switch.uncheck()
    deadline = time.monotonic() + 15
    while True:
        nb.run_cell(2)
        text = nb.output(2).inner_text()
        if "THINK False" in text:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
    assert "'It is six.'" in text and "None" not in text, text
