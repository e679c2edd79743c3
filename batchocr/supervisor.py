"""The run loop: one state machine per worker slot, for every executor.

Supervisor side.  Data flow::

    Scheduler --next_task--> Supervisor --Command--> Transport ==> worker (WorkerSession)
        ^                       |  <------ Reply, Exited -----+
        +--worker_lost----------+
                                +--> sink.page_done / sink.memory (JSONL)

A transport (``pool.LocalTransport``: processes and pipes;
``ray_executor.RayTransport``: Ray actors) only starts, sends, kills and
reports what came back; everything else is decided here, once.

Each slot holds one worker at a time (its replacement keeps the slot's id)
and is always in exactly one state, each with a deadline::

    STARTING  --Ready-->        IDLE --Page--> BUSY --PageDone--> IDLE, or RECYCLING when due
    RECYCLING --Recycled-->     IDLE;  Recycled(restart) --> STOPPING
    IDLE      --Stop-->         STOPPING --Exited--> gone (replaced while work remains)
    any state past its deadline --kill--> KILLED --Exited--> gone

Deadlines: ``start_timeout`` for STARTING and RECYCLING, ``timeout`` for
BUSY, ``STOP_SECONDS`` for STOPPING.  A page is charged only for the time
it was BUSY: a worker that hangs or fails while starting, recycling or
stopping is replaced with an ``exit`` event saying why, and no page is lost.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from batchocr import protocol, records
from batchocr.config import Settings
from batchocr.errors import RunAborted
from batchocr.records import WorkItem, exit_event
from batchocr.scheduling import Scheduler, Task

# The supervisor wakes at least this often (interrupts, new pages).
TICK_SECONDS = 0.5
# A worker told to stop (or to exit after its last reply) has this long.
STOP_SECONDS = 10.0
# A killed worker whose end the transport has not reported by then is forgotten.
KILL_WAIT_SECONDS = 10.0
# Workers that fail to start this many times in a row abort the run.
MAX_START_FAILURES = 3


class RunSink(Protocol):
    """Where the supervisor sends what workers produce."""

    def page_done(self, record: dict[str, Any]) -> None: ...

    def memory(self, event: dict[str, Any]) -> None: ...


class Transport(Protocol):
    """How workers are started and talked to.  One per executor, subclassing this."""

    start_hint: str  # added to "workers cannot start" (e.g. where to look)

    def open(self) -> None:  # optional: most transports need nothing
        """Get ready to start workers (e.g. connect to a cluster)."""

    def default_workers(self) -> int:
        """Workers to run when ``--workers`` is not given."""

    def start(self, worker_id: int) -> Any:
        """Start a worker and send it ``Start``; returns its handle."""

    def send(self, handle: Any, command: protocol.Command) -> None: ...

    def kill(self, handle: Any) -> None:
        """End the worker now; its ``Exited`` follows from ``wait``."""

    def wait(self, timeout: float) -> list[tuple[Any, protocol.Reply | protocol.Exited]]:
        """What workers said or did, waiting at most ``timeout`` seconds; a
        worker's replies come in order, and ``Exited`` after its last one."""

    def close(self) -> None:
        """End every worker still running (no orphans)."""


