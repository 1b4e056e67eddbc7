"""Loading and generation through LLMKernelService on real GGUF files, on each in-kernel engine
(xllamacpp, llama-cpp-python: the `engine` fixture)."""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from llm_widgets import LLMKernelService
from llm_widgets.engines.gguf import inspect_gguf
from llm_widgets.errors import (
    JobCancelledError,
    LLMWidgetsError,
    ModelFileError,
    ModelTooLargeError,
)
from llm_widgets.testing import wait_until
from llm_widgets.testing.holds import NEVER_ENDS
from llm_widgets.testing.tiny_gguf import (
    write_not_gguf,
    write_tiny_gguf,
    write_truncated_gguf,
)

LONG_PROMPT = "tell me more " * 300  # ~5700 byte tokens with the tiny model's vocabulary


@pytest.fixture
def svc(svc: LLMKernelService, engine: str) -> LLMKernelService:
    """conftest's service, on each in-kernel engine in turn."""
    return svc


def test_inspect_reads_the_facts_of_a_good_file(tiny: Path) -> None:
    facts = inspect_gguf(tiny)
    assert facts.architecture == "llama" and facts.context_length == 8192
    assert facts.has_chat_template and facts.size == tiny.stat().st_size


@pytest.mark.parametrize("kind", ["not-gguf", "truncated", "unknown-arch", "missing"])
def test_bad_files_fail_to_load_with_a_clear_error(
    svc: LLMKernelService, tiny: Path, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"{kind}.gguf"
    if kind == "not-gguf":
        write_not_gguf(path)
        words = "does not start with the GGUF magic"
    elif kind == "truncated":
        write_truncated_gguf(path, tiny)
        words = "truncated"
    elif kind == "unknown-arch":
        write_tiny_gguf(path, architecture="martian")
        words = "architecture 'martian'"
    else:
        words = "No model file"
    errors: list[object] = []
    svc.on_error(errors.append)
    job = svc.load_model(path)
    with pytest.raises(ModelFileError) as info:
        job.wait(30)
    svc.events.flush()
    assert words in str(info.value) and job.state == "failed" and errors == [job]
    assert svc.model is None
    # the kernel survives and the next good file loads
    assert svc.load_model(tiny).wait(30).architecture == "llama"


def test_a_model_that_does_not_fit_is_refused_with_numbers(
    svc: LLMKernelService, tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llm_widgets.engines.memory.available_memory_bytes", lambda: 1_000_000)
    job = svc.load_model(tiny, n_ctx=8192)
    with pytest.raises(ModelTooLargeError) as info:
        job.wait(30)
    message = str(info.value)
    assert "needs about" in message and "available now" in message and "8192-token" in message


def test_load_reports_the_model_and_one_model_is_in_memory(
    svc: LLMKernelService, tiny: Path, tmp_path: Path
) -> None:
    loaded: list[object] = []
    svc.on_model_loaded(loaded.append)
    facts = svc.load_model(tiny, n_ctx=512).wait(30)
    other = write_tiny_gguf(tmp_path / "other.gguf", seed=3)
    unloaded: list[bool] = []
    svc.on_model_unloaded(lambda: unloaded.append(True))
    second = svc.load_model(other).wait(30)
    svc.events.flush()
    assert loaded == [facts, second] and unloaded == [True]
    assert facts.n_ctx == 512 and svc.model == second
    svc.unload_model()
    assert svc.model is None


def test_completion_streams_chunks_and_ends_with_stats(svc: LLMKernelService, tiny: Path) -> None:
    svc.load_model(tiny).wait(30)
    chunks: list[str] = []
    done: list[object] = []
    svc.on_completion_chunk(lambda job, text: chunks.append(text))
    svc.on_completion_done(done.append)
    job = svc.generate_completion("Once upon a time", max_tokens=24, temperature=0.0)
    pieces = list(job)
    text = job.wait(30)
    svc.events.flush()
    assert pieces and "".join(pieces) == text == "".join(chunks)
    assert done == [job] and job.state == "done"
    stats = job.stats
    assert stats.prompt_tokens > 0 and stats.completion_tokens >= len(pieces)
    assert stats.ttft > 0 and stats.tokens_per_second > 0 and stats.stop_reason == "length"
    assert stats.time_to_first_token == stats.ttft


def test_chat_uses_the_template_and_reuses_the_prefix(svc: LLMKernelService, tiny: Path) -> None:
    svc.load_model(tiny).wait(30)
    history = [{"role": "user", "content": "Hello there"}]
    first = svc.generate_chat_completion(history, max_tokens=8)
    answer = first.wait(30)
    history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "And?"}]
    second = svc.generate_chat_completion(history, max_tokens=8)
    second.wait(30)
    assert second.stats.cached_prompt_tokens > first.stats.prompt_tokens // 2


