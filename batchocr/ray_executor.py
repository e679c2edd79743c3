"""The Ray executor: the same workers as the local pool, as Ray actors.

Data flow (everything on the left runs in the driver, which is the supervisor)::

    Scheduler --next_task--> RayExecutor --actor.process.remote()--> PageActor (Ray actor)
        ^                       |   one call in flight per actor,        |  PageWorker: decode,
        |                       |   ray.wait() on all of them            |  recognise, recycle
        +--worker_lost----------+<--(record, events, restart)------------+
                                |
                                +--> sink.page_done / sink.memory (JSONL, driver only)

Only ``WorkItem``s (a path and a page number) travel to the actors: they read
the images themselves, so INPUT_DIR must be on a filesystem every node sees
at the same path.  Records and memory events come back as small dicts.

Every actor always has exactly one call in flight (``start``, one page, or
``close``), so when an actor dies (segfault, SIGKILL, OOM killer, node lost,
``ray.kill`` on timeout) the error surfaces on that one call and maps to
exactly one page.  What happens to that page is the ``Scheduler``'s policy,
shared with the local pool: retried on a fresh actor, then recorded.  Ray
itself restarts and retries nothing (``max_restarts=0``,
``max_task_retries=0``): a replacement actor is started here, in the same
slot, with the same worker id.

Planned replacements are explicit, as in the local pool: a worker asking for
a restart (``PageOutcome.restart``) is killed after its result arrived and a
fresh actor (a fresh process) takes its slot.

Cluster requirements (``--ray-address``): batchocr, its engine and the
engine's models installed on every node, the same version as on the driver
(actors import ``batchocr.ray_executor``; nothing is shipped from the
driver), and INPUT_DIR readable at the same path on every node.  For a
local Ray instance started here, the driver's import path is passed to the
actors (``runtime_env`` ``PYTHONPATH``), as ``spawn`` does for the local pool.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from typing import Any

from batchocr.config import Settings
from batchocr.errors import ConfigError, RunAborted
from batchocr.executors import RunSink, SlotExecutor, WorkerSlot
from batchocr.scheduling import Scheduler, Task

INSTALL_HINT = "pip install 'batchocr[ray]'"
# Ray resources and fault handling of one worker actor: one CPU (engines are
# single-threaded); Ray restarts and retries nothing, the Scheduler decides.
ACTOR_OPTIONS = {"num_cpus": 1, "max_restarts": 0, "max_task_retries": 0}
# Object store of a local Ray instance: only records pass through it (pages
# are read by the actors), so the minimum Ray accepts is plenty.
LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024
# Ray does not send its token to an explicit address unless told to.
AUTH_HINT = (
    "; if the cluster uses token authentication, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN"
    " (or ~/.ray/auth_token) to the cluster's token"
)
# How long a --ray-address host:port may take to accept a TCP connection.
CONNECT_CHECK_SECONDS = 10.0
# Ray's own messages shown by the driver: errors only (records say the rest).
RAY_LOGGING_LEVEL = logging.ERROR


def _import_ray():
    """Ray is an optional extra: import it only when this executor is chosen."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--executor ray needs Ray ({exc}); install it with: {INSTALL_HINT}") from None
    return ray


# --- actor side ----------------------------------------------------------------


class PageActor:
    """A thin Ray actor around one ``PageWorker``.  Runs in a Ray worker process.

    ``RayExecutor`` turns it into an actor with ``ray.remote(**ACTOR_OPTIONS)``
    (so importing this module does not need Ray).  Ray imports this class
    by name in the actor's process: batchocr must be importable there.
    """

    def __init__(self, settings: Settings, worker_id: int, run_started: float) -> None:
        self._args = (settings, worker_id, run_started)
        self._worker = None

    def start(self) -> tuple[str, int, Any]:
        """("ready", pid, start events) or ("failed", pid, message): the engine cannot load."""
        # The driver decides what stops when; Ctrl-C to a terminal's process
        # group must not cut a page short (a local Ray blocks it already).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from batchocr.worker import PageWorker

        try:
            self._worker = PageWorker(*self._args)
            return "ready", os.getpid(), self._worker.start()
        except Exception as exc:  # tell the driver why, as worker_main does
            return "failed", os.getpid(), f"{type(exc).__name__}: {exc}"

    def process(self, item, attempt: int) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
        """One page: (record, memory events, restart wanted)."""
        outcome = self._worker.process(item, attempt)
        return outcome.record, outcome.events, outcome.restart

    def close(self) -> list[dict[str, Any]]:
        """Free the engine; the ``exit`` memory event."""
        return self._worker.close()


