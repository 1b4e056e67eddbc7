"""MCP servers as tools: `MCPServer` runs (stdio) or reaches (streamable HTTP) a Model Context
Protocol server, lists its tools and calls them, so that anywhere `tools=[...]` takes Python
functions it also takes a server. Built on the `mcp` SDK (the `llm-widgets[mcp]` extra),
imported only when a server starts.

A server starts on first use (or `start()`), stays up across turns and cells, and ends with
`close()`, the service's `shutdown()` or the interpreter's exit; a stdio server also ends when
its stdin closes, which happens when this process dies. `env` and `headers` values are secrets:
masked in reprs, logs, errors and tool results.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shlex
import shutil
import sys
import threading
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .._secrets import remember_secret, scrub
from ..errors import MCPServerError
from ._mcp_link import Link, StderrPipe, describe
from .tools import Tool

START_TIMEOUT = 30.0  # seconds for a server to start and list its tools
CALL_TIMEOUT = 120.0  # seconds for one tool call
_RUNNERS = {"python", "python3", "node", "npx", "uvx", "uv", "bunx", "deno", "pipx", "docker"}
_ENV_REF = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}")
_LIVE: set[MCPServer] = set()  # servers running now: closed at exit


class MCPServer:
    """A Model Context Protocol server whose tools a model may call.

    `MCPServer(command=["npx", "-y", "@modelcontextprotocol/server-filesystem", "/data"])` runs
    a stdio server (`env`: variables it gets besides the SDK's short safe list, e.g. an API key;
    `cwd`: its folder); `MCPServer(url="https://…/mcp", headers={...})` reaches a streamable
    HTTP one. `allowed` keeps only the tools named; `name` (default: from the command or the
    host) prefixes a tool whose name another tool already has. `start_timeout` bounds starting
    (a server that does not answer in time is stopped), `call_timeout` each call.
    """

    def __init__(
        self,
        command: str | Sequence[str] | None = None,
        *,
        url: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        allowed: Sequence[str] | None = None,
        start_timeout: float = START_TIMEOUT,
        call_timeout: float = CALL_TIMEOUT,
    ) -> None:
        if (command is None) == (url is None):
            raise ValueError("MCPServer takes a command (stdio) or a url (streamable HTTP)")
        self.command = _command(command) if command is not None else None
        self.url = _url(url) if url is not None else None
        if self.command is None and (env or cwd is not None):
            raise ValueError("env and cwd are for a stdio server (command=[...])")
        if self.url is None and headers:
            raise ValueError("headers are for an HTTP server (url=...)")
        self._env = _strings(env, "env")
        self._headers = _strings(headers, "headers")
        for value in [*self._env.values(), *self._headers.values()]:
            _remember(value)
        self.cwd = None if cwd is None else str(cwd)
        self.name = _clean_name(name or _default_name(self.command, self.url))
        if isinstance(allowed, str):
            raise TypeError("allowed is a list of tool names")
        self.allowed = None if allowed is None else [str(a) for a in allowed]
        self.start_timeout = _seconds(start_timeout, "start_timeout")
        self.call_timeout = _seconds(call_timeout, "call_timeout")
        self._link: Link | None = None
        self._lock = threading.RLock()

    @classmethod
    def from_config(
        cls, config: str | os.PathLike[str] | Mapping[str, Any], **options: Any
    ) -> list[MCPServer]:
        """One server per entry of an `{"mcpServers": {name: {...}}}` file or dict (the format
        of Cursor, Claude Desktop, LM Studio), in the file's order; `${VAR}` / `${env:VAR}` in
        values are read from the environment, and entries with `"disabled": true` are left out.
        `options` (allowed, start_timeout, call_timeout) apply to every server."""
        data = config if isinstance(config, Mapping) else _read_json(Path(config).expanduser())
        entries = data.get("mcpServers", data.get("servers"))
        if not isinstance(entries, Mapping):
            raise ValueError('an MCP config is {"mcpServers": {"name": {"command": ...}, ...}}')
        servers = []
        for name, entry in entries.items():
            if not isinstance(entry, Mapping):
                raise ValueError(f"MCP config: the entry {name!r} is not an object")
            if entry.get("disabled") is True:
                continue
            servers.append(cls(name=str(name), **_entry(str(name), entry), **options))
        return servers

    # -- lifetime ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the session is up."""
        link = self._link
        return link is not None and not link.ended.is_set()

    def start(self) -> MCPServer:
        """Start the server (if it is not running) and list its tools; MCPServerError if it
        does not answer within `start_timeout` seconds (it is stopped then)."""
        with self._lock:
            if self.running:
                return self
            _require_sdk()
            self._drop_link()
            link = Link(self.name, self._open, self._errlog())
            try:
                link.open(self.start_timeout)
            except MCPServerError as exc:
                raise MCPServerError(scrub(str(exc))) from None
            self._link = link
            _LIVE.add(self)
            try:
                self._check_allowed(link.tools)
            except ValueError:
                self.close()
                raise
        return self

    def close(self) -> None:
        """Stop the server (a stdio server's process ends); a later use starts it again."""
        with self._lock:
            self._drop_link()

    def __enter__(self) -> MCPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop_link(self) -> None:
        link, self._link = self._link, None
        _LIVE.discard(self)
        if link is not None:
            link.close()

    def _errlog(self) -> StderrPipe | None:
        return StderrPipe(self.name, scrub) if self.command is not None else None

    async def _open(self, stack: AsyncExitStack, errlog: StderrPipe | None) -> tuple[Any, Any]:
        """(On the server's loop) the transport's read and write streams."""
        if self.command is not None and errlog is not None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            command = _tied_to_us(self.command, self._env.get("PATH"), self.cwd)
            params = StdioServerParameters(
                command=command[0], args=command[1:], env=self._env, cwd=self.cwd
            )
            read, write = await stack.enter_async_context(stdio_client(params, errlog.file))
            return read, write
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        client = await stack.enter_async_context(create_mcp_http_client(headers=self._headers))
        streams = await stack.enter_async_context(
            streamable_http_client(str(self.url), http_client=client)
        )
        return streams[0], streams[1]

    # -- tools ------------------------------------------------------------------------------

    @property
    def tools(self) -> list[Tool]:
        """The server's tools (the `allowed` ones), each with its name, description and input
        schema (`parameters`); starts the server if it is not running."""
        link = self._started()
        return [self._tool(t) for t in link.tools if self.allowed is None or t.name in self.allowed]

    def call_tool(self, name: str, arguments: Mapping[str, Any], abort: Any = None) -> str:
        """Call one of the server's tools by its own name; the text of its result. A tool's
        error, a timeout or a server gone raise MCPServerError (secrets masked); `abort` (a
        job's cancellation) stops the wait."""
        link = self._started()
        try:
            result = link.call(name, dict(arguments), self.call_timeout, abort)
        except MCPServerError as exc:
            if not link.alive(0.5):
                self._forget(link)
            raise MCPServerError(scrub(str(exc))) from None
        text = scrub(result_text(result))
        if getattr(result, "is_error", False):
            text = text.removeprefix(f"Error executing tool {name}: ")  # (the SDK's words)
            raise MCPServerError(f"{name} on the MCP server {self.name} failed: {text}")
        return text

    def _started(self) -> Link:
        with self._lock:
            self.start()
            assert self._link is not None
            return self._link

    def _forget(self, link: Link) -> None:
        """A link that died: closed, so the next use starts the server again."""
        with self._lock:
            if self._link is link:
                self._drop_link()

    def _tool(self, spec: Any) -> Tool:
        schema = dict(spec.input_schema or {"type": "object", "properties": {}})
        schema.setdefault("type", "object")
        described = spec.description or f"The tool {spec.name} of the MCP server {self.name}."
        return Tool(
            _clean_name(spec.name), " ".join(described.split()), schema, self.call_tool, {},
            owner=self, remote=spec.name,
        )  # fmt: skip

    def _check_allowed(self, specs: list[Any]) -> None:
        names = [t.name for t in specs]
        missing = [a for a in self.allowed or [] if a not in names]
        if missing:
            raise ValueError(
                f"the MCP server {self.name} has no tool {', '.join(map(repr, missing))} "
                f"(it has {', '.join(names) or 'none'})"
            )

    def __repr__(self) -> str:
        where = f"command={self.command!r}" if self.command is not None else f"url={self.url!r}"
        secrets = {"env": self._env, "headers": self._headers}
        shown = "".join(
            f", {k}={{{', '.join(f'{n!r}: ***' for n in v)}}}" for k, v in secrets.items() if v
        )
        state = "running" if self.running else "not running"
        return scrub(f"MCPServer(name={self.name!r}, {where}{shown}) [{state}]")


