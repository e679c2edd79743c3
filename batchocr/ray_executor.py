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

import signal
import time
from dataclasses import dataclass
from typing import Any

from batchocr import protocol
from batchocr.config import Settings
from batchocr.ray_cluster import connect, import_ray, ray_reason
from batchocr.supervisor import Transport

# Ray resources and fault handling of one worker actor: one CPU (engines are
# single-threaded); Ray restarts and retries nothing, the supervisor decides.
ACTOR_OPTIONS = {"num_cpus": 1, "max_restarts": 0, "max_task_retries": 0}


# --- actor side ----------------------------------------------------------------


class PageActor:
    """A thin Ray actor around one ``WorkerSession``.  Runs in a Ray worker process.

    ``RayTransport`` turns it into an actor with ``ray.remote(**ACTOR_OPTIONS)``
    (so importing this module does not need Ray).  Ray imports this class
    by name in the actor's process: batchocr must be importable there.
    """

    def __init__(self, settings: Settings, worker_id: int, run_started: float) -> None:
        # The driver decides what stops when: Ctrl-C to a terminal's process
        # group must not cut a page short.  SIGTERM stays Ray's: its worker
        # loop handles it to end the process cleanly.
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


class RayTransport(Transport):
    """Workers as Ray actors (``--executor ray``).  Driver (supervisor) side."""

    start_hint = " (Ray: does the cluster have a free CPU for each worker?)"

    def __init__(self, settings: Settings, run_started: float) -> None:
        self.settings = settings
        self.run_started = run_started
        self._ray = import_ray()
        self._actor_class: Any = None
        self._connected_here = False
        self._handles: list[ActorHandle] = []
        self._ended: list[ActorHandle] = []  # killed with no call in flight: report them

    def open(self) -> None:
        self._connected_here = not self._ray.is_initialized()  # else a program embedding us did
        if self._connected_here:
            connect(self._ray, self.settings)
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
            self._end(handle, f"worker (Ray actor) died: {ray_reason(exc)}", happened)
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
