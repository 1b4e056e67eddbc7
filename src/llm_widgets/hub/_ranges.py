"""Which bytes of a partial file are on disk, for downloads fetched as parallel ranges.

A parallel download writes its parts in place into the one partial file, so the file can have
holes. The finished ranges are kept beside it in `<partial>.ranges.json` (written atomically, and
only ever claiming bytes already written), so a resume asks only for what is missing. A partial
without that sidecar is what a single stream leaves: a contiguous prefix of its size.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

RANGES_SUFFIX = ".ranges.json"

Span = tuple[int, int]  # [start, end) in bytes


def ranges_path(partial: Path) -> Path:
    """Where the finished ranges of `partial` are recorded."""
    return partial.with_name(partial.name + RANGES_SUFFIX)


def merge(spans: list[Span]) -> list[Span]:
    """Sorted, non-overlapping, non-empty spans covering the same bytes."""
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def missing(spans: list[Span], size: int) -> list[Span]:
    """The spans of [0, size) not covered by the merged `spans`."""
    out, pos = [], 0
    for start, end in spans:
        if start > pos:
            out.append((pos, min(start, size)))
        pos = max(pos, end)
    if pos < size:
        out.append((pos, size))
    return [s for s in out if s[1] > s[0]]


def load_ranges(partial: Path, size: int) -> list[Span] | None:
    """The finished ranges recorded for `partial` (clipped to what the file holds), or None when
    there is no record (the file, if any, is then a contiguous prefix). An unreadable record
    trusts nothing."""
    record = ranges_path(partial)
    try:
        meta = json.loads(record.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return []
    try:
        on_disk = partial.stat().st_size
    except OSError:
        return []
    if not isinstance(meta, dict) or meta.get("size") != size:
        return []
    spans: list[Span] = []
    for item in meta.get("ranges", []):
        if isinstance(item, list) and len(item) == 2 and all(isinstance(v, int) for v in item):
            start, end = max(0, item[0]), min(item[1], on_disk, size)
            spans.append((start, end))
    return merge(spans)


def save_ranges(partial: Path, spans: list[Span], size: int) -> None:
    """Record the finished ranges of `partial`, atomically."""
    record = ranges_path(partial)
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps({"size": size, "ranges": [list(s) for s in spans]}))
    os.replace(tmp, record)


def remove_ranges(partial: Path) -> None:
    """Forget the record of `partial`'s ranges (and a half-written one)."""
    record = ranges_path(partial)
    record.unlink(missing_ok=True)
    record.with_name(record.name + ".tmp").unlink(missing_ok=True)


def bytes_on_disk(partial: Path) -> int:
    """How many bytes of a partial download are really there (its holes not counted)."""
    size = partial.stat().st_size
    try:
        meta = json.loads(ranges_path(partial).read_text())
        total = int(meta["size"])
    except (OSError, ValueError, KeyError, TypeError):
        return size
    spans = load_ranges(partial, total)
    return sum(e - s for s, e in spans or [])


class RangeSet:
    """The ranges of a file on disk while parts arrive: finished ones, and the one each part is
    writing. Thread-safe; `changed` is notified as bytes arrive."""

    def __init__(self, size: int, done: list[Span]) -> None:
        self.size = size
        self._done = merge(done)
        self.done_at_start = self._total_of(self._done)
        self._active: dict[int, Span] = {}
        self.changed = threading.Condition()

    def begin(self, part: int, start: int) -> None:
        """Part `part` starts writing at `start`."""
        with self.changed:
            self._active[part] = (start, start)

    def advance(self, part: int, n: int) -> int:
        """Part `part` wrote `n` more bytes; returns the bytes on disk in all."""
        with self.changed:
            start, end = self._active[part]
            self._active[part] = (start, end + n)
            self.changed.notify_all()
            return self._total()

    def position(self, part: int) -> int:
        """Where part `part` writes next."""
        with self.changed:
            return self._active[part][1]

    def end(self, part: int) -> None:
        """Part `part` stopped: what it wrote counts as finished."""
        with self.changed:
            span = self._active.pop(part, None)
            if span is not None:
                self._done = merge([*self._done, span])
            self.changed.notify_all()

    def spans(self) -> list[Span]:
        """Every range on disk, merged."""
        with self.changed:
            return merge([*self._done, *self._active.values()])

    def done(self) -> int:
        """Bytes on disk in all."""
        with self.changed:
            return self._total()

    def prefix(self) -> int:
        """How many bytes from the start are on disk without a hole."""
        spans = self.spans()
        return spans[0][1] if spans and spans[0][0] == 0 else 0

    def _total(self) -> int:
        return self._total_of([*self._done, *self._active.values()])

    @staticmethod
    def _total_of(spans: list[Span]) -> int:
        return sum(e - s for s, e in merge(spans))


class PrefixHasher:
    """Hashes a file on a helper thread as its contiguous prefix grows (reading back what the
    parts wrote), so that little is left to hash when the last part ends."""

    _BLOCK = 4 << 20

    def __init__(self, path: Path, hasher: hashlib._Hash, ranges: RangeSet) -> None:
        self._path, self._hasher, self._ranges = path, hasher, ranges
        self._hashed = 0
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="llm-widgets-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._path.open("rb", buffering=0) as f:  # no read-ahead into a hole
                while self._hashed < self._ranges.size:
                    with self._ranges.changed:
                        while not self._stop and self._ranges.prefix() <= self._hashed:
                            self._ranges.changed.wait(0.5)
                        if self._stop:
                            return
                    upto = self._ranges.prefix()
                    f.seek(self._hashed)
                    while self._hashed < upto and not self._stop:
                        block = f.read(min(self._BLOCK, upto - self._hashed))
                        if not block:
                            raise OSError(f"{self._path} is shorter than its recorded ranges")
                        self._hasher.update(block)
                        self._hashed += len(block)
        except BaseException as exc:
            self._error = exc

    def finish(self) -> hashlib._Hash:
        """Wait until the whole file is hashed (every part has ended) and return the hasher."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._hasher

    def close(self) -> None:
        """Stop hashing (the transfer stopped early)."""
        with self._ranges.changed:
            self._stop = True
            self._ranges.changed.notify_all()
        self._thread.join()