class State(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    RECYCLING = "recycling"
    STOPPING = "stopping"
    KILLED = "killed"


@dataclass
class Slot:
    worker_id: int
    handle: Any
    state: State = State.STARTING
    deadline: float | None = None  # monotonic; None while IDLE
    pid: int | None = None
    task: Task | None = None  # the one page it holds
    busy_since: float = 0.0  # monotonic; when it was given its page
    reserved: Task | None = None  # a retry that must run on this fresh worker
    was_ready: bool = False
    planned_exit: bool = False  # it was told to exit, or said it would
    unneeded: bool = False  # killed while starting because no work was left
    kill_reason: str | None = None  # why the supervisor killed it
    kill_kind: str = records.CRASH  # its exit event's kind when killed (see records.CRASH)
    start_message: str | None = None  # why its engine could not load
    last_event: dict[str, Any] = field(default_factory=dict)  # for the exit event written for it
    exit_written: bool = False  # the worker wrote its own exit event (one per process)


@dataclass(frozen=True)
class Activity:
    """What the workers are doing, told on every tick (for the progress display)."""

    workers: int  # running or starting
    ready: int  # of them, those whose engine is loaded
    busy: list[tuple[WorkItem, float]]  # the pages in progress, and when each was handed out (monotonic)
    stopping: bool  # stop() was called: nothing more is handed out


class Supervisor:
    """Runs a scheduler's pages on workers through a transport.  Supervisor side."""

    def __init__(self, settings: Settings, run_started: float, sink: RunSink, transport: Transport) -> None:
        self.settings = settings
        self.run_started = run_started
        self.sink = sink
        self.transport = transport
        self._slots: dict[int, Slot] = {}
        self._start_failures = 0
        self._stop_deadline: float | None = None
        self._scheduler: Scheduler | None = None
        self.on_tick: Callable[[Activity], None] = lambda activity: None  # set by the runner

    # --- public --------------------------------------------------------------
    def run(self, scheduler: Scheduler) -> None:
        """Process every page; return when all are recorded or the run stopped."""
        self._scheduler = scheduler
        if self._stop_deadline is not None:  # stop() came before run()
            scheduler.stop()
        try:
            self.transport.open()
            for worker_id in range(1, self._initial_workers() + 1):
                self._start(worker_id)
            while self._slots:
                self.on_tick(self._activity())
                self._step()
            self.on_tick(self._activity())  # how it ended (e.g. stopping before any worker was ready)
        finally:
            self.transport.close()

    def stop(self, grace_seconds: float) -> None:
        """Hand out nothing more; pages in progress get ``grace_seconds``.

        Called from signal handlers: it only sets flags."""
        if self._scheduler is not None:
            self._scheduler.stop()
        deadline = time.monotonic() + grace_seconds
        if self._stop_deadline is None or deadline < self._stop_deadline:
            self._stop_deadline = deadline

    # --- the loop ------------------------------------------------------------
    def _initial_workers(self) -> int:
        if self.scheduler.stopping:  # stop() came before run()
            return 0
        workers = self.settings.workers or self.transport.default_workers()
        pending = self.scheduler.known_pending()
        return workers if pending is None else min(workers, pending)

    @property
    def scheduler(self) -> Scheduler:
        assert self._scheduler is not None, "run() sets the scheduler"
        return self._scheduler

    def _step(self) -> None:
        batch = self.transport.wait(self._wait_seconds())
        # A worker that answered and then died in the same round: its answer
        # counts, but nothing more may be sent to it.
        dying = [handle for handle, message in batch if isinstance(message, protocol.Exited)]
        for handle, message in batch:
            slot = self._slot_of(handle)
            if slot is not None:
                self._on_message(slot, message, dying=any(handle is h for h in dying))
        for slot in list(self._slots.values()):
            if slot.state is State.IDLE:  # new pages may have come, or the run is stopping
                self._feed(slot)
        self._enforce_deadlines()

    def _activity(self) -> Activity:
        slots = self._slots.values()
        busy = [(s.task.item, s.busy_since) for s in slots if s.state is State.BUSY and s.task is not None]
        return Activity(len(self._slots), sum(s.was_ready for s in slots), busy, self._stop_deadline is not None)

    def _slot_of(self, handle: Any) -> Slot | None:
        for slot in self._slots.values():
            if slot.handle is handle:
                return slot
        return None  # a worker already accounted for

    def _wait_seconds(self) -> float:
        if any(s.state is State.IDLE for s in self._slots.values()):
            return 0.0  # a worker waits for pages still being found: ask again now (take() waits briefly)
        deadlines = [d for d in (self._stop_deadline, *(s.deadline for s in self._slots.values())) if d is not None]
        return max(0.0, min([TICK_SECONDS, *(d - time.monotonic() for d in deadlines)]))

    # --- what workers say ----------------------------------------------------
    def _on_message(self, slot: Slot, message: protocol.Reply | protocol.Exited, dying: bool) -> None:
        if isinstance(message, protocol.Exited):
            self._gone(slot, message)
        elif slot.state is State.KILLED or (dying and not protocol.is_final(message)):
            self._late_reply(slot, message)
        elif isinstance(message, protocol.Ready):
            self._ready(slot, message)
        elif isinstance(message, protocol.StartFailed):
            slot.pid, slot.start_message = message.pid, message.message
            self._expect_exit(slot)
        elif isinstance(message, protocol.PageDone):
            self._page_done(slot, message)
        elif isinstance(message, protocol.Recycled):
            self._emit(slot, message.events)
            self._expect_exit(slot) if message.restart else self._feed(slot)
        elif isinstance(message, protocol.Stopped):
            self._emit(slot, message.events)
            self._expect_exit(slot)

    def _ready(self, slot: Slot, ready: protocol.Ready) -> None:
        slot.pid, slot.was_ready = ready.pid, True
        self._start_failures = 0
        self._emit(slot, ready.events)
        self._feed(slot)

    def _page_done(self, slot: Slot, done: protocol.PageDone) -> None:
        slot.task = None
        self.sink.page_done(done.record)
        self._emit(slot, done.events)
        if done.recycle and self.scheduler.has_work():
            self._send(slot, protocol.Recycle(done.recycle), State.RECYCLING, self.settings.start_timeout)
        else:
            self._feed(slot)

    def _late_reply(self, slot: Slot, message: protocol.Reply) -> None:
        """A worker that is gone, or being killed, had answered first: a
        finished page is still a finished page (recorded once: the worker's
        end no longer charges it), but it gets nothing more."""
        if isinstance(message, protocol.PageDone) and slot.task is not None:
            slot.task = None
            self.sink.page_done(message.record)
        self._emit(slot, getattr(message, "events", []))

    def _emit(self, slot: Slot, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.sink.memory(event)
            slot.last_event = event
            slot.exit_written = slot.exit_written or event.get("event") == "exit"

    # --- what the supervisor says --------------------------------------------
    def _feed(self, slot: Slot) -> None:
        """An idle worker: its next page (a reserved retry first), else wait or stop it."""
        task = None if self.scheduler.stopping else slot.reserved or self.scheduler.next_task()
        slot.reserved = None
        if task is not None:
            slot.task, slot.busy_since = task, time.monotonic()
            self._send(slot, protocol.Page(task.item, task.attempt), State.BUSY, self.settings.timeout)
        elif self.scheduler.has_work():
            slot.state, slot.deadline = State.IDLE, None  # pages are still being found
        else:
            self._send(slot, protocol.Stop(), State.STOPPING, STOP_SECONDS)
            slot.planned_exit = True

    def _send(self, slot: Slot, command: protocol.Command, state: State, seconds: float) -> None:
        slot.state, slot.deadline = state, time.monotonic() + seconds
        self.transport.send(slot.handle, command)

    def _expect_exit(self, slot: Slot) -> None:
        slot.planned_exit = True
        slot.state, slot.deadline = State.STOPPING, time.monotonic() + STOP_SECONDS

    # --- deadlines -----------------------------------------------------------
    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        interrupted_out = self._stop_deadline is not None and now >= self._stop_deadline
        for slot in list(self._slots.values()):
            if slot.state is State.KILLED:
                if slot.deadline is not None and now >= slot.deadline:  # the transport never saw it end
                    self._gone(slot, protocol.Exited("did not end after being killed"))
            elif interrupted_out:
                self._kill(slot, records.INTERRUPT_KILL, records.INTERRUPTED)
            elif slot.state is State.STARTING and not self._needed(slot):
                slot.unneeded = True  # nothing left for it: no need to wait for its engine
                self._kill(slot, "not needed: no pages left")
            elif slot.deadline is not None and now >= slot.deadline:
                kind = records.PAGE_TIMEOUT if slot.state is State.BUSY else records.CRASH
                self._kill(slot, self._overdue_reason(slot), kind)

    def _needed(self, slot: Slot) -> bool:
        return self.scheduler.has_work() or (slot.reserved is not None and not self.scheduler.stopping)

    def _overdue_reason(self, slot: Slot) -> str:
        start = f"{self.settings.start_timeout:g} s (--start-timeout)"
        return {
            State.STARTING: f"engine did not start within {start}",
            State.BUSY: f"{records.PAGE_TIMEOUT_KILL} of {self.settings.timeout:g} s; worker killed",
            State.RECYCLING: f"engine rebuild took longer than {start}; worker replaced",
            State.STOPPING: f"did not exit within {STOP_SECONDS:g} s of its last reply",
        }[slot.state]

    def _kill(self, slot: Slot, reason: str, kind: str = records.CRASH) -> None:
        # Native OCR calls cannot be interrupted: only killing the process stops them.
        slot.kill_reason, slot.kill_kind = reason, kind
        slot.state, slot.deadline = State.KILLED, time.monotonic() + KILL_WAIT_SECONDS
        self.transport.kill(slot.handle)

    # --- a worker is gone ----------------------------------------------------
    def _gone(self, slot: Slot, exited: protocol.Exited) -> None:
        """Account for a worker that ended: its page, its exit event, its replacement."""
        del self._slots[slot.worker_id]
        cause = slot.kill_reason or exited.cause
        if not slot.was_ready:
            self._start_failed(slot, cause, exited)
            return
        retry = None
        # One exit event per process: the supervisor's, unless the worker said
        # why itself (and holds no page), or ended as planned (a restart).
        said_why = slot.exit_written or (slot.planned_exit and not slot.kill_reason)
        if slot.task is not None or not said_why:
            self.sink.memory(self._exit_event(slot, cause, exited))
        if slot.task is not None:  # it ended with a page in hand
            retry, record = self.scheduler.worker_lost(
                slot.task,
                _with_stderr(cause, exited),
                timed_out=slot.kill_kind == records.PAGE_TIMEOUT,
                worker=slot.worker_id,
                pid=slot.pid,
            )
            if record is not None:
                self.sink.page_done(record)
        if retry is not None or self.scheduler.has_work():
            self._start(slot.worker_id).reserved = retry

    def _start_failed(self, slot: Slot, cause: str, exited: protocol.Exited) -> None:
        if slot.reserved is not None:
            self.scheduler.give_back(slot.reserved)
        if slot.unneeded or self.scheduler.stopping:  # ended on purpose: no failure to start
            return
        self._start_failures += 1
        reason = _with_stderr(slot.start_message or cause, exited)
        if self._start_failures >= MAX_START_FAILURES:
            raise RunAborted(f"workers cannot start: {reason}{self.transport.start_hint}")
        if self.scheduler.has_work():
            self._start(slot.worker_id)

    def _start(self, worker_id: int) -> Slot:
        slot = Slot(worker_id, handle=None, deadline=time.monotonic() + self.settings.start_timeout)
        self._slots[worker_id] = slot
        slot.handle = self.transport.start(worker_id)
        return slot

    def _exit_event(self, slot: Slot, cause: str, exited: protocol.Exited) -> dict[str, Any]:
        event = exit_event(slot.worker_id, slot.pid, cause, slot.kill_kind, slot.last_event, self.run_started)
        if exited.stderr_tail:
            event["stderr"] = exited.stderr_tail
        return event


def _with_stderr(cause: str, exited: protocol.Exited) -> str:
    """A cause with the worker's last stderr line, which often says more."""
    if not exited.stderr_tail:
        return cause
    return f"{cause}; its last stderr line: {exited.stderr_tail[-1]}"
