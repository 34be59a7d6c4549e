"""The progress line of a long lint run: `143/1000 directories` on a terminal's stderr.

One line, rewritten in place with a carriage return and erased when the run ends, so that
nothing of it stays in the terminal or mixes with the findings (they go to stdout, after it is
gone). It appears only once a run has taken longer than `PROGRESS_AFTER_SECONDS` (a quick run
never flickers) and is redrawn at most every `REDRAW_SECONDS`. The CLI makes one only when
stderr is a terminal and `--quiet` is not given (cli._progress_line).

`PFCHECK_PROGRESS_AFTER` (seconds, e.g. `0`) overrides the delay: the tests use it to see the
line on a short run.
"""
from __future__ import annotations

import os
import time
from typing import Callable, TextIO

PROGRESS_AFTER_SECONDS = 1.0
REDRAW_SECONDS = 0.1
#: Carriage return, then ANSI "erase to end of line": the line is gone, the cursor at column 1.
_ERASE = "\r\x1b[K"


def _delay_from_environment() -> float:
    text = os.environ.get("PFCHECK_PROGRESS_AFTER", "")
    try:
        return max(0.0, float(text)) if text else PROGRESS_AFTER_SECONDS
    except ValueError:
        return PROGRESS_AFTER_SECONDS


class ProgressLine:
    """Call it with (done, total) after each directory; close() erases the line."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._start = clock()
        self._delay = _delay_from_environment()
        self._drawn_at: float = -1.0
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if now - self._start < self._delay:
            return
        if self._shown and now - self._drawn_at < REDRAW_SECONDS and done < total:
            return
        self._stream.write(f"{_ERASE}{done}/{total} directories")
        self._stream.flush()
        self._drawn_at = now
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write(_ERASE)
            self._stream.flush()
            self._shown = False
