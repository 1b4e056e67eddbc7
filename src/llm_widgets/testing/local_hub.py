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
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

LFS_SUFFIXES = (".gguf", ".bin", ".safetensors", ".pt", ".onnx")
LFS_MIN_SIZE = 1024
_PIECE = 64 * 1024


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
            handler = type("Handler", (_Handler,), {"hub": self})
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

    def _last_modified(self, repo_id: str) -> str:
        meta = self._meta(repo_id)
        if isinstance(meta.get("last_modified"), str):
            return str(meta["last_modified"])
        mtime = max(
            (Path(d).stat().st_mtime for d, _, _ in os.walk(self._repo_dir(repo_id))), default=0
        )
        return datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def _model_summary(self, repo_id: str) -> dict[str, Any]:
        meta = self._meta(repo_id)
        tags = list(meta.get("tags", []))
        if any(e.path.endswith(".gguf") for e in self._entries(repo_id)) and "gguf" not in tags:
            tags.append("gguf")
        modified = self._last_modified(repo_id)
        return {
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "likes": int(meta.get("likes", 0)),
            "downloads": int(meta.get("downloads", 0)),
            "tags": tags,
            "lastModified": modified,
            "createdAt": modified,
            "private": bool(meta.get("private", False)),
            "gated": meta.get("gated", False) or False,
            "library_name": "gguf" if "gguf" in tags else None,
        }


