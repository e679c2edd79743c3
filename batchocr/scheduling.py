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
from typing import Any, Iterable

from batchocr.records import ERROR, TIMEOUT, WorkItem, page_record


@dataclass
class Task:
    item: WorkItem
    attempt: int = 1


class Scheduler:
    def __init__(self, items: Iterable[WorkItem], retries: int, engine: str) -> None:
        self._queue: deque[Task] = deque(Task(item) for item in items)
        self._retries = retries
        self._engine = engine
        self.stopping = False  # set on interrupt: hand out nothing more

    def __len__(self) -> int:
        return len(self._queue)

    def stop(self) -> None:
        """Hand out nothing more (an interrupt, or too many failures)."""
        self.stopping = True

    def has_work(self) -> bool:
        return bool(self._queue) and not self.stopping

    def next_task(self) -> Task | None:
        if self.stopping or not self._queue:
            return None
        return self._queue.popleft()

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
