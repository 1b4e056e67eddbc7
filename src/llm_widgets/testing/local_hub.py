"""LocalHub: a Hugging Face Hub-compatible HTTP server on 127.0.0.1, for tests and offline use.

It serves a folder of repos (`ROOT/<org>/<name>/<files>`) and speaks the parts of the Hub API that
huggingface_hub uses: resolve (HEAD/GET, Range, LFS redirects with sha256 metadata), model info,
file tree, paths-info and model search. Faults can be injected for tests: throttling, dropped
connections, stalls, corrupt bytes, error statuses.

    python -m llm_widgets.testing --root ./models --port 8765
    HF_ENDPOINT=http://127.0.0.1:8765 jupyter lab
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ._local_hub_handler import HubHandler

LFS_SUFFIXES = (".gguf", ".bin", ".safetensors", ".pt", ".onnx")
LFS_MIN_SIZE = 1024


@dataclass
class Faults:
    """Faults the server injects into file transfers and API answers; all off by default.

    `throttle_bps` caps all file bodies served at once together (a slow link);
    `per_connection_bps` caps each one alone (a CDN's per-connection limit). `corrupt` spoils
    every body; `corrupt_at` only the byte at that offset of the file, in any body carrying it.
    `ignore_range` answers a ranged request with the whole file.
    """

    throttle_bps: int | None = None
    per_connection_bps: int | None = None
    drop_after_bytes: int | None = None
    drop_times: int = 1
    stall_after_bytes: int | None = None
    stall_seconds: float = 5.0
    stall_times: int = 1
    corrupt: bool = False
    corrupt_at: int | None = None
    ignore_range: bool = False
    status_for: dict[str, int] = field(default_factory=dict)
    api_delay: float = 0.0  # seconds before answering an /api/ request (a slow Hub)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a cancelled download, a closed keep-alive connection) is
        normal here: no traceback on stderr. Anything else is logged."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        logging.getLogger("llm_widgets.testing").exception(
            "LocalHub: error serving %s", client_address
        )


@dataclass
class RequestRecord:
    """One request the server received (logged on arrival; `status` set once answered)."""

    method: str
    path: str
    headers: dict[str, str]
    status: int = 0


@dataclass(frozen=True)
class _Entry:
    path: str
    size: int
    sha256: str
    git_sha1: str

    @property
    def is_lfs(self) -> bool:
        return self.size >= LFS_MIN_SIZE or self.path.endswith(LFS_SUFFIXES)

    @property
    def etag(self) -> str:
        return self.sha256 if self.is_lfs else self.git_sha1


class LocalHub:
    """A Hub-compatible server for a folder of repos. Use as a context manager or start/stop."""

    def __init__(
        self, root: str | os.PathLike[str] | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._owned_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="localhub-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port
        self.faults = Faults()
        self.token: str | None = None
        self.page_size = 50
        self.verbose = False
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._hashes: dict[tuple[str, int, int], tuple[str, str]] = {}
        self._paced_until = 0.0  # when the bytes sent so far under `throttle_bps` are paid for
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifetime -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:8765 (valid once started)."""
        if self._server is None:
            raise RuntimeError("LocalHub is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> LocalHub:
        """Start serving in a background thread."""
        if self._server is None:
            handler = type("Handler", (HubHandler,), {"hub": self})
            self._server = _Server((self.host, self.port), handler)
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="localhub", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (and remove the root folder if the hub made it)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._owned_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- content ------------------------------------------------------------------------------

    def add_file(
        self,
        repo_id: str,
        path_in_repo: str,
        data: bytes | str | os.PathLike[str] | None = None,
        *,
        text: str | None = None,
    ) -> str:
        """Put a file into a repo and return its sha256: `data` is its bytes, or the path (str or
        PathLike) of a file to serve; text content goes in `text=`."""
        if (data is None) == (text is None):
            raise TypeError("add_file takes the file's bytes or path, or text=, (exactly one)")
        if data is not None and not isinstance(data, bytes) and not os.path.isfile(data):
            raise FileNotFoundError(
                f"No file at {os.fspath(data)!r} to serve as {repo_id}/{path_in_repo} "
                "(for text content, pass text=...)."
            )
        target = self._repo_dir(repo_id) / path_in_repo
        if self._resolve(repo_id, path_in_repo) is None and target.exists():
            raise ValueError(f"bad path {path_in_repo!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            target.write_bytes(data)
        elif data is None:
            target.write_text(text or "")
        else:
            try:
                if target.exists():
                    target.unlink()
                os.link(data, target)
            except OSError:
                shutil.copyfile(data, target)
        return self.file_sha256(repo_id, path_in_repo)

    def add_repo(
        self,
        repo_id: str,
        *,
        downloads: int = 0,
        likes: int = 0,
        gated: bool | str = False,
        private: bool = False,
        tags: list[str] | None = None,
    ) -> None:
        """Create a repo (or update its metadata): popularity, gated, private, tags."""
        folder = self._repo_dir(repo_id)
        folder.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {"downloads": downloads, "likes": likes, "gated": gated}
        meta.update(private=private, tags=tags or [])
        (folder / ".hub.json").write_text(json.dumps(meta))

    def file_sha256(self, repo_id: str, path_in_repo: str) -> str:
        """The sha256 of a repo file."""
        entry = self._entry(repo_id, path_in_repo)
        if entry is None:
            raise FileNotFoundError(f"{repo_id}/{path_in_repo}")
        return entry.sha256

    def commit_hash(self, repo_id: str) -> str:
        """A 40-hex commit id derived from the repo's files (changes when they change)."""
        h = hashlib.sha1(repo_id.encode())
        for entry in self._entries(repo_id):
            h.update(f"{entry.path}\0{entry.sha256}\n".encode())
        return h.hexdigest()

    def _pace(self, size: int, bps: int) -> None:
        """Wait for the turn of `size` more bytes under the shared `bps` cap."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._paced_until)
            self._paced_until = start + size / bps
        time.sleep(start - now)

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self._lock:
            self.requests.clear()

    def _log(self, method: str, path: str, headers: dict[str, str]) -> RequestRecord:
        """Log a request on its arrival; its record is completed once answered."""
        record = RequestRecord(method, path, headers)
        with self._lock:
            self.requests.append(record)
        return record

    # -- internals ----------------------------------------------------------------------------

    def _repo_dir(self, repo_id: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", repo_id) or ".." in repo_id:
            raise ValueError(f"bad repo id {repo_id!r}")
        return self.root / repo_id

    def _repo_exists(self, repo_id: str) -> bool:
        try:
            return self._repo_dir(repo_id).is_dir()
        except ValueError:
            return False

    def _meta(self, repo_id: str) -> dict[str, Any]:
        try:
            meta = json.loads((self._repo_dir(repo_id) / ".hub.json").read_text())
            return meta if isinstance(meta, dict) else {}
        except (OSError, ValueError):
            return {}

    def _resolve(self, repo_id: str, path: str) -> Path | None:
        if not path or "\x00" in path or path.startswith("/") or "\\" in path:
            return None
        parts = path.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return None
        base = self._repo_dir(repo_id).resolve()
        target = (base / path).resolve()
        if base not in target.parents:
            return None
        return target

    def _entry(self, repo_id: str, path: str) -> _Entry | None:
        try:
            target = self._resolve(repo_id, path)
        except ValueError:
            return None
        if target is None or not target.is_file():
            return None
        stat = target.stat()
        key = (str(target), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._hashes.get(key)
        if cached is None:
            sha256, sha1 = hashlib.sha256(), hashlib.sha1(f"blob {stat.st_size}\0".encode())
            with target.open("rb") as f:
                while block := f.read(4 << 20):
                    sha256.update(block)
                    sha1.update(block)
            cached = (sha256.hexdigest(), sha1.hexdigest())
            with self._lock:
                self._hashes[key] = cached
        return _Entry(path, stat.st_size, cached[0], cached[1])

    def _entries(self, repo_id: str) -> list[_Entry]:
        base = self._repo_dir(repo_id)
        out = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                rel = (Path(dirpath) / name).relative_to(base).as_posix()
                entry = self._entry(repo_id, rel)
                if entry is not None:
                    out.append(entry)
        return out

    def _find_blob(self, sha256: str) -> Path | None:
        with self._lock:
            known = list(self._hashes.items())
        for (path, _, _), (sha, _) in known:
            if sha == sha256 and os.path.isfile(path):
                return Path(path)
        for repo_id in self._repos():  # not hashed yet in this process: look everywhere
            for entry in self._entries(repo_id):
                if entry.sha256 == sha256:
                    return self._resolve(repo_id, entry.path)
        return None

    def _repos(self) -> list[str]:
        repos = []
        for org in sorted(
            p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            for repo in sorted(
                p for p in org.iterdir() if p.is_dir() and not p.name.startswith(".")
            ):
                repos.append(f"{org.name}/{repo.name}")
        return repos


def main(argv: list[str] | None = None) -> None:
    """Serve a folder of repos until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m llm_widgets.testing",
        description="A Hugging Face Hub-compatible local server.",
    )
    parser.add_argument("--root", required=True, help="folder of repos: ROOT/<org>/<name>/<files>")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--throttle", type=int, default=None, help="bytes/s for all transfers")
    parser.add_argument(
        "--per-connection", type=int, default=None, help="bytes/s for each connection"
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    hub = LocalHub(args.root, host=args.host, port=args.port)
    hub.faults.throttle_bps = args.throttle
    hub.faults.per_connection_bps = args.per_connection
    hub.verbose = args.verbose
    hub.start()
    print(f"LocalHub serving {Path(args.root).resolve()} at {hub.url}")
    print(f"Use it with: HF_ENDPOINT={hub.url}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        hub.stop()


__all__ = ["Faults", "LocalHub", "RequestRecord", "main"]

if __name__ == "__main__":
    main()
