"""The Ray executor's transport: the same workers as the local pool, as Ray actors.

Data flow (everything on the left runs in the driver, which is the supervisor)::

    Supervisor --send--> RayTransport --actor.call.remote(command)--> PageActor (Ray actor)
        ^                    |    one call in flight per actor,          |  WorkerSession: decode,
        +-------wait---------+<---ray.wait() on all of them: replies ----+  recognise, recycle

Only commands (a ``WorkItem`` is a path and a page number) travel to the
actors: they read the images themselves, so INPUT_DIR must be on a
filesystem every node sees at the same path.  Replies come back as the same
small objects the local pool reads from its pipes (``protocol``).

An actor has at most one call in flight, so when it dies (segfault,
SIGKILL, OOM killer, node lost, ``ray.kill`` past a deadline) the error
surfaces on that one call and the supervisor knows which page it held.
Ray itself restarts and retries nothing (``max_restarts=0``,
``max_task_retries=0``): the supervisor decides, as for local workers.  An
actor that cannot be placed (the cluster's CPUs are taken) never answers
``Start``, and the supervisor's start deadline ends it.

Cluster requirements (``--ray-address``): batchocr, its engine and the
engine's models installed on every node, the same version as on the driver
(actors import ``batchocr.ray_executor``; nothing is shipped from the
driver), and INPUT_DIR readable at the same path on every node.  For a
local Ray instance started here, the driver's import path is passed to the
actors (``runtime_env`` ``PYTHONPATH``), as ``spawn`` does for the local pool.
Worker stderr stays in Ray's own logs.
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
from batchocr import protocol

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
    """A thin Ray actor around one ``WorkerSession``.  Runs in a Ray worker process.

    ``RayTransport`` turns it into an actor with ``ray.remote(**ACTOR_OPTIONS)``
    (so importing this module does not need Ray).  Ray imports this class
    by name in the actor's process: batchocr must be importable there.
    """

    def __init__(self, settings: Settings, worker_id: int, run_started: float) -> None:
        # The driver decides what stops when; Ctrl-C or SIGTERM to a terminal's
        # process group must not cut a page short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from batchocr.worker import WorkerSession

        self._session = WorkerSession(settings, worker_id, run_started)

    def call(self, command: protocol.Command) -> protocol.Reply:
        return self._session.handle(command)


# --- driver side -----------------------------------------------------------------


@dataclass(eq=False)
class ActorHandle:
    actor: Any  # ray.actor.ActorHandle
    call: Any = None  # ray.ObjectRef of the one call in flight
    ended: bool = False


class RayTransport:
    """Workers as Ray actors (``--executor ray``).  Driver (supervisor) side."""

    start_hint = " (Ray: does the cluster have a free CPU for each worker?)"

    def __init__(self, settings: Settings, run_started: float) -> None:
        self.settings = settings
        self.run_started = run_started
        self._ray = _import_ray()
        self._actor_class: Any = None
        self._connected_here = False
        self._handles: list[ActorHandle] = []
        self._ended: list[ActorHandle] = []  # killed with no call in flight: report them

    def open(self) -> None:
        self._connected_here = not self._ray.is_initialized()  # else a program embedding us did
        if self._connected_here:
            self._connect()
        self._actor_class = self._ray.remote(**ACTOR_OPTIONS)(PageActor)

    def default_workers(self) -> int:
        """One per CPU the cluster offers."""
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def start(self, worker_id: int) -> ActorHandle:
        handle = ActorHandle(self._actor_class.remote(self.settings, worker_id, self.run_started))
        self._handles.append(handle)
        self.send(handle, protocol.Start())
        return handle

    def send(self, handle: ActorHandle, command: protocol.Command) -> None:
        handle.call = handle.actor.call.remote(command)

    def kill(self, handle: ActorHandle) -> None:
        try:
            self._ray.kill(handle.actor, no_restart=True)
        except Exception:  # already dead, or Ray is shutting down: nothing to end
            pass
        if handle.call is None and not handle.ended:
            self._ended.append(handle)  # no call will fail to tell us

    def wait(self, timeout: float) -> list[tuple[Any, protocol.Reply | protocol.Exited]]:
        happened: list[tuple[Any, protocol.Reply | protocol.Exited]] = []
        while self._ended:
            self._end(self._ended.pop(), "worker (Ray actor) killed", happened)
        calls = {h.call: h for h in self._handles if h.call is not None}
        if not calls:
            time.sleep(timeout)
            return happened
        ready, rest = self._ray.wait(list(calls), num_returns=1, timeout=timeout)
        if ready and rest:  # take everything that is ready now, not one per wake-up
            more, _ = self._ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        for ref in ready:
            self._settle(calls[ref], happened)
        return happened

    def close(self) -> None:
        """End every actor (no orphans on the cluster); leave Ray if we joined it."""
        for handle in self._handles:
            self.kill(handle)
        self._handles.clear()
        if self._connected_here:
            # Stops the Ray processes of a local instance we started;
            # from a cluster we joined, it only disconnects this driver.
            self._ray.shutdown()

    def _settle(self, handle: ActorHandle, happened: list) -> None:
        """The call in flight finished: its reply, or its actor's death."""
        ref, handle.call = handle.call, None
        try:
            reply = self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:  # the actor died (or our call raised)
            self._end(handle, f"worker (Ray actor) died: {_ray_reason(exc)}", happened)
            return
        happened.append((handle, reply))
        if protocol.is_final(reply):  # an actor's process ends only when killed
            self.kill(handle)
            self._end(handle, "exited", happened)

    def _end(self, handle: ActorHandle, cause: str, happened: list) -> None:
        if handle.ended:
            return
        handle.ended = True
        if handle in self._handles:
            self._handles.remove(handle)
        happened.append((handle, protocol.Exited(cause)))

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