# --- driver side -----------------------------------------------------------------


@dataclass(kw_only=True)
class ActorSlot(WorkerSlot):
    actor: Any  # ray.actor.ActorHandle
    call: Any = None  # ray.ObjectRef of the one call in flight
    call_kind: str = "start"  # "start" | "process" | "close"


class RayExecutor(SlotExecutor):
    """Runs the scheduler's pages on Ray actors.  Driver (supervisor) side."""

    def __init__(self, settings: Settings, run_started: float, sink: RunSink) -> None:
        super().__init__(settings, run_started, sink)
        self._ray = _import_ray()
        self._actor_class = None

    # --- public ------------------------------------------------------------------
    def run(self, scheduler: Scheduler) -> None:
        """Process every task of ``scheduler``; returns when all are recorded or stopped."""
        self._scheduler = scheduler
        connected_here = not self._ray.is_initialized()  # else a program embedding us did
        if connected_here:
            self._connect()
        try:
            self._actor_class = self._ray.remote(**ACTOR_OPTIONS)(PageActor)
            for worker_id in range(1, scheduler.workers_to_start(self.workers()) + 1):
                self._start_worker(worker_id)
            while self._slots:
                self._step()
        finally:
            self._kill_all()
            if connected_here:
                # Stops the Ray processes of a local instance we started;
                # from a cluster we joined, it only disconnects this driver.
                self._ray.shutdown()

    def workers(self) -> int:
        """``--workers``, else one per CPU the cluster offers (after ``run`` connected)."""
        if self.settings.workers:
            return self.settings.workers
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    # --- Ray itself --------------------------------------------------------------
    def _connect(self) -> None:
        """Join ``ray_address``, or start a local Ray instance sized for this machine."""
        previous_sigterm = signal.getsignal(signal.SIGTERM)
        quiet = dict(logging_level=RAY_LOGGING_LEVEL, log_to_driver=False)
        try:
            if self.settings.ray_address:
                _check_reachable(self.settings.ray_address)
                self._ray.init(address=self.settings.ray_address, **quiet)
            else:
                self._ray.init(
                    address="local",  # never join a cluster found by chance (RAY_ADDRESS, `ray start`)
                    num_cpus=self.settings.resolved_workers(),
                    object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                    include_dashboard=False,
                    runtime_env={"env_vars": {"PYTHONPATH": _driver_import_path()}},
                    **quiet,
                )
        except (ConnectionError, ValueError, RuntimeError, self._ray.exceptions.RayError) as exc:
            if not self.settings.ray_address:
                raise RunAborted(f"cannot start a local Ray instance: {exc}") from None
            hint = "" if os.environ.get("RAY_AUTH_MODE") else AUTH_HINT
            raise ConfigError(f"cannot join the Ray cluster at {self.settings.ray_address}: {exc}{hint}") from None
        finally:
            # ray.init installs a SIGTERM handler that exits at once; the
            # runner's (stop, then let in-flight pages finish) must stay.
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, previous_sigterm)

    # --- the loop --------------------------------------------------------------------
    def _step(self) -> None:
        owners = {slot.call: slot for slot in self._slots.values() if slot.call is not None}
        if owners:
            ready, rest = self._ray.wait(list(owners), num_returns=1, timeout=self._wait_timeout())
            if ready and rest:  # take everything that is ready now, not one per tick
                more, _ = self._ray.wait(rest, num_returns=len(rest), timeout=0)
                ready += more
            for ref in ready:
                slot = owners[ref]
                if self._slots.get(slot.worker_id) is slot and slot.call is ref:
                    self._settle(slot)
        else:
            time.sleep(self._wait_timeout())
        self._enforce_timeouts()
        self._enforce_stop()
        self._dispatch_idle()

    def _settle(self, slot: ActorSlot) -> None:
        """The call in flight on ``slot`` finished: its reply, or its actor's death."""
        ref, kind = slot.call, slot.call_kind
        slot.call = None
        try:
            reply = self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:  # the actor died (or our call raised)
            self._lost(slot, exc)
            return
        if kind == "start":
            self._started(slot, *reply)
        elif kind == "process":
            record, events, restart = reply
            self._page_done(slot, record, events)
            if restart or slot.timed_out:  # a fresh process; a timed-out actor is being killed anyway
                self._replace(slot)
            else:
                self._dispatch(slot)
        else:  # "close"
            self._emit_events(slot, reply)
            self._retire(slot)

    def _started(self, slot: ActorSlot, status: str, pid: int, payload: Any) -> None:
        slot.pid = pid
        if status == "failed":
            slot.messages.append(payload)
            self._retire(slot)
            self._worker_failed_to_start(slot, payload)
            return
        self._worker_ready(slot, payload)
        self._dispatch(slot)

    # --- the transport -----------------------------------------------------------
    def _send_page(self, slot: ActorSlot, task: Task) -> None:
        slot.call, slot.call_kind = slot.actor.process.remote(task.item, task.attempt), "process"

    def _send_stop(self, slot: ActorSlot) -> None:
        slot.call, slot.call_kind = slot.actor.close.remote(), "close"

    def _start_worker(self, worker_id: int) -> ActorSlot:
        actor = self._actor_class.remote(self.settings, worker_id, self.run_started)
        slot = ActorSlot(worker_id, actor=actor)
        slot.call = actor.start.remote()
        self._slots[worker_id] = slot
        return slot

    def _kill(self, slot: ActorSlot) -> None:
        try:
            self._ray.kill(slot.actor, no_restart=True)
        except Exception:  # already dead, or Ray is shutting down: nothing to end
            pass

    # --- deaths, timeouts and replacements -----------------------------------------
    def _lost(self, slot: ActorSlot, exc: Exception) -> None:
        """The actor died with a call in flight: account for it, as ``LocalPool._reap``."""
        self._retire(slot)
        reason = _ray_reason(exc)
        if not slot.ready:
            slot.messages.append(reason)
        self._account_for_loss(slot, f"worker (Ray actor, pid {slot.pid}) died: {reason}")

    def _replace(self, slot: ActorSlot) -> None:
        """A planned restart: a fresh actor (a fresh process) in the same slot."""
        self._retire(slot)
        if self._scheduler.has_work():
            self._start_worker(slot.worker_id)

    def _retire(self, slot: ActorSlot) -> None:
        """Forget ``slot`` and end its actor's process (no-op if it is gone)."""
        if self._slots.get(slot.worker_id) is slot:
            del self._slots[slot.worker_id]
        self._kill(slot)

    def _enforce_stop(self) -> None:
        if self._stop_deadline is None or time.monotonic() < self._stop_deadline:
            return  # idle actors are told to close by _dispatch (the scheduler hands out nothing)
        for slot in self._slots.values():
            self.sink.memory(self._exit_event(slot, "killed at the end of the interrupt grace period"))
        self._kill_all()

    def _kill_all(self) -> None:
        """End every actor now (no orphans on the cluster)."""
        for slot in list(self._slots.values()):
            self._kill(slot)
        self._slots.clear()


