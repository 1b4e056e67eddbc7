"""LocalHub speaks the Hub API that the real huggingface_hub uses."""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from llm_widgets.testing import LocalHub

REPO = "org/model-GGUF"


@pytest.fixture
def hub(local_hub: LocalHub) -> LocalHub:
    local_hub.add_file(REPO, "model.Q4_0.gguf", os.urandom(300_000))
    local_hub.add_file(REPO, "README.md", text="# hello\n")
    local_hub.add_file(REPO, "sub/dir/config.json", text='{"a": 1}')
    return local_hub


def _get(hub: LocalHub, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    u = urlparse(hub.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        try:
            return response.status, response.read()
        except http.client.IncompleteRead as exc:
            return response.status, exc.partial
    finally:
        conn.close()


def test_hf_hub_download_and_metadata(hub: LocalHub, cache_dir: Path) -> None:
    path = hf_hub_download(REPO, "model.Q4_0.gguf", cache_dir=cache_dir, endpoint=hub.url)
    data = (hub.root / REPO / "model.Q4_0.gguf").read_bytes()
    assert Path(path).read_bytes() == data
    meta = get_hf_file_metadata(hf_hub_url(REPO, "model.Q4_0.gguf", endpoint=hub.url))
    assert meta.etag == hashlib.sha256(data).hexdigest() == hub.file_sha256(REPO, "model.Q4_0.gguf")
    assert meta.size == len(data) and meta.commit_hash == hub.commit_hash(REPO)
    assert "localhost" in meta.location  # LFS redirects to another host, like the Hub's CDN
    small = hf_hub_download(REPO, "README.md", cache_dir=cache_dir, endpoint=hub.url)
    assert Path(small).read_text() == "# hello\n"


def test_model_info_tree_and_paths_info(hub: LocalHub) -> None:
    api = HfApi(endpoint=hub.url)
    info = api.model_info(REPO, files_metadata=True)
    siblings = {s.rfilename: s for s in info.siblings}
    assert set(siblings) == {"model.Q4_0.gguf", "README.md", "sub/dir/config.json"}
    assert siblings["model.Q4_0.gguf"].lfs.sha256 == hub.file_sha256(REPO, "model.Q4_0.gguf")
    assert info.sha == hub.commit_hash(REPO) and "gguf" in info.tags
    assert sorted(api.list_repo_files(REPO)) == sorted(siblings)
    top = {e.path for e in api.list_repo_tree(REPO)}
    assert top == {"model.Q4_0.gguf", "README.md", "sub"}
    infos = api.get_paths_info(REPO, ["README.md", "missing.txt"])
    assert [i.path for i in infos] == ["README.md"]


def test_search_sorts_filters_and_pages(local_hub: LocalHub) -> None:
    local_hub.page_size = 7
    for i in range(20):
        local_hub.add_repo(f"org/m{i:02d}-GGUF", downloads=i)
        local_hub.add_file(f"org/m{i:02d}-GGUF", "x.gguf", b"GGUF")
    local_hub.add_repo("org/m-private-GGUF", private=True)
    local_hub.add_file("org/m-private-GGUF", "x.gguf", b"GGUF")
    found = list(
        HfApi(endpoint=local_hub.url).list_models(search="m", filter="gguf", sort="downloads")
    )
    assert [m.id for m in found] == [f"org/m{i:02d}-GGUF" for i in reversed(range(20))]


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("missing-repo", RepositoryNotFoundError),
        ("missing-file", RemoteEntryNotFoundError),
        ("bad-revision", RevisionNotFoundError),
        ("gated", GatedRepoError),
        ("private", RepositoryNotFoundError),
        ("503", HfHubHTTPError),
    ],
)
def test_errors_map_to_huggingface_hub_types(hub: LocalHub, setup: str, error: type) -> None:
    repo, name, revision = REPO, "README.md", None
    if setup == "missing-repo":
        repo = "org/none"
    elif setup == "missing-file":
        name = "nope.txt"
    elif setup == "bad-revision":
        revision = "v9"
    elif setup == "gated":
        hub.add_repo(REPO, gated="auto")
    elif setup == "private":
        hub.add_repo(REPO, private=True)
    else:
        hub.faults.status_for = {REPO: 503}
    with pytest.raises(error):
        get_hf_file_metadata(hf_hub_url(repo, name, revision=revision, endpoint=hub.url))


def test_ranges_and_faults(hub: LocalHub) -> None:
    sha = hub.file_sha256(REPO, "model.Q4_0.gguf")
    blob = f"/lfs-blobs/{REPO}/{hub.commit_hash(REPO)}/{sha}"
    data = (hub.root / REPO / "model.Q4_0.gguf").read_bytes()
    assert _get(hub, blob, {"Range": "bytes=100-199"}) == (206, data[100:200])
    assert _get(hub, blob, {"Range": "bytes=999999-"})[0] == 416
    hub.faults.ignore_range = True
    assert _get(hub, blob, {"Range": "bytes=100-"}) == (200, data)
    hub.faults.ignore_range = False
    hub.faults.drop_after_bytes = 1000
    status, body = _get(hub, blob)
    assert status == 200 and len(body) == 1000
    assert _get(hub, blob) == (200, data)  # drop_times=1: the next answer is whole
    hub.faults.corrupt = True
    corrupt = _get(hub, blob)[1]
    assert len(corrupt) == len(data) and corrupt != data
    hub.faults.corrupt = False
    hub.faults.throttle_bps = 400_000
    started = time.monotonic()
    _get(hub, blob)
    assert time.monotonic() - started >= 0.6


def test_one_wrong_byte_and_the_two_throttles(hub: LocalHub) -> None:
    sha = hub.file_sha256(REPO, "model.Q4_0.gguf")
    blob = f"/lfs-blobs/{REPO}/{hub.commit_hash(REPO)}/{sha}"
    data = (hub.root / REPO / "model.Q4_0.gguf").read_bytes()
    hub.faults.corrupt_at = 150_000
    status, body = _get(hub, blob, {"Range": "bytes=100000-199999"})
    assert status == 206 and body[50_000] == data[150_000] ^ 0xFF
    assert body[:50_000] + body[50_001:] == data[100_000:150_000] + data[150_001:200_000]
    assert _get(hub, blob, {"Range": "bytes=0-99999"}) == (206, data[:100_000])
    hub.faults.corrupt_at = None

    def two_at_once() -> float:
        started = time.monotonic()
        threads = [threading.Thread(target=_get, args=(hub, blob)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - started

    hub.faults.per_connection_bps = 1_000_000  # each 300 kB body alone: >= 0.3 s
    assert two_at_once() >= 0.25
    hub.faults.per_connection_bps = None
    hub.faults.throttle_bps = 1_000_000  # both bodies share it: 600 kB >= 0.6 s
    assert two_at_once() >= 0.55


@pytest.mark.parametrize(
    "path",
    [
        "/org/model-GGUF/resolve/main/../../../etc/passwd",
        "/org/model-GGUF/resolve/main/%2Fetc%2Fpasswd",
        "/org/model-GGUF/resolve/main/.hub.json",
        "/api/models/../../etc",
    ],
)
def test_paths_outside_a_repo_are_not_served(hub: LocalHub, path: str) -> None:
    status, body = _get(hub, path)
    assert status == 404 and b"root:" not in body


def test_requests_are_logged_with_their_range(hub: LocalHub, cache_dir: Path) -> None:
    hub.clear_requests()
    _get(hub, f"/{REPO}/resolve/main/README.md", {"Range": "bytes=2-"})
    (record,) = hub.requests
    assert record.method == "GET" and record.headers["range"] == "bytes=2-" and record.status == 206
