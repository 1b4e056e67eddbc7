"""Runs over many prompts: a batch (`service.map`) and a comparison of models
(`service.compare`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .._types import ToolCallRecord
from ._base import Job


class BatchJob(Job):
    """A run of one generation per input (`service.map`): results in input order, a per-item
    error instead of a stopped run, resumable from its on-disk cache."""

    kind = "batch"

    def __init__(self, inputs: list[Any]) -> None:
        super().__init__()
        self.inputs = inputs
        self.results: list[Any] = [None] * len(inputs)  # None where not done (yet)
        self.texts: list[str | None] = [None] * len(inputs)  # the raw answers
        self.errors: dict[int, str] = {}  # input index -> what went wrong with it
        self.reused = 0  # results taken from an earlier run's cache
        self.completed = 0  # items with a result, reused ones included
        self.completion_tokens = 0
        self.tokens_per_second = 0.0
        self.items_per_second = 0.0
        self.eta: float | None = None  # seconds left, when known
        self.request: dict[str, Any] = {}  # map()'s arguments: map(**request) resumes
        self.recent: list[dict[str, Any]] = []  # the last few results, newest last
        self.tool_calls: dict[int, list[ToolCallRecord]] = {}  # input index -> its calls

    @property
    def total(self) -> int:
        """How many inputs."""
        return len(self.inputs)

    @property
    def progress(self) -> float:
        """Percent of the inputs finished (with a result or an error), 0 to 100."""
        if not self.inputs:
            return 100.0
        return 100.0 * (self.completed + len(self.errors)) / len(self.inputs)

    def _describe(self) -> list[str]:
        parts = [f"{self.completed}/{self.total} items", f"{int(self.progress)}%"]
        if self.errors:
            parts.append(f"{len(self.errors)} error{'s' * (len(self.errors) != 1)}")
        if self.reused:
            parts.append(f"{self.reused} reused")
        if self.items_per_second and self.state == "running":
            parts.append(f"{self.items_per_second:.2f} items/s")
        return parts

    def to_list(self) -> list[Any]:
        """The results, aligned with the inputs (None where not done)."""
        return list(self.results)

    def to_pandas(self) -> Any:
        """A pandas DataFrame: input, output, error (needs pandas)."""
        pandas = _pandas()
        return pandas.DataFrame(
            {
                "input": self.inputs,
                "output": self.results,
                "error": [self.errors.get(i) for i in range(len(self.inputs))],
                **(
                    {"tool_calls": [self.tool_calls.get(i, []) for i in range(len(self.inputs))]}
                    if self.tool_calls
                    else {}
                ),
            }
        )

    def wait(self, timeout: float | None = None) -> list[Any]:
        """Block until the run ends and return the results (also after a cancel: what is
        done); raise if the run itself failed."""
        if not self.join(timeout):
            raise TimeoutError(f"batch {self.id} still {self.state} after {timeout} s")
        if self.state == "cancelled":
            return self.to_list()
        super().wait(0)
        return self.to_list()


@dataclass
class CompareAnswer:
    """One model's answer to one prompt in a comparison."""

    state: Literal["pending", "running", "done", "failed"] = "pending"
    text: str = ""  # streamed so far while running
    thinking: str = ""  # the model's reasoning, when it thinks (`think=`)
    value: Any = None  # the parsed answer (response_format / choices), else the text
    error: str | None = None
    completion_tokens: int = 0
    prompt_tokens: int = 0
    ttft: float | None = None
    tokens_per_second: float | None = None
    reused: bool = False  # taken from an earlier run's cache
    stop_reason: str = ""  # why it ended: "stop", "length" (cut at max_tokens), ...


