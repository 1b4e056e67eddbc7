"""MCP servers as tools, against real servers written here with the SDK's own server class
(stdio: a script run with this Python; streamable HTTP: the same script under uvicorn on
127.0.0.1): listing, checked calls, failures, a server killed mid-call or never answering,
config files, secrets, lifetimes (close, the service's shutdown, the kernel's end), and a real
model (SmolLM2) calling a server's tool through the tool loop and the Chat."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from harness.kernel import run_cell
from harness.services import running_service
from jupyter_client.manager import KernelManager

import llm_widgets
from llm_widgets import Chat, LLMKernelService, MCPServer, MCPServerError
from llm_widgets.demo import packaged_model_path
from llm_widgets.errors import ToolArgumentsError
from llm_widgets.jobs import Cancellation
from llm_widgets.request.tools import as_tools
from llm_widgets.runners.tool_loop import DECLINED
from llm_widgets.testing import capture_messages, send_from_frontend, wait_until

SECRET = "mcp-env-secret-7f3a9c2e51"  # an env value: never shown anywhere
TOKEN = "mcp-header-token-4b8d0e6a73"  # an HTTP header's credential: never shown anywhere
WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]

SERVER = '''
import os, sys, time
from pathlib import Path
from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

app = MCPServer("weather")
CALLS = os.environ.get("MCP_TEST_CALLS")


def note(name, **arguments):
    if CALLS:
        with open(CALLS, "a") as f:
            f.write(name + " " + repr(sorted(arguments.items())) + "\\n")


@app.tool()
def get_weather(city: str) -> dict:
    """Get the current weather in a city."""
    note("get_weather", city=city)
    return {"city": city, "temperature": 21, "sky": "sunny"}


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    note("add", a=a, b=b)
    return a + b


@app.tool()
def fail(reason: str) -> str:
    """Always fails, with the reason given."""
    raise ToolError("it failed: " + reason)


@app.tool()
def show_secret() -> str:
    """Says the secret it was given, and prints it to stderr."""
    value = os.environ.get("MCP_TEST_SECRET", "none")
    print("my secret is " + value, file=sys.stderr, flush=True)
    return "the secret is " + value


@app.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@app.tool()
def wait(seconds: float) -> str:
    """Sleeps."""
    time.sleep(seconds)
    return "waited"


@app.tool()
def picture() -> Image:
    """A tiny PNG."""
    return Image(data=b"\\x89PNG\\r\\n\\x1a\\n" + bytes(40), format="png")


print("weather server starting", file=sys.stderr, flush=True)
if sys.argv[1:2] == ["http"]:
    import uvicorn

    inner = app.streamable_http_app()
    wanted = ("Bearer " + os.environ["MCP_TEST_TOKEN"]).encode()

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != wanted:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await inner(scope, receive, send)

    uvicorn.run(guarded, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
else:
    app.run()
'''


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mcp") / "weather_server.py"
    path.write_text(SERVER)
    return path


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    """The file the server notes each call in (what ran, not what the client believes)."""
    return tmp_path / "calls.txt"


@pytest.fixture
def server(script: Path, calls: Path) -> Iterator[MCPServer]:
    env = {"MCP_TEST_CALLS": str(calls), "MCP_TEST_SECRET": SECRET}
    server = MCPServer([sys.executable, str(script)], env=env, name="weather")
    try:
        yield server
    finally:
        server.close()


def ran(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


def children_running(script: Path) -> list[psutil.Process]:
    """This process's descendants that run `script` (a server left behind)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if str(script) in " ".join(child.cmdline()) and child.status() != "zombie":
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# -- a stdio server on its own --------------------------------------------------------------------


def test_importing_the_package_does_not_import_the_sdk() -> None:
    code = (
        "import sys, llm_widgets; print('mcp' in sys.modules, 'MCPServer' in llm_widgets.__all__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
    without = (  # an install without the extra: `import mcp` fails
        "import sys; sys.modules['mcp'] = None\n"
        "from llm_widgets import MCPServer, MCPServerError\n"
        "try:\n    MCPServer(['some-server']).start()\nexcept MCPServerError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", without], capture_output=True, text=True)
    assert out.stdout.strip() == 'MCP servers need the mcp package: pip install "llm-widgets[mcp]"'


