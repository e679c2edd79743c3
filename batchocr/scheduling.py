"""Which page goes where, and what happens to a page whose worker died.

Supervisor side.  The ``Scheduler`` hands out pages from a ``PageSource``
(retries first) and holds the retry policy; it knows nothing about
processes (that is the ``Supervisor``'s job).

Policy: a page whose worker died (segfault, SIGKILL, OOM) is retried
``retries`` times on a fresh worker, then recorded as ``error`` with the
cause.  A page that timed out is not retried: it is recorded ``timeout``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from batchocr.records import ERROR, TIMEOUT, WorkItem, page_record


@dataclass
class Task:
    item: WorkItem
    attempt: int = 1


class PageSource(Protocol):
    """Where the pages to do come from.  Never blocks: the supervisor's loop
    calls it between other work."""

    def take(self) -> WorkItem | None:
        """The next page to do, or None when none is ready right now."""

    def exhausted(self) -> bool:
        """True once ``take`` will never return a page again."""

    def remaining(self) -> int | None:
        """Pages known and not yet taken; None while more may still be found."""


class ListSource:
    """A page source over pages known up front."""

    def __init__(self, items: Iterable[WorkItem]) -> None:
        self._items = deque(items)

    def take(self) -> WorkItem | None:
        return self._items.popleft() if self._items else None

    def exhausted(self) -> bool:
        return not self._items

    def remaining(self) -> int | None:
        return len(self._items)


class Scheduler:
    def __init__(self, source: PageSource, retries: int, engine: str) -> None:
        self._source = source
        self._front: deque[Task] = deque()  # given back, or retries: before new pages
        self._retries = retries
        self._engine = engine
        self.stopping = False  # set on interrupt: hand out nothing more

    def stop(self) -> None:
        """Hand out nothing more (an interrupt, or too many failures)."""
        self.stopping = True

    def has_work(self) -> bool:
        """Pages remain to hand out, now or later."""
        return not self.stopping and (bool(self._front) or not self._source.exhausted())

    def known_pending(self) -> int | None:
        """Pages still to hand out, when all are known (for sizing the pool)."""
        remaining = self._source.remaining()
        return None if remaining is None else len(self._front) + remaining

    def next_task(self) -> Task | None:
        """The next page, or None (none now, or the run is stopping)."""
        if self.stopping:
            return None
        if self._front:
            return self._front.popleft()
        item = self._source.take()
        return Task(item) if item is not None else None

    def worker_lost(
        self, task: Task, cause: str, *, timed_out: bool, worker: int, pid: int | None
    ) -> tuple[Task | None, dict[str, Any] | None]:
        """A worker died holding ``task``.

        Returns (task to retry on a fresh worker, None), (None, final record),
        or (None, None) when the run is stopping and the page stays to do."""
        common: dict[str, Any] = dict(engine=self._engine, worker=worker, pid=pid, attempt=task.attempt)
        if timed_out:
            return None, page_record(task.item, status=TIMEOUT, error=cause, error_kind="timeout", **common)
        if self.stopping:  # interrupted: leave it unrecorded, a resume redoes it
            return None, None
        if task.attempt <= self._retries:
            return Task(task.item, task.attempt + 1), None
        tries = f" (tried {task.attempt} times)" if task.attempt > 1 else ""
        return None, page_record(task.item, status=ERROR, error=cause + tries, error_kind="crash", **common)

    def give_back(self, task: Task) -> None:
        """A task that was never started (its worker failed to start): first in line."""
        self._front.appendleft(task)
