"""Downloads fetched as parallel byte ranges: resume, fallback, retries, checksum, Cancel."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from llm_widgets import DownloadError, LLMKernelService
from llm_widgets.hub import TransferOptions
from llm_widgets.testing import LocalHub, wait_until
from llm_widgets.widgets.local_library import LocalLibrary

REPO = "acme/tiny-GGUF"
FILE = "tiny.Q4_K_M.gguf"
MB = 1_000_000
PART = 256 * 1024


@pytest.fixture
def parted(service: LLMKernelService) -> LLMKernelService:
    """The test service, with parts small enough for files of a few MB, all from the start."""
    service.transfer_options = TransferOptions(
        stall_timeout=1.0, max_retries=3, retry_backoff=0.05, part_size=PART, probe=0
    )
    service.parallel_parts = 4
    return service


def _add(hub: LocalHub, size: int, name: str = FILE) -> bytes:
    data = os.urandom(size)
    hub.add_file(REPO, name, data)
    return data


def _blobs(cache_dir: Path) -> Path:
    return cache_dir / "models--acme--tiny-GGUF" / "blobs"


def _asked(hub: LocalHub) -> list[tuple[int, int]]:
    """The byte spans [start, end) the file GETs asked for (None: the whole file)."""
    out = []
    for r in hub.requests:
        if r.method != "GET" or "lfs-blobs" not in r.path:
            continue
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", r.headers.get("range", ""))
        assert m, f"a GET without a range: {r.headers.get('range')!r}"
        out.append((int(m.group(1)), int(m.group(2)) + 1 if m.group(2) else -1))
    return out


def _recorded(cache_dir: Path) -> list[tuple[int, int]]:
    (record,) = _blobs(cache_dir).glob("*.incomplete.ranges.json")
    return [(a, b) for a, b in json.loads(record.read_text())["ranges"]]


def _complement(spans: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    out, pos = [], 0
    for a, b in sorted(spans):
        if a > pos:
            out.append((pos, a))
        pos = max(pos, b)
    return out + ([(pos, size)] if pos < size else [])


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def test_parallel_parts_is_validated(service: LLMKernelService) -> None:
    assert service.parallel_parts > 1
    for bad in (0, -1, 65, 2.0, "4", True, None):
        with pytest.raises(ValueError, match="parallel_parts"):
            service.parallel_parts = bad  # type: ignore[assignment]
    service.parallel_parts = 1
    assert service.parallel_parts == 1
    with pytest.raises(ValueError, match="parallel_parts"):
        LLMKernelService(parallel_parts=0)
    other = LLMKernelService(parallel_parts=3)
    assert other.parallel_parts == 3
    other.shutdown()


def test_a_file_is_fetched_as_parallel_ranges_into_one_partial(
    parted: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    data = _add(local_hub, 3 * MB)
    local_hub.faults.per_connection_bps = 4 * MB
    path = parted.start_download(REPO, FILE).wait(30)
    assert Path(path).read_bytes() == data
    asked = _asked(local_hub)
    assert len(asked) == -(-len(data) // PART)  # one request per part, none twice
    assert _union(asked) == [(0, len(data))] and sum(b - a for a, b in asked) == len(data)
    assert sorted(p.name for p in _blobs(cache_dir).iterdir()) == [Path(path).resolve().name]


def test_a_small_file_and_parallel_parts_1_stay_one_request(
    parted: LLMKernelService, local_hub: LocalHub
) -> None:
    small = _add(local_hub, PART, name="small.gguf")
    assert Path(parted.start_download(REPO, "small.gguf").wait(30)).read_bytes() == small
    parted.parallel_parts = 1
    data = _add(local_hub, MB)
    assert Path(parted.start_download(REPO, FILE).wait(30)).read_bytes() == data
    gets = [r for r in local_hub.requests if r.method == "GET" and "lfs-blobs" in r.path]
    assert [r.headers.get("range") for r in gets] == [None, None]


def test_resume_after_cancel_with_parts_in_flight_asks_only_for_missing_ranges(
    parted: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    data = _add(local_hub, 4 * MB)
    local_hub.faults.per_connection_bps = MB
    first = parted.start_download(REPO, FILE)
    wait_until(lambda: first.bytes_done > MB, timeout=20)
    first.cancel()
    first.join(10)
    assert first.state == "cancelled"
    kept = _recorded(cache_dir)
    assert len(kept) > 1  # parts were in flight: the partial has holes
    local_hub.faults.per_connection_bps = None
    local_hub.clear_requests()

    second = parted.start_download(REPO, FILE)
    assert Path(second.wait(30)).read_bytes() == data
    assert second.resumed_from == sum(b - a for a, b in kept)
    asked = _asked(local_hub)
    assert _union(asked) == _complement(kept, len(data))
    assert sum(b - a for a, b in asked) == len(data) - second.resumed_from  # nothing twice
    assert not list(_blobs(cache_dir).glob("*.incomplete*"))


def test_resume_after_a_killed_process_with_parts_in_flight(
    local_hub: LocalHub, cache_dir: Path, tmp_path: Path
) -> None:
    data = _add(local_hub, 12 * MB)
    local_hub.faults.per_connection_bps = MB
    part = 1 << 20  # about a second per range: the kill lands with ranges half done
    script = tmp_path / "download.py"
    script.write_text(
        "import sys\n"
        "from llm_widgets import LLMKernelService\n"
        "from llm_widgets.hub import TransferOptions\n"
        f"s = LLMKernelService(endpoint={local_hub.url!r}, cache_dir={str(cache_dir)!r},\n"
        f"    transfer_options=TransferOptions(part_size={part}))\n"
        "s.parallel_parts = 4\n"
        f"s.start_download({REPO!r}, {FILE!r}).wait(120)\n"
    )
    child = subprocess.Popen([sys.executable, str(script)])
    try:

        def enough_recorded() -> bool:
            try:
                return sum(b - a for a, b in _recorded(cache_dir)) > 2 * MB
            except (ValueError, OSError):
                return False

        wait_until(enough_recorded, timeout=60)
        assert len(_asked(local_hub)) >= 4  # four parts were asked for at once
    finally:
        child.kill()
        child.wait(10)
    kept = _recorded(cache_dir)
    local_hub.faults.per_connection_bps = None
    local_hub.clear_requests()

    service = LLMKernelService(
        endpoint=local_hub.url,
        cache_dir=cache_dir,
        transfer_options=TransferOptions(part_size=PART, probe=0),
    )
    try:
        job = service.start_download(REPO, FILE)
        assert Path(job.wait(30)).read_bytes() == data
    finally:
        service.shutdown()
    assert job.resumed_from == sum(b - a for a, b in kept)
    asked = _asked(local_hub)
    assert _union(asked) == _complement(kept, len(data))
    assert sum(b - a for a, b in asked) == len(data) - job.resumed_from  # nothing twice


def test_a_server_that_ignores_range_falls_back_to_one_stream(
    parted: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    data = _add(local_hub, 3 * MB)
    local_hub.faults.per_connection_bps = MB
    first = parted.start_download(REPO, FILE)
    wait_until(lambda: first.bytes_done > MB, timeout=20)
    first.cancel()
    first.join(10)
    assert len(_recorded(cache_dir)) > 1  # a partial with holes, left by parts
    local_hub.faults.per_connection_bps = None
    local_hub.faults.ignore_range = True
    local_hub.clear_requests()

    path = parted.start_download(REPO, FILE).wait(30)
    assert Path(path).read_bytes() == data
    gets = [r for r in local_hub.requests if r.method == "GET" and "lfs-blobs" in r.path]
    assert gets[-1].status == 200  # the whole file, in one stream, after the refused ranges
    assert not list(_blobs(cache_dir).glob("*.incomplete*"))


@pytest.mark.parametrize("fault", ["stall", "drop"])
def test_a_part_that_stalls_or_drops_is_retried_alone(
    parted: LLMKernelService, local_hub: LocalHub, fault: str
) -> None:
    data = _add(local_hub, 2 * MB)
    if fault == "stall":
        local_hub.faults.stall_after_bytes = 100_000
        local_hub.faults.stall_seconds = 3.0  # longer than the test service's 1 s stall timeout
    else:
        local_hub.faults.drop_after_bytes = 100_000
    path = parted.start_download(REPO, FILE).wait(30)
    assert Path(path).read_bytes() == data
    asked = _asked(local_hub)
    parts = -(-len(data) // PART)
    assert len(asked) == parts + 1  # every part once, and the failed one's rest again
    retried = [(a, b) for a, b in asked if a % PART]
    assert len(retried) == 1
    start, end = retried[0]
    assert start % PART == 100_000 and end == min(start - start % PART + PART, len(data))


def test_a_part_with_wrong_bytes_fails_the_checksum_and_keeps_nothing(
    parted: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    _add(local_hub, 2 * MB)
    local_hub.faults.corrupt_at = 3 * PART + 12_345  # one byte, in one part
    job = parted.start_download(REPO, FILE)
    with pytest.raises(DownloadError) as info:
        job.wait(30)
    assert info.value.kind == "checksum"
    assert list(_blobs(cache_dir).iterdir()) == []  # no blob, no partial, no sidecars
    assert parted.cached_path(REPO, FILE) is None
    assert not [m for m in parted.local_models() if m.filename == FILE]


def test_cancel_with_eight_parts_in_flight_stops_every_part(
    parted: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    _add(local_hub, 8 * MB)
    local_hub.faults.per_connection_bps = 500_000
    parted.parallel_parts = 8
    job = parted.start_download(REPO, FILE)

    def in_flight() -> int:
        return len([r for r in local_hub.requests if "lfs-blobs" in r.path and r.status == 206])

    wait_until(lambda: in_flight() >= 8 and job.bytes_done > 0, timeout=20)
    job.cancel()
    assert job.join(30) and job.state == "cancelled"
    assert not [t.name for t in threading.enumerate() if t.name.startswith("llm-widgets-part")]
    partial = next(_blobs(cache_dir).glob("*.incomplete"))
    recorded = sum(b - a for a, b in _recorded(cache_dir))
    time.sleep(0.3)
    assert sum(b - a for a, b in _recorded(cache_dir)) == recorded  # nothing writes any more
    assert partial.stat().st_size >= max(b for _, b in _recorded(cache_dir))


def test_progress_merges_the_parts(parted: LLMKernelService, local_hub: LocalHub) -> None:
    _add(local_hub, 3 * MB)
    local_hub.faults.per_connection_bps = 1 * MB
    events: list[tuple[float, int]] = []
    parted.on_progress(lambda j: events.append((time.monotonic(), j.bytes_done)))
    job = parted.start_download(REPO, FILE)
    job.wait(30)
    done = [b for _, b in events]
    assert done == sorted(done) and done[-1] == job.bytes_total == 3 * MB
    assert len({b for b in done if 0 < b < 3 * MB}) >= 3  # one figure that moves, part by part
    running = [t for t, _ in events]
    per_second = max(sum(1 for u in running if t <= u < t + 1.0) for t in running)
    assert per_second <= 11  # <= 10 progress ticks a second, plus the state change


def test_the_library_counts_only_the_bytes_a_parallel_partial_holds_and_discard_removes_all(
    parted: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    _add(local_hub, 4 * MB)
    local_hub.faults.per_connection_bps = MB
    job = parted.start_download(REPO, FILE)
    wait_until(lambda: job.bytes_done > MB, timeout=20)
    job.cancel()
    job.join(10)
    kept = sum(b - a for a, b in _recorded(cache_dir))
    partial = next(_blobs(cache_dir).glob("*.incomplete"))
    assert partial.stat().st_size > kept  # the holes are not bytes done
    library = LocalLibrary()
    (row,) = library.models
    assert row["filename"] == FILE and row["partial"] and row["bytes_done"] == kept
    assert library.discard(REPO, FILE) == kept
    assert list(_blobs(cache_dir).iterdir()) == []


def test_a_part_idle_at_the_end_takes_over_half_of_the_largest_rest(
    parted: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    part = 4 << 20
    data = _add(local_hub, 2 * part + 1)  # three ranges for four parts: two large, one a byte
    local_hub.faults.per_connection_bps = 2 * MB
    parted.transfer_options = TransferOptions(part_size=part, min_part=part, probe=0)
    path = parted.start_download(REPO, FILE).wait(30)
    assert Path(path).read_bytes() == data
    asked = _asked(local_hub)
    assert {(0, part), (part, 2 * part), (2 * part, 2 * part + 1)} <= set(asked)
    taken = [(a, b) for a, b in asked if a % part]  # the far halves the idle parts took over
    assert taken and all(b in (part, 2 * part) for _, b in taken)
    assert _union(asked) == [(0, len(data))]
    assert not list(_blobs(cache_dir).glob("*.incomplete*"))


def test_parts_join_one_connection_when_they_make_it_faster(
    parted: LLMKernelService, local_hub: LocalHub
) -> None:
    data = _add(local_hub, 4 * MB)
    local_hub.faults.per_connection_bps = MB  # a CDN's cap per connection: parts help
    parted.transfer_options = TransferOptions(part_size=PART, probe=0.2)
    path = parted.start_download(REPO, FILE).wait(30)
    assert Path(path).read_bytes() == data
    asked = _asked(local_hub)
    assert asked[0] == (0, len(data))  # one connection alone first, for the whole file
    assert len(asked) > 4 and all(b - a <= PART for a, b in asked[4:])
    assert _union(asked) == [(0, len(data))]


def test_parts_leave_again_when_they_do_not_make_it_faster(
    parted: LLMKernelService, local_hub: LocalHub
) -> None:
    data = _add(local_hub, 6 * MB)
    local_hub.faults.throttle_bps = 2 * MB  # one slow link for all connections: parts do not help
    # windows long enough that a busy machine's pauses do not decide the measurement
    parted.transfer_options = TransferOptions(part_size=PART, probe=0.5)
    path = parted.start_download(REPO, FILE).wait(30)
    assert Path(path).read_bytes() == data
    asked = _asked(local_hub)
    assert asked[0] == (0, len(data)) and len(asked) > 4  # alone, then the parts joined...
    last_start, last_end = asked[-1]
    assert last_end == len(data) and last_end - last_start > 2 * PART  # ...and left again


def test_a_server_that_ignores_range_sends_the_whole_file_to_the_one_connection(
    parted: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    data = _add(local_hub, 3 * MB)
    local_hub.faults.per_connection_bps = 2 * MB
    local_hub.faults.ignore_range = True
    parted.transfer_options = TransferOptions(part_size=PART, probe=0.2)
    path = parted.start_download(REPO, FILE).wait(30)
    assert Path(path).read_bytes() == data
    gets = [r for r in local_hub.requests if r.method == "GET" and "lfs-blobs" in r.path]
    assert [(r.headers.get("range"), r.status) for r in gets] == [(f"bytes=0-{len(data) - 1}", 200)]
    assert not list(_blobs(cache_dir).glob("*.incomplete*"))


def test_a_part_waiting_to_retry_is_not_shown_while_the_others_flow(
    parted: LLMKernelService, local_hub: LocalHub
) -> None:
    data = _add(local_hub, 4 * MB)
    local_hub.faults.per_connection_bps = MB
    local_hub.faults.drop_after_bytes = 150_000  # once every part is under way
    parted.transfer_options = TransferOptions(part_size=PART, probe=0, retry_backoff=0.5)
    details: list[str] = []
    parted.on_progress(lambda j: details.append(j.detail))
    path = parted.start_download(REPO, FILE).wait(30)
    assert Path(path).read_bytes() == data
    assert len(_asked(local_hub)) == -(-len(data) // PART) + 1  # one part did wait and retry
    assert not [d for d in details if "retrying" in d]


def test_every_part_waiting_to_retry_is_shown_and_the_partial_kept(
    parted: LLMKernelService, local_hub: LocalHub, cache_dir: Path
) -> None:
    _add(local_hub, 4 * MB)
    local_hub.faults.drop_after_bytes = 0
    local_hub.faults.drop_times = 1000
    parted.transfer_options = TransferOptions(
        part_size=PART, probe=0, retry_backoff=0.3, max_retries=2
    )
    details: list[str] = []
    parted.on_progress(lambda j: details.append(j.detail))
    job = parted.start_download(REPO, FILE)
    with pytest.raises(DownloadError) as info:
        job.wait(30)
    assert info.value.kind == "offline" and "partial file is kept" in str(info.value)
    assert "connection lost — retrying" in details
    assert list(_blobs(cache_dir).glob("*.incomplete.ranges.json"))
