"""What the supervisor and a worker say to each other, whatever carries it.

The supervisor sends one command at a time and every command gets exactly
one reply, so a worker never holds more than one page and the supervisor
always knows what it is waiting for.  The local pool carries these over
pipes, Ray as actor calls; both sides import them from here.  All are small
and picklable.

    supervisor                         worker (PageWorker behind WorkerSession)
    Start()                      ->    Ready | StartFailed (then it exits)
    Page(item, attempt)          ->    PageDone(record, ..., recycle=None | reason)
    Recycle(reason)              ->    Recycled(restart=False) | Recycled(restart=True) (then it exits)
    Stop()                       ->    Stopped (then it exits)

``Exited`` is never sent by a worker: a transport reports it when a worker
is gone, whether after a final reply or by dying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchocr.records import WorkItem

Events = list[dict[str, Any]]  # memory.jsonl lines


# --- commands: supervisor -> worker ------------------------------------------


@dataclass(frozen=True)
class Start:
    """Load the engine."""


@dataclass(frozen=True)
class Page:
    item: WorkItem
    attempt: int


@dataclass(frozen=True)
class Recycle:
    reason: str  # why: "count", "rss" or "error" (from the PageDone that asked)


@dataclass(frozen=True)
class Stop:
    """Free the engine and exit."""


Command = Start | Page | Recycle | Stop


# --- replies: worker -> supervisor -------------------------------------------


@dataclass
class Ready:
    pid: int
    events: Events


@dataclass
class StartFailed:
    pid: int
    message: str  # why the engine could not load


@dataclass
class PageDone:
    record: dict[str, Any]
    events: Events
    recycle: str | None = None  # set when the worker wants a Recycle next


@dataclass
class Recycled:
    events: Events
    restart: bool = False  # freeing in-process was not enough, or the rebuild failed: it exits


@dataclass
class Stopped:
    events: Events


# --- reported by a transport, never sent -------------------------------------


@dataclass
class Exited:
    cause: str  # e.g. "worker killed by signal 9 (SIGKILL)"; after a final reply, "exited"
    stderr_tail: list[str] = field(default_factory=list)  # its last stderr lines, when captured


Reply = Ready | StartFailed | PageDone | Recycled | Stopped


def is_final(reply: Reply) -> bool:
    """After this reply the worker exits by itself."""
    return isinstance(reply, (StartFailed, Stopped)) or (isinstance(reply, Recycled) and reply.restart)
