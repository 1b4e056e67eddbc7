"""`%%llm` / `%llm` on a real IPython shell and the real SmolLM2 on each in-kernel engine: the
exact text the model is sent for `{name}` and `@name`, history, options; `@name` in the Chat."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from llm_widgets import Chat, LLMKernelService, LLMMagics, MCPServer
from llm_widgets.context import MAX_CHARS, MAX_ROWS, attach, find_mentions
from llm_widgets.request.messages import GENERATION_PARAMS
from llm_widgets.testing import capture_messages


@pytest.fixture
def shell(smollm2_service: LLMKernelService) -> Iterator[InteractiveShell]:
    """A real IPython shell with `%load_ext llm_widgets` done, on the loaded model (conftest's
    `smollm2_service`, one per module and engine)."""
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "llm_widgets")
    magics(ip).new_conversation()
    magics(ip).job = None
    yield ip
    for name in (
        "df",
        "city",
        "note",
        "answer",
        "label",
        "schema",
        "history",
        "local_time",
        "weather",
        "both",
    ):
        ip.user_ns.pop(name, None)


def magics(ip: InteractiveShell) -> LLMMagics:
    found = ip.magics_manager.registry["LLMMagics"]
    assert isinstance(found, LLMMagics)
    return found


def sent(ip: InteractiveShell) -> list[dict[str, str]]:
    """The messages the last answer's job gave the engine."""
    job = magics(ip).job
    assert job is not None
    return list(job.request)


CITIES = pd.DataFrame(
    {
        "city": ["Paris", "Lyon", "Nice"],
        "population": [2100000, 513000, 342000],
        "area_km2": [105.4, 47.9, 71.9],
    }
)


def test_name_in_braces_is_formatted_from_the_user_namespace(shell: InteractiveShell) -> None:
    shell.user_ns["city"] = "Lyon"
    shell.run_cell_magic("llm", "--max-tokens 4", "Tell me about {city}, in {{braces}}.")
    assert sent(shell)[-1] == {"role": "user", "content": "Tell me about Lyon, in {braces}."}


def test_an_unknown_name_is_a_clear_error_and_nothing_is_sent(
    shell: InteractiveShell, smollm2_service: LLMKernelService
) -> None:
    before = len(smollm2_service._jobs)
    with pytest.raises(UsageError, match=r"\{nowhere\} in the prompt is not a variable"):
        shell.run_cell_magic("llm", "--max-tokens 4", "Where is {nowhere}?")
    assert len(smollm2_service._jobs) == before and magics(shell).job is None
    with pytest.raises(UsageError, match="names no variable"):
        shell.run_line_magic("llm", "what is {}?")