def result_text(result: Any) -> str:
    """A CallToolResult as text for the model: its text parts, else its structured content as
    JSON; an image, audio or binary part becomes a short note (the models here read text)."""
    parts = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            size = len(block.data) * 3 // 4
            parts.append(f"[{kind} {block.mime_type}, {size} bytes: not shown to the model]")
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if text is not None else f"[binary resource {resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        return json.dumps(structured, ensure_ascii=False, default=str)
    return "\n".join(parts)


def close_all() -> None:
    """Close every server still running (at the interpreter's exit)."""
    for server in list(_LIVE):
        try:
            server.close()
        except Exception:
            pass


atexit.register(close_all)


# Linux: the server gets SIGTERM when the thread that started it ends, even when this process
# is killed (PR_SET_PDEATHSIG survives exec); elsewhere its stdin closing is what ends it.
_LAUNCHER = """
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGTERM)
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as exc:
    sys.exit(f"cannot run {sys.argv[2]}: {exc.strerror}")
"""


def _tied_to_us(command: list[str], path: str | None, cwd: str | None) -> list[str]:
    """The command, on Linux run through a launcher that ties the server's life to ours; the
    program must be found first (a clear error, not a server that dies at once)."""
    program = command[0]
    if cwd and os.sep in program and not os.path.isabs(program):
        program = os.path.join(cwd, program)
    if shutil.which(program, path=path) is None:
        raise FileNotFoundError(f"no program {command[0]!r} (not found, or not executable)")
    if not sys.platform.startswith("linux"):
        return command
    return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *command]


