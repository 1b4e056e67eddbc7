"""ModelBrowser and the library API: search, pick, quantization, fit, queueing, local library."""

from __future__ import annotations

import os
import time
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

import pytest

from llm_widgets import HubSearch, LLMKernelService, LocalLibrary
from llm_widgets._names import parse_quantization
from llm_widgets.errors import DownloadError, JobCancelledError, LLMWidgetsError
from llm_widgets.hub.library import fit_hint
from llm_widgets.testing import LocalHub, capture_messages, send_from_frontend, wait_until
from llm_widgets.testing.tiny_gguf import write_tiny_gguf
from llm_widgets.widgets.model_browser import ModelBrowser

MB = 1_000_000


@pytest.fixture
def catalogue(local_hub: LocalHub) -> LocalHub:
    local_hub.add_repo("bartowski/Llama-3-8B-GGUF", downloads=900, likes=40)
    for quant in ("Q4_K_M", "Q8_0", "IQ2_XS"):
        local_hub.add_file("bartowski/Llama-3-8B-GGUF", f"Llama-3-8B-{quant}.gguf", os.urandom(MB))
    for i in range(1, 4):
        local_hub.add_file(
            "bartowski/Llama-3-8B-GGUF",
            f"Llama-3-8B-F16-{i:05d}-of-00003.gguf",
            os.urandom(MB // 2),
        )
    local_hub.add_file("bartowski/Llama-3-8B-GGUF", "README.md", text="# Llama 3 GGUF\n")
    local_hub.add_repo("someone/llama-tiny-GGUF", downloads=50, likes=2)
    local_hub.add_file("someone/llama-tiny-GGUF", "tiny.Q4_0.gguf", os.urandom(MB))
    local_hub.add_repo("meta/llama-gated-GGUF", downloads=5000, gated="manual")
    local_hub.add_file("meta/llama-gated-GGUF", "model.Q4_K_M.gguf", os.urandom(MB))
    local_hub.add_repo("someone/llama-safetensors")  # no GGUF: not a result
    local_hub.add_file("someone/llama-safetensors", "model.safetensors", os.urandom(2000))
    for i in range(60):  # more than one page of results
        local_hub.add_file(f"bulk/model-{i:02d}-GGUF", "m.Q4_K_M.gguf", b"GGUF" + bytes(2000))
    return local_hub


def test_quantization_is_parsed_from_file_names() -> None:
    assert parse_quantization("Llama-3-8B-Instruct-Q4_K_M.gguf") == "Q4_K_M"
    assert parse_quantization("model.Q8_0.gguf") == "Q8_0"
    assert parse_quantization("phi-IQ2_XS.gguf") == "IQ2_XS"
    assert parse_quantization("model-f16-00001-of-00002.gguf") == "F16"
    assert parse_quantization("qwen2.5-0.5b-instruct-bf16.gguf") == "BF16"
    assert parse_quantization("plain.gguf") is None


def test_fit_hint_compares_with_available_memory() -> None:
    assert fit_hint(1 * 10**9, available=16 * 10**9)[0] == "fits"
    assert fit_hint(10 * 10**9, available=12 * 10**9)[0] == "tight"
    verdict, detail = fit_hint(20 * 10**9, available=8 * 10**9)
    assert verdict == "does not fit" and "8.0 GB available" in detail and "20.0 GB" in detail


def test_search_finds_gguf_repos_by_downloads(
    service: LLMKernelService, catalogue: LocalHub
) -> None:
    found = service.search_models("llama")
    assert [m.repo_id for m in found] == [
        "meta/llama-gated-GGUF",
        "bartowski/Llama-3-8B-GGUF",
        "someone/llama-tiny-GGUF",
    ]
    assert found[0].gated == "manual" and found[1].downloads == 900
    assert len(service.search_models("model-", limit=100)) == 60  # followed the next-page link


def test_list_model_files_groups_split_parts_with_quant_and_fit(
    service: LLMKernelService, catalogue: LocalHub
) -> None:
    files = {f.filename: f for f in service.list_model_files("bartowski/Llama-3-8B-GGUF")}
    assert sorted(files) == [
        "Llama-3-8B-F16-00001-of-00003.gguf",
        "Llama-3-8B-IQ2_XS.gguf",
        "Llama-3-8B-Q4_K_M.gguf",
        "Llama-3-8B-Q8_0.gguf",
    ]
    split = files["Llama-3-8B-F16-00001-of-00003.gguf"]
    assert len(split.parts) == 3 and split.size == 3 * (MB // 2) and split.quant == "F16"
    assert files["Llama-3-8B-Q8_0.gguf"].fit == "fits" and "GB available" in split.fit_detail


def test_the_browser_searches_picks_and_shows_cards(
    service: LLMKernelService, catalogue: LocalHub
) -> None:
    browser = ModelBrowser(service=service)
    send_from_frontend(browser.panel, {"type": "search", "query": "llama"})
    wait_until(lambda: browser.status == "idle" and browser.results)
    assert browser.results[0]["repo_id"] == "meta/llama-gated-GGUF"
    assert browser.results[0]["gated"] == "manual"
    send_from_frontend(browser.panel, {"type": "pick", "repo_id": "bartowski/Llama-3-8B-GGUF"})
    wait_until(lambda: len(browser.cards) == 4)
    card = next(c for c in browser.cards if c.filename.endswith("Q8_0.gguf"))
    assert card.quant == "Q8_0" and card.fit == "fits" and card.size == MB
    # a compact list, recommended first, small to large (F16 last), a split model as one entry
    rows = browser.panel.files
    assert [r["filename"] for r in rows] == [c.filename for c in browser.cards]
    assert rows[0]["quant"] == "Q4_K_M" and rows[0]["recommended"]
    assert [r["recommended"] for r in rows].count(True) == 1
    assert rows[-1]["quant"] == "F16" and rows[-1]["parts"] == 3
    assert rows[-1]["size"] == 3 * (MB // 2)
    assert [r["size"] for r in rows[1:]] == sorted(r["size"] for r in rows[1:])
    assert {r["status"] for r in rows} == {"idle"}
    assert list(browser.files_box.children) == []  # no full card before a download

    q8 = next(r["filename"] for r in rows if r["quant"] == "Q8_0")
    send_from_frontend(browser.panel, {"type": "download", "filename": q8})
    card.job.wait(30)
    service.events.flush()
    assert list(browser.files_box.children) == [card]  # its card, in full
    assert next(r for r in browser.panel.files if r["filename"] == q8)["status"] == "done"
    send_from_frontend(browser.panel, {"type": "download", "filename": "other.gguf"})
    assert "not a file of" in browser.panel.error


def test_a_newer_search_supersedes_an_older_one(
    service: LLMKernelService, catalogue: LocalHub
) -> None:
    catalogue.faults.api_delay = 0.5  # the first search is still on the wire when the second starts
    browser = ModelBrowser(service=service)
    first = browser.search("bulk")
    second = browser.search("tiny")
    first.join(10)
    second.join(10)
    assert [r["repo_id"] for r in browser.results] == ["someone/llama-tiny-GGUF"]
    assert browser.panel.query == "tiny"


def test_hub_search_scripts_the_search_and_a_newer_one_supersedes(
    service: LLMKernelService, catalogue: LocalHub
) -> None:
    search = HubSearch(service, limit=10)
    assert [m.repo_id for m in search.search("tiny")] == ["someone/llama-tiny-GGUF"]
    catalogue.faults.api_delay = 0.5
    older = search.start("bulk")
    newer = search.start("llama")
    assert [m.repo_id for m in newer.result(10)][:1] == ["meta/llama-gated-GGUF"]
    with pytest.raises(CancelledError):
        older.result(10)
    assert search.query == "llama" and search.results == newer.result()
    assert {f.quant for f in search.files("bartowski/Llama-3-8B-GGUF")} == {
        "Q4_K_M",
        "Q8_0",
        "IQ2_XS",
        "F16",
    }


@pytest.fixture
def backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses huggingface_hub's retries with back-off (`http_backoff`) would take: recorded,
    not slept, so a test sees whether the Hub was asked again and again."""
    import huggingface_hub.utils._http as hf_http

    slept: list[float] = []

    class _Clock:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            slept.append(seconds)

    monkeypatch.setattr(hf_http, "time", _Clock())
    return slept


def test_hub_search_raises_the_hubs_error(
    service: LLMKernelService, catalogue: LocalHub, backoff_sleeps: list[float]
) -> None:
    with pytest.raises(ValueError):
        HubSearch(service).start("x" * 201)
    catalogue.stop()
    with pytest.raises(DownloadError, match="Cannot reach") as raised:
        HubSearch(service).search("tiny")
    assert raised.value.kind == "offline"
    assert backoff_sleeps == []  # said at once, not after huggingface_hub's back-off


def test_a_gated_repo_says_so_when_picked(service: LLMKernelService, catalogue: LocalHub) -> None:
    browser = ModelBrowser(service=service)
    browser.pick("meta/llama-gated-GGUF").join(10)
    assert "gated" in browser.error and browser.cards == []


def test_three_downloads_with_a_limit_of_two_queue_one_and_cancel_one(
    service: LLMKernelService, catalogue: LocalHub
) -> None:
    catalogue.faults.throttle_bps = 800_000
    browser = ModelBrowser(service=service, max_concurrent_downloads=2)
    browser.pick("bartowski/Llama-3-8B-GGUF").join(10)
    cards = [c for c in browser.cards if not c.filename.startswith("Llama-3-8B-F16")]
    jobs = [c.start_download() for c in cards]
    wait_until(lambda: sorted(c.status for c in cards) == ["queued", "running", "running"])
    queued = next(c for c in cards if c.status == "queued")
    running = [c for c in cards if c.status == "running"]
    send_from_frontend(running[0], {"type": "cancel"})  # each card cancels only its own job
    with pytest.raises(JobCancelledError):
        running[0].job.wait(5)
    assert running[1].job.wait(30) and queued.job.wait(30)
    assert [c.status for c in (running[1], queued)] == ["done", "done"]
    assert running[0].status == "cancelled"
    assert len([j for j in jobs if j.state == "done"]) == 2


def test_the_library_lists_deletes_and_discards(
    service: LLMKernelService, catalogue: LocalHub
) -> None:
    repo = "bartowski/Llama-3-8B-GGUF"
    service.start_download(repo, "Llama-3-8B-Q8_0.gguf").wait(30)
    catalogue.faults.throttle_bps = 400_000
    partial = service.start_download(repo, "Llama-3-8B-Q4_K_M.gguf")
    wait_until(lambda: partial.bytes_done > 100_000)
    partial.cancel()
    with pytest.raises(JobCancelledError):
        partial.wait(5)
    browser = ModelBrowser(service=service)
    rows = {r["filename"]: r for r in browser.local}
    assert (
        not rows["Llama-3-8B-Q8_0.gguf"]["partial"] and rows["Llama-3-8B-Q8_0.gguf"]["size"] == MB
    )
    assert rows["Llama-3-8B-Q4_K_M.gguf"]["partial"]
    assert 0 < rows["Llama-3-8B-Q4_K_M.gguf"]["bytes_done"] < MB

    send_from_frontend(
        browser.library, {"type": "discard", "repo_id": repo, "filename": "Llama-3-8B-Q4_K_M.gguf"}
    )
    send_from_frontend(
        browser.library, {"type": "delete", "repo_id": repo, "filename": "Llama-3-8B-Q8_0.gguf"}
    )
    assert browser.local == [] and browser.error == ""
    assert service.cached_path(repo, "Llama-3-8B-Q8_0.gguf") is None
    assert not list(service.cache_dir.glob("models--*/blobs/*"))


def test_delete_is_refused_while_loaded_or_downloading(
    service: LLMKernelService, local_hub: LocalHub, tmp_path: Path
) -> None:
    repo = "acme/tiny-GGUF"
    local_hub.add_file(repo, "tiny.F32.gguf", write_tiny_gguf(tmp_path / "t.gguf"))
    path = service.start_download(repo, "tiny.F32.gguf").wait(30)
    service.load_model(path).wait(30)
    with pytest.raises(LLMWidgetsError, match="while it is loaded"):
        service.delete_model(repo, "tiny.F32.gguf")
    local_hub.add_file(repo, "big.gguf", os.urandom(2 * MB))
    local_hub.faults.throttle_bps = 500_000
    job = service.start_download(repo, "big.gguf")
    with pytest.raises(LLMWidgetsError, match="while it is downloading"):
        service.discard_partial(repo, "big.gguf")
    job.cancel()


def test_resume_from_the_library_finishes_the_partial(
    service: LLMKernelService, catalogue: LocalHub
) -> None:
    repo = "bartowski/Llama-3-8B-GGUF"
    catalogue.faults.throttle_bps = 400_000
    job = service.start_download(repo, "Llama-3-8B-IQ2_XS.gguf")
    wait_until(lambda: job.bytes_done > 100_000)
    job.cancel()
    catalogue.faults.throttle_bps = None
    browser = ModelBrowser(service=service)
    send_from_frontend(
        browser.library, {"type": "resume", "repo_id": repo, "filename": "Llama-3-8B-IQ2_XS.gguf"}
    )
    resumed = service.find_download(repo, "Llama-3-8B-IQ2_XS.gguf")
    assert resumed is not job and resumed.wait(30)
    assert resumed.resumed_from > 0
    wait_until(lambda: [r["partial"] for r in browser.local] == [False])


def test_offline_the_browser_says_so_and_keeps_the_library(
    local_hub: LocalHub, cache_dir: Path, backoff_sleeps: list[float]
) -> None:
    local_hub.add_file("acme/tiny-GGUF", "a.Q4_0.gguf", os.urandom(10_000))
    online = LLMKernelService(endpoint=local_hub.url, cache_dir=cache_dir)
    online.start_download("acme/tiny-GGUF", "a.Q4_0.gguf").wait(30)
    online.shutdown()
    gone = LocalHub().start()
    url = gone.url
    gone.stop()
    offline = LLMKernelService(endpoint=url, cache_dir=cache_dir)
    try:
        browser = ModelBrowser(service=offline)
        browser.search("tiny").join(60)
        assert backoff_sleeps == []  # said at once, not after huggingface_hub's back-off
        assert browser.status == "offline" and "Cannot reach" in browser.error
        assert [r["filename"] for r in browser.local] == ["a.Q4_0.gguf"]
    finally:
        offline.shutdown()


@pytest.mark.parametrize(
    "content",
    [
        ("panel", {"type": "pick", "repo_id": "../../etc"}),
        ("library", {"type": "delete", "repo_id": "a/b", "filename": "../../x"}),
        ("library", {"type": "resume", "repo_id": "a/b"}),
        ("panel", {"type": "search", "query": "x" * 500}),
        ("panel", {"type": "download", "repo_id": "a/b"}),
        ("panel", {"type": "delete", "repo_id": "a/b", "filename": "x.gguf"}),  # not the panel's
    ],
)
def test_bad_browser_messages_are_rejected(
    service: LLMKernelService, content: tuple[str, Any]
) -> None:
    browser = ModelBrowser(service=service)
    part, message = content
    send_from_frontend(getattr(browser, part), message)
    assert browser.error.startswith("Ignored")
    assert service.downloads == []


def test_a_split_model_is_one_library_entry_and_deletes_whole(
    service: LLMKernelService, catalogue: LocalHub
) -> None:
    repo, first = "bartowski/Llama-3-8B-GGUF", "Llama-3-8B-F16-00001-of-00003.gguf"
    service.start_download(repo, first).wait(30)
    (entry,) = service.local_models()
    assert (entry.filename, entry.size, entry.partial) == (first, 3 * (MB // 2), False)
    assert service.delete_model(repo, first) == 3 * (MB // 2)
    assert service.local_models() == []


def test_the_local_library_stands_alone_and_follows_downloads(
    service: LLMKernelService, catalogue: LocalHub
) -> None:
    repo = "bartowski/Llama-3-8B-GGUF"
    library = LocalLibrary(service=service)
    sent = capture_messages(library)
    assert library.models == [] and library.local_total == 0
    service.start_download(repo, "Llama-3-8B-Q8_0.gguf").wait(30)
    wait_until(lambda: [m["filename"] for m in library.models] == ["Llama-3-8B-Q8_0.gguf"])
    assert library.local_total == MB and library.models[0]["quant"] == "Q8_0"
    assert library.delete(repo, "Llama-3-8B-Q8_0.gguf") == MB
    assert library.models == [] and library.local_total == 0
    assert any("Deleted Llama-3-8B-Q8_0.gguf" in m.get("text", "") for _, m in sent)
    send_from_frontend(library, {"type": "delete", "repo_id": repo, "filename": "gone.gguf"})
    assert library.error == ""  # deleted elsewhere: said so, not an error
    assert any("gone.gguf was already gone" in m.get("text", "") for _, m in sent)
    library.close()


def test_a_library_model_loads_and_unloads_from_its_row(
    service: LLMKernelService, local_hub: LocalHub, tmp_path: Path
) -> None:
    repo = "acme/tiny-GGUF"
    local_hub.add_file(repo, "tiny.F32.gguf", write_tiny_gguf(tmp_path / "t.gguf"))
    local_hub.add_file(repo, "broken.Q4_0.gguf", b"not a gguf at all" * 100)
    service.start_download(repo, "tiny.F32.gguf").wait(30)
    service.start_download(repo, "broken.Q4_0.gguf").wait(30)
    library = LocalLibrary(service=service)
    sent = capture_messages(library)
    assert [m["loaded"] for m in library.models] == [False, False]

    send_from_frontend(library, {"type": "load", "repo_id": repo, "filename": "tiny.F32.gguf"})
    wait_until(lambda: {m["filename"]: m["loaded"] for m in library.models}["tiny.F32.gguf"])
    assert service.model is not None and service.model.path.endswith("tiny.F32.gguf")
    wait_until(lambda: any("tiny.F32.gguf is loaded" in m.get("text", "") for _, m in sent))

    send_from_frontend(library, {"type": "unload"})
    wait_until(lambda: not any(m["loaded"] for m in library.models))
    assert service.model is None

    send_from_frontend(library, {"type": "load", "repo_id": repo, "filename": "broken.Q4_0.gguf"})
    wait_until(lambda: "GGUF" in library.error)
    send_from_frontend(library, {"type": "load", "repo_id": repo, "filename": "absent.gguf"})
    assert "not complete in the cache" in library.error
    library.close()


def test_with_hf_hub_offline_the_browser_says_why(
    service: LLMKernelService, catalogue: LocalHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    browser = ModelBrowser(service=service)
    browser.search("llama").join(10)
    assert browser.status == "offline" and "HF_HUB_OFFLINE" in browser.error
    assert not [r for r in catalogue.requests if r.path.startswith("/api/")]  # never asked