def test_at_df_attaches_shape_dtypes_and_rows_as_a_markdown_table(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["df"] = CITIES
    shell.run_cell_magic("llm", "--max-tokens 4", "Which city in @df is the largest?")
    city_dtype = CITIES["city"].dtype
    assert sent(shell)[-1]["content"] == (
        "Which city in @df is the largest?\n\n"
        "Context from the notebook:\n\n"
        "@df (pandas DataFrame, 3 rows × 3 columns)\n\n"
        f"dtypes: city ({city_dtype}), population (int64), area_km2 (float64)\n\n"
        "|  | city | population | area_km2 |\n"
        "| --- | --- | --- | --- |\n"
        "| 0 | Paris | 2100000 | 105.4 |\n"
        "| 1 | Lyon | 513000 | 47.9 |\n"
        "| 2 | Nice | 342000 | 71.9 |"
    )
    shown = capsys.readouterr().out
    assert shown.startswith("Attached @df (pandas DataFrame, 3 rows × 3 columns, ≈")


def test_name_and_at_name_together_and_the_formatted_values_are_not_mentions(
    shell: InteractiveShell,
) -> None:
    shell.user_ns["df"] = CITIES
    shell.user_ns["note"] = "see @df"
    shell.run_line_magic("llm", "--max-tokens 4 {note}: sum the population")
    assert sent(shell)[-1]["content"] == "see @df: sum the population"


def test_a_big_frame_a_series_a_long_str_and_other_objects_are_bounded_and_say_so() -> None:
    big = pd.DataFrame({"n": range(500), "sq": [i * i for i in range(500)]})
    series = pd.Series([1.5, 2.5], name="price")
    namespace = {"big": big, "s": series, "note": "x" * (MAX_CHARS + 50), "obj": {"k": 1}}
    attached = attach("@big @s @note @obj", namespace)
    big_part, series_part, note_part, obj_part = (a.text for a in attached.attachments)
    assert big_part.endswith(f"(first {MAX_ROWS} of 500 rows shown)")
    assert big_part.count("\n| ") == MAX_ROWS + 2  # the header, the separator, the rows
    wide = pd.DataFrame({f"c{i}": ["w" * 200] * 10 for i in range(10)})
    wide_part = attach("@wide", {"wide": wide}).attachments[0].text
    shown = wide_part.count("\n| ") - 2
    assert 0 < shown < 10 and wide_part.endswith(f"(first {shown} of 10 rows shown)")
    assert len(wide_part) <= MAX_CHARS + 50  # the characters' bound, and every cell cut
    assert series_part == (
        "@s (pandas Series 'price', 2 values, dtype float64)\n\n"
        "|  | price |\n| --- | --- |\n| 0 | 1.5 |\n| 1 | 2.5 |"
    )
    assert note_part.endswith(f"(cut: the first {MAX_CHARS} of {MAX_CHARS + 50} characters)")
    assert obj_part == "@obj (dict, its repr):\n\n```\n{'k': 1}\n```"
    assert [a.cut for a in attached.attachments] == [True, False, True, False]
    assert "cut to fit" in attached.summary()


def test_unknown_names_emails_and_code_are_left_as_text() -> None:
    namespace = {"df": CITIES, "example": "a str"}
    text = "Mail bob@example.com about @nobody, `@df` and ```\n@df\n```"
    assert find_mentions(text, namespace) == []
    assert attach(text, namespace).text == text


def test_cells_are_one_conversation_until_new_and_history_is_a_chat_transcript(
    shell: InteractiveShell, smollm2_service: LLMKernelService
) -> None:
    shell.run_cell_magic("llm", "--max-tokens 4 --system 'Be brief.'", "First question")
    first = magics(shell).job
    assert first is not None
    shell.run_line_magic("llm", "--max-tokens 4 Second question")
    assert sent(shell) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "Second question"},
    ]
    history = shell.run_line_magic("llm", "--history")
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant"]
    assert "**User:**\n\nFirst question" in history._repr_markdown_()
    chat = Chat(smollm2_service, messages=history)
    assert chat.system_prompt == "Be brief." and len(chat.messages) == 4
    shell.run_line_magic("llm", "--new")
    assert list(shell.run_line_magic("llm", "--history")) == []
    shell.run_line_magic("llm", "--max-tokens 4 -- --new is text after --")
    assert sent(shell) == [{"role": "user", "content": "--new is text after --"}]


def test_o_stores_the_text_or_the_parsed_value(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell_magic("llm", "-o answer --max-tokens 6 --temperature 0", "Say hi")
    job = magics(shell).job
    assert job is not None and shell.user_ns["answer"] == job.text != ""
    assert capsys.readouterr().out.startswith(job.text)  # a terminal gets the text as it comes
    assert job.params == {"max_tokens": 6, "temperature": 0.0}
    shell.run_line_magic("llm", "-o label --choices yes,no --max-tokens 8 Is water wet?")
    assert shell.user_ns["label"] in ("yes", "no")
    shell.user_ns["schema"] = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
    }
    shell.run_line_magic("llm", "-o answer --json-schema schema --max-tokens 40 A number")
    assert isinstance(shell.user_ns["answer"], dict) and isinstance(
        shell.user_ns["answer"]["n"], int
    )


