"""A plain `pip install llm-widgets`: the built wheel in a fresh venv with `ipykernel` and the test
runner beside it, nothing else (what VS Code with a bare kernel, a script or a CI job has). The
model path a user walks: download from a Hub, load, chat, Stop, structured output, tools, and the
`%%llm` magic in a real IPython kernel."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.kernel import run_cell

import llm_widgets
from llm_widgets import LLMKernelService
from llm_widgets.demo import DEMO_REPO, PACKAGED_FILE
from llm_widgets.testing import LocalHub

# what a full set-up brings and a plain install does not (JupyterLab brought httpx, which hid an
# undeclared import; pandas is an extra; pydantic comes with openai, so it is there)
NOT_INSTALLED = ("jupyterlab", "notebook", "jupyter_server", "pandas", "llama_cpp")
WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
CALLED: list[str] = []


def get_weather(city: str) -> str:
    """Today's weather in a city.

    Args:
        city: the city's name
    """
    CALLED.append(city)
    return f"21 °C and sunny in {city}"


def test_only_the_wheel_and_its_dependencies_are_installed() -> None:
    """The row is what it says: the package from the wheel, none of the full set-up's extras."""
    if os.environ.get("LLMW_BARE_ROW") != "1":
        pytest.skip("the bare-install row's own venv (scripts/bare_env.sh) is the one to check")
    assert "site-packages" in llm_widgets.__file__, llm_widgets.__file__
    present = [name for name in NOT_INSTALLED if importlib.util.find_spec(name) is not None]
    assert not present, f"a plain install has these too: {present}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, demo_gguf: Path) -> Iterator[LocalHub]:
    """A Hub-compatible server on 127.0.0.1 with the demo model in its usual repo."""
    with LocalHub(tmp_path_factory.mktemp("hub")) as server:
        server.add_file(DEMO_REPO, PACKAGED_FILE, demo_gguf)
        yield server


@pytest.fixture(scope="module")
def service(hub: LocalHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMKernelService]:
    """A service that downloaded the demo model from `hub` and loaded it."""
    svc = LLMKernelService(endpoint=hub.url, cache_dir=tmp_path_factory.mktemp("hf-cache"))
    try:
        download = svc.start_download(DEMO_REPO, PACKAGED_FILE)
        download.wait(300)
        assert download.state == "done" and download.path, download.error
        svc.load_model(download, n_ctx=2048).wait(300)
        yield svc
    finally:
        svc.shutdown()


def test_the_demo_model_downloads_loads_and_chats(service: LLMKernelService) -> None:
    facts = service.model
    assert facts is not None and facts.engine == "xllamacpp"  # what `pip install` brings
    job = service.generate_chat_completion(
        [{"role": "user", "content": "Say hello."}], max_tokens=16, temperature=0.0
    )
    job.wait(120)
    assert job.state == "done" and job.text.strip()
    assert job.stats is not None and job.stats.completion_tokens > 0


def test_stop_ends_an_answer_that_cannot_end_by_itself(service: LLMKernelService) -> None:
    """A grammar with no end: the answer runs until Stop, then the model answers again."""
    chunks: list[str] = []
    job = service.generate_chat_completion(
        [{"role": "user", "content": "Sing."}],
        grammar='root ::= "la " root',
        max_tokens=100_000,
        temperature=0.0,
    )
    for piece in job:
        chunks.append(piece)
        break
    assert chunks, "no first piece of the answer"
    service.abort()
    job.wait(120)
    assert job.state == "cancelled" and job.stop_reason == "aborted", (job.state, job.stop_reason)
    again = service.generate_chat_completion(
        [{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0.0
    )
    again.wait(120)
    assert again.state == "done" and again.text.strip()


def test_structured_output_without_pydantic(service: LLMKernelService) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    job = service.generate_chat_completion(
        [{"role": "user", "content": "Invent a person: name and age."}],
        response_format=schema,
        max_tokens=64,
        temperature=0.0,
    )
    job.wait(120)
    assert job.state == "done", job.error
    assert isinstance(job.value, dict) and set(job.value) == {"name", "age"}
    assert isinstance(job.value["age"], int) and json.loads(job.text) == job.value
    label = service.generate_chat_completion(
        [{"role": "user", "content": "Is 'Buy cheap pills now!!!' spam or ham?"}],
        choices=["spam", "ham"],
        temperature=0.0,
    )
    label.wait(120)
    assert label.state == "done" and label.value in ("spam", "ham")


def test_a_tool_is_called_and_its_result_answered(service: LLMKernelService) -> None:
    CALLED.clear()
    job = service.generate_chat_completion(
        WEATHER, tools=[get_weather], tool_choice="required", temperature=0.0, max_tokens=48
    )
    job.wait(120)
    assert job.state == "done", job.error
    [record] = job.tool_calls
    assert record.name == "get_weather" and record.status == "done" and CALLED
    assert job.new_messages[-1]["role"] == "assistant"


def test_a_batch_runs_and_pandas_is_asked_for_only_where_it_is_needed(
    service: LLMKernelService, tmp_path: Path
) -> None:
    job = service.map(
        ["I love it.", "It broke at once."],
        prompt="Positive or negative? {input}",
        choices=["positive", "negative"],
        temperature=0.0,
        cache=tmp_path / "batches",
    )
    job.wait(120)
    assert job.state == "done" and all(v in ("positive", "negative") for v in job.results), (
        job.errors
    )
    if importlib.util.find_spec("pandas") is None:
        with pytest.raises(ImportError, match=r"pip install \"llm-widgets\[pandas\]\""):
            job.to_pandas()


# -- the magic, in a real IPython kernel ----------------------------------------------------------


def test_the_magic_answers_in_a_real_kernel(hub: LocalHub, tmp_path: Path) -> None:
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    env = dict(os.environ, HF_ENDPOINT=hub.url, HF_HUB_CACHE=str(tmp_path / "cache"))
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        setup = (
            "import sys\n"
            "from llm_widgets import LLMKernelService, ModelCard\n"
            "service = LLMKernelService.instance()\n"
            f"job = service.start_download({DEMO_REPO!r}, {PACKAGED_FILE!r})\n"
            "job.wait(300)\n"
            "service.load_model(job, n_ctx=2048).wait(300)\n"
            "%load_ext llm_widgets\n"
            "print(sys.executable, service.model.engine)\n"
        )
        reply, outputs = run_cell(kc, setup, timeout=300)
        assert reply["status"] == "ok", (reply, outputs)
        printed = "".join(o.get("text", "") for o in outputs if o["type"] == "stream")
        assert sys.executable.split("/bin/")[0] in printed and "xllamacpp" in printed, printed
        magic = "%%llm --max-tokens 12 --temperature 0\nSay hello."
        reply, outputs = run_cell(kc, magic, timeout=120)
        assert reply["status"] == "ok", (reply, outputs)
        shown = [o["data"].get("text/markdown", "") for o in outputs if "data" in o]
        assert any(text.strip() for text in shown), outputs
        reply, outputs = run_cell(
            kc, f"ModelCard(repo_id={DEMO_REPO!r}, filename={PACKAGED_FILE!r})"
        )
        assert reply["status"] == "ok", (reply, outputs)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