def _driver_import_path() -> str:
    """The driver's import path for a local instance's actors, as ``spawn``
    gives it to local workers, minus this interpreter's own directories
    (the actors run the same interpreter and find those anyway)."""
    own = {os.path.realpath(p) for p in sysconfig.get_paths().values()}
    entries = []
    for entry in sys.path:
        entry = os.path.abspath(entry or os.getcwd())
        if os.path.realpath(entry) not in own and os.path.isdir(entry) and entry not in entries:
            entries.append(entry)
    return os.pathsep.join(entries)


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, on a wrong ``host:port`` (Ray retries its
    connection for a long time).  ``auto`` and other forms are left to Ray."""
    host, sep, port = address.split("://")[-1].rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_CHECK_SECONDS).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def _ray_reason(exc: Exception) -> str:
    """Ray's explanation of a failed call, shortened to one line for records.

    Display only: nothing is decided on this text."""
    text = getattr(exc, "error_msg", None) or str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # ActorDiedError lists class_name, actor_id, pid, ... as "key: value" lines
    # after a generic first line; the rest explains the death.
    generic = getattr(type(exc), "BASE_ERROR_MSG", None)
    lines = [ln for ln in lines if ln.split(":")[0] not in _RAY_ID_LINES and ln != generic]
    reason = " ".join(lines)
    if len(reason) > REASON_CHARS:  # whole sentences, then an ellipsis
        cut = reason.rfind(". ", 0, REASON_CHARS)
        reason = reason[: cut + 1 if cut > 0 else REASON_CHARS] + " ..."
    return reason or type(exc).__name__


REASON_CHARS = 200  # Ray's death explanations run to 800 characters
_RAY_ID_LINES = {"class_name", "actor_id", "pid", "name", "namespace", "ip"}