def test_chat_without_a_template_falls_back_to_chatml(
    svc: LLMKernelService, tmp_path: Path
) -> None:
    facts = svc.load_model(write_tiny_gguf(tmp_path / "plain.gguf")).wait(30)
    assert "no chat template" in facts.chat_format and not facts.has_chat_template
    job = svc.generate_chat_completion([{"role": "user", "content": "hi"}], max_tokens=4)
    job.wait(30)
    assert job.state == "done"


def test_abort_mid_stream_is_prompt_and_the_model_stays_usable(
    svc: LLMKernelService, slow_tiny: Path
) -> None:
    """How soon it ends is measured by benchmarks/abort_latency.py; here: it ends by the abort."""
    svc.load_model(slow_tiny, n_ctx=8192).wait(30)
    # an answer that cannot end by itself: only the abort ends it
    job = svc.generate_completion("Once upon a time", max_tokens=4000, grammar=NEVER_ENDS)
    for _ in job:
        break  # tokens are flowing
    assert svc.abort() == [job]
    assert job.join(60), "the abort did not end the answer"
    assert job.state == "cancelled" and job.stop_reason == "aborted"
    assert len(job.text) > 0 and set(job.text) == {"a"}
    assert job.wait(0) == job.text  # an aborted answer keeps what came
    nxt = svc.generate_completion("y", max_tokens=5)
    nxt.wait(30)
    assert nxt.state == "done" and nxt.stats.completion_tokens >= 1


def test_abort_during_prompt_evaluation_is_prompt(svc: LLMKernelService, slow_tiny: Path) -> None:
    """Cancelled as soon as it runs, inside its long prompt's evaluation: it ends aborted with no
    text, and the model answers again. (How soon: benchmarks/abort_latency.py.)"""
    svc.load_model(slow_tiny, n_ctx=8192).wait(30)
    job = svc.generate_completion(LONG_PROMPT, max_tokens=2000, grammar=NEVER_ENDS)
    wait_until(lambda: job.state == "running", timeout=30, what="the generation job running")
    job.cancel()
    assert job.join(60), "the cancel did not end the job"
    assert job.state == "cancelled" and job.stop_reason == "aborted"
    assert job.text == ""
    again = svc.generate_completion("short", max_tokens=4)
    again.wait(30)
    assert again.state == "done"


def test_generation_jobs_run_one_at_a_time_in_order(svc: LLMKernelService, tiny: Path) -> None:
    svc.load_model(tiny).wait(30)
    jobs = [svc.generate_completion(f"prompt {i}", max_tokens=6) for i in range(3)]
    for job in jobs:
        job.wait(30)
    starts = [j.started_at for j in jobs]
    assert starts == sorted(starts)
    assert all(a.finished_at <= b.started_at for a, b in zip(jobs, jobs[1:], strict=False))


def test_generation_without_a_model_fails_with_a_message(svc: LLMKernelService) -> None:
    job = svc.generate_completion("hi")
    with pytest.raises(LLMWidgetsError) as info:
        job.wait(10)
    assert "No model is loaded" in str(info.value)


