"""Run code in a real IPython kernel (jupyter_client, which ipykernel brings) the way a notebook
does, and collect what the cell shows: for tests of the magic and of a plain install."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any

SHOWN = ("display_data", "update_display_data", "stream", "error", "execute_result")


def run_cell(
    kc: Any,
    code: str,
    *,
    timeout: float = 60,
    interrupt_when: Callable[[list[dict[str, Any]]], bool] | None = None,
    km: Any = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Execute `code` through the kernel client `kc`; its reply content and its output messages
    (each `{"type": msg_type, **content}`). `interrupt_when(outputs)` true: the kernel manager
    `km` interrupts the kernel (once). AssertionError if the cell does not end in `timeout` s."""
    msg_id = kc.execute(code)
    outputs: list[dict[str, Any]] = []
    interrupted = False
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            raise AssertionError(f"the cell did not end within {timeout} s: {outputs[-3:]}")
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            break
        if kind in SHOWN:
            outputs.append({"type": kind, **msg["content"]})
            if interrupt_when is not None and not interrupted and interrupt_when(outputs):
                km.interrupt_kernel()
                interrupted = True
    reply = kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:  # a late kernel_info reply, say
        reply = kc.get_shell_msg(timeout=60)
    return reply["content"], outputs