class CompareJob(Job):
    """The same prompts to several models (`service.compare`): an answer per prompt and model,
    a per-answer error instead of a stopped run, resumable from the batch cache."""

    kind = "compare"

    def __init__(self, models: list[str], prompts: list[Any], *, blind: bool = False) -> None:
        super().__init__()
        self.models = models  # a name per model, in the order given
        self.prompts = prompts
        self.answers = [[CompareAnswer() for _ in models] for _ in prompts]
        self.labels: list[Any] | None = None  # the expected answers (`label=`), if given
        self.choices: list[str] | None = None  # the labels answers are picked from, if given
        self.blind = blind
        self.votes: list[int | None] = [None] * len(prompts)  # model index picked per prompt
        self.request: dict[str, Any] = {}  # compare()'s arguments: compare(**request) resumes

    @property
    def results(self) -> list[list[Any]]:
        """Per prompt, the answers of every model (value, or text; None where none)."""
        return [[a.value if a.state == "done" else None for a in row] for row in self.answers]

    @property
    def errors(self) -> dict[tuple[int, int], str]:
        """(prompt index, model index) -> what went wrong with that answer."""
        return {
            (i, m): a.error
            for i, row in enumerate(self.answers)
            for m, a in enumerate(row)
            if a.state == "failed" and a.error is not None
        }

    @property
    def reused(self) -> int:
        """Answers taken from an earlier run's cache."""
        return sum(a.reused for row in self.answers for a in row)

    @property
    def total(self) -> int:
        """Answers in the comparison (prompts x models)."""
        return len(self.prompts) * len(self.models)

    @property
    def progress(self) -> float:
        """Percent of the answers finished (done or failed), 0 to 100."""
        ended = sum(a.state in ("done", "failed") for row in self.answers for a in row)
        return 100.0 * ended / self.total if self.total else 100.0

    def _describe(self) -> list[str]:
        ended = sum(a.state in ("done", "failed") for row in self.answers for a in row)
        failed = len(self.errors)
        parts = [
            f"{len(self.prompts)} prompts x {len(self.models)} models",
            f"{ended}/{self.total} answers",
            f"{int(self.progress)}%",
        ]
        return parts + ([f"{failed} error{'s' * (failed != 1)}"] if failed else [])

    def vote(self, prompt: int, model: int | None) -> None:
        """Record the answer picked for one prompt (a model index; None takes the pick back)."""
        if not 0 <= prompt < len(self.prompts):
            raise ValueError(f"no prompt {prompt}: there are {len(self.prompts)}")
        if model is not None and not 0 <= model < len(self.models):
            raise ValueError(f"no model {model}: there are {len(self.models)}")
        self.votes[prompt] = model

    def tally(self) -> dict[str, int]:
        """Picks per model name."""
        counts = dict.fromkeys(self.models, 0)
        for picked in self.votes:
            if picked is not None:
                counts[self.models[picked]] += 1
        return counts

    def summary(self) -> list[dict[str, Any]]:
        """Per model: answers done and failed, mean tokens/s and TTFT, and with `choices` the
        agreement (0-1) with `labels` when given, else with the other models' commonest answer."""
        rows = []
        for m, name in enumerate(self.models):
            column = [row[m] for row in self.answers]
            done = [a for a in column if a.state == "done"]
            rates = [a.tokens_per_second for a in done if a.tokens_per_second]
            ttfts = [a.ttft for a in done if a.ttft is not None]
            rows.append(
                {
                    "model": name,
                    "done": len(done),
                    "failed": sum(a.state == "failed" for a in column),
                    "tokens_per_second": sum(rates) / len(rates) if rates else None,
                    "ttft": sum(ttfts) / len(ttfts) if ttfts else None,
                    "agreement": self._agreement(m),
                }
            )
        return rows

    def _agreement(self, m: int) -> float | None:
        if self.choices is None:
            return None
        hits = counted = 0
        for i, row in enumerate(self.answers):
            if row[m].state != "done":
                continue
            if self.labels is not None:
                expected = str(self.labels[i])
            else:
                others = [str(a.value) for k, a in enumerate(row) if k != m and a.state == "done"]
                if not others:
                    continue
                expected = max(others, key=others.count)
            counted += 1
            hits += str(row[m].value) == expected
        return hits / counted if counted else None

    def to_pandas(self) -> Any:
        """One row per prompt and model: prompt, model, text, value, completion_tokens, ttft,
        tokens_per_second, error (and vote in blind mode) (needs pandas)."""
        pandas = _pandas()
        rows = []
        for i, row in enumerate(self.answers):
            for m, a in enumerate(row):
                done = a.state == "done"
                rows.append(
                    {
                        "prompt": self.prompts[i],
                        "model": self.models[m],
                        "text": a.text if a.state != "pending" else None,
                        "value": a.value if done else None,
                        "completion_tokens": a.completion_tokens if done else None,
                        "ttft": a.ttft if done else None,
                        "tokens_per_second": a.tokens_per_second if done else None,
                        "error": a.error,
                    }
                )
                if self.blind:
                    picked = self.votes[i]
                    rows[-1]["vote"] = None if picked is None else picked == m
        return pandas.DataFrame(rows)

    def wait(self, timeout: float | None = None) -> list[list[Any]]:
        """Block until the run ends and return `results` (also after a cancel: what is done);
        raise if the run itself failed."""
        if not self.join(timeout):
            raise TimeoutError(f"comparison {self.id} still {self.state} after {timeout} s")
        if self.state != "cancelled":
            super().wait(0)
        return self.results


def _pandas() -> Any:
    """The pandas module, or an ImportError that says how to get it."""
    try:
        import pandas
    except ImportError:
        raise ImportError('to_pandas() needs pandas: pip install "llm-widgets[pandas]"') from None
    return pandas
