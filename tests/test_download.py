"""Downloads through LLMKernelService, against a real local Hub server and real huggingface_hub."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, scan_cache_dir, try_to_load_from_cache

from llm_widgets import DownloadError, JobCancelledError, LLMKernelService
from llm_widgets.service import DownloadJob
from llm_widgets.testing import LocalHub, wait_until

REPO = "acme/tiny-GGUF"
FILE = "tiny.Q4_K_M.gguf"
MB = 1_000_000


def _add(hub: LocalHub, size: int, repo: str = REPO, name: str = FILE) -> bytes:
    data = os.urandom(size)
    hub.add_file(repo, name, data)
    return data


def _gets(hub: LocalHub) -> list:
    return [r for r in hub.requests if r.method == "GET" and "lfs-blobs" in r.path]


def test_download_lands_in_the_hf_cache_where_huggingface_hub_finds_it(
    service: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    data = _add(local_hub, 3 * MB)
    job = service.start_download(REPO, FILE)
    path = job.wait(30)

    assert job.state == "done" and job.progress == 100.0
    assert Path(path).read_bytes() == data
    assert job.bytes_done == job.bytes_total == len(data)
    assert try_to_load_from_cache(REPO, FILE, cache_dir=cache_dir) == path
    again = hf_hub_download(REPO, FILE, cache_dir=cache_dir, local_files_only=True)
    assert Path(again).read_bytes() == data
    info = scan_cache_dir(cache_dir)
    assert [r.repo_id for r in info.repos] == [REPO]
    blob = Path(path).resolve()
    assert blob.name == hashlib.sha256(data).hexdigest()
    assert not list(blob.parent.glob("*.incomplete*"))


def test_progress_events_are_at_most_ten_per_second_and_end_at_100(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    _add(local_hub, 3 * MB)
    local_hub.faults.throttle_bps = 2 * MB
    events: list[tuple[float, str, float]] = []
    service.on_progress(lambda j: events.append((time.monotonic(), j.state, j.progress)))

    job = service.start_download(REPO, FILE)
    job.wait(30)
    service.events.flush()

    running = [e for e in events if e[1] == "running"]
    span = running[-1][0] - running[0][0]
    assert len(running) >= 5, "progress should move during a 1.5 s download"
    assert len(running) <= 10 * span + 3
    assert [e[2] for e in running] == sorted(e[2] for e in running)
    assert events[-1][1:] == ("done", 100.0)


def test_speed_and_eta_follow_a_throttled_server(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    _add(local_hub, 2 * MB)
    local_hub.faults.throttle_bps = MB
    seen: list[tuple[float, float | None]] = []
    service.on_progress(lambda j: seen.append((j.speed, j.eta)))
    job = service.start_download(REPO, FILE)
    job.wait(30)
    service.events.flush()
    speeds = [s for s, _ in seen if s > 0]
    assert speeds, "speed was never reported"
    assert 0.5 * MB < speeds[-1] < 2.0 * MB
    assert any(eta is not None and eta > 0 for _, eta in seen)
    assert job.finished_at - job.started_at >= 1.5  # the throttle was respected end to end


def test_cancel_stops_promptly_and_keeps_only_a_partial_file(
    service: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    data = _add(local_hub, 4 * MB)
    local_hub.faults.throttle_bps = MB
    job = service.start_download(REPO, FILE)
    wait_until(lambda: job.bytes_done > 200_000)

    assert job.cancel()
    assert job.join(30), "the cancel did not end the download"

    # it ended by the cancel, mid-transfer: the rest of the file was never read (at 1 MB/s, the
    # whole file takes 4 s; how soon a cancel lands is benchmarks/cancel_latency.py's measure)
    assert job.state == "cancelled"
    with pytest.raises(JobCancelledError):
        job.wait(0)
    blobs = cache_dir / "models--acme--tiny-GGUF" / "blobs"
    sha = hashlib.sha256(data).hexdigest()
    assert not (blobs / sha).exists(), "a cancelled download must not look complete"
    partial = blobs / f"{sha}.incomplete"
    assert 0 < partial.stat().st_size < len(data)
    assert try_to_load_from_cache(REPO, FILE, cache_dir=cache_dir) is None


def test_cancel_during_a_stall_is_prompt(service: LLMKernelService, local_hub: LocalHub) -> None:
    _add(local_hub, 2 * MB)
    service.transfer_options.stall_timeout = 30.0
    local_hub.faults.stall_after_bytes = 300_000
    local_hub.faults.stall_seconds = 60.0
    job = service.start_download(REPO, FILE)
    wait_until(lambda: job.bytes_done >= 300_000)
    time.sleep(0.2)  # the reader is now blocked on a silent socket
    job.cancel()
    # the stall lasts 60 s and the stall timeout is 30 s: only the cancel can end it this soon
    assert job.join(20), "the cancel did not wake the reader blocked on the silent socket"
    assert job.state == "cancelled" and job.bytes_done < 2 * MB


def test_restart_after_cancel_resumes_with_range_and_verifies_sha256(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    data = _add(local_hub, 4 * MB)
    local_hub.faults.throttle_bps = 2 * MB
    first = service.start_download(REPO, FILE)
    wait_until(lambda: first.bytes_done > MB)
    first.cancel()
    with pytest.raises(JobCancelledError):
        first.wait(5)
    local_hub.faults.throttle_bps = None
    local_hub.clear_requests()

    second = service.start_download(REPO, FILE)
    path = second.wait(30)

    assert second is not first
    assert second.resumed_from >= MB
    ranges = [r.headers.get("range") for r in _gets(local_hub)]
    assert ranges == [f"bytes={second.resumed_from}-"]
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_dropped_connection_is_resumed_from_where_it_stopped(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    data = _add(local_hub, 3 * MB)
    local_hub.faults.drop_after_bytes = MB
    local_hub.faults.drop_times = 2
    job = service.start_download(REPO, FILE)
    path = job.wait(30)
    assert Path(path).read_bytes() == data
    ranges = [r.headers.get("range") for r in _gets(local_hub)]
    assert ranges[0] is None and len(ranges) == 3
    assert all(r is not None and r.startswith("bytes=") for r in ranges[1:])


def test_a_stalled_connection_is_retried(service: LLMKernelService, local_hub: LocalHub) -> None:
    data = _add(local_hub, 2 * MB)
    local_hub.faults.stall_after_bytes = 500_000
    local_hub.faults.stall_seconds = 3.0  # longer than the service's 1 s stall timeout
    job = service.start_download(REPO, FILE)
    path = job.wait(30)
    assert Path(path).read_bytes() == data
    assert len(_gets(local_hub)) == 2


def test_a_server_that_ignores_range_restarts_cleanly(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    data = _add(local_hub, 2 * MB)
    local_hub.faults.drop_after_bytes = 700_000
    local_hub.faults.ignore_range = True
    path = service.start_download(REPO, FILE).wait(30)
    assert Path(path).read_bytes() == data


def test_a_connection_that_keeps_failing_gives_up_with_a_message(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    _add(local_hub, 2 * MB)
    local_hub.faults.drop_after_bytes = 0
    local_hub.faults.drop_times = 1000
    job = service.start_download(REPO, FILE)
    with pytest.raises(DownloadError) as info:
        job.wait(30)
    assert info.value.kind == "offline"
    assert "partial file is kept" in str(info.value)


def test_checksum_mismatch_fails_and_keeps_nothing(
    service: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    _add(local_hub, MB)
    local_hub.faults.corrupt = True
    job = service.start_download(REPO, FILE)
    with pytest.raises(DownloadError) as info:
        job.wait(30)
    assert info.value.kind == "checksum" and job.error_kind == "checksum"
    assert "Checksum mismatch" in job.error
    blobs = cache_dir / "models--acme--tiny-GGUF" / "blobs"
    assert list(blobs.iterdir()) == []
    assert try_to_load_from_cache(REPO, FILE, cache_dir=cache_dir) is None


def test_small_git_files_are_checked_with_their_git_sha1(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    local_hub.add_file(REPO, "README.md", b"# tiny\n")
    path = service.start_download(REPO, "README.md").wait(10)
    assert Path(path).read_bytes() == b"# tiny\n"


@pytest.mark.parametrize(
    ("fault", "kind", "words"),
    [
        ("missing-repo", "not_found", "Repository acme/nope was not found"),
        ("missing-file", "not_found", "nope.gguf was not found in acme/tiny-GGUF"),
        ("gated", "gated", "is gated"),
        ("private", "not_found", "HF_TOKEN"),
        (403, "forbidden", "forbidden (403)"),
        (500, "server", "server error (500)"),
        (503, "server", "server error (503)"),
    ],
)
def test_errors_have_messages_a_user_can_act_on(
    service: LLMKernelService, local_hub: LocalHub, fault: object, kind: str, words: str
) -> None:
    _add(local_hub, 10_000)
    repo, name = REPO, FILE
    if fault == "missing-repo":
        repo = "acme/nope"
    elif fault == "missing-file":
        name = "nope.gguf"
    elif fault == "gated":
        local_hub.add_repo(REPO, gated="manual")
    elif fault == "private":
        local_hub.add_repo(REPO, private=True)
    else:
        local_hub.faults.status_for = {REPO: fault}
    errors: list[DownloadJob] = []
    service.on_error(errors.append)
    job = service.start_download(repo, name)
    with pytest.raises(DownloadError) as info:
        job.wait(60)
    service.events.flush()
    assert info.value.kind == kind
    assert words in str(info.value)
    assert errors == [job] and job.state == "failed" and job.error == str(info.value)


def test_a_token_is_sent_to_the_hub_but_never_shown(local_hub: LocalHub, cache_dir: Path) -> None:
    secret = "hf_SuperSecretToken1234567890"
    local_hub.token = secret
    local_hub.add_repo(REPO, gated="manual")
    _add(local_hub, 50_000)
    ok = LLMKernelService(endpoint=local_hub.url, cache_dir=cache_dir, token=secret)
    bad = LLMKernelService(endpoint=local_hub.url, cache_dir=cache_dir / "b", token=secret + "x")
    try:
        assert Path(ok.start_download(REPO, FILE).wait(30)).stat().st_size == 50_000
        job = bad.start_download(REPO, FILE)
        with pytest.raises(DownloadError) as info:
            job.wait(30)
        assert secret not in str(info.value) and secret not in (job.error or "")
        assert "HF_TOKEN" in str(info.value)
    finally:
        ok.shutdown()
        bad.shutdown()


def test_an_unreachable_hub_says_offline(cache_dir: Path) -> None:
    hub = LocalHub().start()
    url = hub.url
    hub.stop()
    svc = LLMKernelService(endpoint=url, cache_dir=cache_dir)
    try:
        job = svc.start_download(REPO, FILE)
        with pytest.raises(DownloadError) as info:
            job.wait(60)
        assert info.value.kind == "offline"
        assert "Cannot reach" in str(info.value)
        with pytest.raises(DownloadError, match="Cannot reach") as info:
            svc.file_size(REPO, FILE)
        assert info.value.kind == "offline"
    finally:
        svc.shutdown()


def test_file_size_reads_the_hub_metadata_and_explains_a_missing_file(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    _add(local_hub, 12_345)
    assert service.file_size(REPO, FILE) == 12_345
    with pytest.raises(DownloadError, match="was not found") as info:
        service.file_size(REPO, "missing.gguf")
    assert info.value.kind == "not_found"


def test_hf_hub_offline_uses_the_cache_and_refuses_the_network(
    service: LLMKernelService, local_hub: LocalHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _add(local_hub, 20_000)
    service.start_download(REPO, FILE).wait(10)
    _add(local_hub, 20_000, name="other.gguf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert Path(service.start_download(REPO, FILE).wait(5)).read_bytes() == data
    job = service.start_download(REPO, "other.gguf")
    with pytest.raises(DownloadError) as info:
        job.wait(5)
    assert info.value.kind == "offline" and "HF_HUB_OFFLINE" in str(info.value)


def test_not_enough_disk_space_fails_before_transferring(
    service: LLMKernelService, local_hub: LocalHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    _add(local_hub, MB)
    real = shutil.disk_usage
    monkeypatch.setattr(
        "llm_widgets.hub._space.shutil.disk_usage",
        lambda p: real(p)._replace(free=1000),
    )
    job = service.start_download(REPO, FILE)
    with pytest.raises(DownloadError) as info:
        job.wait(10)
    assert info.value.kind == "disk_full"
    assert "Not enough disk space" in str(info.value)
    assert _gets(local_hub) == []


def test_two_starts_of_the_same_file_share_one_transfer(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    _add(local_hub, 2 * MB)
    local_hub.faults.throttle_bps = 4 * MB
    first = service.start_download(REPO, FILE)
    second = service.start_download(REPO, FILE, revision="main")
    assert second is first
    first.wait(30)
    assert len(_gets(local_hub)) == 1


def test_a_file_complete_in_the_cache_finishes_at_once_without_transfer(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    _add(local_hub, MB)
    service.start_download(REPO, FILE).wait(30)
    local_hub.clear_requests()
    job = service.start_download(REPO, FILE)
    assert job.wait(2) == service.cached_path(REPO, FILE)
    assert job.state == "done" and job.progress == 100.0
    assert local_hub.requests == []


def test_queued_downloads_wait_for_a_slot(service: LLMKernelService, local_hub: LocalHub) -> None:
    for i in range(3):
        _add(local_hub, MB, name=f"part{i}.gguf")
    local_hub.faults.throttle_bps = MB
    service.max_concurrent_downloads = 2
    jobs = [service.start_download(REPO, f"part{i}.gguf") for i in range(3)]
    wait_until(lambda: sum(j.state == "running" for j in jobs) == 2)
    assert sorted(j.state for j in jobs) == ["queued", "running", "running"]
    queued = next(j for j in jobs if j.state == "queued")
    queued.cancel()
    assert queued.join(30) and queued.state == "cancelled"
    others = [j for j in jobs if j is not queued]
    for j in others:
        j.wait(30)


def test_cancel_download_without_id_cancels_every_running_download(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    for i in range(2):
        _add(local_hub, 2 * MB, name=f"f{i}.gguf")
    local_hub.faults.throttle_bps = MB
    jobs = [service.start_download(REPO, f"f{i}.gguf") for i in range(2)]
    wait_until(lambda: all(j.bytes_done > 0 for j in jobs))
    assert set(service.cancel_download()) == set(jobs)
    for j in jobs:
        assert j.join(30) and j.state == "cancelled"
    with pytest.raises(KeyError):
        service.cancel_download("no-such-job")


def test_a_raising_callback_does_not_break_the_job(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    _add(local_hub, MB)

    def bad(job: object) -> None:
        raise RuntimeError("subscriber bug")

    service.on_progress(bad)
    done: list[DownloadJob] = []
    service.on_download_done(done.append)
    job = service.start_download(REPO, FILE)
    job.wait(30)
    service.events.flush()
    assert done == [job]


def test_unsubscribe_stops_events(service: LLMKernelService, local_hub: LocalHub) -> None:
    _add(local_hub, 10_000)
    seen: list[object] = []
    unsubscribe = service.on_progress(seen.append)
    unsubscribe()
    service.start_download(REPO, FILE).wait(10)
    service.events.flush()
    assert seen == []


def test_callbacks_run_off_the_worker_thread(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    _add(local_hub, 10_000)
    names: set[str] = set()
    service.on_progress(lambda j: names.add(threading.current_thread().name))
    service.start_download(REPO, FILE).wait(10)
    service.events.flush()
    assert names and not any("download" in n for n in names)


def test_a_download_job_can_be_awaited(service: LLMKernelService, local_hub: LocalHub) -> None:
    data = _add(local_hub, 100_000)

    async def main() -> str:
        return await service.start_download(REPO, FILE)

    # a thread of its own: the session may already run an event loop here (Playwright's)
    result: list[str] = []
    runner = threading.Thread(target=lambda: result.append(asyncio.run(main())))
    runner.start()
    runner.join(30)
    assert Path(result[0]).read_bytes() == data


@pytest.mark.parametrize(
    ("repo_id", "filename"),
    [("../etc", "x.gguf"), ("a/b", "../../x"), ("a/b", "/abs"), ("a b", "x"), ("a/b", "")],
)
def test_bad_names_are_refused_before_any_request(
    service: LLMKernelService, local_hub: LocalHub, repo_id: str, filename: str
) -> None:
    with pytest.raises(ValueError):
        service.start_download(repo_id, filename)
    assert local_hub.requests == []


def test_shutdown_cancels_and_joins_every_worker(local_hub: LocalHub, cache_dir: Path) -> None:
    _add(local_hub, 3 * MB)
    local_hub.faults.throttle_bps = MB
    svc = LLMKernelService(endpoint=local_hub.url, cache_dir=cache_dir)
    job = svc.start_download(REPO, FILE)
    wait_until(lambda: job.bytes_done > 0)
    svc.shutdown(timeout=2)
    assert job.state == "cancelled"
    assert not [t for t in threading.enumerate() if t.name.startswith("llm-widgets")]


def test_a_split_gguf_downloads_all_parts_as_one_job(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    names = [f"big.Q8_0-{i:05d}-of-00003.gguf" for i in range(1, 4)]
    parts = [_add(local_hub, 500_000 + i, name=n) for i, n in enumerate(names)]
    local_hub.faults.throttle_bps = 2 * MB
    seen: list[float] = []
    service.on_progress(lambda j: seen.append(j.progress))
    job = service.start_download(REPO, names[1])  # any part names the whole model
    path = job.wait(30)
    service.events.flush()
    assert seen == sorted(seen) and seen[-1] == 100.0
    assert job.files == names and Path(path).name == names[0] and job.filename == names[0]
    again = service.start_download(REPO, names[2])  # finished: a new job, done at once
    assert again is not job and again.wait(2) == path
    assert service.find_download(REPO, names[2]) is again
    assert job.bytes_total == sum(len(p) for p in parts)
    for name, data in zip(names, parts, strict=True):
        assert Path(service.cached_path(REPO, name)).read_bytes() == data


def test_download_right_after_cancel_starts_a_new_job_that_resumes(
    service: LLMKernelService, local_hub: LocalHub
) -> None:
    data = _add(local_hub, 3 * MB)
    local_hub.faults.throttle_bps = MB
    first = service.start_download(REPO, FILE)
    wait_until(lambda: first.bytes_done > 300_000)
    first.cancel()
    second = service.start_download(REPO, FILE)  # before the first has finished stopping
    local_hub.faults.throttle_bps = None
    assert second is not first
    assert Path(second.wait(30)).read_bytes() == data
    assert first.state == "cancelled" and second.resumed_from > 0


def test_bodies_are_read_in_large_pieces_and_the_connection_is_left_as_found(
    local_hub: LocalHub,
) -> None:
    # the private path into httpx that makes downloads ~2.5x faster: fail loudly if it moves
    from huggingface_hub import get_session, hf_hub_url

    from llm_widgets.hub import _fetch

    _add(local_hub, 3_000_000)
    url = hf_hub_url(REPO, FILE, endpoint=local_hub.url)
    with get_session().stream("GET", url, follow_redirects=True) as response:
        undo = _fetch.read_in_large_pieces(response)
        connection = response.stream._stream._httpcore_stream._stream._connection
        assert connection.READ_NUM_BYTES == _fetch.READ_SIZE
        sizes = [len(piece) for piece in response.iter_raw()]
        undo()
        assert connection.READ_NUM_BYTES == type(connection).READ_NUM_BYTES
    assert sum(sizes) == 3_000_000 and max(sizes) > 64 * 1024
