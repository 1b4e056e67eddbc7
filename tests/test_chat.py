"""Chat and ModelCard loading: widgets on the real service, messages through the real handler."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from llm_widgets import Chat, LLMKernelService, ModelCard
from llm_widgets.errors import LLMWidgetsError
from llm_widgets.testing import LocalHub, capture_messages, send_from_frontend, wait_until
from llm_widgets.testing.holds import NEVER_ENDS

REPO, FILE = "acme/tiny-GGUF", "tiny.F32.gguf"
HF = "/c/"  # a huggingface_hub cache


@pytest.fixture
def loaded(service: LLMKernelService, tiny: Path, engine: str) -> LLMKernelService:
    service.load_model(tiny, n_ctx=4096).wait(30)
    return service


def test_send_streams_and_the_transcript_is_final_when_the_job_ends(
    loaded: LLMKernelService,
) -> None:
    chat = Chat(loaded)
    sent = capture_messages(chat)
    chat.max_tokens = 24
    job = chat.send("Hello")
    assert chat.status == "generating"
    answer = job.wait(30)
    assert chat.status == "idle"
    assert chat.messages == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": answer},
    ]
    assert chat.last_stats["completion_tokens"] > 0 and chat.last_stats["ttft"] > 0
    loaded.events.flush()
    kinds = [m["type"] for _, m in sent]
    assert kinds[0] == "turn_start" and kinds[-1] == "done"
    streamed = "".join(m["text"] for _, m in sent if m["type"] == "chunk")
    assert streamed == answer


def test_the_figures_of_an_answer_are_not_shown_while_the_next_streams(
    loaded: LLMKernelService,
) -> None:
    chat = Chat(loaded)
    chat.max_tokens = 8
    chat.send("Hello").wait(30)
    loaded.events.flush()
    first = chat.last_stats
    assert first["completion_tokens"] > 0
    shown: list[dict[str, Any]] = []
    chat.observe(lambda change: shown.append(change["new"]), "last_stats")
    # a tiny answer may be over before send() returns: what counts is the order of the figures
    chat.send("Again").wait(30)
    loaded.events.flush()
    assert shown[0] == {}  # the turn opens without the first answer's figures
    assert len(shown) == 2 and shown[1]["completion_tokens"] > 0 and shown[1] is not first


@pytest.fixture
def smollm2(service: LLMKernelService, engine: str) -> LLMKernelService:
    from llm_widgets.demo import packaged_model_path

    service.load_model(packaged_model_path(), n_ctx=2048).wait(60)
    return service


@pytest.mark.slow
def test_chunks_reach_the_front_end_at_most_30_times_a_second(smollm2: LLMKernelService) -> None:
    chat = Chat(smollm2)
    sent = capture_messages(chat)
    chat.temperature, chat.max_tokens = 0.0, 160
    chat.generation_params = {"grammar": NEVER_ENDS}  # all 160 tokens, whatever the story
    job = chat.send("Write a long story about a dragon who learns to cook.")
    job.wait(60)
    smollm2.events.flush()
    stamps = [t for t, m in sent if m["type"] == "chunk"]
    tokens = job.stats.completion_tokens
    assert tokens >= 100 and stamps  # the whole answer came, in chunks
    # the cap, whatever the speed here: tokens that come faster than it are sent together
    for i, start in enumerate(stamps):  # any one-second window holds at most ~30 messages
        assert sum(1 for t in stamps[i:] if t < start + 1.0) <= 32


@pytest.mark.slow
def test_stop_mid_answer_keeps_the_chat_usable(smollm2: LLMKernelService) -> None:
    chat = Chat(smollm2)
    chat.max_tokens = 1000
    chat.generation_params = {"grammar": NEVER_ENDS}  # only Stop ends this answer
    job = chat.send("Count from one to five hundred in words.")
    for _ in job:
        break
    chat.generation_params = {}
    send_from_frontend(chat, {"type": "stop"})
    assert job.join(60), "Stop did not end the answer"
    assert job.state == "cancelled" and job.stop_reason == "aborted"
    assert chat.status == "idle" and chat.messages[-1]["role"] == "assistant"
    chat.max_tokens = 8
    nxt = chat.send("Again")
    nxt.wait(30)
    assert nxt.state == "done" and len(chat.messages) == 4


def test_two_widgets_share_one_loaded_model(
    service: LLMKernelService, local_hub: LocalHub, tiny: Path
) -> None:
    local_hub.add_file(REPO, FILE, tiny)
    first, second = ModelCard(REPO, FILE), ModelCard(REPO, FILE)
    first.start_download().wait(30)
    send_from_frontend(first, {"type": "load"})
    first._load_job.wait(30)
    service.events.flush()
    assert first.load_status == second.load_status == "loaded"
    assert first.model_info["architecture"] == "llama"
    chat_a, chat_b = Chat(first), Chat(second)
    assert chat_a.model_name == chat_b.model_name != ""
    chat_a.max_tokens = 8
    chat_a.send("hi").wait(30)
    send_from_frontend(second, {"type": "unload"})
    service.events.flush()
    assert service.model is None
    assert first.load_status == second.load_status == "unloaded"
    assert chat_a.model_name == ""


def test_load_errors_show_on_the_card(
    service: LLMKernelService, local_hub: LocalHub, tmp_path: Path
) -> None:
    local_hub.add_file(REPO, "broken.gguf", b"not a model at all" * 100)
    card = ModelCard(REPO, "broken.gguf")
    card.start_download().wait(30)
    with pytest.raises(Exception):  # noqa: B017 - the card, not the exception type, is the point
        card.load_model().wait(30)
    assert card.load_status == "failed" and "not a usable GGUF" in card.error


def test_the_card_loads_with_the_context_size_set_in_the_page(
    service: LLMKernelService, local_hub: LocalHub, tiny: Path
) -> None:
    local_hub.add_file(REPO, FILE, tiny)
    card = ModelCard(REPO, FILE)
    card.start_download().wait(30)
    card.set_state({"n_ctx": 1024})  # as a synced change from the front end arrives
    send_from_frontend(card, {"type": "load"})
    facts = card._load_job.wait(30)
    assert facts.n_ctx == 1024 and card.model_info["n_ctx"] == 1024
    card.set_state({"n_ctx": 10})  # out of range: refused with a message, the good value kept
    assert card.n_ctx == 1024 and "between 256 and 1048576" in card.error
    assert card.load_model(n_ctx=512).wait(30).n_ctx == 512  # Python can still choose


def test_send_without_a_model_says_what_to_do(service: LLMKernelService) -> None:
    chat = Chat(service)
    sent = capture_messages(chat)
    with pytest.raises(LLMWidgetsError):
        chat.send("hello?")
    send_from_frontend(chat, {"type": "send", "text": "hello?"})
    assert "No model is loaded" in chat.error
    assert "ModelCard" in chat.error and "ServerConnection" in chat.error
    assert sent[-1][1]["type"] == "notice" and sent[-1][1]["level"] == "error"
    assert all(m["type"] != "turn_start" for _, m in sent)


def test_the_no_model_hint_names_the_buttons_the_card_shows(
    local_hub: LocalHub, service: LLMKernelService, tiny: Path
) -> None:
    """Not downloaded: the card offers Download, then Load; downloaded: Load."""
    local_hub.add_file(REPO, FILE, tiny)
    card = ModelCard(REPO, FILE)
    chat = Chat(card)
    send_from_frontend(chat, {"type": "send", "text": "hello?", "request_id": "r1"})
    assert chat.error == "No model is loaded: click Download on the model card, then Load."
    card.start_download().wait(30)
    wait_until(lambda: card.status == "done")
    send_from_frontend(chat, {"type": "send", "text": "hello?", "request_id": "r2"})
    assert chat.error == "No model is loaded: click Load on the model card."
    assert chat.messages == []  # nothing was sent, nothing is lost: the view keeps the text
    missing = ModelCard(REPO, "missing.Q4_0.gguf")
    with pytest.raises(Exception):  # noqa: B017 - the card's state, not the exception, is the point
        missing.start_download().wait(30)
    wait_until(lambda: missing.status == "failed")
    retry = Chat(missing)
    send_from_frontend(retry, {"type": "send", "text": "hello?"})
    assert retry.error == (
        "No model is loaded: the download failed; click Retry on the model card, then Load."
    )


def test_the_chat_names_the_model_by_repo_and_file(
    local_hub: LocalHub, service: LLMKernelService, tiny: Path
) -> None:
    """Not the GGUF's internal name: the repo the user picked and the quantization."""
    local_hub.add_file(REPO, FILE, tiny)
    card = ModelCard(REPO, FILE)
    chat = Chat(card)
    card.start_download().wait(30)
    card.load_model().wait(30)
    wait_until(lambda: chat.model_label != "")
    assert chat.model_label == "tiny · F32"
    assert chat.model_detail.startswith(f"{REPO} · {FILE}")
    assert chat.model_name in chat.model_detail and chat.model_name != chat.model_label
    assert repr(chat).startswith("Chat(tiny · F32 · 0 messages")


