"""`%%llm` in a real ipykernel (jupyter_client): the answer streams as display updates, and the
kernel's interrupt (SIGINT, what Kernel → Interrupt sends) stops it and keeps what came, also
while the cell waits behind a running Chat turn."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from harness.kernel import run_cell
from jupyter_client.manager import KernelManager

from llm_widgets.demo import packaged_model_path

SETUP = f"""
from llm_widgets import Chat, LLMKernelService
service = LLMKernelService.instance()
service.load_model({str(packaged_model_path())!r}, n_ctx=2048).wait(120)
%load_ext llm_widgets
magic = get_ipython().magics_manager.registry["LLMMagics"]
"""
STORY = "%%llm --max-tokens 1500 --temperature 0\nWrite a very long story about a storm at sea."


@pytest.fixture(scope="module")
def kernel() -> Iterator[tuple[KernelManager, Any]]:
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=dict(os.environ, PYTHONUNBUFFERED="1"))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    try:
        reply, _ = run_cell(kc, SETUP, timeout=180)
        assert reply["status"] == "ok", reply
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def markdown(outputs: list[dict[str, Any]]) -> list[str]:
    return [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]


def printed(kc: Any, km: Any, expression: str) -> str:
    reply, outputs = run_cell(kc, f"print({expression})")
    assert reply["status"] == "ok", reply
    return "".join(o["text"] for o in outputs if o["type"] == "stream").strip()


def test_the_answer_streams_as_display_updates_and_an_interrupt_keeps_what_came(
    kernel: tuple[KernelManager, Any],
) -> None:
    km, kc = kernel
    started = time.monotonic()

    def streaming(outputs: list[dict[str, Any]]) -> bool:
        updates = [o for o in outputs if o["type"] == "update_display_data"]
        return len(updates) >= 3

    reply, outputs = run_cell(kc, STORY, interrupt_when=streaming, km=km)
    took = time.monotonic() - started
    assert reply["status"] == "ok", reply  # the cell ends normally: no traceback
    kinds = [o["type"] for o in outputs]
    assert kinds[0] == "display_data" and set(kinds[1:]) == {"update_display_data"}
    ids = {o["transient"]["display_id"] for o in outputs}
    assert len(ids) == 1  # one output, updated in place
    shown = markdown(outputs)
    assert shown[-1].endswith("*stopped — the answer so far is kept*")
    assert printed(kc, km, "magic.job.state, len(magic.messages)") == "cancelled 2"
    assert printed(kc, km, "magic.messages[-1]['content'] == magic.job.text != ''") == "True"
    stats = printed(kc, km, "magic.job.stats.completion_tokens")
    assert int(stats) < 1500, f"stopped after {stats} tokens ({took:.1f} s)"
    # at most 10 display updates a second
    assert len(outputs) <= 10 * took + 2


def test_a_cell_waiting_behind_a_chat_turn_says_so_and_an_interrupt_still_works(
    kernel: tuple[KernelManager, Any],
) -> None:
    km, kc = kernel
    start_chat = (
        "chat = Chat(service); chat.max_tokens = 1500\n"
        "turn = chat.send('Write a very long story about a storm at sea.')"
    )
    reply, _ = run_cell(kc, start_chat)
    assert reply["status"] == "ok", reply

    def waiting(outputs: list[dict[str, Any]]) -> bool:
        return any("waiting for the running answer" in m for m in markdown(outputs))

    reply, outputs = run_cell(
        kc, "%%llm --max-tokens 5\nhello", interrupt_when=waiting, km=km, timeout=60
    )
    assert reply["status"] == "ok", reply
    shown = markdown(outputs)
    assert any("waiting for the running answer" in m for m in shown)
    assert shown[-1].endswith("*stopped — the answer so far is kept*")
    assert printed(kc, km, "magic.job.state, turn.state") == "cancelled running"
    reply, _ = run_cell(kc, "turn.cancel(); turn.join(30)")  # the Chat's turn went on untouched
    assert reply["status"] == "ok", reply
