"""llama.cpp's own log (the `common_log` of its server code, as xllamacpp embeds it) into Python
`logging`, never onto the notebook.

That log has no callback: its worker thread writes to the process's stderr. So while a model
loads (when llama.cpp says what it found and did) file descriptor 2 is a pipe whose lines go to
the `llm_widgets.llama_cpp` logger at their own level; afterwards the log's threshold is set to
errors only, so answering writes nothing. Python's own `sys.stderr` in a kernel is not file
descriptor 2, so the notebook loses nothing while the pipe is in place.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import threading
from collections.abc import Iterator
from typing import Any

LOGGER = logging.getLogger("llm_widgets.llama_cpp")

# common_log's verbosity threshold: 1 errors, 2 warnings, 3 info, 4 debug
_ERRORS_ONLY = 1
_THRESHOLDS = ((logging.DEBUG, 4), (logging.INFO, 3), (logging.WARNING, 2))
_LEVELS = {"D": logging.DEBUG, "I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR}
# "0.00.009.151 I srv  init: ..." (timestamp, level letter, text); continuation lines have none
_LINE = re.compile(r"^(?:\d+\.\d+\.\d+\.\d+ )?([DIWE]) (.*)$")


def verbosity_for(logger: logging.Logger = LOGGER) -> int:
    """The threshold that lets through what `logger` would record (at least errors)."""
    for level, threshold in _THRESHOLDS:
        if logger.isEnabledFor(level):
            return threshold
    return _ERRORS_ONLY


class NativeLog:
    """The exported `common_log` functions of one loaded llama.cpp library (none: a no-op)."""

    def __init__(self, library_path: str | None) -> None:
        self._lib: Any = None
        if library_path:
            try:
                self._lib = ctypes.CDLL(library_path)
                self._lib._Z15common_log_mainv.restype = ctypes.c_void_p
            except (OSError, AttributeError):
                self._lib = None

    def flush(self) -> None:
        """Wait until the log's worker thread has written what it holds."""
        if self._lib is not None:
            with contextlib.suppress(AttributeError):
                main = self._lib._Z15common_log_mainv()
                self._lib._Z16common_log_flushP10common_log(ctypes.c_void_p(main))

    def errors_only(self) -> None:
        """From now on the log writes errors only."""
        if self._lib is not None:
            with contextlib.suppress(AttributeError):
                self._lib._Z30common_log_set_verbosity_tholdi(ctypes.c_int(_ERRORS_ONLY))


@contextlib.contextmanager
def stderr_to_logging(native: NativeLog, lines: list[str]) -> Iterator[None]:
    """While the block runs, what native code writes to stderr goes to the logger, one record
    per line at its level; the lines are also appended to `lines` (to explain a failure)."""
    read_fd, write_fd = os.pipe()
    saved = os.dup(2)
    reader = threading.Thread(
        target=_forward, args=(read_fd, lines), name="llm-widgets-native-log", daemon=True
    )
    reader.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        native.flush()
        os.dup2(saved, 2)  # the pipe's last writer is gone: the reader sees its end
        os.close(saved)
        reader.join(5)


def _forward(read_fd: int, lines: list[str]) -> None:
    level = logging.INFO
    with os.fdopen(read_fd, "rb") as pipe:
        for raw in pipe:
            text = raw.decode("utf-8", "replace").rstrip()
            if not text:
                continue
            match = _LINE.match(text)
            if match:
                level, text = _LEVELS[match.group(1)], match.group(2)
            lines.append(text)
            LOGGER.log(level, "%s", text)
