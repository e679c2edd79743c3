"""Ctrl-C and SIGTERM, for the whole command.  Supervisor side.

Installed before anything else runs, so every moment of a command has a
defined answer:

- while pages are being processed (an executor is attached), the first
  signal stops handing out pages and gives the pages in progress the grace
  period; a second one stops at once.  Outputs are flushed either way and
  the run exits 130 (SIGINT) or 143 (SIGTERM);
- at any other moment (engine preflight, model check, discovery, resume
  planning) the signal raises ``Interrupted``, which unwinds to ``cli.main``
  and the same exit codes, with one line saying what was done.

Workers ignore both signals (a terminal, systemd and ``timeout(1)`` signal
the whole process group): the supervisor alone decides what stops when.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import Protocol

from tqdm import tqdm

from batchocr.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stoppable(Protocol):
    def stop(self, grace_seconds: float) -> None: ...


class Interrupts:
    def __init__(self) -> None:
        self.signum: int | None = None  # the first signal received
        self._target: Stoppable | None = None
        self._grace = 0.0

    @property
    def signal_name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum else None

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupts]:
        previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextlib.contextmanager
    def stopping(self, target: Stoppable, grace_seconds: float) -> Iterator[None]:
        """While inside, a signal stops ``target`` (with the grace period) instead of raising."""
        self._target, self._grace = target, grace_seconds
        if self.signum is not None:  # it came while we were getting here
            target.stop(0.0)
        try:
            yield
        finally:
            self._target = None

    def _handle(self, signum: int, frame: object) -> None:
        first = self.signum is None
        self.signum = self.signum or signum
        if self._target is None:
            raise Interrupted(self.signum)
        self._target.stop(self._grace if first else 0.0)
        if first:  # above the progress bar, which stays the one bar on screen
            tqdm.write(
                f"batchocr: {signal.Signals(signum).name}: finishing pages in progress "
                f"(up to {self._grace:g} s); again to stop now",
                file=sys.stderr,
            )


# The one instance: cli.main installs it, the runner attaches the executor.
INTERRUPTS = Interrupts()
