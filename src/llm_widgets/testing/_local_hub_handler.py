"""LocalHub's request handler: routes, access checks, files served in ranges (with the hub's
faults injected), and the API's JSON."""

from __future__ import annotations

import json
import re
import socket
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from . import _local_hub_api as api

if TYPE_CHECKING:
    from .local_hub import LocalHub

_PIECE = 64 * 1024  # bytes per write of a body with faults


class HubHandler(BaseHTTPRequestHandler):
    """Answers one connection's requests to a LocalHub: files (with the hub's faults) and API."""

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
        self._record = self.hub._log(method, self.path, headers)
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

    def _model_info(self, repo_id: str, revision: str) -> None:
        if self._check_repo(repo_id, revision):
            self._json(200, api.model_info(self.hub, repo_id))

    def _tree(self, repo_id: str, revision: str, prefix: str, recursive: bool) -> None:
        if not self._check_repo(repo_id, revision):
            return
        listing = api.tree(self.hub, repo_id, prefix, recursive)
        if listing is None:
            return self._error(404, "EntryNotFound", f"{prefix.strip('/')} does not exist")
        self._json(200, listing)

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
        self._json(200, api.paths_info(self.hub, repo_id, paths))

    def _search(self, query: dict[str, list[str]]) -> None:
        results = api.search(self.hub, query)
        cursor = int((query.get("cursor") or [""])[0] or 0)
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