@pytest.mark.parametrize(
    ("path", "name", "label"),
    [
        ("/x/SmolLM2-135M-Instruct.Q4_1.gguf", "Smollm2 135M 8k", "SmolLM2-135M-Instruct · Q4_1"),
        (f"{HF}models--b--Qwen3-8B-GGUF/snapshots/a/Qwen3-8B-Q4_K_M.gguf", "", "Qwen3-8B · Q4_K_M"),
        (f"{HF}models--o--Big-GGUF/snapshots/a/Big-Q8_0-00001-of-00002.gguf", "B", "Big · Q8_0"),
        ("/x/Big-Q8_0-00001-of-00002.gguf", "Big", "Big · Q8_0"),
        ("/x/plain.gguf", "plain.gguf", "plain"),
    ],
)  # fmt: skip
def test_a_model_label_comes_from_the_repo_or_the_file(path: str, name: str, label: str) -> None:
    from llm_widgets._names import parse_quantization
    from llm_widgets._types import ModelFacts
    from llm_widgets.widgets._model_label import describe_model

    facts = ModelFacts(path, 1, "llama", name, 2048, quantization=parse_quantization(path))
    shown, detail = describe_model(facts)
    assert shown == label
    assert path.rsplit("/", 1)[-1] in detail and (name in detail)


