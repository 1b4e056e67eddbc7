"""A soak run: many downloads through ModelCards against a LocalHub whose faults change at random,
with random Download / Cancel clicks, then every invariant checked. `benchmarks/soak.py` runs a
long one and prints the figures; the test suite runs a short one."""

from __future__ import annotations

import gc
import hashlib
import random
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field, fields
from pathlib import Path

import psutil

from llm_widgets.hub import TransferOptions
from llm_widgets.service import LLMKernelService
from llm_widgets.testing.local_hub import Faults, LocalHub
from llm_widgets.testing.widgets import send_from_frontend, wait_until
from llm_widgets.widgets.model_card import ModelCard

FAULTS = ("throttle", "drop", "stall", "server busy", "corrupt", "clear")


@dataclass
class SoakReport:
    """What a soak run did and what it found."""

    rounds: int = 0
    cards: int = 0
    clicks: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    jobs: int = 0
    files_checked: int = 0
    bad_files: list[str] = field(default_factory=list)  # complete in the cache, wrong bytes
    not_done: list[str] = field(default_factory=list)  # cards not "done" after settling
    jobs_left_running: list[str] = field(default_factory=list)
    threads_left: list[str] = field(default_factory=list)
    widgets_alive: int = 0
    rss_start: int = 0
    rss_end: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every invariant held."""
        return not (
            self.bad_files
            or self.not_done
            or self.jobs_left_running
            or self.threads_left
            or self.widgets_alive
        )

    def summary(self) -> str:
        """The figures, one per line."""
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        return "\n".join(
            [
                f"rounds {self.rounds}, cards {self.cards}, clicks {self.clicks}, "
                f"download jobs {self.jobs}, {self.seconds:.1f} s",
                f"faults toggled: {faults}",
                f"files checked (sha256) {self.files_checked}, wrong {len(self.bad_files)}, "
                f"cards not done {len(self.not_done)}",
                f"jobs left running {len(self.jobs_left_running)}, worker threads left "
                f"{len(self.threads_left)}, closed widgets alive {self.widgets_alive}",
                f"RSS {self.rss_start / 1e6:.1f} MB -> {self.rss_end / 1e6:.1f} MB "
                f"({(self.rss_end - self.rss_start) / 1e6:+.1f} MB)",
                "OK" if self.ok else "FAILED",
            ]
        )


def run_soak(
    *,
    rounds: int = 3,
    cards: int = 6,
    round_seconds: float = 4.0,
    sizes: tuple[int, int] = (500_000, 3_000_000),
    seed: int = 0,
) -> SoakReport:
    """Soak the download path with random faults and clicks; return what was found."""
    rng = random.Random(seed)
    report = SoakReport(rounds=rounds, cards=cards, faults=dict.fromkeys(FAULTS, 0))
    process = psutil.Process()
    gc.collect()
    report.rss_start = process.memory_info().rss
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="llmw-soak-") as tmp,
        LocalHub(Path(tmp) / "hub") as hub,
    ):
        files = [(f"soak/model-{i}-GGUF", f"model-{i}.Q4_K_M.gguf") for i in range(cards)]
        for repo, name in files:
            hub.add_file(repo, name, rng.randbytes(rng.randint(*sizes)))
        service = LLMKernelService(
            endpoint=hub.url,
            cache_dir=Path(tmp) / "cache",
            max_concurrent_downloads=3,
            transfer_options=TransferOptions(stall_timeout=1.0, max_retries=3, retry_backoff=0.05),
        )
        widgets = [ModelCard(repo, name, service=service) for repo, name in files]
        try:
            for _ in range(rounds):
                _round(hub, widgets, files, rng, round_seconds, report)
            hub.faults = Faults()
            _settle(widgets, service)
            report.not_done = [f"{c.repo_id}/{c.filename}" for c in widgets if c.status != "done"]
            report.jobs = len(service.downloads)
            report.jobs_left_running = [j.id for j in service.downloads if not j.finished]
            report.files_checked, report.bad_files = _check_cache(hub, service, files)
        finally:
            report.widgets_alive = _close_and_count(widgets)
            del widgets
            service.shutdown()
            report.threads_left = _worker_threads_left()
    gc.collect()
    report.rss_end = process.memory_info().rss
    report.seconds = time.monotonic() - began
    return report


def _round(
    hub: LocalHub,
    widgets: list[ModelCard],
    files: list[tuple[str, str]],
    rng: random.Random,
    seconds: float,
    report: SoakReport,
) -> None:
    """Click Download / Cancel at random while the Hub's faults change."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if rng.random() < 0.3:
            report.faults[_toggle_fault(hub.faults, rng, files)] += 1
        card = rng.choice(widgets)
        send_from_frontend(card, {"type": rng.choice(["download", "cancel"])})
        report.clicks += 1
        time.sleep(rng.uniform(0.02, 0.15))


def _toggle_fault(faults: Faults, rng: random.Random, files: list[tuple[str, str]]) -> str:
    kind = rng.choice(FAULTS)
    if kind == "throttle":
        faults.throttle_bps = rng.choice([None, 1_000_000, 4_000_000])
    elif kind == "drop":
        faults.drop_after_bytes, faults.drop_times = rng.randint(50_000, 1_000_000), 2
    elif kind == "stall":
        faults.stall_after_bytes, faults.stall_times = rng.randint(50_000, 1_000_000), 1
        faults.stall_seconds = rng.uniform(0.5, 2.0)
    elif kind == "server busy":
        faults.status_for = {rng.choice(files)[0]: 503} if not faults.status_for else {}
    elif kind == "corrupt":
        faults.corrupt = not faults.corrupt
    else:
        fresh = Faults()
        for f in fields(Faults):
            setattr(faults, f.name, getattr(fresh, f.name))
    return kind


def _settle(widgets: list[ModelCard], service: LLMKernelService) -> None:
    """Without faults, every card downloads to the end (a card may need a second click when its
    first job was cancelled by a late click)."""
    for _ in range(3):
        for card in widgets:
            if card.status != "done":
                send_from_frontend(card, {"type": "download"})
        jobs = list(service.downloads)
        for job in jobs:
            job.join(120)
        service.events.flush()
        if all(card.status == "done" for card in widgets):
            return


def _check_cache(
    hub: LocalHub, service: LLMKernelService, files: list[tuple[str, str]]
) -> tuple[int, list[str]]:
    """Every file the cache calls complete has the Hub's sha256, and no blob holds other bytes
    than its name says."""
    bad, checked = [], 0
    for repo, name in files:
        path = service.cached_path(repo, name)
        if path is None:
            continue
        checked += 1
        if _sha256(Path(path)) != hub.file_sha256(repo, name):
            bad.append(f"{repo}/{name}")
    for blob in service.cache_dir.glob("models--*/blobs/*"):
        if not blob.name.endswith((".incomplete", ".json")) and _sha256(blob) != blob.name:
            bad.append(str(blob))
    return checked, bad


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _close_and_count(widgets: list[ModelCard]) -> int:
    refs = [weakref.ref(w) for w in widgets]
    while widgets:
        widgets.pop().close()
    gc.collect()
    return sum(1 for r in refs if r() is not None)


def _worker_threads_left() -> list[str]:
    def workers() -> list[str]:
        prefixes = ("llm-widgets-download", "llm-widgets-progress", "llm-widgets-hash")
        return [t.name for t in threading.enumerate() if t.name.startswith(prefixes)]

    try:
        wait_until(lambda: not workers(), timeout=5)
    except AssertionError:
        pass
    return workers()