def test_bad_options_are_usage_errors_before_anything_is_sent(shell: InteractiveShell) -> None:
    for line, message in [
        ("--bogus hi", "unknown option '--bogus'"),
        ("--max-tokens many hi", "--max-tokens takes a number"),
        ("-o 'not a name' hi", "-o takes a variable name"),
        ("--json-schema missing hi", "--json-schema missing: no such variable"),
        ("--temperature 99 hi", "temperature must be between"),
        ("", "%llm needs a prompt"),
    ]:
        with pytest.raises(UsageError, match=message):
            shell.run_line_magic("llm", line)
    with pytest.raises(UsageError, match="the prompt is the cell"):
        shell.run_cell_magic("llm", "hello", "and a cell")
    assert magics(shell).job is None


def test_think_flags_pass_think_through_or_say_it_cannot_yet(shell: InteractiveShell) -> None:
    try:
        shell.run_line_magic("llm", "--no-think --max-tokens 4 hi")
    except UsageError as exc:  # the service does not take `think` (yet): said plainly
        assert "cannot pass `think` to the model yet" in str(exc)
        assert "think" not in GENERATION_PARAMS
    else:
        job = magics(shell).job
        assert job is not None and job.params["think"] is False
    shell.run_line_magic("llm", "--max-tokens 4 hi")
    job = magics(shell).job
    assert job is not None and "think" not in job.params  # passed only when asked


def test_chat_send_resolves_at_name_in_the_kernel_namespace(
    shell: InteractiveShell, smollm2_service: LLMKernelService
) -> None:
    shell.user_ns["df"] = CITIES
    chat = Chat(smollm2_service)
    posted = capture_messages(chat)
    chat.max_tokens = 4
    job = chat.send("Summarise @df for bob@example.com")
    job.wait(30)
    content = job.request[-1]["content"]
    assert content.startswith("Summarise @df for bob@example.com\n\nContext from the notebook:")
    assert "| 2 | Nice | 342000 | 71.9 |" in content
    notices = [m["text"] for _, m in posted if m.get("type") == "notice"]
    assert any(n.startswith("Attached @df (pandas DataFrame, 3 rows × 3 columns") for n in notices)
    assert chat.messages[0]["content"] == content  # the transcript keeps what the model saw
    plain = chat.send("Nothing to attach: @nobody")
    plain.wait(30)
    assert plain.request[-1]["content"] == "Nothing to attach: @nobody"


WEATHER_SERVER = """
from mcp.server.mcpserver import MCPServer

app = MCPServer("weather")


@app.tool()
def get_weather(city: str) -> str:
    \"\"\"The weather in a city.\"\"\"
    return f"Sunny, 21 C in {city}"


app.run()
"""


def local_time(city: str) -> str:
    """The local time in a city."""
    return "12:00"


def test_tools_from_kernel_variables_run_without_asking_and_are_printed(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "weather.py"
    script.write_text(WEATHER_SERVER)
    server = MCPServer([sys.executable, str(script)], name="weather")
    shell.user_ns.update(local_time=local_time, weather=server, both=[server, local_time])
    options = "--max-tokens 48 --temperature 0 --new"
    try:
        shell.run_cell_magic(
            "llm", f"--tools local_time --tool-choice local_time {options}", "Time in Paris?"
        )
        job = magics(shell).job
        assert job is not None and job.state == "done", job and job.error
        record = job.tool_calls[0]
        assert record.name == "local_time" and record.status == "done" and record.approved is None
        assert "(tool local_time → 12:00)" in capsys.readouterr().out.splitlines()
        shell.run_cell_magic(
            "llm", f"--tools both --tool-choice get_weather {options}", "Weather in Paris?"
        )
        job = magics(shell).job
        assert job is not None and job.state == "done", job and job.error
        record = job.tool_calls[0]
        assert record.name == "get_weather" and record.server == "weather"
        assert record.status == "done" and "Sunny" in record.result
        out = capsys.readouterr().out
        assert "(tool get_weather on weather → Sunny, 21 C in " in out
    finally:
        server.close()
    for line, message in [
        ("--tools nowhere hi", "--tools nowhere: no such variable"),
        ("--tools 'a b' hi", "--tools takes variable names"),
        ("--tool-choice required hi", "--tool-choice needs --tools"),
        ("--tools local_time --tool-choice nope hi", "tool_choice must be"),
    ]:
        with pytest.raises(UsageError, match=message):
            shell.run_line_magic("llm", line)