@pytest.mark.parametrize(
    "params",
    [{"temperature": -1}, {"max_tokens": 0}, {"top_p": "high"}, {"bogus": 1}, {"stop": [1]}],
)
def test_bad_generation_parameters_are_refused_at_once(svc: LLMKernelService, params: dict) -> None:
    with pytest.raises(ValueError):
        svc.generate_completion("hi", **params)


def test_create_context_resets_and_can_change_n_ctx(svc: LLMKernelService, tiny: Path) -> None:
    svc.load_model(tiny, n_ctx=512).wait(30)
    svc.generate_completion("abc", max_tokens=3).wait(30)
    facts = svc.create_context(n_ctx=1024, seed=7)
    assert facts.n_ctx == 1024
    job = svc.generate_completion("abc", max_tokens=3)
    job.wait(30)
    assert job.stats.cached_prompt_tokens == 0
    reused = svc.generate_completion("abc def", max_tokens=3)
    reused.wait(30)
    assert reused.stats.cached_prompt_tokens > 0
    assert svc.create_context().n_ctx == 1024  # the same context, its cache forgotten
    fresh = svc.generate_completion("abc def", max_tokens=3)
    fresh.wait(30)
    assert fresh.stats.cached_prompt_tokens == 0
    with pytest.raises(LLMWidgetsError):
        LLMKernelService().create_context()


def test_load_waits_for_a_download_job(service: LLMKernelService, local_hub, tiny: Path) -> None:
    local_hub.add_file("acme/tiny-GGUF", "tiny.F32.gguf", tiny)
    local_hub.faults.throttle_bps = 2_000_000
    download = service.start_download("acme/tiny-GGUF", "tiny.F32.gguf")
    facts = service.load_model(download).wait(30)
    assert download.state == "done" and facts.path == download.path


def test_cancelling_a_load_that_waits_for_a_download(
    service: LLMKernelService, local_hub, tiny: Path
) -> None:
    local_hub.add_file("acme/tiny-GGUF", "tiny.F32.gguf", tiny)
    local_hub.faults.throttle_bps = 100_000
    download = service.start_download("acme/tiny-GGUF", "tiny.F32.gguf")
    load = service.load_model(download)
    load.cancel()
    with pytest.raises(JobCancelledError):
        load.wait(30)
    download.cancel()


