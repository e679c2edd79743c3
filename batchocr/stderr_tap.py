"""A worker's stderr, read by the supervisor: kept short, passed on sparingly.

Supervisor side.  Native engines can write without end (one 9000x9000 page
under memory pressure wrote 435 MB of the same warning), and a cron log or a
terminal must not drown in it.  Each worker's output is read as it comes
(so the worker never blocks on a full pipe), its last lines are kept for the
worker's ``exit`` event and a crashed page's error, and only a few lines a
minute reach the supervisor's own stderr.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import TextIO

from tqdm import tqdm

TAIL_LINES = 10  # kept per worker, for its exit event
LINE_CHARS = 300  # longer lines are cut
FORWARD_PER_MINUTE = 10  # lines passed on per worker per minute
FORWARD_PER_RUN = 200  # lines passed on per worker in the whole run


class StderrTap:
    def __init__(self, worker_id: int, out: TextIO | None = None) -> None:
        self.worker_id = worker_id
        self._out = out
        self._partial = b""
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._window_start = time.monotonic()
        self._in_window = 0
        self._forwarded = 0
        self.dropped = 0  # lines not passed on

    def feed(self, data: bytes) -> None:
        """Bytes read from the worker's stderr (any split)."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()[-LINE_CHARS * 4 :]  # an endless line must not grow without bound
        for raw in lines:
            self._line(raw)

    def close(self) -> None:
        """The pipe ended: keep a last unterminated line."""
        if self._partial:
            self._line(self._partial)
            self._partial = b""

    def tail(self) -> list[str]:
        return list(self._tail)

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip()[:LINE_CHARS]
        if not line:
            return
        self._tail.append(line)
        if self._may_forward():
            self._say(line)
        else:
            if not self.dropped:
                self._say("more stderr output held back (its last lines go into its exit event)")
            self.dropped += 1

    def _say(self, line: str) -> None:
        # above the progress bar, not through it
        tqdm.write(f"batchocr: worker {self.worker_id}: {line}", file=self._out or sys.stderr)

    def _may_forward(self) -> bool:
        now = time.monotonic()
        if now - self._window_start >= 60:
            self._window_start, self._in_window = now, 0
        if self._in_window >= FORWARD_PER_MINUTE or self._forwarded >= FORWARD_PER_RUN:
            return False
        self._in_window += 1
        self._forwarded += 1
        return True