def test_a_stdio_server_lists_its_tools_and_checks_arguments_before_a_call(
    server: MCPServer, calls: Path, script: Path
) -> None:
    assert not server.running and "not running" in repr(server)
    tools = {t.name: t for t in server.tools}  # starts it
    assert server.running and "[running]" in repr(server)
    assert {"get_weather", "add", "fail", "pid", "wait"} <= set(tools)
    add = tools["add"]
    assert add.description == "Add two integers." and add.owner is server
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert add.parameters["required"] == ["a", "b"]
    threads = [t.name for t in threading.enumerate()]
    assert "llm-widgets-mcp-weather" in threads

    assert add.call(add.check('{"a": 2, "b": 40}')) == "42"
    with pytest.raises(ToolArgumentsError, match=r"arguments.b must be an integer"):
        add.check('{"a": 2, "b": "forty"}')
    with pytest.raises(ToolArgumentsError, match=r"missing b"):
        add.check('{"a": 2}')
    assert ran(calls) == ["add [('a', 2), ('b', 40)]"]  # the bad ones never reached it

    picture = tools["picture"].call({})
    assert picture.startswith("[image image/png") and "not shown to the model" in picture

    pid = int(tools["pid"].call({}))
    server.close()
    wait_until(lambda: gone(pid), timeout=15, what="the closed server's process to end")
    assert not server.running and children_running(script) == []
    assert "llm-widgets-mcp-weather" not in [t.name for t in threading.enumerate()]
    assert int(server.tools[0].owner.call_tool("pid", {})) != pid  # the next use starts it again


def test_allowed_keeps_some_tools_and_names_are_made_unique(
    script: Path, server: MCPServer
) -> None:
    def get_weather(city: str) -> str:
        """A Python function of the same name."""
        return "rainy"

    narrow = MCPServer([sys.executable, str(script)], name="other", allowed=["get_weather"])
    try:
        assert [t.name for t in narrow.tools] == ["get_weather"]
        made = as_tools([get_weather, narrow, server])
        names = [t.name for t in made]
        assert names[0] == "get_weather"  # the function keeps its name
        assert "other_get_weather" in names and "weather_get_weather" in names
        assert len(names) == len(set(names)) and "add" in names
        clash = next(t for t in made if t.name == "other_get_weather")
        assert clash.remote == "get_weather" and json.loads(clash.call({"city": "Oslo"}))["city"]
    finally:
        narrow.close()
    wrong = MCPServer([sys.executable, str(script)], name="wrong", allowed=["nope"])
    with pytest.raises(ValueError, match=r"has no tool 'nope' \(it has get_weather, add"):
        wrong.start()
    assert not wrong.running


def test_a_failing_tool_and_a_server_killed_mid_call_are_clear_errors(
    server: MCPServer,
) -> None:
    with pytest.raises(
        MCPServerError, match="^fail on the MCP server weather failed: it failed: x$"
    ):
        server.call_tool("fail", {"reason": "x"})
    pid = int(server.call_tool("pid", {}))
    outcome: dict[str, BaseException] = {}

    def call() -> None:
        try:
            server.call_tool("wait", {"seconds": 60})
        except BaseException as exc:
            outcome["error"] = exc

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(1.0)  # the call is on its way
    os.kill(pid, signal.SIGKILL)
    caller.join(30)
    assert not caller.is_alive(), "the call on a killed server did not end within 30 s"
    error = outcome["error"]
    assert isinstance(error, MCPServerError) and "weather" in str(error)
    assert "Traceback" not in str(error)
    assert int(server.call_tool("pid", {})) != pid  # the next call starts a fresh one


def test_stop_cancels_a_call_on_the_server(server: MCPServer) -> None:
    abort = Cancellation()
    threading.Timer(1.0, abort.set).start()
    with pytest.raises(
        llm_widgets.JobCancelledError
    ):  # the tool would wait an hour: only Stop ends it
        server.call_tool("wait", {"seconds": 3600}, abort=abort)
    assert server.call_tool("add", {"a": 1, "b": 1}) == "2"  # the session is still good


def test_a_server_that_does_not_answer_in_time_is_stopped(tmp_path: Path) -> None:
    mute = tmp_path / "mute_server.py"
    mute.write_text("import sys, time\nprint('thinking...', file=sys.stderr, flush=True)\n"
                    "time.sleep(120)\n")  # fmt: skip
    server = MCPServer([sys.executable, str(mute)], start_timeout=3)
    assert server.name == "mute_server"
    with pytest.raises(MCPServerError, match=r"did not answer within 3 s, so it was stopped"):
        server.start()
    assert not server.running
    wait_until(lambda: children_running(mute) == [], timeout=15, what="the mute server to end")
    with pytest.raises(MCPServerError, match="did not start: .*no program '/no/such/mcp-server'"):
        MCPServer(["/no/such/mcp-server"]).start()


