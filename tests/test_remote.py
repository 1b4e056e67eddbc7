"""The same Chat and generation API on an OpenAI-compatible server: llama-cpp-python's own
(`python -m llama_cpp.server`) on the packaged SmolLM2, spoken to with the real openai client."""

from __future__ import annotations

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from llm_widgets import (
    Chat,
    LLMKernelService,
    RemoteServerError,
    ServerConnection,
)
from llm_widgets.demo import packaged_model_path
from llm_widgets.testing import capture_messages, send_from_frontend, wait_until
from llm_widgets.testing.holds import NEVER_ENDS
from llm_widgets.testing.openai_server import OpenAIServer, ServerFactory, _free_port

KEY = "sk-test-7f3a9c1e5b"  # a key that must appear nowhere but in the server's request headers
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
STORY = [{"role": "user", "content": "Write a long story about a dragon and a knight."}]


@pytest.fixture(scope="module")
def model_path() -> Path:
    return Path(packaged_model_path())


@pytest.fixture
def server(llama_server: ServerFactory) -> OpenAIServer:
    """The shared open server (no key), n_ctx 2048."""
    return llama_server()


@pytest.fixture
def keyed_server(llama_server: ServerFactory) -> OpenAIServer:
    """The shared server that wants KEY, with a small context (for the overflow case)."""
    return llama_server(api_key=KEY, n_ctx=512)