def test_a_server_model_is_named_by_its_id() -> None:
    from llm_widgets._types import ModelFacts
    from llm_widgets.widgets._model_label import describe_model

    facts = ModelFacts("", 0, "", "qwen3:8b", 0, backend="remote", server="127.0.0.1:8080")
    assert describe_model(facts) == ("qwen3:8b", "qwen3:8b on 127.0.0.1:8080")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ({"type": "send"}, "missing field 'text'"),
        ({"type": "send", "text": ""}, "must not be empty"),
        ({"type": "send", "text": 42}, "must be a string"),
        ({"type": "send", "text": "x" * 100_001}, "longer than"),
        ({"type": "send", "text": "hi", "role": "system"}, "unexpected field(s) role"),
        ({"type": "rm -rf"}, "unknown message type"),
    ],
)
def test_malformed_chat_messages_are_rejected(
    loaded: LLMKernelService, content: Any, words: str
) -> None:
    chat = Chat(loaded)
    send_from_frontend(chat, content)
    assert words in chat.error and chat.messages == [] and chat.status == "idle"


def test_out_of_range_settings_from_the_front_end_are_refused(loaded: LLMKernelService) -> None:
    chat = Chat(loaded)
    chat.set_state({"temperature": 9.5, "max_tokens": 0})
    assert chat.temperature == 0.7 and chat.max_tokens == 512
    assert "must be between" in chat.error


def test_the_transcript_is_not_saved_unless_asked(loaded: LLMKernelService) -> None:
    chat = Chat(loaded)
    chat.max_tokens = 6
    chat.send("a secret plan").wait(30)
    assert "a secret plan" not in json.dumps(chat.get_state(), default=str)
    chat.persist_transcript = True
    assert "a secret plan" in json.dumps(chat.get_state(), default=str)