def test_a_config_file_gives_one_server_per_entry(
    tmp_path: Path, script: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_TEST_SECRET_FROM_ENV", SECRET)
    config = {
        "mcpServers": {
            "weather": {
                "command": sys.executable,
                "args": [str(script)],
                "env": {"MCP_TEST_SECRET": "${env:MCP_TEST_SECRET_FROM_ENV}"},
            },
            "remote": {"url": "http://127.0.0.1:9/mcp", "headers": {"X-Key": "${NOPE}"}},
            "old": {"command": "nothing", "disabled": True},
        }
    }
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps(config))
    weather, remote = MCPServer.from_config(path)
    try:
        assert (weather.name, remote.name) == ("weather", "remote")
        assert remote.url == "http://127.0.0.1:9/mcp" and weather.command == [
            sys.executable,
            str(script),
        ]
        assert weather.call_tool("show_secret", {}) == "the secret is ***"  # expanded, masked
        assert [s.name for s in MCPServer.from_config(config, allowed=["add"])] == [
            "weather",
            "remote",
        ]
    finally:
        weather.close()
    with pytest.raises(ValueError, match="mcpServers"):
        MCPServer.from_config({"servers": []})
    with pytest.raises(ValueError, match="SSE transport is not supported"):
        MCPServer.from_config({"mcpServers": {"s": {"type": "sse", "url": "http://x/sse"}}})
    with pytest.raises(FileNotFoundError, match="no MCP config"):
        MCPServer.from_config(tmp_path / "none.json")


def test_secrets_never_show_in_reprs_logs_errors_or_results(
    server: MCPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="llm_widgets.mcp")
    assert SECRET not in repr(server) and "MCP_TEST_SECRET" in repr(server)
    result = server.call_tool("show_secret", {})
    assert result == "the secret is ***"
    with pytest.raises(MCPServerError) as failed:
        server.call_tool("fail", {"reason": f"the key {SECRET}"})
    assert SECRET not in str(failed.value) and "***" in str(failed.value)
    wait_until(
        lambda: "my secret is ***" in caplog.text, timeout=10, what="the server's stderr log"
    )
    assert "weather server starting" in caplog.text and SECRET not in caplog.text


# -- a streamable HTTP server -------------------------------------------------------------------


@pytest.fixture
def http_url(script: Path, calls: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, MCP_TEST_TOKEN=TOKEN, MCP_TEST_CALLS=str(calls))
    process = subprocess.Popen([sys.executable, str(script), "http", str(port)], env=env)
    try:

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return True

        wait_until(listening, timeout=60, what=f"the HTTP MCP server on port {port}")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(30)


