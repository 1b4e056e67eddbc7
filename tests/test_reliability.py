"""What a hostile tester found: each test failed before its fix."""

from __future__ import annotations

import errno
import gc
import os
import weakref
from pathlib import Path

import pytest

from llm_widgets import Chat, LLMKernelService, LocalLibrary, ModelBrowser, ModelCard
from llm_widgets.hub import explain_error
from llm_widgets.testing import LocalHub, capture_messages, send_from_frontend, wait_until

REPO = "acme/tiny-GGUF"
FILE = "tiny.Q4_K_M.gguf"


def test_closed_widgets_are_freed(service: LLMKernelService, local_hub: LocalHub) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(1000))
    browser = ModelBrowser()
    widgets = [ModelCard(REPO, FILE) for _ in range(20)]
    widgets += [Chat(service), LocalLibrary(), browser, browser.panel, browser.library]
    refs = [weakref.ref(w) for w in widgets]
    for widget in widgets:
        widget.close()
    del widgets, widget, browser
    service.events.flush()
    gc.collect()
    alive = [type(r()).__name__ for r in refs if r() is not None]
    assert alive == [], f"closed widgets still alive: {alive}"


def test_a_read_only_cache_is_a_disk_error_not_offline() -> None:
    for code, words in (
        (errno.EROFS, "read-only"),
        (errno.EACCES, "permission"),
        (errno.EIO, "I/O error"),
    ):
        exc = OSError(code, os.strerror(code), "/cache/models--acme--x/blobs/abc.incomplete")
        error = explain_error(
            exc, repo_id=REPO, filename=FILE, revision=None, endpoint="https://hub.example"
        )
        assert error.kind == "disk", (code, str(error))
        assert words in str(error) and "/cache/models--acme--x" in str(error)
        assert "HF_HOME" in str(error) and "Cannot reach" not in str(error)


def test_a_cache_that_cannot_be_created_is_reported_with_its_path(
    local_hub: LocalHub, tmp_path: Path
) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(1000))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache should be")
    svc = LLMKernelService(endpoint=local_hub.url, cache_dir=blocker / "hub")
    try:
        job = svc.start_download(REPO, FILE)
        job.join(30)
        assert job.state == "failed" and job.error_kind == "disk", job.error
        assert str(blocker) in (job.error or "") and "HF_HOME" in (job.error or "")
    finally:
        svc.shutdown()


def test_the_page_cannot_set_what_only_python_sets(
    service: LLMKernelService, local_hub: LocalHub, tmp_path: Path
) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(1000))
    card = ModelCard(REPO, FILE)
    card.start_download().wait(30)
    path = card.path
    secret = tmp_path / "not-a-model.gguf"
    secret.write_bytes(b"x")
    card.set_state({"path": str(secret), "status": "done", "load_status": "loaded"})
    assert card.path == path and card.load_status == "unloaded"
    assert "path is set by the kernel" in card.error and "status" in card.error


def test_wrong_types_from_the_page_become_errors(service: LLMKernelService) -> None:
    card = ModelCard(REPO, FILE)
    card.set_state({"n_ctx": "4096"})
    assert card.n_ctx == 2048 and "n_ctx" in card.error and "int" in card.error
    chat = Chat(service)
    chat.set_state({"temperature": "hot"})
    assert chat.temperature == 0.7 and "temperature" in chat.error
    chat.set_state({"temperature": 0.2, "system_prompt": "Be brief."})  # what the view edits
    assert chat.temperature == 0.2 and chat.system_prompt == "Be brief."
    panel = ModelBrowser().panel
    panel.set_state({"max_concurrent_downloads": 2.5})
    assert panel.max_concurrent_downloads == 2 and "max_concurrent_downloads" in panel.error
    assert service.max_concurrent_downloads == 2