def _require_sdk() -> None:
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise MCPServerError(
            'MCP servers need the mcp package: pip install "llm-widgets[mcp]"'
        ) from None


def _remember(value: str) -> None:
    """Mask a secret, and the credential of an `Authorization: Bearer …` value on its own."""
    remember_secret(value)
    scheme, _, credential = value.partition(" ")
    if credential and scheme.isalpha():
        remember_secret(credential.strip())


def _command(command: str | Sequence[str]) -> list[str]:
    parts = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
    if not parts or not parts[0]:
        raise ValueError("command must name a program, e.g. ['npx', '-y', 'some-mcp-server']")
    return parts


def _url(url: str) -> str:
    parsed = urlparse(str(url))
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"url must be an http(s) URL, got {scrub(str(url))!r}")
    return str(url)


def _seconds(value: object, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{label} must be a positive number of seconds")
    return float(value)


def _strings(values: Mapping[str, Any] | None, label: str) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise TypeError(f"{label} must be a dict of strings")
    return {str(k): str(v) for k, v in values.items()}


def _default_name(command: list[str] | None, url: str | None) -> str:
    """The last part of the program (or of the package a runner such as npx runs), or the
    URL's host."""
    if command is None:
        parsed = urlparse(str(url))
        return parsed.hostname or "mcp"
    words = [Path(command[0]).name.lower(), *command[1:]]
    if words[0] in _RUNNERS or re.match(r"python3?(\.\d+)?$", words[0]):
        words = [w for w in words[1:] if not w.startswith("-") and w not in ("run", "-m")] or words
    return Path(words[0].rsplit("/", 1)[-1].split("@")[0] or words[0]).stem or "mcp"


def _clean_name(name: str) -> str:
    """A name a model can call: letters, digits, _ and -, at most 64 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:64]
    return cleaned if re.match(r"[A-Za-z_]", cleaned) else f"mcp_{cleaned}"[:64]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no MCP config at {path}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON: {describe(exc)}") from None


def _entry(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """One config entry as MCPServer's arguments."""
    kind = str(entry.get("type", entry.get("transport", ""))).lower()
    if kind == "sse":
        raise ValueError(f"MCP config {name!r}: the SSE transport is not supported (use http)")
    if "url" in entry:
        return {"url": _expand(entry["url"]), "headers": _expand_all(entry.get("headers"))}
    if "command" not in entry:
        raise ValueError(f"MCP config {name!r} has neither a command nor a url")
    args = entry.get("args") or []
    if not isinstance(args, list):
        raise ValueError(f"MCP config {name!r}: args must be a list")
    return {
        "command": [_expand(entry["command"]), *(_expand(a) for a in args)],
        "env": _expand_all(entry.get("env")),
        "cwd": _expand(entry["cwd"]) if entry.get("cwd") else None,
    }


def _expand(value: Any) -> str:
    return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), ""), str(value))


def _expand_all(values: Any) -> dict[str, str] | None:
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise ValueError("MCP config: env and headers must be objects")
    return {str(k): _expand(v) for k, v in values.items()}
