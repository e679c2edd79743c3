"""The executor seam: where workers run.  Supervisor side.

An executor starts workers (``PageWorker`` in a process or a Ray actor),
feeds them pages from the ``Scheduler`` one at a time, and hands what comes
back to the ``RunSink``.  Two exist: ``pool.LocalPool`` (processes on this
machine) and ``ray_executor.RayExecutor`` (actors on a Ray cluster).
"""

from __future__ import annotations

from typing import Any, Protocol

from batchocr.config import Settings
from batchocr.scheduling import Scheduler

# The supervisor wakes at least this often to check timeouts and interrupts.
TICK_SECONDS = 0.5
# Workers that die before they are ready this many times in a row abort the run.
MAX_START_FAILURES = 3


class RunSink(Protocol):
    """Where executors send what workers produce (supervisor side)."""

    def page_done(self, record: dict[str, Any]) -> None: ...

    def memory(self, event: dict[str, Any]) -> None: ...


class Executor(Protocol):
    def run(self, scheduler: Scheduler) -> None:
        """Process every task; return when all are recorded or the run stopped."""

    def stop(self, grace_seconds: float) -> None:
        """Hand out nothing more; in-flight pages get ``grace_seconds``.
        Called from signal handlers: only sets flags."""


def make_executor(settings: Settings, run_started: float, sink: RunSink) -> Executor:
    if settings.executor == "ray":
        from batchocr.ray_executor import RayExecutor  # optional extra

        return RayExecutor(settings, run_started, sink)
    from batchocr.pool import LocalPool

    return LocalPool(settings, run_started, sink)
