"""The local executor: a pool of worker processes fed one page at a time.

Data flow (everything on the left runs in the supervisor)::

    Scheduler --next_task--> LocalPool --Pipe--> worker_main (spawned process)
        ^                       |                     |  PageWorker: decode,
        |                       |                     |  recognise, recycle
        +--worker_lost----------+<--(result, events)--+
                                |
                                +--> sink.page_done / sink.memory (JSONL)

Each worker holds at most one page, so a dead worker maps to exactly one
page, and a slow page never holds back others (dynamic dispatch).  The
supervisor waits on every worker's pipe and process sentinel at once
(``multiprocessing.connection.wait``), so it notices a death as soon as it
happens, whatever the cause (segfault, SIGKILL, OOM killer, ``os._exit``),
and a dead worker never hangs the run (unlike ``multiprocessing.Pool``) nor
fails the other pages (unlike ``ProcessPoolExecutor``).

Planned replacements are explicit: a worker that wants to be restarted says
so with its result (``restart``) before it exits; any other exit is a crash.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from batchocr.config import Settings
from batchocr.executors import RunSink, SlotExecutor, WorkerSlot
from batchocr.scheduling import Scheduler, Task

# How long a finished worker may take to exit before it is killed.
EXIT_WAIT_SECONDS = 10.0


# --- worker process side -----------------------------------------------------


def worker_main(conn: Connection, settings: Settings, worker_id: int, run_started: float) -> None:
    """Entry point of a spawned worker process: serve pages until told to stop.

    Messages sent: ("ready", events) | ("failed", message) once, then per page
    ("done", record, events, restart), and ("bye", events) when told to stop.
    """
    # Ctrl-C goes to the whole process group; the supervisor decides what
    # stops when, so workers ignore it.  SIGTERM keeps its default.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    from batchocr.worker import PageWorker

    try:
        worker = PageWorker(settings, worker_id, run_started)
        conn.send(("ready", worker.start()))
    except Exception as exc:  # the engine cannot load: tell the supervisor why
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the supervisor is gone: nothing to report to
            return
        if message is None:
            conn.send(("bye", worker.close()))
            return
        item, attempt = message
        outcome = worker.process(item, attempt)
        try:
            conn.send(("done", outcome.record, outcome.events, outcome.restart))
        except (BrokenPipeError, ConnectionResetError):  # the supervisor is gone
            return
        if outcome.restart:
            return


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when the supervisor dies, even by
    SIGKILL: a worker stuck in a native call must not outlive its run."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: workers exit at their next read
        pass
    if os.getppid() == 1:  # the supervisor died before we got here
        os._exit(1)


# --- supervisor side ----------------------------------------------------------


@dataclass(kw_only=True)
class Slot(WorkerSlot):
    process: multiprocessing.process.BaseProcess
    conn: Connection


class LocalPool(SlotExecutor):
    """Worker processes on this machine, one page each at a time."""

    def __init__(self, settings: Settings, run_started: float, sink: RunSink) -> None:
        super().__init__(settings, run_started, sink)
        self._ctx = multiprocessing.get_context("spawn")  # never fork: engines hold native state

    def run(self, scheduler: Scheduler) -> None:
        """Process every task of ``scheduler``; returns when all are recorded or stopped."""
        self._scheduler = scheduler
        for worker_id in range(1, scheduler.workers_to_start(self.settings.resolved_workers()) + 1):
            self._start_worker(worker_id)
        try:
            while self._slots:
                self._step()
        finally:
            self._kill_all()

    # --- the loop --------------------------------------------------------------
    def _step(self) -> None:
        owners: dict[Any, Slot] = {}
        for slot in self._slots.values():
            owners[slot.conn] = slot
            owners[slot.process.sentinel] = slot
        for obj in wait(list(owners), timeout=self._wait_timeout()):
            slot = owners[obj]
            if self._slots.get(slot.worker_id) is not slot:
                continue  # already reaped (and maybe replaced) in this round
            if obj is slot.conn:
                self._receive(slot)
            else:
                self._reap(slot)
        self._enforce_timeouts()
        self._enforce_stop()
        self._dispatch_idle()

    # --- messages from a worker ------------------------------------------------
    def _receive(self, slot: Slot) -> None:
        try:
            message = slot.conn.recv()
        except (EOFError, OSError):  # it died; the sentinel tells the rest
            self._reap(slot)
            return
        self._handle(slot, message, live=True)

    def _handle(self, slot: Slot, message: tuple, live: bool) -> None:
        """Act on one message.  ``live`` is False while reading what a dead
        worker sent last: it is recorded, but nothing more is sent to it."""
        kind = message[0]
        if kind == "failed":
            slot.messages.append(message[1])
        elif kind == "ready":
            self._worker_ready(slot, message[1])
            if live:
                self._dispatch(slot)
        elif kind == "done":
            _, record, events, restart = message
            self._page_done(slot, record, events)
            if restart:
                slot.retiring = True  # it exits by itself; _reap starts a fresh one
            elif live:
                self._dispatch(slot)
        elif kind == "bye":
            self._emit_events(slot, message[1])

    # --- the transport -----------------------------------------------------------
    def _send_page(self, slot: Slot, task: Task) -> None:
        self._send(slot, (task.item, task.attempt))

    def _send_stop(self, slot: Slot) -> None:
        self._send(slot, None)

    def _send(self, slot: Slot, message: Any) -> None:
        try:
            slot.conn.send(message)
        except (BrokenPipeError, OSError):
            pass  # it died meanwhile: _reap handles the task it held

    def _kill(self, slot: Slot) -> None:
        if slot.process.is_alive():
            slot.process.kill()

    def _start_worker(self, worker_id: int) -> Slot:
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=worker_main,
            args=(child_conn, self.settings, worker_id, self.run_started),
            name=f"batchocr-worker-{worker_id}",
            daemon=True,
        )
        process.start()
        child_conn.close()  # so a dead worker shows up as EOF on our end
        slot = Slot(worker_id, pid=process.pid, process=process, conn=parent_conn)
        self._slots[worker_id] = slot
        return slot

    # --- deaths and interrupts ----------------------------------------------------
    def _reap(self, slot: Slot) -> None:
        """The worker process ended (or its pipe broke): account for it."""
        self._drain(slot)
        slot.process.join(timeout=EXIT_WAIT_SECONDS)
        if slot.process.exitcode is None:  # pipe broke but process lingers
            slot.process.kill()
            slot.process.join()
        del self._slots[slot.worker_id]
        slot.conn.close()
        self._account_for_loss(slot, self._death_cause(slot))

    def _drain(self, slot: Slot) -> None:
        """Read what a dying worker managed to send (its last result may be there)."""
        try:
            while slot.conn.poll():
                self._handle(slot, slot.conn.recv(), live=False)
        except (EOFError, OSError):
            pass

    def _death_cause(self, slot: Slot) -> str:
        code = slot.process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = "unknown signal"
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"worker killed by signal {-code} ({name}){hint}"
        return f"worker exited unexpectedly with code {code}"

    def _enforce_stop(self) -> None:
        if self._stop_deadline is None:
            return
        for slot in list(self._slots.values()):
            if slot.task is None and not slot.retiring and slot.ready:
                slot.retiring = True
                self._send_stop(slot)
        if time.monotonic() >= self._stop_deadline:
            self._kill_all()
            for slot in self._slots.values():
                self.sink.memory(self._exit_event(slot, "killed at the end of the interrupt grace period"))
            self._slots.clear()

    def _kill_all(self) -> None:
        """Stop every worker process now: SIGKILL, then reap (no orphans)."""
        for slot in self._slots.values():
            self._kill(slot)
        for slot in self._slots.values():
            slot.process.join(timeout=EXIT_WAIT_SECONDS)
