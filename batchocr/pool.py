"""The local executor: worker processes on this machine, over pipes.

Data flow::

    Supervisor --send--> LocalTransport --command pipe--> worker_main (spawned process)
        ^                    |                                 |  WorkerSession: decode,
        +-------wait---------+<-- queue <-- relay thread <-----+  recognise, recycle
                                            (reply pipe, then its end)
                             tap thread <-- stderr pipe (fd 1 and 2)

Each worker has two supervisor-side threads.  Its relay thread reads its
replies in order and then reports its end, so a worker frozen half-way
through a reply (SIGSTOP, a stalled disk) blocks only that thread, and its
deadline catches it; its tap thread reads its stdout and stderr so it never
blocks on a full pipe.  The run loop waits on one queue.  A death is noticed
as soon as it happens, whatever the cause (segfault, SIGKILL, OOM killer,
``os._exit``), and never hangs the run (unlike ``multiprocessing.Pool``) nor
fails the other pages (unlike ``ProcessPoolExecutor``).  Processes are reaped
only by the run loop's thread.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import Any

from batchocr import protocol
from batchocr.config import Settings
from batchocr.errors import RunAborted
from batchocr.stderr_tap import StderrTap
from batchocr.supervisor import Transport

MAX_REPLY_BYTES = 1 << 30  # a reply claiming more is garbage: the worker is killed
READ_BYTES = 1 << 16
JOIN_SECONDS = 5.0  # a process whose sentinel fired, or was SIGKILLed, ends within this
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}  # the supervisor's alone (see worker_main)

# --- worker process side -----------------------------------------------------


def worker_main(
    commands: Connection,
    replies: Connection,
    output: Connection,
    settings: Settings,
    worker_id: int,
    run_started: float,
) -> None:
    """Entry point of a spawned worker: answer commands until a final reply."""
    # Ctrl-C and SIGTERM go to the whole process group (a terminal, systemd,
    # timeout(1)); the supervisor alone decides what stops when.  They were
    # blocked from the start (see _signals_blocked): one that came while
    # Python was starting is dropped here, instead of a KeyboardInterrupt
    # traceback from the middle of an import.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _die_with_parent()
    for fd in (1, 2):  # native libraries write to these: the supervisor caps it
        os.dup2(output.fileno(), fd)
    from batchocr.worker import WorkerSession

    session = WorkerSession(settings, worker_id, run_started)
    while True:
        try:
            reply = session.handle(commands.recv())
            replies.send(reply)
        except (EOFError, OSError):  # the supervisor is gone: nothing to report to
            return
        if protocol.is_final(reply):
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

Event = tuple["LocalWorker", "protocol.Reply | None"]  # None: the process ended


@dataclass(eq=False)
class LocalWorker:
    """A worker process, our end of its command pipe, and its two threads."""

    worker_id: int
    process: multiprocessing.process.BaseProcess
    commands: Connection
    tap: StderrTap
    tap_thread: threading.Thread


class LocalTransport(Transport):
    """Worker processes on this machine (``--executor local``, the default)."""

    start_hint = ""

    def __init__(self, settings: Settings, run_started: float) -> None:
        self.settings = settings
        self.run_started = run_started
        self._ctx = multiprocessing.get_context("spawn")  # never fork: engines hold native state
        # multiprocessing starts its resource tracker at the first spawn, and
        # unblocks SIGINT and SIGTERM in this thread as it does: start it now,
        # so that _signals_blocked holds for every worker.
        resource_tracker.ensure_running()
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._workers: list[LocalWorker] = []

    def default_workers(self) -> int:
        return self.settings.resolved_workers()

    def start(self, worker_id: int) -> LocalWorker:
        try:
            worker, replies = self._spawn(worker_id)
        except OSError as exc:  # too many open files, no memory to fork, ...
            raise RunAborted(
                f"cannot start a worker process: {exc.strerror or exc}; "
                "try fewer --workers, or raise the limit it hit (ulimit -n for open files)"
            ) from None
        self._workers.append(worker)
        threading.Thread(target=self._relay, args=(worker, replies), daemon=True).start()
        self.send(worker, protocol.Start())
        return worker

    def _spawn(self, worker_id: int) -> tuple[LocalWorker, Connection]:
        opened: list[Connection] = []
        try:
            for _ in range(3):
                opened.extend(self._ctx.Pipe(duplex=False))  # (read end, write end)
            cmd_read, cmd_write, rep_read, rep_write, out_read, out_write = opened
            process = self._ctx.Process(
                target=worker_main,
                args=(cmd_read, rep_write, out_write, self.settings, worker_id, self.run_started),
                name=f"batchocr-worker-{worker_id}",
                daemon=True,
            )
            with _signals_blocked():  # the child inherits the mask through exec
                process.start()
        except BaseException:
            for conn in opened:
                conn.close()
            raise
        for conn in (cmd_read, rep_write, out_write):  # the child's ends: so its death shows as end of file
            conn.close()
        tap = StderrTap(worker_id)
        tap_thread = threading.Thread(target=_tap_output, args=(out_read, tap), daemon=True)
        tap_thread.start()
        return LocalWorker(worker_id, process, cmd_write, tap, tap_thread), rep_read

    def send(self, worker: LocalWorker, command: protocol.Command) -> None:
        try:
            worker.commands.send(command)  # small, and one at a time: never blocks
        except OSError:
            pass  # it died meanwhile: its relay says so

    def kill(self, worker: LocalWorker) -> None:
        worker.process.kill()  # a no-op once it is reaped

    def wait(self, timeout: float) -> list[tuple[Any, protocol.Reply | protocol.Exited]]:
        try:
            events = [self._events.get(timeout=timeout)]
        except queue.Empty:
            return []
        while not self._events.empty():  # everything that came, not one per wake-up
            events.append(self._events.get())
        return [(worker, self._end(worker) if reply is None else reply) for worker, reply in events]

    def close(self) -> None:
        """Kill every worker still running and reap it (no orphans)."""
        for worker in self._workers:
            self.kill(worker)
        for worker in list(self._workers):
            self._end(worker)

    def _relay(self, worker: LocalWorker, replies: Connection) -> None:
        """A thread per worker: its replies in order, then ``None`` once it ended.

        It never reaps the process (the run loop does, in ``_end``): only
        one thread may wait for a child."""
        with replies:
            try:
                while wait([replies, worker.process.sentinel]) and replies.poll():
                    reply = pickle.loads(replies.recv_bytes(MAX_REPLY_BYTES))
                    self._events.put((worker, reply))
            except EOFError:
                pass  # it closed its end: it is ending
            except Exception:  # not our framing, or not unpicklable: nothing more to trust
                self.kill(worker)
        wait([worker.process.sentinel])  # a lingering one is killed by its deadline
        self._events.put((worker, None))

    def _end(self, worker: LocalWorker) -> protocol.Exited:
        """Reap a process that ended (or is being killed): its ``Exited``."""
        worker.process.join(JOIN_SECONDS)
        if worker.process.exitcode is None:  # its pipes broke but it lingers
            worker.process.kill()
            worker.process.join(JOIN_SECONDS)
        worker.tap_thread.join(JOIN_SECONDS)  # its last stderr lines
        worker.commands.close()
        if worker in self._workers:
            self._workers.remove(worker)
        return protocol.Exited(_exit_cause(worker.process.exitcode), worker.tap.tail())


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Block STOP_SIGNALS in this thread meanwhile; one that comes is held
    until the end, then handled as usual."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _tap_output(output: Connection, tap: StderrTap) -> None:
    """A thread per worker: its stdout and stderr into its tap, as they come."""
    with output:
        try:
            while data := os.read(output.fileno(), READ_BYTES):
                tap.feed(data)
        except OSError:
            pass
    tap.close()


def _exit_cause(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"worker killed by signal {-code} ({name}){hint}"
    return f"worker exited unexpectedly with code {code}"
