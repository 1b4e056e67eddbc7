"""What parsing thinking costs per streamed token: the DeltaReader with its `<think>` / harmony
splitter against reading the same chunks' text as it is, in the same run. Prints the ratio and
the microseconds per token (a model streams at most a few hundred tokens a second)."""

from __future__ import annotations

import time

from llm_widgets.engines._chunks import DeltaReader

TOKENS = 200_000
WORDS = ["Three", " plus", " three", " is", " six", ".", " <", "b", ">", " and", "\n\n"]


def chunks() -> list[dict[str, object]]:
    text = ["<", "think", ">"] + [WORDS[i % len(WORDS)] for i in range(TOKENS // 2)]
    text += ["</", "think", ">"] + [WORDS[i % len(WORDS)] for i in range(TOKENS // 2)]
    return [{"delta": {"content": t}, "finish_reason": None} for t in text]


def plain(stream: list[dict[str, object]]) -> float:
    started = time.perf_counter()
    out = []
    for choice in stream:
        delta = choice["delta"]
        assert isinstance(delta, dict)
        out.append(delta.get("content"))
    return time.perf_counter() - started


def parsed(stream: list[dict[str, object]]) -> float:
    started = time.perf_counter()
    reader = DeltaReader(chat=True)
    out = []
    for choice in stream:
        out += reader.feed(choice)
    out += reader.finish()
    return time.perf_counter() - started


def main() -> None:
    stream = chunks()
    base = min(plain(stream) for _ in range(3))
    split = min(parsed(stream) for _ in range(3))
    per_token = split / len(stream) * 1e6
    print(f"tokens: {len(stream)}")
    print(f"plain read: {base:.3f} s; with the thinking split: {split:.3f} s")
    print(f"ratio: {split / base:.1f}x; cost per token: {per_token:.2f} µs")


if __name__ == "__main__":
    main()