def test_a_busy_server_on_the_metadata_request_is_retried_and_said(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    data = os.urandom(200_000)
    local_hub.add_file(REPO, FILE, data)
    service.transfer_options.retry_backoff = 0.3
    local_hub.faults.status_for = {REPO: 503}
    card = ModelCard(REPO, FILE)
    job = card.start_download()
    wait_until(lambda: card.detail == "server busy — retrying", timeout=10)
    assert job.state == "running"
    local_hub.faults.status_for = {}
    assert Path(job.wait(30)).read_bytes() == data
    assert card.detail == "" and card.status == "done"


def test_a_server_busy_for_longer_than_the_retries_fails_with_its_status(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(1000))
    local_hub.faults.status_for = {REPO: 503}
    job = service.start_download(REPO, FILE)
    job.join(30)
    assert job.state == "failed" and job.error_kind == "server" and "503" in (job.error or "")


def test_a_download_does_not_start_into_space_a_running_one_still_needs(
    service: LLMKernelService, local_hub: LocalHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    mb = 1_000_000
    local_hub.add_file(REPO, "a.gguf", os.urandom(20 * mb))
    local_hub.add_file(REPO, "b.gguf", os.urandom(20 * mb))
    local_hub.faults.throttle_bps = 8 * mb
    real = shutil.disk_usage
    monkeypatch.setattr(
        "llm_widgets.hub._space.shutil.disk_usage", lambda p: real(p)._replace(free=30 * mb)
    )
    first = service.start_download(REPO, "a.gguf")
    wait_until(lambda: first.bytes_done > 0)
    second = service.start_download(REPO, "b.gguf")
    second.join(10)
    assert second.state == "failed" and second.error_kind == "disk_full"
    assert "already running" in (second.error or "")
    first.cancel()


def test_local_hub_serves_a_path_given_as_text_and_refuses_a_missing_one(
    local_hub: LocalHub, tmp_path: Path
) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + os.urandom(100))
    sha = local_hub.add_file(REPO, "model.gguf", str(model))  # the README's air-gapped recipe
    assert (local_hub.root / REPO / "model.gguf").read_bytes() == model.read_bytes()
    with pytest.raises(FileNotFoundError, match="text="):
        local_hub.add_file(REPO, "other.gguf", "/no/such/model.gguf")
    assert local_hub.add_file(REPO, "README.md", text="# hi\n") != sha


def test_the_library_lists_upper_case_ggufs_and_every_partial_it_can_only_discard(
    service: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    local_hub.add_file(REPO, "Shout.Q4_0.GGUF", os.urandom(50_000))
    service.start_download(REPO, "Shout.Q4_0.GGUF").wait(30)
    # a partial of an older version of a file that is now complete in a newer one
    local_hub.add_file(REPO, FILE, os.urandom(3_000_000))
    local_hub.faults.throttle_bps = 2_000_000
    old = service.start_download(REPO, FILE)
    wait_until(lambda: old.bytes_done > 0)
    old.cancel()
    old.join(10)
    local_hub.faults.throttle_bps = None
    local_hub.add_file(REPO, FILE, os.urandom(100_000))
    service.start_download(REPO, FILE).wait(30)
    # and an orphan with no record of what it was (a killed process's)
    orphan = cache_dir / "models--acme--tiny-GGUF" / "blobs" / "0123abcd.incomplete"
    orphan.write_bytes(b"x" * 1000)

    library = LocalLibrary()
    rows = {(m["filename"], m["stale"]) for m in library.models}
    assert ("Shout.Q4_0.GGUF", False) in rows and (FILE, False) in rows
    assert (FILE, True) in rows and ("0123abcd.incomplete", True) in rows
    assert library.discard(REPO, "0123abcd.incomplete") == 1000 and not orphan.exists()
    assert library.discard(REPO, FILE) > 0
    assert {(m["filename"], m["stale"]) for m in library.models} == {
        ("Shout.Q4_0.GGUF", False),
        (FILE, False),
    }


def test_library_errors_clear_on_success_and_a_file_already_gone_is_said_so(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    local_hub.add_file(REPO, FILE, os.urandom(10_000))
    path = Path(service.start_download(REPO, FILE).wait(30))
    library = LocalLibrary()
    sent = capture_messages(library)
    send_from_frontend(library, {"type": "load", "repo_id": REPO, "filename": "nope.gguf"})
    assert "not complete in the cache" in library.error
    path.resolve().unlink()  # deleted behind the library's back
    path.unlink()
    send_from_frontend(library, {"type": "delete", "repo_id": REPO, "filename": FILE})
    assert library.error == ""
    assert any("already gone" in m.get("text", "") for _, m in sent)
    assert library.models == []


@pytest.mark.slow
def test_a_short_soak_keeps_every_invariant() -> None:
    from harness.soak import run_soak

    report = run_soak(rounds=2, cards=4, round_seconds=3.0, seed=7)
    assert report.ok, report.summary()
    assert report.clicks > 20 and sum(report.faults.values()) > 3 and report.files_checked == 4


def test_downloads_of_the_same_size_hold_their_own_space(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    for i in range(3):  # equal sizes: each claim of disk space is released on its own
        local_hub.add_file(REPO, f"part{i}.gguf", os.urandom(300_000))
    local_hub.faults.throttle_bps = 1_000_000
    jobs = [service.start_download(REPO, f"part{i}.gguf") for i in range(3)]
    for job in jobs:
        job.wait(30)
