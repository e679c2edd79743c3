"""The local executor: worker processes on this machine, over pipes.

Data flow::

    Supervisor --send--> LocalTransport --command pipe--> worker_main (spawned process)
        ^                    |                                 |  WorkerSession: decode,
        |                    |<----reply pipe (frames)---------+  recognise, recycle
        +-------wait---------+<----stderr pipe (fd 1 and 2)----+
                             +<----process sentinel (it ended)

The supervisor waits on every worker's reply pipe, stderr pipe and process
sentinel at once (``selectors``) and reads only what is there, assembling
replies itself from length-prefixed frames: a worker frozen half-way
through a reply (SIGSTOP, a stalled disk) never blocks the supervisor, and
its deadline catches it.  A death is noticed as soon as it happens,
whatever the cause (segfault, SIGKILL, OOM killer, ``os._exit``), and never
hangs the run (unlike ``multiprocessing.Pool``) nor fails the other pages
(unlike ``ProcessPoolExecutor``).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import selectors
import signal
import struct
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from batchocr import protocol
from batchocr.config import Settings
from batchocr.errors import RunAborted
from batchocr.stderr_tap import StderrTap

FRAME_HEADER = struct.Struct("!Q")  # the pickled message's length
MAX_FRAME_BYTES = 1 << 30  # a reply claiming more is garbage: the worker is killed
READ_BYTES = 1 << 16
WRITE_BYTES = 1 << 20
OUTPUT_BYTES_PER_READ = 1 << 20  # of a worker's stderr per wake-up
JOIN_SECONDS = 5.0  # a process whose sentinel fired, or was SIGKILLed, ends within this


class FrameReader:
    """Reassembles length-prefixed pickles from bytes arriving in any split."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        messages = []
        while len(self._buffer) >= FRAME_HEADER.size:
            (size,) = FRAME_HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME_BYTES:
                raise ValueError(f"frame of {size} bytes")
            end = FRAME_HEADER.size + size
            if len(self._buffer) < end:
                break
            messages.append(pickle.loads(self._buffer[FRAME_HEADER.size : end]))
            del self._buffer[:end]
        return messages


