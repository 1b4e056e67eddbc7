"""What every host gets, live front end or not: a useful text form, and no local paths synced."""

from __future__ import annotations

import os
import time
from pathlib import Path

from llm_widgets import Chat, LLMKernelService, LocalLibrary, ModelBrowser, ModelCard
from llm_widgets.testing import LocalHub

REPO = "bartowski/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct-Q4_K_M.gguf"


def _text(widget: object) -> str:
    bundle = widget._repr_mimebundle_()  # type: ignore[attr-defined]
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    return str(data["text/plain"])


def test_every_widget_reads_well_as_text(service: LLMKernelService, local_hub: LocalHub) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(4_100_000))
    card = ModelCard(REPO, FILE)
    assert _text(card).startswith(f"ModelCard({REPO} · {FILE} · ")
    card.start_download().wait(30)
    assert _text(card) == f"ModelCard({REPO} · {FILE} · 4.1 MB · downloaded)"
    assert _text(Chat(service)) == "Chat(no model loaded · 0 messages · idle)"
    assert _text(LocalLibrary()) == "LocalLibrary(1 models · 4.1 MB)"
    browser = ModelBrowser()
    assert repr(browser) == "ModelBrowser(no search · idle)"


def test_no_local_path_is_synced_to_a_view(service: LLMKernelService, local_hub: LocalHub) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(10_000))
    card = ModelCard(REPO, FILE)
    card.start_download().wait(30)
    library = LocalLibrary()
    cache = str(service.cache_dir)
    for widget in (card, library):
        assert cache not in str(widget.get_state()), type(widget).__name__
    assert Path(card.path).is_file() and Path(library.models[0]["path"]).is_file()


def test_an_error_shows_the_home_folder_as_a_tilde(service: LLMKernelService) -> None:
    card = ModelCard(REPO, FILE)
    home = os.path.expanduser("~")
    card.error = f"Cannot store x in the cache at {home}/.cache/huggingface/hub: read-only."
    assert card.error == "Cannot store x in the cache at ~/.cache/huggingface/hub: read-only."


def test_a_gpu_build_offloads_every_layer_unless_told_otherwise() -> None:
    from llm_widgets import ModelFacts
    from llm_widgets.engines.gguf import offloaded_layers

    facts = ModelFacts(
        "m.gguf", size=1, architecture="llama", name="m", context_length=0, n_layer=30
    )
    assert offloaded_layers(None, gpu=True, facts=facts) == 31  # + the output layer
    assert offloaded_layers(-1, gpu=True, facts=facts) == 31
    assert offloaded_layers(0, gpu=True, facts=facts) == 0  # load_model(..., n_gpu_layers=0)
    assert offloaded_layers(12, gpu=True, facts=facts) == 12
    assert offloaded_layers(None, gpu=False, facts=facts) == 0  # this machine: CPU only


def test_the_card_says_the_model_runs_on_the_cpu_here(
    service: LLMKernelService, local_hub: LocalHub, tmp_path: Path
) -> None:
    from llm_widgets.testing.tiny_gguf import write_tiny_gguf

    local_hub.add_file(REPO, FILE, write_tiny_gguf(tmp_path / "t.gguf"))
    card = ModelCard(REPO, FILE)
    card.start_download().wait(30)
    facts = card.load_model().wait(30)
    assert facts.gpu_layers == 0 and card.model_info["gpu_layers"] == 0


def test_background_updates_carry_the_request_that_started_the_job(
    local_hub: LocalHub, tmp_path: Path
) -> None:
    """ipykernel stamps a thread's message with the latest request (a later, unrelated cell);
    hosts that route outputs by parent (Colab) may then not show it."""
    from jupyter_client.manager import start_new_kernel

    local_hub.add_file(REPO, FILE, os.urandom(4_000_000))
    local_hub.faults.throttle_bps = 1_500_000
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        started = kc.execute(
            "import os\n"
            f"os.environ.update(HF_HOME={str(tmp_path / 'home')!r}, HF_HUB_DISABLE_TELEMETRY='1')\n"
            "from llm_widgets import LLMKernelService, ModelCard\n"
            f"svc = LLMKernelService(endpoint={local_hub.url!r}, cache_dir={str(tmp_path)!r})\n"
            f"card = ModelCard({REPO!r}, {FILE!r}, service=svc)\n"
            "job = card.start_download()\n"
            "print(card.comm.comm_id)\n"
        )
        comm_id = ""
        while True:
            msg = kc.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "stream" and msg["parent_header"].get("msg_id") == started:
                comm_id = msg["content"]["text"].strip()
            idle = msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
            if idle and msg["parent_header"].get("msg_id") == started:
                break
        later = kc.execute("import time; time.sleep(1.5)")
        parents = []
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            msg = kc.get_iopub_msg(timeout=5)
            content = msg["content"]
            if msg["msg_type"] == "comm_msg" and content.get("comm_id") == comm_id:
                parents.append(msg["parent_header"].get("msg_id"))
        assert len(parents) >= 5, "the download sends progress while the later cell runs"
        assert set(parents) == {started}, f"{parents.count(later)} of {len(parents)} stamped later"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