class _Handler(BaseHTTPRequestHandler):
    hub: LocalHub
    protocol_version = "HTTP/1.1"
    server_version = "LocalHub/1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.hub.verbose:
            super().log_message(format, *args)

    # -- dispatch -----------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        self._status = 0
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._record = RequestRecord(method, self.path, headers)
        with self.hub._lock:
            self.hub.requests.append(self._record)
        try:
            self._route(method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # never a traceback on stderr: a 500 with the reason
            if not self._status:
                self._json(500, {"error": f"{type(exc).__name__}: {exc}"})

    def _route(self, method: str) -> None:
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            self._body = self.rfile.read(length) if length else b""
        m = re.fullmatch(r"/lfs-blobs/([^/]+/[^/]+)/([0-9a-f]{40})/([0-9a-f]{64})", path)
        if m and method in ("GET", "HEAD"):
            return self._serve_blob(method, unquote(m.group(1)), m.group(2), m.group(3))
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m and method in ("GET", "HEAD"):
            return self._resolve(
                method, unquote(m.group(1)), unquote(m.group(2)), unquote(m.group(3))
            )
        if path.startswith("/api/") and self.hub.faults.api_delay > 0:
            time.sleep(self.hub.faults.api_delay)
        if path == "/api/models" and method == "GET":
            return self._search(query)
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
        if m and method == "GET":
            return self._model_info(unquote(m.group(1)), unquote(m.group(2) or "main"))
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path)
        if m and method == "GET":
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            return self._tree(
                unquote(m.group(1)), unquote(m.group(2)), unquote(m.group(3) or ""), recursive
            )
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/paths-info/([^/]+)", path)
        if m and method == "POST":
            return self._paths_info(unquote(m.group(1)), unquote(m.group(2)))
        self._json(404, {"error": "Not found"})

    # -- access -------------------------------------------------------------------------------

    def _check_repo(self, repo_id: str, revision: str, filename: str | None = None) -> bool:
        hub = self.hub
        forced = hub.faults.status_for.get(f"{repo_id}/{filename}") if filename else None
        forced = forced or hub.faults.status_for.get(repo_id)
        if forced:
            if forced == 404:
                self._error(404, "RepoNotFound", "Repository not found")
            elif forced == 401:
                self._error(401, "RepoNotFound", "Invalid username or password.")
            elif forced == 403:
                self._error(403, None, "Access to this resource is denied")
            else:
                self._error(forced, None, "Injected server error")
            return False
        if not hub._repo_exists(repo_id):
            self._error(404, "RepoNotFound", "Repository not found")
            return False
        meta = hub._meta(repo_id)
        auth = self.headers.get("Authorization", "")
        given = auth[7:] if auth.startswith("Bearer ") else None
        if (meta.get("private") or meta.get("gated")) and (given is None or given != hub.token):
            if given is not None and given != hub.token:
                self._error(401, None, "Invalid credentials in Authorization header")
            elif meta.get("private"):
                self._error(401, "RepoNotFound", "Repository not found")
            else:
                self._error(
                    401,
                    "GatedRepo",
                    f"Access to model {repo_id} is restricted. You must be authenticated.",
                )
            return False
        if revision not in ("main", hub.commit_hash(repo_id)):
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return False
        return True

    # -- endpoints ----------------------------------------------------------------------------

    def _resolve(self, method: str, repo_id: str, revision: str, filename: str) -> None:
        if not self._check_repo(repo_id, revision, filename):
            return
        entry = self.hub._entry(repo_id, filename)
        if entry is None:
            return self._error(404, "EntryNotFound", f"{filename} does not exist on {revision}")
        headers = {
            "X-Repo-Commit": self.hub.commit_hash(repo_id),
            "ETag": f'"{entry.etag}"',
            "Accept-Ranges": "bytes",
        }
        if entry.is_lfs:
            headers["X-Linked-Etag"] = f'"{entry.sha256}"'
            headers["X-Linked-Size"] = str(entry.size)
            commit = headers["X-Repo-Commit"]
            headers["Location"] = f"{self._cdn_base()}/lfs-blobs/{repo_id}/{commit}/{entry.sha256}"
            headers["Content-Length"] = "0"
            self._send(302, headers)
            return
        target = self.hub._resolve(repo_id, filename)
        assert target is not None
        self._send_file(method, target, entry.size, headers)

    def _serve_blob(self, method: str, repo_id: str, commit: str, sha256: str) -> None:
        target = self.hub._find_blob(sha256)
        if target is None:
            return self._error(404, "EntryNotFound", "blob not found")
        size = target.stat().st_size
        headers = {
            "ETag": f'"{sha256}"',
            "X-Linked-Etag": f'"{sha256}"',
            "X-Linked-Size": str(size),
            "X-Repo-Commit": commit,
            "Accept-Ranges": "bytes",
        }
        self._send_file(method, target, size, headers)

    def _send_file(self, method: str, target: Path, size: int, headers: dict[str, str]) -> None:
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng and not self.hub.faults.ignore_range:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                return self._error(416, None, "bad range")
            if m.group(1):
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
            else:
                start, end = max(0, size - int(m.group(2))), size - 1
            end = min(end, size - 1)
            if start >= size or start > end:
                headers["Content-Range"] = f"bytes */{size}"
                return self._send(416, headers)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        headers["Content-Length"] = str(length)
        headers["Content-Type"] = "application/octet-stream"
        self._send(status, headers)
        if method == "HEAD" or length == 0:
            return
        with target.open("rb") as f:
            self._body_from(f, start, length)

    def _body_from(self, f: Any, start: int, length: int) -> None:
        faults = self.hub.faults
        plain = not (
            faults.throttle_bps
            or faults.per_connection_bps
            or faults.corrupt
            or faults.corrupt_at is not None
            or self._armed("drop")
            or self._armed("stall")
        )
        if plain:
            self.wfile.flush()
            self.connection.sendfile(f, offset=start, count=length)
            return
        f.seek(start)
        sent, began = 0, time.monotonic()
        drop_at = faults.drop_after_bytes if self._arm("drop") else None
        stall_at = faults.stall_after_bytes if self._arm("stall") else None
        while sent < length:
            piece = f.read(min(_PIECE, length - sent))
            if not piece:
                break
            piece = self._maybe_corrupt(piece, start + sent)
            if faults.throttle_bps:
                self.hub._pace(len(piece), faults.throttle_bps)
            for limit, action in ((drop_at, "drop"), (stall_at, "stall")):
                if limit is not None and sent + len(piece) > limit:
                    piece = piece[: max(0, limit - sent)]
                    if piece:
                        self.wfile.write(piece)
                        self.wfile.flush()
                    if action == "stall":
                        time.sleep(faults.stall_seconds)
                    self._abort_connection()
                    return
            self.wfile.write(piece)
            sent += len(piece)
            if faults.per_connection_bps:
                ahead = sent / faults.per_connection_bps - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
        self.wfile.flush()

    def _armed(self, kind: str) -> bool:
        f = self.hub.faults
        if kind == "drop":
            return f.drop_after_bytes is not None and f.drop_times > 0
        return f.stall_after_bytes is not None and f.stall_times > 0

    def _arm(self, kind: str) -> bool:
        with self.hub._lock:
            if not self._armed(kind):
                return False
            f = self.hub.faults
            if kind == "drop":
                f.drop_times -= 1
            else:
                f.stall_times -= 1
            return True

    def _maybe_corrupt(self, piece: bytes, offset: int) -> bytes:
        faults = self.hub.faults
        if faults.corrupt:
            piece = bytes(b ^ 0xFF for b in piece[:16]) + piece[16:]
        at = faults.corrupt_at
        if at is not None and offset <= at < offset + len(piece):
            i = at - offset
            piece = piece[:i] + bytes([piece[i] ^ 0xFF]) + piece[i + 1 :]
        return piece

    def _abort_connection(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _file_json(self, entry: _Entry) -> dict[str, Any]:
        item: dict[str, Any] = {
            "type": "file",
            "oid": entry.git_sha1,
            "size": entry.size,
            "path": entry.path,
        }
        if entry.is_lfs:
            item["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": 134}
        return item

    def _model_info(self, repo_id: str, revision: str) -> None:
        if not self._check_repo(repo_id, revision):
            return
        info = self.hub._model_summary(repo_id)
        siblings = []
        for e in self.hub._entries(repo_id):
            s: dict[str, Any] = {"rfilename": e.path, "size": e.size, "blobId": e.git_sha1}
            if e.is_lfs:
                s["lfs"] = {"sha256": e.sha256, "size": e.size, "pointerSize": 134}
            siblings.append(s)
        info.update({"sha": self.hub.commit_hash(repo_id), "siblings": siblings, "cardData": {}})
        self._json(200, info)

    def _tree(self, repo_id: str, revision: str, prefix: str, recursive: bool) -> None:
        if not self._check_repo(repo_id, revision):
            return
        prefix = prefix.strip("/")
        out: list[dict[str, Any]] = []
        dirs: set[str] = set()
        found = not prefix
        for e in self.hub._entries(repo_id):
            if prefix and not e.path.startswith(prefix + "/"):
                continue
            found = True
            rest = e.path[len(prefix) + 1 :] if prefix else e.path
            if "/" in rest and not recursive:
                d = (prefix + "/" if prefix else "") + rest.split("/")[0]
                if d not in dirs:
                    dirs.add(d)
                    out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": d})
                continue
            if recursive:
                parts = rest.split("/")[:-1]
                for i in range(len(parts)):
                    d = "/".join(([prefix] if prefix else []) + parts[: i + 1])
                    if d not in dirs:
                        dirs.add(d)
                        out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": d})
            out.append(self._file_json(e))
        if not found:
            return self._error(404, "EntryNotFound", f"{prefix} does not exist")
        self._json(200, out)

    def _paths_info(self, repo_id: str, revision: str) -> None:
        if not self._check_repo(repo_id, revision):
            return
        body = getattr(self, "_body", b"").decode("utf-8", "replace")
        paths: list[str] = []
        if self.headers.get("Content-Type", "").startswith("application/json"):
            try:
                paths = list(json.loads(body).get("paths", []))
            except (ValueError, AttributeError):
                paths = []
        else:
            paths = parse_qs(body).get("paths", [])
        out = []
        for p in paths:
            entry = self.hub._entry(repo_id, str(p))
            if entry is not None:
                out.append(self._file_json(entry))
        self._json(200, out)

    def _search(self, query: dict[str, list[str]]) -> None:
        def one(name: str) -> str | None:
            return query[name][0] if name in query and query[name] else None

        search = (one("search") or "").lower()
        author = one("author")
        filters = query.get("filter", [])
        results = []
        for repo_id in self.hub._repos():
            if search and search not in repo_id.lower():
                continue
            if author and repo_id.split("/")[0] != author:
                continue
            summary = self.hub._model_summary(repo_id)
            if summary["private"]:
                continue
            if any(f not in summary["tags"] for f in filters):
                continue
            results.append(summary)
        sort = one("sort") or "trendingScore"
        key = {"likes": "likes", "lastModified": "lastModified", "createdAt": "createdAt"}.get(
            sort, "downloads"
        )
        results.sort(key=lambda r: r[key], reverse=one("direction") != "1")
        limit = int(one("limit") or 0) or None
        if limit is not None:
            results = results[:limit]
        cursor = int(one("cursor") or 0)
        page = results[cursor : cursor + self.hub.page_size]
        headers = {}
        if cursor + self.hub.page_size < len(results):
            params = {k: v for k, v in query.items() if k != "cursor"}
            params["cursor"] = [str(cursor + self.hub.page_size)]
            headers["Link"] = (
                f'<{self._base()}/api/models?{urlencode(params, doseq=True)}>; rel="next"'
            )
        self._json(200, page, headers)

    # -- low level ----------------------------------------------------------------------------

    def _cdn_base(self) -> str:
        """Where LFS redirects point: on loopback, the other loopback name, so that clients see
        another host as with the real Hub's CDN (and must not send the token there)."""
        host = self.headers.get("Host") or f"{self.hub.host}:{self._port()}"
        name, _, port = host.rpartition(":")
        swap = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
        if name in swap and port:
            return f"http://{swap[name]}:{port}"
        return f"http://{host}"

    def _port(self) -> int:
        return int(self.server.server_address[1])  # type: ignore[index]

    def _base(self) -> str:
        host = self.headers.get("Host") or f"{self.hub.host}:{self._port()}"
        return f"http://{host}"

    def _send(self, status: int, headers: dict[str, str]) -> None:
        self._status = self._record.status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", "0")
        self.end_headers()

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        all_headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        all_headers.update(headers or {})
        self._send(status, all_headers)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, headers)


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
