"""The public API: `LLMKernelService` validates a call, creates a job and hands it to a runner."""

from ._service import DownloadJob, LLMKernelService, download_key

__all__ = ["DownloadJob", "LLMKernelService", "download_key"]
