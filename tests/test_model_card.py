"""ModelCard: traits follow the service's job; front-end messages go through the real handler."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from llm_widgets import DownloadError, LLMKernelService, LocalLibrary, ModelCard
from llm_widgets.testing import LocalHub, send_from_frontend, wait_until

REPO = "acme/tiny-GGUF"
FILE = "tiny.Q8_0.gguf"
MB = 1_000_000


def _sent(card: ModelCard) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    card._post = messages.append  # type: ignore[method-assign]
    return messages


@pytest.fixture
def data(local_hub: LocalHub) -> bytes:
    payload = os.urandom(2 * MB)
    local_hub.add_file(REPO, FILE, payload)
    return payload


def test_a_click_on_download_runs_the_job_and_the_card_follows(
    service: LLMKernelService, local_hub: LocalHub, data: bytes
) -> None:
    card = ModelCard(REPO, FILE, service=service)
    notices = _sent(card)
    assert (card.status, card.progress, card.is_downloading) == ("idle", 0.0, False)

    send_from_frontend(card, {"type": "download"})
    job = card.job
    assert job is not None
    job.wait(30)
    service.events.flush()

    assert card.status == "done" and card.progress == 100.0 and not card.is_downloading
    assert card.size == card.bytes_done == len(data)
    assert Path(card.path).read_bytes() == data
    assert card.error == ""
    texts = [(m["level"], m["text"]) for m in notices if m["type"] == "notice"]
    assert texts[0] == ("info", f"Starting download of {REPO}/{FILE}")
    assert texts[-1] == ("success", f"{REPO}/{FILE} is ready")


def test_progress_traits_move_while_downloading(
    service: LLMKernelService, local_hub: LocalHub, data: bytes
) -> None:
    local_hub.faults.throttle_bps = 2 * MB
    card = ModelCard(REPO, FILE, service=service)
    seen: list[float] = []
    card.observe(lambda change: seen.append(change["new"]), names="progress")
    card.start_download().wait(30)
    service.events.flush()
    middle = [p for p in seen if 0 < p < 100]
    assert len(middle) >= 3 and middle == sorted(middle)
    assert seen[-1] == 100.0


def test_cancel_from_the_front_end_keeps_what_is_done_and_says_so(
    service: LLMKernelService, local_hub: LocalHub, data: bytes
) -> None:
    local_hub.faults.throttle_bps = MB
    card = ModelCard(REPO, FILE, service=service)
    notices = _sent(card)
    job = card.start_download()
    wait_until(lambda: card.progress > 5)
    send_from_frontend(card, {"type": "cancel"})
    assert job.join(30)
    service.events.flush()
    assert (card.status, card.is_downloading) == ("cancelled", False)
    assert card.speed == 0.0 and card.eta == -1.0
    # the bar and the figures show what is kept, not 0%
    assert card.bytes_done == job.bytes_done > 0
    assert card.progress == pytest.approx(100 * job.bytes_done / len(data), abs=0.01)
    assert card.progress > 5
    texts = [m.get("text", "") for m in notices]
    assert any("cancelled; " in t and "kept for a resume" in t for t in texts)

    send_from_frontend(card, {"type": "download"})  # resumes, and says from where
    card.job.wait(30)
    service.events.flush()
    kept = f"{100 * job.bytes_done / len(data):.0f}%"
    assert f"Resuming download of {REPO}/{FILE} from {kept}" in [m.get("text") for m in notices]
    assert card.status == "done"


def test_a_card_whose_file_is_deleted_shows_it_as_not_downloaded(
    service: LLMKernelService, local_hub: LocalHub, data: bytes
) -> None:
    card = ModelCard(REPO, FILE, service=service)
    library = LocalLibrary(service=service)
    card.start_download().wait(30)
    service.events.flush()
    assert card.status == "done" and [m["filename"] for m in library.models] == [FILE]

    assert service.delete_model(REPO, FILE) == len(data)  # from Python, not from a view
    service.events.flush()
    assert (card.status, card.progress, card.bytes_done, card.path) == ("idle", 0.0, 0, "")
    assert library.models == []  # the list follows without a Refresh
    assert ModelCard(REPO, FILE, service=service).status == "idle"  # so does a new card

    send_from_frontend(card, {"type": "download"})  # Download is offered again, and works
    card.job.wait(30)
    service.events.flush()
    assert card.status == "done" and Path(card.path).read_bytes() == data


def test_a_card_whose_partial_download_is_discarded_starts_over(
    service: LLMKernelService, local_hub: LocalHub, data: bytes
) -> None:
    local_hub.faults.throttle_bps = MB
    card = ModelCard(REPO, FILE, service=service)
    job = card.start_download()
    wait_until(lambda: card.progress > 5)
    job.cancel()
    job.join(5)
    service.discard_partial(REPO, FILE)
    service.events.flush()
    assert (card.status, card.progress, card.bytes_done) == ("idle", 0.0, 0)


def test_retry_after_a_failure_resumes_and_completes(
    service: LLMKernelService, local_hub: LocalHub, data: bytes
) -> None:
    local_hub.faults.status_for = {REPO: 500}
    card = ModelCard(REPO, FILE, service=service)
    with pytest.raises(DownloadError):
        card.start_download().wait(30)
    service.events.flush()
    assert card.status == "failed" and "server error (500)" in card.error

    local_hub.faults.status_for = {}
    send_from_frontend(card, {"type": "retry"})
    card.job.wait(30)
    service.events.flush()
    assert card.status == "done" and card.error == ""


def test_cards_of_the_same_file_show_the_same_job(
    service: LLMKernelService, local_hub: LocalHub, data: bytes
) -> None:
    local_hub.faults.throttle_bps = 2 * MB
    first = ModelCard(REPO, FILE, service=service)
    job = service.start_download(REPO, FILE)  # started from Python, not from a card
    wait_until(lambda: first.job is job)
    late = ModelCard(REPO, FILE, service=service)  # made while the file is downloading
    assert late.job is job and late.is_downloading
    job.wait(30)
    service.events.flush()
    assert first.status == late.status == "done"
    assert first.path == late.path


def test_a_card_for_a_cached_file_shows_it_as_done(
    service: LLMKernelService, local_hub: LocalHub, data: bytes
) -> None:
    path = service.start_download(REPO, FILE).wait(30)
    fresh = LLMKernelService(endpoint=local_hub.url, cache_dir=service.cache_dir)
    try:
        card = ModelCard(REPO, FILE, service=fresh)
        assert (card.status, card.progress, card.path) == ("done", 100.0, path)
    finally:
        fresh.shutdown()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ({"type": "explode"}, "unknown message type 'explode'"),
        ({"kind": "download"}, "without a string 'type'"),
        ("download", "not an object"),
        ([1, 2], "not an object"),
        ({"type": "download", "path": "/etc/passwd"}, "unexpected field(s) path"),
        ({"type": "download", "request_id": 7}, "request_id must be a string"),
        ({"type": 5}, "without a string 'type'"),
    ],
)
def test_malformed_messages_set_error_and_do_nothing(
    service: LLMKernelService, local_hub: LocalHub, data: bytes, content: Any, words: str
) -> None:
    card = ModelCard(REPO, FILE, service=service)
    notices = _sent(card)
    send_from_frontend(card, content)
    assert words in card.error
    assert notices and notices[0]["type"] == "notice" and notices[0]["level"] == "error"
    assert service.downloads == [] and card.status == "idle"


def test_a_request_id_gets_an_ack(service: LLMKernelService, data: bytes) -> None:
    card = ModelCard(REPO, FILE, service=service)
    sent = _sent(card)
    send_from_frontend(card, {"type": "download", "request_id": "r1"})
    card.job.wait(30)
    assert {"type": "ack", "request_id": "r1", "ok": True, "error": ""} in sent


def test_no_secret_in_widget_state(local_hub: LocalHub, cache_dir: Path, data: bytes) -> None:
    secret = "hf_AnotherSecretToken0987654321"
    local_hub.token = secret
    local_hub.add_repo(REPO, private=True)
    svc = LLMKernelService(endpoint=local_hub.url, cache_dir=cache_dir, token=secret + "wrong")
    try:
        card = ModelCard(REPO, FILE, service=svc)
        with pytest.raises(DownloadError):
            card.start_download().wait(30)
        svc.events.flush()
        state = json.dumps(card.get_state(), default=str)
        assert card.error and secret not in state
        assert "token" not in {name.lower() for name in card.keys}
    finally:
        svc.shutdown()


def test_bad_arguments_are_refused(service: LLMKernelService) -> None:
    with pytest.raises(ValueError):
        ModelCard("../../etc", "passwd", service=service)


def test_a_new_card_shows_the_file_size_before_downloading(
    service: LLMKernelService, data: bytes
) -> None:
    card = ModelCard(REPO, FILE, service=service)
    wait_until(lambda: card.size == len(data))
    assert card.status == "idle" and service.downloads == []


def test_the_fit_hint_follows_the_size_and_the_context(service: LLMKernelService) -> None:
    card = ModelCard("acme/big-GGUF", "big.Q4_K_M.gguf")
    assert card.fit == ""  # size unknown (no Hub here): no guess
    card.size = 1_000_000
    assert card.fit == "fits" and "2048-token context" in card.fit_detail
    card.n_ctx = 8192
    assert "8192-token context" in card.fit_detail
    card.size = 10**15  # a petabyte does not fit anywhere
    assert card.fit == "does not fit"


def test_an_error_shown_while_downloading_is_not_wiped_by_the_next_progress_event(
    service: LLMKernelService, local_hub: LocalHub, data: bytes
) -> None:
    local_hub.faults.throttle_bps = 2 * MB
    card = ModelCard(REPO, FILE, service=service)
    job = card.start_download()
    wait_until(lambda: card.progress > 0)
    send_from_frontend(card, {"type": "explode"})
    assert card.error.startswith("Ignored")
    before = card.progress
    wait_until(lambda: card.progress > before + 5)  # several progress events later
    assert card.error.startswith("Ignored")
    job.wait(30)
    assert card.status == "done" and card.error == ""  # a new state clears it


def test_the_card_says_does_not_fit_exactly_when_load_refuses(
    service: LLMKernelService, local_hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_widgets import ModelTooLargeError
    from llm_widgets.engines import memory as _memory
    from llm_widgets.testing.tiny_gguf import write_tiny_gguf

    model = write_tiny_gguf(tmp_path / "tiny.gguf")
    local_hub.add_file(REPO, FILE, model)
    card = ModelCard(REPO, FILE)
    card.start_download().wait(30)
    need = _memory.estimate_memory_bytes(card.size, card.n_ctx, _memory.shape_of(card.path))
    monkeypatch.setattr(_memory, "available_memory_bytes", lambda: need - 1)
    card.n_ctx = card.n_ctx + 256  # the hint follows the context...
    card.n_ctx = card.n_ctx - 256  # ...and back, now with the smaller memory
    assert card.fit == "does not fit"
    with pytest.raises(ModelTooLargeError):
        card.load_model().wait(30)
    monkeypatch.setattr(_memory, "available_memory_bytes", lambda: need)
    card.n_ctx = card.n_ctx + 256
    card.n_ctx = card.n_ctx - 256
    assert card.fit == "tight"
    assert card.load_model().wait(30).n_ctx == card.n_ctx