@pytest.mark.slow
def test_the_packaged_smollm2_answers_with_real_text(svc: LLMKernelService) -> None:
    from llm_widgets.demo import packaged_model_path

    facts = svc.load_model(packaged_model_path(), n_ctx=2048).wait(60)
    assert facts.has_chat_template and facts.architecture == "llama"
    job = svc.generate_chat_completion(
        [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
        max_tokens=16,
        temperature=0.0,
    )
    answer = job.wait(60)
    assert len(answer.strip()) > 0 and any(c.isalpha() for c in answer)
    assert "paris" in answer.lower()


def test_llama_cpp_logs_go_to_logging_not_to_stderr(
    svc: LLMKernelService, slow_tiny: Path, capfd: pytest.CaptureFixture[str], caplog: Any
) -> None:
    caplog.set_level("INFO", logger="llm_widgets.llama_cpp")
    svc.load_model(slow_tiny, n_ctx=8192).wait(30)
    job = svc.generate_completion(LONG_PROMPT, max_tokens=5)
    wait_until(lambda: job.state == "running", timeout=30, what="the generation job running")
    time.sleep(0.1)  # llama.cpp logs while it evaluates the prompt
    job.cancel()
    assert job.join(60), "the cancel did not end the job"
    out, err = capfd.readouterr()
    assert "decode" not in err and "llama" not in err.lower()
    assert any(r.name == "llm_widgets.llama_cpp" for r in caplog.records)


def test_llama_cpp_log_lines_keep_their_level(
    svc: LLMKernelService, tiny: Path, caplog: Any
) -> None:
    caplog.set_level("DEBUG", logger="llm_widgets.llama_cpp")
    svc.load_model(tiny, n_ctx=512).wait(30)
    records = [r for r in caplog.records if r.name == "llm_widgets.llama_cpp"]
    kv_cache = [r for r in records if r.getMessage().startswith("llama_kv_cache: size")]
    assert kv_cache and all(r.levelname == "INFO" for r in kv_cache)  # llama.cpp's INFO
    assert all(r.getMessage() and not r.getMessage().endswith("\n") for r in records)
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    assert len(warnings) < len(records) / 2  # loading a good model is not a warning storm


def _listening(process: Any) -> set[tuple[str, int]]:
    return {
        (c.laddr.ip, c.laddr.port)
        for c in getattr(process, "net_connections", process.connections)(
            kind="inet"
        )  # psutil < 6: connections
        if c.status == "LISTEN"
    }


@pytest.mark.slow
def test_unload_returns_the_memory_and_leaves_nothing_listening(
    svc: LLMKernelService, engine: str
) -> None:
    import psutil

    from llm_widgets.demo import packaged_model_path

    me = psutil.Process()
    svc.load_model(packaged_model_path(), n_ctx=4096).wait(60)  # the library's own pages stay
    svc.unload_model()
    before, ports = me.memory_info().rss, _listening(me)
    facts = svc.load_model(packaged_model_path(), n_ctx=4096).wait(60)
    svc.generate_completion("Hello", max_tokens=4).wait(60)
    loaded, opened = me.memory_info().rss, _listening(me) - ports
    assert facts.engine == engine and facts.engine_version
    if engine == "xllamacpp":  # its server: loopback only, and it wants the key made for it
        assert len(opened) == 1 and all(ip == "127.0.0.1" for ip, _ in opened)
        ip, port = next(iter(opened))
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://{ip}:{port}/v1/models", timeout=5)
        assert refused.value.code == 401
    else:
        assert not opened
    svc.unload_model()
    after = me.memory_info().rss
    assert loaded - before > 40 * 2**20, "the model took no memory?"
    assert after - before < (loaded - before) / 3, (before, loaded, after)
    assert _listening(me) == ports


@pytest.mark.slow
def test_stop_while_a_long_prompt_is_evaluated_frees_the_model_at_once(
    svc: LLMKernelService, engine: str
) -> None:
    from llm_widgets.demo import packaged_model_path

    """Stop inside a ~3,000-token prompt's evaluation (seconds on a CPU): the job ends aborted
    with no text and the model answers the next prompt. How soon the model is free again is
    benchmarks/prompt_stop.py's measure."""
    svc.load_model(packaged_model_path(), n_ctx=4096).wait(60)
    prompt = " ".join(f"Item {i} is a small blue box." for i in range(330))  # ~3,000 tokens
    job = svc.generate_completion(prompt, max_tokens=2000, grammar=NEVER_ENDS)
    wait_until(lambda: job.state == "running", timeout=60, what="the generation job running")
    job.cancel()  # (also in the instant the request starts: a hook added after it runs at once)
    assert job.join(60), "the cancel did not end the job"
    assert job.state == "cancelled" and job.stop_reason == "aborted" and job.text == ""
    nxt = svc.generate_completion("Hi", max_tokens=1)
    nxt.wait(60)
    assert nxt.state == "done"


def test_shutdown_never_frees_the_model_under_a_worker_that_has_not_ended(
    svc: LLMKernelService, tiny: Path
) -> None:
    """A worker past shutdown's wait (a native call that does not return at once) still holds
    the engine: freeing the model under it crashed the process (SIGSEGV in detokenize)."""
    from llm_widgets.jobs import Job

    svc.load_model(tiny).wait(30)
    runner = svc._models  # the engine's turns: a stuck worker is one that holds a turn
    holding, release = threading.Event(), threading.Event()

    def stuck_worker() -> None:
        with runner.turn(Job()):
            holding.set()
            release.wait(30)
            assert runner.facts is not None, "the model was freed while a job held it"

    worker = threading.Thread(target=stuck_worker)
    worker.start()
    assert holding.wait(10)
    svc.shutdown(timeout=0.2)
    assert runner.facts is not None and runner.facts.path == str(tiny)
    release.set()
    worker.join(10)
    assert runner.facts is None  # freed as the last worker let go