def test_an_http_server_gets_its_headers_and_they_stay_secret(http_url: str, calls: Path) -> None:
    server = MCPServer(url=http_url, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        assert server.name == "mcp_127_0_0_1" and TOKEN not in repr(server)
        assert "'Authorization': ***" in repr(server)
        [add] = [t for t in server.tools if t.name == "add"]
        assert add.call(add.check('{"a": 1, "b": 2}')) == "3" and ran(calls) == [
            "add [('a', 1), ('b', 2)]"
        ]
        echo = server.call_tool("fail", {"reason": f"Bearer {TOKEN}"})
    except MCPServerError as exc:
        echo = str(exc)
    finally:
        server.close()
    assert TOKEN not in echo and "***" in echo
    refused = MCPServer(url=http_url, headers={"Authorization": "Bearer wrong-token-0123456789"})
    with pytest.raises(MCPServerError, match="did not start") as failed:
        refused.start()
    assert "wrong-token-0123456789" not in str(failed.value) and not refused.running


# -- through the tool loop, with the real model ---------------------------------------------------


@pytest.fixture
def model(svc: LLMKernelService) -> LLMKernelService:
    svc.load_model(packaged_model_path(), n_ctx=2048, engine="xllamacpp").wait(120)
    return svc


@pytest.mark.engine_only("xllamacpp")
def test_the_model_calls_a_server_tool_and_answers_from_its_result(
    model: LLMKernelService, script: Path, calls: Path
) -> None:
    env = {"MCP_TEST_CALLS": str(calls)}
    command = [sys.executable, str(script)]
    weather = MCPServer(command, env=env, name="weather", allowed=["get_weather"])
    try:
        job = model.generate_chat_completion(
            WEATHER, tools=[weather], tool_choice="required", temperature=0.0, max_tokens=64
        )
        job.wait(180)
        assert job.state == "done", job.error
        [record] = job.tool_calls
        assert record.name == "get_weather" and record.server == "weather"
        assert record.status == "done" and record.arguments["city"].lower() == "paris"
        assert json.loads(record.result)["temperature"] == 21
        assert ran(calls) == [f"get_weather [('city', {record.arguments['city']!r})]"]
        asked, result, answer = job.new_messages
        assert result == {"role": "tool", "tool_call_id": record.id, "content": record.result}
        assert answer["role"] == "assistant" and answer["content"].strip()
    finally:
        weather.close()


@pytest.mark.engine_only("xllamacpp")
def test_a_server_starts_in_the_jobs_worker_and_the_job_says_so(
    model: LLMKernelService, server: MCPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[threading.Thread, str]] = []  # the thread, and the job's detail then
    start = MCPServer.start

    def recorded(self: MCPServer) -> MCPServer:
        if not self.running:
            details = [j.detail for j in model._jobs.values() if not j.finished]
            started.append((threading.current_thread(), " ".join(details)))
        return start(self)

    monkeypatch.setattr(MCPServer, "start", recorded)
    job = model.generate_chat_completion(
        WEATHER, tools=[server], tool_choice="get_weather", temperature=0.0, max_tokens=48
    )
    job.wait(180)
    assert job.state == "done", job.error
    assert job.tool_calls[0].server == "weather" and job.detail == ""
    server.close()  # a batch starts it again, in its worker too
    batch = model.map(["Paris"], prompt="What is the weather in {input}?", tools=[server],
                      tool_choice="get_weather", max_tokens=48, cache=False)  # fmt: skip
    batch.wait(180)
    assert batch.tool_calls[0][0].status == "done"
    assert len(started) == 2
    for thread, detail in started:
        assert thread is not threading.current_thread()
        assert detail == "Starting MCP server weather…"


@pytest.mark.engine_only("xllamacpp")
def test_a_mute_server_fails_the_job_with_a_clear_error(
    model: LLMKernelService, tmp_path: Path
) -> None:
    mute = tmp_path / "mute_server.py"
    mute.write_text("import time\ntime.sleep(120)\n")
    server = MCPServer([sys.executable, str(mute)], start_timeout=3)
    chat = Chat(model, tools=[server])  # returns at once: nothing starts yet
    assert not server.running and chat.tool_names == []
    job = chat.send("What is the weather in Paris?")
    job.join(60)
    model.events.flush()
    assert job.state == "failed" and "Traceback" not in (job.error or "")
    assert "did not answer within 3 s, so it was stopped" in (job.error or "")
    assert chat.error == job.error
    with pytest.raises(MCPServerError, match="did not answer within 3 s"):
        job.wait(0)
    wait_until(lambda: children_running(mute) == [], timeout=15, what="the mute server to end")


@pytest.mark.engine_only("xllamacpp")
def test_a_server_error_is_a_tool_error_the_model_sees(
    model: LLMKernelService, server: MCPServer
) -> None:
    job = model.generate_chat_completion(
        [{"role": "user", "content": "Make it fail because of rain."}], tools=[server],
        tool_choice="fail", temperature=0.0, max_tokens=48,
    )  # fmt: skip
    job.wait(180)
    assert job.state == "done", job.error
    record = job.tool_calls[0]
    assert record.status == "error" and record.server == "weather"
    assert "fail on the MCP server weather failed: it failed:" in (record.error or "")
    assert job.new_messages[1]["content"].startswith("Error: MCPServerError: fail on the MCP")


@pytest.mark.engine_only("xllamacpp")
def test_the_chat_asks_on_cards_that_name_the_server(
    model: LLMKernelService, server: MCPServer, calls: Path
) -> None:
    def local_time(city: str) -> str:
        """The local time in a city."""
        return "12:00"

    server.allowed = ["get_weather"]  # a short prompt
    chat = Chat(model, tools=[server, local_time], tool_choice="get_weather", approve="ask")
    assert not server.running and chat.tool_names == ["local_time"]  # returned at once
    sent = capture_messages(chat)
    cards = lambda: [m["call"] for _, m in sent if m["type"] == "tool_call"]  # noqa: E731
    job = chat.send("What is the weather in Paris?")
    wait_until(lambda: any(c["status"] == "waiting" for c in cards()), timeout=300,
               what="a card asking to approve get_weather")  # fmt: skip
    assert cards()[-1]["server"] == "weather" and ran(calls) == []
    send_from_frontend(chat, {"type": "approve", "call_id": cards()[-1]["id"]})
    job.wait(180)
    model.events.flush()
    assert cards()[-1]["status"] == "done" and "21" in cards()[-1]["result"]
    assert len(ran(calls)) == 1 and SECRET not in json.dumps(chat.messages)
    assert sorted(chat.tool_names) == ["get_weather", "local_time"]  # known once it started

    job = chat.send("And in Rome?")  # Deny: nothing runs on the server, the model is told
    wait_until(lambda: job.tool_calls and job.tool_calls[0].status == "waiting", timeout=300,
               what="the second call waiting for approval")  # fmt: skip
    send_from_frontend(chat, {"type": "deny", "call_id": job.tool_calls[0].id})
    job.wait(180)
    assert job.tool_calls[0].status == "declined" and len(ran(calls)) == 1
    assert chat.messages[-2]["content"] == DECLINED


def test_the_services_shutdown_closes_the_servers_its_requests_used(
    tmp_path: Path, script: Path
) -> None:
    server = MCPServer([sys.executable, str(script)], name="weather")
    with running_service(cache_dir=tmp_path) as service:
        job = service.generate_chat_completion(WEATHER, tools=[server], max_tokens=8)
        with pytest.raises(llm_widgets.LLMWidgetsError, match="No model is loaded"):
            job.wait(60)  # no model: the job fails; the server was started to list its tools
        assert job.state == "failed" and server.running
        pid = int(server.call_tool("pid", {}))
    assert not server.running  # running_service shut the service down
    wait_until(lambda: gone(pid), timeout=15, what="the server's process after shutdown")
    assert children_running(script) == []


def test_a_server_that_outlives_its_stdin_still_ends_when_this_process_is_killed(
    tmp_path: Path, script: Path
) -> None:
    stubborn = tmp_path / "stubborn_server.py"  # goes on after its stdin closes
    stubborn.write_text(script.read_text() + "\ntime.sleep(600)\n")
    code = (
        "import sys, time\nfrom llm_widgets import MCPServer\n"
        f"server = MCPServer([sys.executable, {str(stubborn)!r}])\n"
        "print(server.call_tool('pid', {}), flush=True)\ntime.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait(30)
    wait_until(lambda: gone(pid), timeout=30, what="the server after its parent was killed")


# -- in a real IPython kernel (where sys.stderr has no fileno) -----------------------------------


def test_a_server_works_in_a_kernel_and_ends_with_it(script: Path) -> None:
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=dict(os.environ, PYTHONUNBUFFERED="1"))
    kc = km.client()
    kc.start_channels()
    pid = 0
    try:
        kc.wait_for_ready(timeout=60)
        code = (
            "from llm_widgets import MCPServer\n"
            f"env = {{'MCP_TEST_SECRET': {SECRET!r}}}\n"
            f"server = MCPServer([{sys.executable!r}, {str(script)!r}], env=env)\n"
            "print(sorted(t.name for t in server.tools)[:2], server.call_tool('pid', {}))\n"
            "print(server.call_tool('show_secret', {}))"
        )
        reply, outputs = run_cell(kc, code, timeout=120)
        assert reply["status"] == "ok", reply
        text = "".join(o.get("text", "") for o in outputs if o["type"] == "stream")
        assert "['add', 'fail']" in text and "the secret is ***" in text and SECRET not in text
        pid = int(text.split("]")[1].split()[0])
        reply, outputs = run_cell(kc, "print(server.call_tool('add', {'a': 1, 'b': 2}))")
        assert reply["status"] == "ok" and "3" in outputs[0]["text"]  # a later cell: still up
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)  # the kernel killed: the server's stdin closes
    assert pid > 0
    wait_until(lambda: gone(pid), timeout=30, what="the server's end after the kernel's")