def test_a_new_view_gets_the_transcript(loaded: LLMKernelService) -> None:
    chat = Chat(loaded)
    chat.max_tokens = 6
    chat.send("first").wait(30)
    sent = capture_messages(chat)
    send_from_frontend(chat, {"type": "sync"})
    assert sent[-1][1] == {"type": "transcript", "messages": chat.messages, "partial": None}


def test_clear_forgets_the_conversation(loaded: LLMKernelService) -> None:
    chat = Chat(loaded)
    chat.max_tokens = 4
    chat.send("one").wait(30)
    send_from_frontend(chat, {"type": "clear"})
    assert chat.messages == [] and chat.last_stats == {}


@pytest.fixture
def small_context(service: LLMKernelService, tiny: Path, engine: str) -> LLMKernelService:
    service.load_model(tiny, n_ctx=256).wait(30)
    return service


def _long_turns(n: int) -> list[dict[str, str]]:
    turns = []
    for i in range(n):
        turns.append({"role": "user", "content": f"question {i}: " + "tell me more " * 5})
        turns.append({"role": "assistant", "content": f"answer {i}: " + "here it is " * 5})
    return turns


def test_a_conversation_longer_than_the_context_fails_clearly_without_trimming(
    small_context: LLMKernelService,
) -> None:
    history = [{"role": "system", "content": "Be brief."}, *_long_turns(4)]
    history.append({"role": "user", "content": "and now?"})
    job = small_context.generate_chat_completion(history, max_tokens=4)
    with pytest.raises(LLMWidgetsError, match="context holds 256"):
        job.wait(30)
    assert job.state == "failed" and "n_ctx" in (job.error or "")


def test_trim_history_leaves_out_the_oldest_turns_and_keeps_the_system_message(
    small_context: LLMKernelService,
) -> None:
    history = [{"role": "system", "content": "Be brief."}, *_long_turns(4)]
    history.append({"role": "user", "content": "and now?"})
    job = small_context.generate_chat_completion(history, trim_history=True, max_tokens=48)
    job.wait(60)
    assert job.state == "done"
    trimmed = job.stats.trimmed_messages
    assert trimmed > 0 and trimmed % 2 == 0  # whole turns, user and answer together
    assert job.stats.prompt_tokens <= 256 - 48  # room is kept for the answer
    with pytest.raises(ValueError, match="trim_history"):
        small_context.generate_chat_completion(history, trim_history="yes")  # type: ignore[arg-type]


def test_the_chat_keeps_going_past_the_context_and_says_so(
    small_context: LLMKernelService,
) -> None:
    chat = Chat(small_context)
    sent = capture_messages(chat)
    chat.system_prompt, chat.max_tokens = "Be brief.", 4
    stats = []
    for i in range(6):
        chat.send(f"question {i}: " + "tell me more " * 5).wait(30)
        assert chat.error == ""
        stats.append(chat.last_stats)
    assert len(chat.messages) == 12  # the transcript keeps every turn
    assert sum(s["trimmed_messages"] for s in stats) > 0
    notices = [m["text"] for _, m in sent if m["type"] == "notice"]
    assert any("no longer sees the oldest" in text for text in notices)
    # later turns start from the window already found: no re-trimming from the start each time
    assert stats[-1]["trimmed_messages"] <= 2
    chat.clear()
    chat.trim_history = False
    for i in range(6):
        job = chat.send(f"question {i}: " + "tell me more " * 5)
        try:
            job.wait(30)
        except LLMWidgetsError:
            break
    # the refusal is instant (no evaluation): the widget still ends the turn it just started
    assert "context holds 256" in chat.error and chat.status == "idle"


def test_a_turn_sent_while_the_model_loads_waits_for_it(
    service: LLMKernelService, tiny: Path
) -> None:
    load = service.load_model(tiny, n_ctx=4096)
    chat = Chat(service)
    chat.max_tokens = 8
    job = chat.send("Hello")  # no model yet: the turn waits for the load
    assert job.wait(30) is not None and load.state == "done"
    assert chat.status == "idle" and chat.messages[-1]["role"] == "assistant"


