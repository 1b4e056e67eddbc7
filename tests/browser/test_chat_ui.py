"""Chat in a real browser with the real SmolLM2: Send, tokens stream in, Stop, and chat again."""

from __future__ import annotations

import re
from typing import Any

import pytest
from helpers import ENDLESS_GRAMMAR, expect, wait_each_frame, wait_idle_chat, wait_until
from markdown_chat import ANSWER, SAVED, check_rendered

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STREAMED = re.compile(r"\S[\s\S]{3,}\S")  # five characters or more, from first to last

CELLS = [
    "import tempfile\n"
    "from llm_widgets import Chat, LLMKernelService\n"
    "from llm_widgets.demo import packaged_model_path\n"
    "service = LLMKernelService(cache_dir=tempfile.mkdtemp())\n"
    "LLMKernelService.set_instance(service)\n"
    "facts = service.load_model(packaged_model_path(), n_ctx=2048).wait(120)",
    # an answer that cannot end by itself (the grammar never allows its end): Stop always finds
    # it running, and later answers end at their max_tokens
    f"chat = Chat(generation_params={{'grammar': {ENDLESS_GRAMMAR!r}}})\n"
    "chat.max_tokens = 1500\nchat",
    "print('TURNS', [m['role'] for m in chat.messages], 'STOP', chat.job.stop_reason)",
    "print('SETTINGS', chat.temperature, chat.trim_history)",
    "chat.max_tokens = 60",
    "%load_ext llm_widgets\n"
    "import pandas as pd\n"
    # the magic's answers cannot end by themselves either: the interrupt finds one running
    "_generate = service.generate_chat_completion\n"
    "service.generate_chat_completion = lambda messages, **kw: _generate(\n"
    f"    messages, **{{'grammar': {ENDLESS_GRAMMAR!r}, **kw}})\n"
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
    expect(chat, "the Chat").to_be_visible()
    message = chat.get_by_role("textbox", name="Message")
    send, stop = chat.get_by_role("button", name="Send"), chat.get_by_role("button", name="Stop")
    expect(stop, "Stop before any answer").to_be_disabled()

    message.fill("Write a very long, detailed story about a lighthouse keeper and a storm.")
    send.click()
    answer = chat.locator(".llmw-msg-assistant .llmw-text").last
    expect(answer, "five characters streamed").to_have_text(  # tokens appear as they stream
        STREAMED, use_inner_text=True
    )
    expect(stop, "Stop while it streams").to_be_enabled()
    expect(send, "Send disabled while it streams").to_be_disabled()
    # the page stays responsive while the answer streams: frames keep coming, typing works,
    # and the answer is Markdown (paragraphs), not raw text
    frames = nb.page.evaluate(
        "() => new Promise((done) => { let n = 0; const tick = () => "
        "(++n < 30 ? requestAnimationFrame(tick) : done(n)); requestAnimationFrame(tick); })"
    )
    assert frames == 30
    message.fill("typing while it streams")
    expect(message, "typing while it streams").to_have_value("typing while it streams")
    message.fill("")
    expect(answer.locator("p").first, "the answer as Markdown paragraphs").to_be_attached()
    partial = answer.inner_text()

    stop.click()  # the answer cannot have ended: its grammar never lets it
    # why it ended, in words, as a mark on the answer; the figures without jargon
    stopped = chat.locator(".llmw-msg-assistant").last
    expect(stopped.get_by_text("Stopped by you"), "the answer's Stopped mark").to_be_visible()
    expect(stopped, "the reason on the answer").to_have_attribute("data-stop", "aborted")
    expect(send, "Send once stopped").to_be_enabled()
    expect(stop, "Stop disabled once stopped").to_be_disabled()
    assert len(answer.inner_text()) >= len(partial)
    figures = chat.get_by_label("Answer statistics")
    expect(figures, "the answer's speed").to_contain_text("tokens/s")
    expect(figures, "no jargon in the figures").not_to_contain_text("stopped", use_inner_text=True)
    expect(chat, "no jargon in the Chat").not_to_contain_text("aborted", use_inner_text=True)
    # the answering model, named by its file where the user looks (the GGUF's name: a tooltip)
    head = chat.locator(".llmw-head")
    expect(head, "the model by its file").to_contain_text(
        "SmolLM2-135M-Instruct · Q4_1 · in this kernel"
    )
    expect(head, "not the GGUF's name").not_to_contain_text("Smollm2 135M", use_inner_text=True)
    expect(head.locator(".llmw-model"), "the GGUF's name as a tooltip").to_have_attribute(
        "title", re.compile("GGUF name: Smollm2 135M")
    )
    expect(stopped.locator(".llmw-role"), "the answer's model").to_have_text(
        "SmolLM2-135M-Instruct · Q4_1", use_inner_text=True
    )
    screenshot(chat, "chat-stopped")

    nb.run_cell(2)
    expect(nb.output(2), "the kernel's transcript").to_contain_text(
        "TURNS ['user', 'assistant'] STOP aborted"
    )

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
    expect(chat.locator(".llmw-msg-assistant"), "the second answer").to_have_count(2)
    wait_idle_chat(chat, "the second answer ended (max_tokens 60)")
    seen = nb.page.evaluate("() => window.__llmwSeen")
    assert seen and set(seen) == {""}, f"figures shown while the answer streamed: {set(seen)}"
    expect(
        chat.locator(".llmw-msg-assistant").first.get_by_text("Stopped by you"),
        "the first answer's Stopped mark",
    ).to_be_visible()
    expect(  # on the last answer only
        chat.get_by_label("Answer statistics"), "one answer's figures"
    ).to_have_count(1)
    last = chat.locator(".llmw-msg-assistant").last
    expect(last.get_by_label("Answer statistics"), "the last answer's speed").to_contain_text(
        "tokens/s"
    )
    expect(last.locator(".llmw-text"), "the last answer's text").to_have_text(re.compile(r"\S"))

    chat.get_by_role("button", name="Clear").click()
    expect(chat.get_by_text("No messages yet."), "the cleared Chat").to_be_visible()

    # settings set in the page reach Python
    chat.get_by_text("Settings").click()
    trim = chat.get_by_role("checkbox", name="Leave out the oldest turns when the context is full")
    expect(trim, "trim_history on by default").to_be_checked()
    trim.uncheck()
    temperature = chat.get_by_role("spinbutton", name="Temperature")
    temperature.fill("0.3")
    temperature.press("Enter")
    screenshot(chat, "chat-settings")

    def settings_in_python() -> bool:  # the widget's state may follow its ack: ask again
        nb.run_cell(3)
        return "SETTINGS 0.3 False" in nb.output(3).inner_text()

    wait_until(
        settings_in_python,
        "SETTINGS 0.3 False in Python",
        timeout=30,
        seen=lambda: nb.output(3).inner_text(),
    )

    check_a_streamed_magic_cell_and_at_df_in_the_chat(nb, chat)


def check_a_streamed_magic_cell_and_at_df_in_the_chat(nb: Any, chat: Any) -> None:
    """`%%llm` streams into its output as Markdown updated in place, says what @df attached,
    and the host's interrupt stops it with what came kept; then @df from the Chat's text box."""
    nb.run_cell(5)
    nb.run_cell(6, wait=False)
    output = nb.output(6)
    expect(
        output.locator("blockquote").get_by_text("Attached @df"), "the magic's attachment line"
    ).to_be_visible(timeout=60_000)
    lengths: list[int] = []

    def grown() -> bool:  # the text grows, update after update
        lengths.append(len(output.inner_text()))
        return len(set(lengths)) >= 3

    wait_until(grown, "three lengths of the streamed answer", 60, seen=lambda: lengths[-5:])
    expect(output.locator("p").first, "the magic's answer as Markdown").to_be_attached()
    nb.interrupt_kernel()  # the answer cannot have ended: its grammar never lets it
    expect(
        output.get_by_text("stopped — the answer so far is kept"), "the magic's Stopped line"
    ).to_be_visible()
    nb.wait_idle()
    expect(output, "no traceback").not_to_contain_text("KeyboardInterrupt")
    expect(  # one output, updated in place
        output.locator("blockquote"), "one output for the magic"
    ).to_have_count(1)
    nb.run_cell(7)
    expect(nb.output(7), "the magic's job, cancelled").to_contain_text("MAGIC cancelled 2 True")

    chat.get_by_role("button", name="Clear").click()
    expect(chat.get_by_text("No messages yet."), "the cleared Chat").to_be_visible()
    chat.get_by_role("textbox", name="Message").fill("Which city in @df is larger?")
    chat.get_by_role("button", name="Send").click()
    expect(
        chat.get_by_text("Attached @df (pandas DataFrame, 2 rows × 2 columns"),
        "the Chat's attachment line",
    ).to_be_visible()
    transcript = chat.get_by_role("log", name="Transcript")
    expect(
        transcript.get_by_text("Context from the notebook"), "the context in the transcript"
    ).to_be_visible()
    wait_idle_chat(chat, "the @df answer ended (max_tokens 60)")


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

            def shades() -> tuple[float, float]:
                text = chat.evaluate(f"c => ({shade})([c, 'color'])")
                return text, bubble.evaluate(f"b => ({shade})([b, 'backgroundColor'])")

            def themed(dark: bool = dark) -> bool:  # light text on dark bubbles, or the reverse
                text, back = shades()
                return (text > 128) == dark and (back < 128) == dark

            wait_until(themed, f"Chat colours of {theme}", 20, seen=shades)
            if dark:
                screenshot(chat, "chat-markdown-dark")

    # Send before any model is loaded: the text stays in the box, the hint says what to click
    message = chat.get_by_role("textbox", name="Message")
    message.fill("Are you there?")
    message.press("Enter")
    alert = chat.locator(".llmw-error")
    expect(alert, "the hint: no model loaded").to_contain_text("No model is loaded")
    expect(alert, "the hint's buttons").to_contain_text("click Download, then Load")
    expect(alert, "the hint's server").to_contain_text("ServerConnection")
    expect(alert, "not the old hint").not_to_contain_text("Click Load on the model card")
    expect(message, "the text kept in the box").to_have_value("Are you there?")
    expect(  # nothing sent, nothing lost
        chat.locator(".llmw-msg-user"), "no message sent"
    ).to_have_count(1)

    def clipboard() -> str:
        return str(nb.page.evaluate("() => navigator.clipboard.readText()"))

    chat.get_by_role("button", name="Copy code").click()
    expect(chat.get_by_text("Copied to the clipboard."), "the Copied line").to_be_visible()
    assert clipboard() == "print('hi')"  # written before the line showed
    chat.get_by_role("button", name="Copy", exact=True).click()
    wait_until(
        lambda: clipboard() == ANSWER, "Markdown source on the clipboard", 10, seen=clipboard
    )

    # a host that refuses the clipboard: the code is selected and the view says what to press
    nb.page.evaluate(
        "() => { navigator.clipboard.writeText = () => Promise.reject(new Error('refused'));"
        " document.execCommand = () => false; }"
    )
    chat.get_by_role("button", name="Copy code").click()
    expect(chat.get_by_text("press Ctrl+C", exact=False), "the Ctrl+C hint").to_be_visible()
    assert nb.page.evaluate("() => window.getSelection().toString()").strip() == "print('hi')"

    # persist_transcript: the saved notebook shows the conversation rendered, without a kernel
    nb.save_with_widgets()
    nb.stop_kernel()
    nb.open()
    chat = nb.output(1).locator(".llmw-chat")
    check_rendered(chat, nb.page)
    expect(
        chat.get_by_text("Not connected to a running kernel", exact=False),
        "the saved Chat's offline line",
    ).to_be_visible()
    expect(  # Copy needs no kernel
        chat.get_by_role("button", name="Copy code"), "Copy code enabled without a kernel"
    ).not_to_have_attribute("aria-disabled", re.compile(".*"))


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
    expect(message, "the Chat's text box").to_be_visible()
    send = chat.get_by_role("button", name="Send")

    regenerate, edit = (
        chat.get_by_role("button", name=n, exact=True) for n in ("Regenerate", "Edit")
    )
    expect(regenerate, "no Regenerate before a turn").to_have_count(0)  # nothing to regenerate
    expect(edit, "no Edit before a turn").to_have_count(0)
    message.fill("Say hello.")
    message.press("Enter")
    # the turn is open once the kernel's turn_start shows the message (Send's ack may come first)
    expect(
        chat.locator(".llmw-msg-user", has_text="Say hello."), "the first message"
    ).to_be_visible()
    wait_idle_chat(chat, "the first answer ended")
    cut = chat.locator(".llmw-msg-assistant").last
    expect(cut.get_by_text("Cut at the token limit (max_tokens)"), "the cut mark").to_be_visible()
    expect(cut, "the reason on the answer").to_have_attribute("data-stop", "length")
    expect(chat, "no jargon in the Chat").not_to_contain_text("length", use_inner_text=True)
    old = chat.locator(".llmw-msg-assistant").last.element_handle()
    regenerate.click()
    # the answer is written again: the kernel's transcript replaces the turns (greedy, from the
    # cached prompt, it may be over in milliseconds: no streaming to catch)
    wait_until(
        lambda: not old.evaluate("node => node.isConnected"),
        "the first answer replaced after Regenerate",
        30,
    )
    wait_idle_chat(chat, "the regenerated answer ended")
    expect(chat.locator(".llmw-msg"), "one question and its answer").to_have_count(2)
    expect(
        chat.locator(".llmw-msg-assistant .llmw-text"), "the regenerated answer's text"
    ).to_have_text(re.compile(r"\S"))

    edit.click()
    expect(message, "the last message back in the box").to_have_value("Say hello.")
    expect(
        chat.get_by_text("Editing your last message", exact=False), "the editing line"
    ).to_be_visible()
    message.fill("Say goodbye.")
    send.click()
    expect(
        chat.locator(".llmw-msg-user", has_text="Say goodbye."), "the edited message"
    ).to_be_visible()
    wait_idle_chat(chat, "the edited turn's answer ended")
    expect(chat.locator(".llmw-msg-user .llmw-text"), "only the edited message").to_have_text(
        ["Say goodbye."], use_inner_text=True
    )
    expect(chat.locator(".llmw-msg-assistant"), "one answer after the edit").to_have_count(1)
    nb.run_cell(2)
    expect(nb.output(2), "the kernel's transcript").to_contain_text(
        "TURNS Say goodbye. ['user', 'assistant']"
    )


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
    nb = notebook_page("chat_thinking.ipynb", thinking_cells(thinking_gguf))
    nb.run_cell(0)
    nb.run_cell(1)
    chat = nb.output(1).locator(".llmw-chat")
    expect(chat, "the Chat").to_be_visible()
    # restored: the thinking of a saved turn is folded above its answer, HTML shown as text
    restored = chat.get_by_role("button", name="Thought", exact=True)
    expect(restored, "the restored turn's Thought").to_have_attribute("aria-expanded", "false")
    expect(chat.get_by_text("I recall", exact=False), "the folded thinking").to_be_hidden()
    restored.click()
    expect(
        chat.get_by_text("I recall <b>it</b>.", exact=False), "the unfolded thinking, as text"
    ).to_be_visible()
    expect(chat.locator(".llmw-thinking-body b"), "no element from the thinking").to_have_count(0)
    expect(
        chat.locator(".llmw-msg-assistant .llmw-text").first, "the restored answer"
    ).to_have_text("Paris.", use_inner_text=True)

    switch = chat.get_by_role("switch", name="Think")
    expect(switch, "the Think switch: the model's template can think").to_be_checked()

    chat.get_by_role("textbox", name="Message").fill("What is 3+3?")
    chat.get_by_role("button", name="Send").click()
    # streaming, folded (a grammar is slow on a busy machine): looked for on every frame, as
    # the thinking may last only a second
    wait_each_frame(
        nb.page,
        "chat => [...chat.querySelectorAll('.llmw-thinking-toggle')]"
        ".some((b) => b.textContent.trim().startsWith('Thinking'))",
        chat.element_handle(),
        "live Thinking block",
        timeout=120,
    )
    # the same button by its place, not its name: the thinking may end (renaming it) any time now
    toggle = chat.locator(".llmw-thinking-toggle").last
    expect(toggle, "the live thinking folded").to_have_attribute("aria-expanded", "false")
    toggle.click()
    body = chat.locator(".llmw-thinking-body").last
    expect(body, "the live thinking unfolded").to_be_visible()
    screenshot(chat, "chat-thinking-live")
    done = chat.get_by_role("button", name=re.compile(r"^Thought for \d+ s$"))
    expect(done, "the thinking's end: Thought for N s").to_be_visible(timeout=120_000)
    words = body.inner_text().split()
    assert len(words) >= 20, words  # the thinking streamed into the open block
    answer = chat.locator(".llmw-msg-assistant .llmw-text").last
    expect(answer, "the answer after the thinking").to_have_text("It is six.", use_inner_text=True)
    expect(answer, "no think tag in the answer").not_to_contain_text("<think>")
    screenshot(chat, "chat-thinking-done")

    switch.uncheck()

    def think_off() -> bool:  # the widget's state may follow its ack: ask again
        nb.run_cell(2)
        return "THINK False" in nb.output(2).inner_text()

    wait_until(think_off, "THINK False in Python", 30, seen=lambda: nb.output(2).inner_text())
    text = nb.output(2).inner_text()
    assert "'It is six.'" in text and "None" not in text, text
