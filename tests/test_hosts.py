"""What every host gets, live front end or not: a useful text form, and no local paths synced."""

from __future__ import annotations

import os
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
    from llm_widgets.engine import ModelFacts, offloaded_layers

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
