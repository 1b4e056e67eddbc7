"""Jobs: every long-running piece of work, with one state machine
(queued -> running -> done / cancelled / failed).

A user holds a job to `cancel()`, `wait()`, `join()`, `await` or (generations) iterate it. The
worker that runs a job uses the few methods under "for the worker": `mark_running`,
`report_progress`, `finish`, and `cancellation`. A job announces itself on the service's event
bus: "progress" as it moves, then at its end "progress", the events of its kind
("download_done", "model_loaded", "completion_done", "error") and "job_end", all once, on the
bus's one thread, in that order. Only after every listener has had them do `wait()`, `join()`,
`await` and done-callbacks return, so widget state is final by then.
"""

from ._base import FINAL_STATES, Cancellation, Job, JobState
from .batch import BatchJob, CompareAnswer, CompareJob
from .download import DownloadJob, download_key
from .model import GenerationJob, LoadJob

__all__ = [
    "BatchJob",
    "Cancellation",
    "CompareAnswer",
    "CompareJob",
    "DownloadJob",
    "FINAL_STATES",
    "GenerationJob",
    "Job",
    "JobState",
    "LoadJob",
    "download_key",
]