def test_a_queued_turn_says_what_it_waits_for_and_can_stop_the_running_one(
    smollm2: LLMKernelService,
) -> None:
    first, second = Chat(smollm2), Chat(smollm2)
    first.max_tokens = second.max_tokens = 400
    first.generation_params = {"grammar": NEVER_ENDS}  # it runs until Stop
    running = first.send("Count from 1 to 500, one number per line.")
    wait_until(lambda: len(running.text) > 0, timeout=30)
    queued = second.send("Say hi.")
    wait_until(lambda: second.detail == "waiting for the running answer", timeout=10)
    assert second.status == "generating" and queued.state == "queued"
    send_from_frontend(second, {"type": "stop_running"})
    assert running.join(60) and running.stop_reason == "aborted"
    queued.wait(60)
    assert second.detail == "" and second.messages[-1]["role"] == "assistant"


def test_a_load_behind_a_running_answer_says_so(
    smollm2: LLMKernelService, tiny: Path, local_hub: LocalHub
) -> None:
    local_hub.add_file(REPO, FILE, tiny)
    card = ModelCard(REPO, FILE)
    card.start_download().wait(30)
    chat = Chat(smollm2)
    chat.max_tokens = 400
    chat.generation_params = {"grammar": NEVER_ENDS}  # it runs until Stop
    running = chat.send("Count from 1 to 500, one number per line.")
    wait_until(lambda: len(running.text) > 0, timeout=30)
    load = card.load_model()
    wait_until(lambda: card.load_detail == "waiting for the running answer", timeout=10)
    assert card.load_status == "loading"
    send_from_frontend(card, {"type": "stop_running"})
    load.wait(30)
    assert card.load_status == "loaded" and card.load_detail == ""


SAVED = [
    {"role": "user", "content": "What is 2 + 2?"},
    {"role": "assistant", "content": "It is **4**.\n\n```python\nprint(2 + 2)\n```"},
]


def test_a_chat_starts_from_a_saved_conversation(service: LLMKernelService) -> None:
    chat = Chat(service, messages=SAVED)
    assert chat.messages == SAVED and chat.messages is not SAVED
    sent = capture_messages(chat)
    send_from_frontend(chat, {"type": "sync"})
    assert sent[-1][1] == {"type": "transcript", "messages": SAVED, "partial": None}
    assert Chat(service, messages=[]).messages == []


