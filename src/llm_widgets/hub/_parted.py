"""Parts: one file's missing ranges fetched with several requests at once, written in place into
its partial file, the finished ranges recorded beside it for a resume."""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from typing import Any

from .._http import httpx
from ..errors import DownloadError, JobCancelledError, _RangeIgnored
from ..jobs import Cancellation
from ._fetch import Backoff, Transfer, min_part, new_hasher, starts_at
from ._ranges import PrefixHasher, RangeSet, Span, missing, save_ranges

PARALLEL_GAIN = 1.5  # the parts stay if together they are this much faster than one alone
STEAL_MIN = 1 << 20  # a part idle at the end takes over half of another's rest if >= 2 of these
SAVE_INTERVAL = 0.25  # seconds between two records of a parallel download's finished ranges


class PartedTransfer(Transfer):
    """Moves one file's missing ranges into its partial file with up to `parts` requests at once.

    One connection starts alone; after `options.probe` seconds the other parts join, and stay
    only if they raise the speed by PARALLEL_GAIN (they do under a per-connection cap; on a fast
    local link they only cost CPU). Ranges are handed out in order, so the part of the file
    without holes grows steadily and is hashed as it grows; a part idle at the end takes over
    half of the largest range still in flight. Each part retries alone; one that fails for good,
    or a cancel, stops them all within the socket-close latency. The finished ranges are
    recorded beside the file (never more than what is written) for a resume.
    """

    def __init__(self, *args: Any, parts: int) -> None:
        super().__init__(*args)
        self.parts = parts
        self.stop = Cancellation()  # a cancel, or a part that failed for good
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()  # the hand-out below, the errors, and `progress.done`
        self._save_lock = threading.Lock()  # one record of the ranges written at a time
        self._saved_at = 0.0
        self._chunks: list[Span] = []  # ranges nobody fetches yet, the lowest last
        self._ends: dict[int, int] = {}  # where each running part stops
        self._target = 1  # how many parts may take work now
        self._whole = False  # the server sent the whole file for a range: no parts join
        self._waiting: dict[int, str] = {}  # why each part waiting to retry waits
        self._step = 1
        self.ranges = RangeSet(self.remote.size, [])

    def run_parts(self, spans: list[Span]) -> hashlib._Hash:
        """Fetch what `spans` leave missing; returns the hasher over the whole file."""
        size = self.remote.size
        self.ranges = RangeSet(size, spans)
        holes = missing(self.ranges.spans(), size)
        left = sum(e - s for s, e in holes)
        cap = max(1, self.options.part_size)
        self._step = min(cap, max(min_part(self.options), -(-left // (2 * self.parts))))
        self._chunks = [
            (pos, min(pos + self._step, end)) for start, end in holes
            for pos in range(start, end, self._step)
        ]  # fmt: skip
        self._chunks.reverse()  # pop() hands out the lowest first
        self._target = self.parts if self.options.probe <= 0 else 1
        self.partial.touch()
        self._save(force=True)
        hasher = PrefixHasher(self.partial, new_hasher(self.remote), self.ranges)
        unhook = self.cancel.add_hook(self.stop.set)
        threads: list[threading.Thread] = []
        try:
            for part in range(self._target):
                threads.append(self._start(part))
            if self._target < self.parts:
                self._probe(threads)
            for thread in threads:
                thread.join()
        finally:
            self.stop.set()  # (a no-op when every part is done)
            for thread in threads:
                thread.join()
            unhook()
            self._save(force=True)
        if self.cancel.is_set() or self.errors or self.ranges.prefix() < size:
            hasher.close()
            self.cancel.raise_if_set()
            if self.errors:
                raise self.errors[0]
            raise DownloadError("unexpected", "A parallel download ended with ranges missing.")
        return hasher.finish()

    def _start(self, part: int) -> threading.Thread:
        thread = threading.Thread(
            target=self._work, args=(part,), name=f"llm-widgets-part-{part}", daemon=True
        )
        thread.start()
        return thread

    def _probe(self, threads: list[threading.Thread]) -> None:
        """Measure one connection, then all parts; keep the parts only if they help."""
        while self.ranges.done() == self.ranges.done_at_start and threads[0].is_alive():
            if self.stop.wait(0.005):
                return
        alone = self._rate(threads)
        if alone is None or self._whole:
            return
        with self._lock:
            self._target = self.parts
            self._cut_lone_range()
        threads.extend(self._start(part) for part in range(1, self.parts))
        together = self._rate(threads)
        if together is not None and together < PARALLEL_GAIN * alone:
            with self._lock:
                self._target = 1  # the others end with the range they are on

    def _rate(self, threads: list[threading.Thread]) -> float | None:
        """Bytes a second over the next `options.probe` seconds; None if the transfer ended."""
        before, start = self.ranges.done(), time.monotonic()
        while (elapsed := time.monotonic() - start) < self.options.probe:
            if self.stop.wait(0.005) or not any(t.is_alive() for t in threads):
                return None
        return (self.ranges.done() - before) / elapsed

    def _cut_lone_range(self) -> None:
        """Hand the rest of what part 0 fetches alone back out in ranges (lock held)."""
        end = self._ends.get(0)
        if end is None:
            return
        cut = self.ranges.position(0) + self._step
        if end - cut <= 0:
            return
        self._ends[0] = cut
        rest = [(pos, min(pos + self._step, end)) for pos in range(cut, end, self._step)]
        self._chunks.extend(reversed(rest))

    def _next_chunk(self, part: int) -> int | None:
        """Start `part` on the lowest range nobody fetches yet (with the ones after it, while it
        is alone), or on the far half of the largest one still in flight once none is left;
        returns where it starts, or None when it should stop."""
        with self._lock:
            if self.stop.is_set() or part >= self._target:
                return None
            if self._chunks:
                start, end = self._chunks.pop()
                while self._target == 1 and self._chunks and self._chunks[-1][0] == end:
                    end = self._chunks.pop()[1]
            else:
                left = {p: e - self.ranges.position(p) for p, e in self._ends.items()}
                victim = max(left, key=left.__getitem__, default=None)
                if victim is None or left[victim] < 2 * STEAL_MIN:
                    return None
                end = self._ends[victim]
                start = self._ends[victim] = end - left[victim] // 2
            self.ranges.begin(part, start)
            self._ends[part] = end
            self._show_waiting()
            return start

    def _say_waiting(self, part: int, reason: str) -> None:
        """What `part` waits for; the transfer says it only while every running part waits."""
        with self._lock:
            if reason:
                self._waiting[part] = reason
            else:
                self._waiting.pop(part, None)
            self._show_waiting()

    def _show_waiting(self) -> None:
        """Say why the parts wait if every running one does (lock held)."""
        every = bool(self._waiting) and self._waiting.keys() >= self._ends.keys()
        self.progress.waiting = next(iter(self._waiting.values())) if every else ""

    def _end(self, part: int) -> int:
        """Where `part` stops (moved earlier when another part takes over its far half)."""
        with self._lock:
            return self._ends[part]

    def _save(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._saved_at < SAVE_INTERVAL:
            return
        if not self._save_lock.acquire(blocking=force):
            return
        try:
            self._saved_at = now
            save_ranges(self.partial, self.ranges.spans(), self.remote.size)
        finally:
            self._save_lock.release()

    def _work(self, part: int) -> None:
        """One part's worker: take the next missing range until none is left."""
        try:
            with self.partial.open("r+b", buffering=0) as out:
                while self._next_chunk(part) is not None:
                    try:
                        self._fetch(out, part)
                    finally:
                        with self._lock:
                            del self._ends[part]
                            self._show_waiting()
                        self.ranges.end(part)
                    self._save()
        except JobCancelledError:
            pass  # a cancel, or another part's failure: run_parts says which
        except BaseException as exc:
            with self._lock:
                self.errors.append(exc)
            self.stop.set()

    def _fetch(self, out: Any, part: int) -> None:
        """Fetch this part's range, retrying from where a failure left it."""
        say = functools.partial(self._say_waiting, part)
        backoff = Backoff(self.options, self.stop, self.progress, say)
        refreshed = False
        while (pos := self.ranges.position(part)) < self._end(part):
            self.stop.raise_if_set()
            try:
                self._request_range(out, part, pos, self._end(part))
                if self.ranges.position(part) < self._end(part):
                    raise httpx.RemoteProtocolError("connection closed before the end of the part")
            except (JobCancelledError, DownloadError, _RangeIgnored):
                raise
            except Exception as exc:
                self.stop.raise_if_set()
                if self.ranges.position(part) > pos:
                    backoff.failures = 0  # it moved: a fresh budget for the next failure
                if self._after_failure(exc, backoff, refreshed):
                    refreshed = True  # an expired signed URL, refreshed: again at once

    def _request_range(self, out: Any, part: int, pos: int, end: int) -> None:
        """One GET of bytes [pos, end), written in place as they arrive (up to where the part
        stops, if another part took over the rest meanwhile)."""
        headers = self._headers(0)
        headers["Range"] = f"bytes={pos}-{end - 1}"
        with self._get(headers, self.stop) as response:
            whole = pos == 0 and end == self.remote.size and response.status_code == 200
            if whole:  # the whole file, as asked for, from a server without ranges
                self._whole = True
            elif not starts_at(response, pos):
                raise _RangeIgnored(f"asked for bytes {pos}-, got {response.status_code}")
            out.seek(pos)
            for piece in response.iter_raw():
                self.stop.raise_if_set()
                if pos + len(piece) > end:
                    raise DownloadError(
                        "server",
                        f"The server sent more than the asked range of "
                        f"{self.remote.repo_id}/{self.remote.filename}.",
                    )
                n = max(0, min(len(piece), self._end(part) - pos))
                view = memoryview(piece)[:n]
                while view:
                    view = view[out.write(view) :]
                pos += n
                with self._lock:  # one figure at a time, so that the one shown never goes back
                    self.progress.done = self.ranges.advance(part, n)
                    stops_at = self._ends[part]
                self._save()
                if pos >= stops_at:
                    break
