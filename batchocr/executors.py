"""The executor seam: where workers run.  Supervisor side.

An executor starts workers (``PageWorker`` in a process or a Ray actor),
feeds them pages from the ``Scheduler`` one at a time, and hands what comes
back to the ``RunSink``.  Two exist: ``pool.LocalPool`` (processes on this
machine) and ``ray_executor.RayExecutor`` (actors on a Ray cluster).

``SlotExecutor`` is what both do with their worker slots, whatever the
transport: dispatching, timeouts, interrupts, and accounting for a worker
lost with a page in hand.  A subclass adds only how to start a worker, send
it a page or a stop, wait for it and kill it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from batchocr.config import Settings
from batchocr.errors import RunAborted
from batchocr.records import exit_event
from batchocr.scheduling import Scheduler, Task

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


@dataclass
class WorkerSlot:
    """One worker position; the worker in it is replaced, its id stays."""

    worker_id: int
    pid: int | None = None
    ready: bool = False  # its engine loaded
    task: Task | None = None  # the one page it holds
    started_at: float = 0.0  # monotonic time that page was sent
    retiring: bool = False  # asked to stop or to restart: its end is planned
    timed_out: bool = False  # killed for taking too long
    reserved: Task | None = None  # a retry to run first on this fresh worker
    messages: list[str] = field(default_factory=list)  # why it failed to start
    last_event: dict = field(default_factory=dict)  # its latest memory event, for its exit record


class SlotExecutor:
    """Shared bookkeeping of the executors (supervisor side)."""

    def __init__(self, settings: Settings, run_started: float, sink: RunSink) -> None:
        self.settings = settings
        self.run_started = run_started
        self.sink = sink
        self._slots: dict[int, WorkerSlot] = {}
        self._start_failures = 0
        self._stop_deadline: float | None = None  # set on interrupt: grace period end
        self._scheduler: Scheduler | None = None

    # --- the transport: each executor's own ------------------------------------
    def _start_worker(self, worker_id: int) -> WorkerSlot:
        raise NotImplementedError

    def _send_page(self, slot: WorkerSlot, task: Task) -> None:
        raise NotImplementedError

    def _send_stop(self, slot: WorkerSlot) -> None:
        raise NotImplementedError

    def _kill(self, slot: WorkerSlot) -> None:
        raise NotImplementedError

    # --- shared --------------------------------------------------------------
    def stop(self, grace_seconds: float) -> None:
        """Hand out nothing more; in-flight pages get ``grace_seconds`` to finish.

        Safe to call from a signal handler: it only sets flags."""
        if self._scheduler is not None:
            self._scheduler.stop()
        deadline = time.monotonic() + grace_seconds
        if self._stop_deadline is None or deadline < self._stop_deadline:
            self._stop_deadline = deadline

    def _wait_timeout(self) -> float:
        """Until the next page deadline, at most a tick."""
        timeout = TICK_SECONDS
        now = time.monotonic()
        if any(self._idle(slot) for slot in self._slots.values()):
            return 0.0  # a worker waits for a page: ask the source again now (its take() waits briefly)
        for slot in self._slots.values():
            if slot.task is not None and not slot.timed_out:
                timeout = min(timeout, slot.started_at + self.settings.timeout - now)
        return max(0.0, timeout)

    def _worker_ready(self, slot: WorkerSlot, events: list[dict[str, Any]]) -> None:
        slot.ready = True
        self._start_failures = 0
        self._emit_events(slot, events)

    def _page_done(self, slot: WorkerSlot, record: dict[str, Any], events: list[dict[str, Any]]) -> None:
        slot.task = None
        self.sink.page_done(record)
        self._emit_events(slot, events)

    def _emit_events(self, slot: WorkerSlot, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.sink.memory(event)
            slot.last_event = event

    def _dispatch(self, slot: WorkerSlot) -> None:
        """Give an idle, ready worker its next page (a reserved retry first), or stop it."""
        task = slot.reserved or self._scheduler.next_task()
        slot.reserved = None
        if task is None and self._scheduler.has_work():
            return  # none ready yet (discovery goes on): it idles, _dispatch_idle asks again
        if task is None:
            slot.retiring = True
            self._send_stop(slot)
            return
        slot.task = task
        slot.started_at = time.monotonic()
        self._send_page(slot, task)

    def _dispatch_idle(self) -> None:
        """Give pages that became ready to workers idling for want of one."""
        for slot in list(self._slots.values()):
            if self._idle(slot) and self._slots.get(slot.worker_id) is slot:
                self._dispatch(slot)

    @staticmethod
    def _idle(slot: WorkerSlot) -> bool:
        return slot.ready and slot.task is None and slot.reserved is None and not slot.retiring

    def _account_for_loss(self, slot: WorkerSlot, cause: str) -> None:
        """A worker ended (its slot already removed): record its page or retry it
        on a replacement, and start a replacement while there is work."""
        if not slot.ready:
            self._worker_failed_to_start(slot, cause)
            return
        retry = None
        if slot.task is not None:  # it died with a page in hand
            cause = self._timeout_cause() if slot.timed_out else cause
            self.sink.memory(self._exit_event(slot, cause))
            retry, record = self._scheduler.worker_lost(
                slot.task, cause, timed_out=slot.timed_out, worker=slot.worker_id, pid=slot.pid
            )
            if record is not None:
                self.sink.page_done(record)
        elif not slot.retiring:
            self.sink.memory(self._exit_event(slot, cause))
        if retry is not None or self._scheduler.has_work():
            self._start_worker(slot.worker_id).reserved = retry

    def _worker_failed_to_start(self, slot: WorkerSlot, cause: str) -> None:
        self._start_failures += 1
        reason = slot.messages[-1] if slot.messages else cause
        if self._start_failures >= MAX_START_FAILURES:
            raise RunAborted(f"workers cannot start: {reason}")
        if slot.reserved is not None:
            self._scheduler.requeue_front(slot.reserved)
        if self._scheduler.has_work():
            self._start_worker(slot.worker_id)

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for slot in list(self._slots.values()):
            overdue = slot.task is not None and now - slot.started_at > self.settings.timeout
            if overdue and not slot.timed_out:
                # Native OCR calls cannot be interrupted: only killing the
                # process stops them.  Its loss then records the page `timeout`.
                slot.timed_out = True
                self._kill(slot)

    def _timeout_cause(self) -> str:
        return f"page took longer than the timeout of {self.settings.timeout:g} s; worker killed"

    def _exit_event(self, slot: WorkerSlot, cause: str) -> dict[str, Any]:
        return exit_event(slot.worker_id, slot.pid, cause, slot.last_event, self.run_started)