def write_frame(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(FRAME_HEADER.pack(len(data)) + data)
    while view:  # in pieces: a pipe holds 64 kB, and the reader takes them as they come
        view = view[os.write(fd, view[:WRITE_BYTES]) :]


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
    # timeout(1)); the supervisor alone decides what stops when.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    for fd in (1, 2):  # native libraries write to these: the supervisor caps it
        os.dup2(output.fileno(), fd)
    from batchocr.worker import WorkerSession

    session = WorkerSession(settings, worker_id, run_started)
    frames, pending = FrameReader(), deque[Any]()
    while True:
        while not pending:
            data = os.read(commands.fileno(), READ_BYTES)
            if not data:  # the supervisor is gone: nothing to report to
                return
            pending.extend(frames.feed(data))
        reply = session.handle(pending.popleft())
        try:
            write_frame(replies.fileno(), reply)
        except OSError:  # the supervisor is gone
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


@dataclass(eq=False)
class LocalWorker:
    """A worker process and our ends of its pipes."""

    worker_id: int
    process: multiprocessing.process.BaseProcess
    commands: Connection  # we write
    replies: Connection  # we read
    output: Connection  # we read: its stderr and stdout
    tap: StderrTap
    frames: FrameReader = field(default_factory=FrameReader)
    ended: bool = False


class LocalTransport:
    """Worker processes on this machine (``--executor local``, the default)."""

    start_hint = ""

    def __init__(self, settings: Settings, run_started: float) -> None:
        self.settings = settings
        self.run_started = run_started
        self._ctx = multiprocessing.get_context("spawn")  # never fork: engines hold native state
        self._selector = selectors.DefaultSelector()
        self._workers: list[LocalWorker] = []

    def open(self) -> None:
        pass

    def default_workers(self) -> int:
        return self.settings.resolved_workers()

    def start(self, worker_id: int) -> LocalWorker:
        try:
            worker = self._spawn(worker_id)
        except OSError as exc:  # too many open files, no memory to fork, ...
            raise RunAborted(
                f"cannot start a worker process: {exc.strerror or exc}; "
                "try fewer --workers, or raise the limit it hit (ulimit -n for open files)"
            ) from None
        self._workers.append(worker)
        for conn, what in ((worker.replies, "replies"), (worker.output, "output")):
            os.set_blocking(conn.fileno(), False)
            self._selector.register(conn.fileno(), selectors.EVENT_READ, (worker, what))
        self._selector.register(worker.process.sentinel, selectors.EVENT_READ, (worker, "ended"))
        self.send(worker, protocol.Start())
        return worker

    def _spawn(self, worker_id: int) -> LocalWorker:
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
            process.start()
        except BaseException:
            for conn in opened:
                conn.close()
            raise
        for conn in (cmd_read, rep_write, out_write):  # the child's ends: so its death shows as EOF
            conn.close()
        return LocalWorker(worker_id, process, cmd_write, rep_read, out_read, StderrTap(worker_id))

    def send(self, worker: LocalWorker, command: protocol.Command) -> None:
        try:
            write_frame(worker.commands.fileno(), command)
        except OSError:
            pass  # it died meanwhile: its sentinel says so

    def kill(self, worker: LocalWorker) -> None:
        if worker.process.is_alive():
            worker.process.kill()

    def wait(self, timeout: float) -> list[tuple[Any, protocol.Reply | protocol.Exited]]:
        happened: list[tuple[Any, protocol.Reply | protocol.Exited]] = []
        for key, _ in self._selector.select(timeout):
            worker, what = key.data
            if worker.ended:
                continue  # finished earlier in this round
            if what == "replies":
                self._read_replies(worker, happened)
            elif what == "output":
                self._read_output(worker)
            else:
                self._end(worker, happened)
        return happened

    def close(self) -> None:
        """Kill every worker still running and reap it (no orphans)."""
        for worker in self._workers:
            self.kill(worker)
        for worker in list(self._workers):
            self._end(worker, [])
        self._selector.close()

    # --- reading -------------------------------------------------------------
    def _read_replies(self, worker: LocalWorker, happened: list) -> None:
        data, eof = _read_available(worker.replies)
        try:
            for reply in worker.frames.feed(data):
                happened.append((worker, reply))
        except Exception:  # not our framing or not unpicklable: nothing more to trust
            self.kill(worker)
            return
        if eof:  # it closed its end: its sentinel follows
            self._unregister(worker.replies)

    def _read_output(self, worker: LocalWorker, until_eof: bool = False) -> None:
        while True:  # a flood is read in bounded pieces: the tap keeps only a tail
            data, eof = _read_available(worker.output, OUTPUT_BYTES_PER_READ)
            worker.tap.feed(data)
            if eof:
                self._unregister(worker.output)
            if eof or not data or not until_eof:
                return

    def _end(self, worker: LocalWorker, happened: list) -> None:
        """The process ended (or is being reaped): what it still sent, then ``Exited``."""
        if worker.ended:
            return
        worker.process.join(JOIN_SECONDS)
        if worker.process.exitcode is None:  # its pipes broke but it lingers
            worker.process.kill()
            worker.process.join(JOIN_SECONDS)
        if not worker.replies.closed:  # what it wrote before it ended is still there
            self._read_replies(worker, happened)
        self._read_output(worker, until_eof=True)
        worker.tap.close()
        worker.ended = True
        for conn in (worker.replies, worker.output, worker.commands):
            self._unregister(conn)
            conn.close()
        self._selector.unregister(worker.process.sentinel)
        self._workers.remove(worker)
        happened.append((worker, protocol.Exited(_exit_cause(worker.process.exitcode), worker.tap.tail())))

    def _unregister(self, conn: Connection) -> None:
        if not conn.closed and conn.fileno() in self._selector.get_map():
            self._selector.unregister(conn.fileno())


def _read_available(conn: Connection, limit: int | None = None) -> tuple[bytes, bool]:
    """What is readable now without blocking, up to ``limit`` bytes: (bytes, end of file)."""
    if conn.closed:
        return b"", True
    chunks: list[bytes] = []
    while limit is None or len(chunks) * READ_BYTES < limit:
        try:
            data = os.read(conn.fileno(), READ_BYTES)
        except BlockingIOError:
            return b"".join(chunks), False
        except OSError:
            return b"".join(chunks), True
        if not data:
            return b"".join(chunks), True
        chunks.append(data)
    return b"".join(chunks), False


def _exit_cause(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"worker killed by signal {-code} ({name}){hint}"
    return f"worker exited unexpectedly with code {code}"