class _HoldingServer(ThreadingHTTPServer):
    """A stand-in for a server busy with a long prompt: it lists "smollm2" and holds the first
    chat request, sending nothing at all, until `release` is set; then answers every request
    with a short streamed answer."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HoldingHandler)
        self.held, self.release = threading.Event(), threading.Event()
        self.requests = 0
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> _HoldingServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


class _HoldingHandler(BaseHTTPRequestHandler):
    server: _HoldingServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if not self.path.endswith("/models"):
            self.send_error(404)
            return
        self._send("application/json", {"object": "list", "data": [{"id": "smollm2"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests += 1
        if self.server.requests == 1:
            self.server.held.set()
            self.server.release.wait(60)
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "smollm2",
            "choices": [{"index": 0, "delta": {"content": "Paris."}, "finish_reason": "stop"}],
        }
        body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
        try:
            self._send("text/event-stream", body)
        except OSError:
            pass  # the client has gone (Stop, a timeout)

    def _send(self, kind: str, value: Any) -> None:
        data = (value if isinstance(value, str) else json.dumps(value)).encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _error(call: Any) -> RemoteServerError:
    with pytest.raises(RemoteServerError) as info:
        call()
    return info.value


# -- connecting ---------------------------------------------------------------------------------


def test_connect_checks_the_server_and_the_chat_talks_to_it(
    svc: LLMKernelService, server: OpenAIServer
) -> None:
    chat = Chat(svc)
    sent = capture_messages(chat)
    facts = svc.connect(server.base_url)  # model=None: the server's only model
    assert facts.backend == "remote" and facts.name == "smollm2"
    assert facts.server == f"127.0.0.1:{server.port}" and svc.server == server.base_url
    assert svc.model == facts and svc.server_models == ["smollm2"]
    svc.events.flush()
    assert chat.model_name == "smollm2" and chat.model_server == facts.server
    assert facts.server in repr(chat)

    job = chat.send("What is the capital of France? Answer in one word.")
    answer = job.wait(60)
    svc.events.flush()
    assert "paris" in answer.lower()
    kinds = [m["type"] for _, m in sent]
    assert kinds[0] == "turn_start" and "chunk" in kinds and kinds[-1] == "done"
    streamed = "".join(m["text"] for _, m in sent if m["type"] == "chunk")
    assert streamed == answer
    stats = chat.last_stats
    assert stats["completion_tokens"] >= 1 and stats["ttft"] > 0
    assert stats["stop_reason"] in ("stop", "length")
    assert chat.messages[-1] == {"role": "assistant", "content": answer}


def test_completion_and_events_work_as_with_a_local_model(
    svc: LLMKernelService, server: OpenAIServer
) -> None:
    svc.connect(server.base_url, model="smollm2")
    chunks: list[str] = []
    done: list[Any] = []
    svc.on_completion_chunk(lambda job, text: chunks.append(text))
    svc.on_completion_done(done.append)
    job = svc.generate_completion("The capital of France is", max_tokens=8, temperature=0.0)
    text = job.wait(60)
    svc.events.flush()
    assert text and "".join(chunks) == text and done == [job]
    assert job.stats is not None and job.stats.stop_reason == "length"
    assert job.stats.completion_tokens == 8  # one chunk per token on this server
    assert list(job) == chunks  # iterating a finished job replays its pieces


def test_sampling_means_the_same_on_both_backends(
    svc: LLMKernelService, server: OpenAIServer, model_path: Path
) -> None:
    """Greedy answers agree token for token: every parameter is sent (the server's own default
    repeat_penalty is 1.1, the kernel's 1.0)."""
    story = [{"role": "user", "content": "Repeat the word yes twenty times."}]
    svc.load_model(model_path, n_ctx=2048).wait(60)
    local = svc.generate_chat_completion(story, max_tokens=60, temperature=0.0).wait(60)
    svc.connect(server.base_url)
    remote = svc.generate_chat_completion(story, max_tokens=60, temperature=0.0).wait(60)
    assert remote == local


def test_disconnect_brings_the_local_model_back_and_loading_switches_too(
    svc: LLMKernelService, server: OpenAIServer, model_path: Path
) -> None:
    svc.load_model(model_path, n_ctx=1024).wait(60)
    chat = Chat(svc)
    svc.connect(server.base_url)
    svc.events.flush()
    assert chat.model_server != "" and svc.model is not None and svc.model.backend == "remote"
    reload = svc.disconnect()
    assert reload is not None
    facts = reload.wait(60)
    svc.events.flush()
    assert facts.backend == "local" and facts.n_ctx == 1024 and svc.server is None
    assert chat.model_server == "" and chat.model_name == facts.name
    # connected again, loading a local file switches back as well
    svc.connect(server.base_url)
    svc.load_model(model_path, n_ctx=1024).wait(60)
    assert svc.model is not None and svc.model.backend == "local" and svc.server is None
    assert not [t for t in threading.enumerate() if t.name == "llm-widgets-remote"]
    # with no local model before, disconnect leaves none
    svc.unload_model()
    svc.connect(server.base_url)
    assert svc.disconnect() is None and svc.model is None


# -- Stop --------------------------------------------------------------------------------------


def test_stop_mid_answer_ends_the_turn_at_once_and_the_next_send_is_served(
    svc: LLMKernelService, server: OpenAIServer
) -> None:
    svc.connect(server.base_url)
    chat = Chat(svc)
    chat.generation_params = {"grammar": NEVER_ENDS}  # only Stop ends this answer
    job = chat.send("Write a long story about a dragon and a knight.")
    wait_until(lambda: len(job.text) > 20, timeout=60, what="the answer streaming")
    chat.generation_params = {}
    chat.stop()
    assert job.join(60), "Stop did not end the turn"
    assert job.state == "cancelled" and job.stats is not None
    assert job.stats.stop_reason == "aborted" and job.text
    svc.events.flush()
    assert chat.messages[-1]["content"] == job.text and chat.status == "idle"
    answer = chat.send("And the capital of France? One word.").wait(60)
    assert answer.strip()


def test_stop_while_the_server_evaluates_a_long_prompt(svc: LLMKernelService) -> None:
    """No token has come yet, so the reader is blocked on the socket: Stop still ends the turn
    (the server, held here while it "evaluates", has sent nothing); the next answer is served."""
    with _HoldingServer() as busy:
        svc.connect(busy.base_url)
        long_prompt = [
            {"role": "user", "content": "Summarise: " + "the cat sat on the mat. " * 250}
        ]
        job = svc.generate_chat_completion(long_prompt, max_tokens=50)
        assert busy.held.wait(30), "the request did not reach the server"
        assert job.state == "running" and job.text == ""
        job.cancel()
        assert job.join(30), "Stop did not end a turn waiting for its first token"
        assert job.state == "cancelled" and job.text == "" and not busy.release.is_set()
        busy.release.set()
        assert svc.generate_chat_completion(QUESTION, max_tokens=4).wait(60) == "Paris."
        svc.disconnect()


def test_a_second_client_interrupting_says_interrupted(
    svc: LLMKernelService, server: OpenAIServer
) -> None:
    svc.connect(server.base_url)
    # an answer that runs until something ends it: here, the other client's request
    job = svc.generate_chat_completion(STORY, max_tokens=1500, grammar=NEVER_ENDS)
    wait_until(lambda: len(job.text) > 20, timeout=60)
    other = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    other.chat.completions.create(model="smollm2", messages=QUESTION, max_tokens=4)
    with pytest.raises(RemoteServerError) as info:
        job.wait(60)
    assert info.value.kind == "interrupted" and "another client" in str(info.value)
    assert job.state == "failed" and job.text  # what came is kept
    assert svc.generate_chat_completion(QUESTION, max_tokens=4).wait(60)


# -- errors a user can act on --------------------------------------------------------------------


def test_nothing_listening_fails_at_once_without_silent_retries(
    svc: LLMKernelService, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openai._base_client as openai_http

    # the HTTP library under the openai client: httpx2 (openai >= 3) or httpx
    http: Any = getattr(openai_http, "httpx2", None) or openai_http.httpx
    tries: list[str] = []
    send = http.AsyncHTTPTransport.handle_async_request

    async def counted(transport: Any, request: Any) -> Any:
        tries.append(str(request.url))
        return await send(transport, request)

    monkeypatch.setattr(http.AsyncHTTPTransport, "handle_async_request", counted)
    url = f"http://127.0.0.1:{_free_port()}/v1"
    error = _error(lambda: svc.connect(url))
    assert error.kind == "unreachable" and "Check that it is running" in str(error)
    assert tries == [f"{url}/models"]  # one try, not the client's retries with back-off
    assert svc.model is None and svc.server is None


def test_a_short_key_is_not_cut_out_of_the_words_of_a_message(svc: LLMKernelService) -> None:
    error = _error(lambda: svc.connect(f"http://127.0.0.1:{_free_port()}/v1", api_key="k"))
    assert "Check that it is running" in str(error) and "***" not in str(error)


def test_a_server_that_stops_mid_session_is_reported(
    svc: LLMKernelService, model_path: Path
) -> None:
    with OpenAIServer(model_path) as short_lived:
        svc.connect(short_lived.base_url)
    job = svc.generate_chat_completion(QUESTION, max_tokens=4)
    with pytest.raises(RemoteServerError) as info:
        job.wait(30)
    assert info.value.kind == "unreachable" and job.error and "Cannot reach" in job.error


def test_missing_v1_says_where_the_api_usually_is(
    svc: LLMKernelService, server: OpenAIServer
) -> None:
    error = _error(lambda: svc.connect(server.url))
    assert error.kind == "not_found" and f"try {server.url}/v1" in str(error)


def test_an_unknown_model_is_refused_with_the_list(
    svc: LLMKernelService, server: OpenAIServer
) -> None:
    """The server itself would answer any name with its default model: we check the list."""
    error = _error(lambda: svc.connect(server.base_url, model="llama-70b"))
    assert error.kind == "unknown_model" and "smollm2" in str(error)


def test_the_key_missing_wrong_or_from_the_environment(
    svc: LLMKernelService, keyed_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    missing = _error(lambda: svc.connect(keyed_server.base_url))
    assert missing.kind == "auth" and "OPENAI_API_KEY" in str(missing)
    wrong = _error(lambda: svc.connect(keyed_server.base_url, api_key="sk-wrong"))
    assert wrong.kind == "auth" and "rejected" in str(wrong) and "sk-wrong" not in str(wrong)
    monkeypatch.setenv("MY_SERVER_KEY", KEY)
    facts = svc.connect(keyed_server.base_url, api_key_env="MY_SERVER_KEY")
    assert facts.name == "smollm2"
    assert svc.generate_completion("Hello", max_tokens=2).wait(30)


def test_a_prompt_over_the_context_is_explained_and_the_next_request_works(
    svc: LLMKernelService, keyed_server: OpenAIServer
) -> None:
    """The server answers HTTP 200 and no chunk at all: that is detected, not an empty answer."""
    svc.connect(keyed_server.base_url, api_key=KEY)
    chat = Chat(svc)
    job = chat.send("Summarise: " + "the cat sat on the mat. " * 200)
    with pytest.raises(RemoteServerError) as info:
        job.wait(60)
    assert info.value.kind == "context_overflow" and "Clear the chat" in str(info.value)
    svc.events.flush()
    assert "context" in chat.error
    assert svc.generate_chat_completion(QUESTION, max_tokens=4).wait(60)


def test_bad_arguments_are_refused_before_any_request(svc: LLMKernelService) -> None:
    for url in ("ftp://host/v1", "not a url", "http://user:pw@host/v1", "", "http://h/v1?x=1"):
        with pytest.raises(ValueError):
            svc.connect(url)
    with pytest.raises(ValueError):
        svc.connect("http://127.0.0.1:1/v1", model="  ")
    with pytest.raises(ValueError):
        svc.connect("http://127.0.0.1:1/v1", timeout=0)
    with pytest.raises(TypeError):
        svc.connect("http://127.0.0.1:1/v1", api_key=123)  # type: ignore[arg-type]


def test_without_the_openai_package_the_error_names_the_extra(
    svc: LLMKernelService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # as if it were not installed
    error = _error(lambda: svc.connect("http://127.0.0.1:1/v1"))
    assert error.kind == "missing_extra" and "llm-widgets[remote]" in str(error)


def test_the_context_size_is_the_servers(svc: LLMKernelService, server: OpenAIServer) -> None:
    svc.connect(server.base_url)
    with pytest.raises(Exception, match="set where the server starts"):
        svc.create_context(n_ctx=4096)
    assert svc.create_context(seed=3).backend == "remote"


# -- the widget, and the key as a secret -----------------------------------------------------------


def test_the_widget_connects_from_the_page_and_the_key_never_leaves_the_kernel(
    svc: LLMKernelService,
    keyed_server: OpenAIServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    caplog.set_level(logging.DEBUG)  # every logger: openai's, httpx's, ours
    widget = ServerConnection(service=svc)
    sent = capture_messages(widget)
    assert widget.status == "disconnected" and not widget.has_key
    send_from_frontend(
        widget, {"type": "connect", "base_url": keyed_server.url, "request_id": "r1"}
    )
    wait_until(lambda: widget.status == "failed", timeout=15)
    assert "/v1" in widget.error  # the 404 hint, shown in the widget
    send_from_frontend(
        widget,
        {"type": "connect", "base_url": keyed_server.base_url, "api_key": KEY, "request_id": "r2"},
    )
    wait_until(lambda: widget.status == "connected", timeout=15)
    assert widget.model == "smollm2" and widget.models == ["smollm2"] and widget.has_key
    assert widget.server == f"127.0.0.1:{keyed_server.port}" and widget.error == ""
    acks = [m for _, m in sent if m["type"] == "ack"]
    assert [a["request_id"] for a in acks] == ["r1", "r2"] and all(a["ok"] for a in acks)

    chat = Chat(svc)
    assert chat.send("Hello").wait(30)
    # a reconnect from the page without a key uses the one the kernel holds
    send_from_frontend(widget, {"type": "connect", "base_url": keyed_server.base_url})
    wait_until(lambda: widget.status == "connected", timeout=15)

    state = widget.get_state()
    everything = repr(state) + repr(sent) + caplog.text + repr(chat.get_state()) + repr(widget)
    assert KEY not in everything
    assert sorted(k for k in state if "key" in k) == ["api_key_env", "has_key"]

    send_from_frontend(widget, {"type": "disconnect"})
    wait_until(lambda: widget.status == "disconnected", timeout=15)
    assert svc.server is None and widget.model == ""
    send_from_frontend(widget, {"type": "forget_key"})
    assert not widget.has_key


@pytest.mark.parametrize(
    "content",
    [
        {"type": "connect"},
        {"type": "connect", "base_url": 42},
        {"type": "connect", "base_url": "javascript:alert(1)"},
        {"type": "connect", "base_url": "http://h/v1", "api_key": ["k"]},
        {"type": "connect", "base_url": "http://h/v1", "model": "m" * 600},
        {"type": "connect", "base_url": "http://h/v1", "token": "x"},
        {"type": "disconnect", "base_url": "http://h/v1"},
    ],
)
def test_bad_messages_from_the_page_become_an_error_state(
    svc: LLMKernelService, content: dict[str, Any]
) -> None:
    widget = ServerConnection(service=svc)
    sent = capture_messages(widget)
    send_from_frontend(widget, content)  # no exception escapes into the kernel
    assert widget.error.startswith("Ignored") and widget.status == "disconnected"
    assert any(m["type"] == "notice" and m["level"] == "error" for _, m in sent)


def test_the_page_cannot_set_what_the_kernel_owns(svc: LLMKernelService) -> None:
    widget = ServerConnection(service=svc)
    widget.set_state({"status": "connected", "has_key": True})
    assert widget.status == "disconnected" and not widget.has_key and widget.error
    widget.set_state({"base_url": "http://gpu-box:8000/v1"})
    assert widget.base_url == "http://gpu-box:8000/v1"


def test_a_failed_connect_leaves_the_local_model_answering(
    svc: LLMKernelService, model_path: Path
) -> None:
    svc.load_model(model_path, n_ctx=512).wait(60)
    with pytest.raises(RemoteServerError):
        svc.connect(f"http://127.0.0.1:{_free_port()}/v1")
    assert svc.model is not None and svc.model.backend == "local"
    assert svc.generate_completion("Hi", max_tokens=2).wait(30) is not None


def test_stop_before_the_request_leaves_it_unsent(
    svc: LLMKernelService, server: OpenAIServer
) -> None:
    svc.connect(server.base_url)
    job = svc.generate_chat_completion(STORY, max_tokens=200)
    job.cancel()
    assert job.wait(10) == "" and job.state == "cancelled"
    assert job.stats is None or job.stats.stop_reason == "aborted"


def test_a_server_silent_past_the_timeout_is_reported(svc: LLMKernelService) -> None:
    """A prompt the server takes longer to evaluate than `timeout` allows (held here: it sends
    nothing until released): a read timeout, explained, and the connection usable again."""
    with _HoldingServer() as busy:
        svc.connect(busy.base_url, api_key=KEY, timeout=0.2)
        prompt = [{"role": "user", "content": "Summarise: " + "a cat sat on a mat. " * 60}]
        job = svc.generate_chat_completion(prompt, max_tokens=4)
        with pytest.raises(RemoteServerError) as info:
            job.wait(60)
        assert info.value.kind == "timeout" and "did not answer within 0.2 s" in str(info.value)
        assert busy.held.is_set() and not busy.release.is_set()  # it timed out while held
        busy.release.set()
        svc.connect(busy.base_url, api_key=KEY)  # a longer timeout
        assert svc.generate_chat_completion(QUESTION, max_tokens=4).wait(60) == "Paris."
        svc.disconnect()