def test_a_saved_system_message_becomes_the_system_prompt(service: LLMKernelService) -> None:
    chat = Chat(service, messages=[{"role": "system", "content": "Be terse."}, *SAVED])
    assert chat.system_prompt == "Be terse." and chat.messages == SAVED


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ("hello", "must be a non-empty list"),
        ([{"role": "robot", "content": "x"}], "must be system, user, assistant or tool"),
        ([{"role": "tool", "content": "x"}], "a tool message without a 'tool_call_id'"),
        ([{"role": "assistant", "content": None, "tool_calls": [{"id": "a"}]}], "each call is"),
        ([{"role": "user", "content": 3}], "['content'] must be a str"),
        ([{"role": "user"}], "['content'] must be a str"),
        (["hi"], "must be a dict"),
        ([*SAVED, {"role": "system", "content": "late"}], "only the first message"),
    ],
)
def test_a_bad_saved_conversation_is_refused_clearly(
    service: LLMKernelService, messages: Any, words: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        Chat(service, messages=messages)


def test_a_persisted_chat_saves_the_restored_conversation(service: LLMKernelService) -> None:
    # Chat(persist_transcript=True) used to fail: the trait's observer ran before the transcript
    chat = Chat(service, messages=SAVED, persist_transcript=True)
    assert chat.get_state()["transcript"] == SAVED
    assert Chat(service, persist_transcript=True).transcript == []


def test_to_markdown_gives_the_conversation(service: LLMKernelService) -> None:
    chat = Chat(service, messages=SAVED)
    assert chat.to_markdown() == (
        "**User:**\n\nWhat is 2 + 2?\n\n---\n\n**Assistant:**\n\n"
        "It is **4**.\n\n```python\nprint(2 + 2)\n```\n"
    )
    assert Chat(service).to_markdown() == ""


def test_regenerate_replaces_the_last_answer_and_reuses_the_cache(
    loaded: LLMKernelService,
) -> None:
    chat = Chat(loaded)
    chat.max_tokens, chat.temperature = 12, 1.5
    chat.send("Hello").wait(30)
    first = chat.messages
    sent = capture_messages(chat)
    job = chat.regenerate()
    answer = job.wait(30)
    assert chat.messages == [first[0], {"role": "assistant", "content": answer}]
    assert job.stats.cached_prompt_tokens > 0  # the prompt up to the question is reused
    loaded.events.flush()
    assert sent[0][1] == {"type": "transcript", "messages": [first[0]], "partial": ""}
    assert sent[-1][1]["type"] == "done"


def test_regenerate_answers_a_restored_question(loaded: LLMKernelService) -> None:
    chat = Chat(loaded, messages=[*SAVED, {"role": "user", "content": "And 3 + 3?"}])
    chat.max_tokens = 6
    answer = chat.regenerate().wait(30)
    assert chat.messages[2:] == [
        {"role": "user", "content": "And 3 + 3?"},
        {"role": "assistant", "content": answer},
    ]


def test_edit_last_replaces_the_question_and_its_answer(loaded: LLMKernelService) -> None:
    chat = Chat(loaded, messages=SAVED)
    chat.max_tokens = 6
    chat.send("first try").wait(30)
    sent = capture_messages(chat)
    send_from_frontend(chat, {"type": "edit_last", "text": "second try", "request_id": "r1"})
    answer = chat.job.wait(30)
    assert chat.job.stats.cached_prompt_tokens > 0  # the conversation before it is reused
    assert chat.messages == [*SAVED, {"role": "user", "content": "second try"}] + [
        {"role": "assistant", "content": answer}
    ]
    assert {"type": "ack", "request_id": "r1", "ok": True, "error": ""} in [m for _, m in sent]


def test_regenerate_and_edit_wait_for_the_running_answer_to_stop(
    smollm2: LLMKernelService,
) -> None:
    chat = Chat(smollm2)
    chat.max_tokens = 400
    chat.generation_params = {"grammar": NEVER_ENDS}  # each answer runs until Stop
    job = chat.send("Count from 1 to 500, one number per line.")
    wait_until(lambda: len(job.text) > 0, timeout=30)
    with pytest.raises(LLMWidgetsError, match="still answering"):
        chat.regenerate()
    send_from_frontend(chat, {"type": "edit_last", "text": "Say hi."})
    assert "still answering" in chat.error
    send_from_frontend(chat, {"type": "stop"})
    assert job.join(60) and job.stop_reason == "aborted"
    again = chat.regenerate()  # Stop works on a regenerated answer too
    wait_until(lambda: len(again.text) > 0, timeout=30)
    send_from_frontend(chat, {"type": "stop"})
    assert again.join(60) and again.stop_reason == "aborted"
    assert again.stats.cached_prompt_tokens > 0
    assert [m["role"] for m in chat.messages] == ["user", "assistant"]
    assert chat.messages[1]["content"] == again.text


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ({"type": "edit_last"}, "missing field 'text'"),
        ({"type": "edit_last", "text": "  "}, "must not be empty"),
        ({"type": "edit_last", "text": ["x"]}, "must be a string"),
        ({"type": "regenerate", "text": "x"}, "unexpected field(s) text"),
        ({"type": "regenerate"}, "no message to answer again"),
        ({"type": "edit_last", "text": "x"}, "no message to edit"),
    ],
)
def test_bad_regenerate_and_edit_messages_are_rejected(
    loaded: LLMKernelService, content: Any, words: str
) -> None:
    chat = Chat(loaded)
    send_from_frontend(chat, content)
    assert words in chat.error and chat.messages == [] and chat.status == "idle"
