"""Which page goes where, and what happens to a page whose worker died.

The ``Scheduler`` holds the pages still to do and the attempts of each; it
knows nothing about processes (that is the executor's job: ``pool`` for the
local process pool, ``ray_executor`` for Ray).  Every executor asks it for
the next page, tells it what came back, and asks it what to do when a worker
was lost with a page in hand.

Policy: a page whose worker died (segfault, SIGKILL, OOM) is retried
``retries`` times on a fresh worker, then recorded as ``error`` with the
cause.  A page that timed out is not retried: it is recorded ``timeout``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Protocol

from batchocr.records import ERROR, TIMEOUT, WorkItem, page_record


@dataclass
class Task:
    item: WorkItem
    attempt: int = 1


class PageSource(Protocol):
    """Where the pages to do come from.  Both calls must return at once: the
    supervisor loop never blocks."""

    def take(self) -> WorkItem | None:
        """The next page to do now; None when none is ready right now."""

    def exhausted(self) -> bool:
        """True once ``take`` will never return a page again."""


class ListSource:
    """A plain list of pages."""

    def __init__(self, items: Iterable[WorkItem]) -> None:
        self._items = deque(items)

    def take(self) -> WorkItem | None:
        return self._items.popleft() if self._items else None

    def exhausted(self) -> bool:
        return not self._items


class Scheduler:
    def __init__(self, source: PageSource, retries: int, engine: str) -> None:
        self._source = source
        self._queue: deque[Task] = deque()  # retries and given-back tasks: they go first
        self._retries = retries
        self._engine = engine
        self.stopping = False  # set on interrupt: hand out nothing more

    def workers_to_start(self, most: int) -> int:
        """How many workers are worth starting: ``most``, fewer when the
        source runs dry first (pages pulled here are handed out first)."""
        while len(self._queue) < most:
            item = self._source.take()
            if item is None:
                break
            self._queue.append(Task(item))
        if not self.has_work():
            return 0
        return len(self._queue) if self._source.exhausted() else most

    def stop(self) -> None:
        """Hand out nothing more (an interrupt, or too many failures)."""
        self.stopping = True

    def has_work(self) -> bool:
        """True while pages may still come (some may not be ready yet)."""
        return not self.stopping and (bool(self._queue) or not self._source.exhausted())

    def next_task(self) -> Task | None:
        """The next task, or None: when stopping, or when none is ready right
        now (then ``has_work`` says whether to ask again later)."""
        if self.stopping:
            return None
        if self._queue:
            return self._queue.popleft()
        item = self._source.take()
        return Task(item) if item is not None else None

    def worker_lost(
        self, task: Task, cause: str, *, timed_out: bool, worker: int, pid: int | None
    ) -> tuple[Task | None, dict[str, Any] | None]:
        """A worker died holding ``task``.

        Returns (task to retry on a fresh worker, None), (None, final record),
        or (None, None) when the run is stopping and the page stays to do."""
        if timed_out:
            record = page_record(
                task.item, status=TIMEOUT, error=cause, error_kind="timeout",
                engine=self._engine, worker=worker, pid=pid, attempt=task.attempt,
            )  # fmt: skip
            return None, record
        if self.stopping:  # interrupted: leave it unrecorded, a resume redoes it
            return None, None
        if task.attempt <= self._retries:
            return Task(task.item, task.attempt + 1), None
        tries = f" (tried {task.attempt} times)" if task.attempt > 1 else ""
        record = page_record(
            task.item, status=ERROR, error=cause + tries, error_kind="crash",
            engine=self._engine, worker=worker, pid=pid, attempt=task.attempt,
        )  # fmt: skip
        return None, record

    def requeue_front(self, task: Task) -> None:
        """Give back a task that was never started (e.g. its worker failed to start)."""
        self._queue.appendleft(task)
