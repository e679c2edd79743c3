"""The pages to do, from the ledger, while discovery goes on.  Supervisor side.

Data flow::

    discovery thread: walk() --batches of FoundFile--> queue
    supervisor thread: take() --absorb--> ledger (decide per page) --query--> WorkItems

The thread does the slow part (listing directories, sniffing files, counting
TIFF frames); only the supervisor thread touches the ledger, in short
time-boxed steps inside ``take``, so the loop never blocks for long and the
first page starts as soon as discovery meets it.

Per page found, against its ledger row:

- no record yet                          -> to do (new)
- its file changed (size or mtime)       -> to do (file changed)
- record made with other settings        -> to do (settings changed: which)
- record ``ok``                          -> done, skipped
- record ``error``/``timeout``           -> to do after every new page (failed before):
                                            handed out only once discovery has ended
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from batchocr.discovery import MAX_SKIPPED_LISTED, FoundFile, Problem, Skipped, walk
from batchocr.fingerprint import describe_change
from batchocr.ledger import FAILED_BEFORE, NEW, Ledger, PageRow, encode_rel, recorded_files
from batchocr.records import OK, WorkItem

BATCH_FILES = 256  # files per hand-over from the discovery thread
QUEUE_BATCHES = 200  # hand-overs waiting at most (the thread waits beyond)
ABSORB_SECONDS = 0.2  # ledger work per take() at most, while nothing is ready
SETTLE_SECONDS = 0.5  # at start, time for a small discovery to end (then the pool is sized to it)
ABSORB_BUSY_SECONDS = 0.005  # ... and while pages are ready: discovery goes on, pages come first
TAKE_ROWS = 256  # pages fetched from the ledger per query
SHOWN_PROBLEMS = 100  # discovery problems kept for run.json (all are counted)
_DONE = None


@dataclass
class DiscoveryStats:
    """What discovery found and decided; read by the summary."""

    files: int = 0
    pages: int = 0
    todo: int = 0  # pages to do this run
    skipped_ok: int = 0
    new: int = 0
    failed_before: int = 0
    file_changed: int = 0
    settings_changed: Counter = field(default_factory=Counter)  # description -> pages
    vanished_pages: int = 0  # pages past the end of a file that got shorter
    superseded: int = 0  # records made obsolete (vanished pages)
    problems: list[tuple[str, str]] = field(default_factory=list)  # first SHOWN_PROBLEMS
    problem_count: int = 0
    unseen_folders: int = 0  # folders not listed (or discovery failed): files there are unseen, not gone
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason), the first MAX_SKIPPED_LISTED
    skipped_by_kind: Counter = field(default_factory=Counter)  # every skipped file, by extension
    complete: bool = False  # discovery reached its end
    completed_at: float | None = None  # time.time() when it did


class LedgerSource:
    """A ``scheduling.PageSource`` over the ledger, fed by a discovery thread."""

    def __init__(
        self,
        ledger: Ledger,
        input_dir: str,
        exclude: list[str],
        fingerprint: int,
        fingerprint_settings: dict[str, Any],
        on_found: Callable[[int], None] = lambda todo: None,
    ) -> None:
        self.ledger = ledger
        self.root = os.path.abspath(input_dir)
        self.exclude = exclude
        self.fingerprint = fingerprint
        self.fingerprint_settings = fingerprint_settings
        self.on_found = on_found  # told the number of pages to do so far (the progress total)
        self.stats = DiscoveryStats()
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._discover, name="batchocr-discovery", daemon=True)
        self._thread_done = False  # the thread's _DONE was absorbed
        self._ready: deque[WorkItem] = deque()
        self._dry = False  # the ledger had nothing more to hand out after discovery ended
        self._changes: dict[int | None, str] = {}  # fingerprint id -> what differs from this run's

    # --- the discovery thread ---------------------------------------------------
    def start(self) -> None:
        """Start discovery, and give it SETTLE_SECONDS: a small input is then
        fully known (``remaining``), so no more workers start than it has pages."""
        self._thread.start()
        self._absorb(deadline=time.monotonic() + SETTLE_SECONDS, wait=True, until_ready=False)

    def _discover(self) -> None:
        batch: list[FoundFile | Problem | Skipped] = []
        try:
            # Files unchanged since recorded keep their page count unopened.
            for entry in walk(self.root, self.exclude, known=recorded_files(self.ledger.path)):
                batch.append(entry)
                if len(batch) >= BATCH_FILES:
                    if not self._put(batch):
                        return
                    batch = []
            if batch and not self._put(batch):
                return
        except Exception as exc:  # never die silently: the run says discovery failed
            self._put([Problem(".", f"discovery failed: {type(exc).__name__}: {exc}", unseen=True)])
        self._put(_DONE)

    def _put(self, item) -> bool:
        """Hand over; False when the run stopped and nobody will read it."""
        while not self._halt.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """Stop the discovery thread (an interrupted run) and wait for it."""
        self._halt.set()
        self._thread.join(timeout=5)

    def finish_discovery(self) -> None:
        """Absorb the rest of discovery (after the run, e.g. nothing was to do)."""
        while not self._thread_done and (self._thread.is_alive() or not self._queue.empty()):
            self._absorb(deadline=time.monotonic() + 1.0, wait=True)

    # --- PageSource ---------------------------------------------------------------
    def take(self) -> WorkItem | None:
        if not self._thread_done:  # keep discovery going, a little per page
            self._absorb(deadline=time.monotonic() + ABSORB_BUSY_SECONDS, wait=False, until_ready=False)
        if not self._ready:
            self._refill()
        if not self._ready and not self._thread_done:
            self._absorb(deadline=time.monotonic() + ABSORB_SECONDS, wait=True)
            self._refill()
        return self._ready.popleft() if self._ready else None

    def exhausted(self) -> bool:
        if self._dry:
            return True
        if self._ready or not self._thread_done:
            return False
        self._refill()
        self._dry = not self._ready
        return self._dry

    def remaining(self) -> int | None:
        """Pages known and not yet handed out; None while discovery goes on."""
        if not self._thread_done:
            return None
        return len(self._ready) + self.ledger.count_untaken()

    def _refill(self) -> None:
        # Pages that failed before wait for the end of discovery: every new page goes first.
        for row in self.ledger.take(self.ledger.generation, TAKE_ROWS, failed_too=self._thread_done):
            self._ready.append(
                WorkItem(
                    path=os.path.join(self.root, row.rel),
                    rel=row.rel,
                    page=row.page,
                    pages=row.pages,
                    size=row.size,
                    mtime_ns=row.mtime_ns,
                )
            )

    # --- deciding, in the supervisor thread --------------------------------------
    def _absorb(self, deadline: float, wait: bool, until_ready: bool = True) -> None:
        """Write what discovery found into the ledger until ``deadline`` (or,
        ``until_ready``, until a page is ready to hand out); ``wait``: wait
        for discovery meanwhile, else stop when nothing is queued."""
        todo_before = self.stats.todo
        while not (until_ready and self.stats.todo != todo_before) and not self._thread_done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch = self._queue.get(timeout=min(remaining, 0.05)) if wait else self._queue.get_nowait()
            except queue.Empty:
                if wait:
                    continue
                break
            if batch is _DONE:
                self._thread_done = True
                self.stats.complete = True
                self.stats.completed_at = time.time()
                break
            self._absorb_batch(batch)
        if self.stats.todo != todo_before:
            self.on_found(self.stats.todo)
        self.ledger.commit_if_due()

    def _absorb_batch(self, batch: list[FoundFile | Problem | Skipped]) -> None:
        files = [entry for entry in batch if isinstance(entry, FoundFile)]
        for entry in batch:
            if isinstance(entry, Problem):
                self.stats.problem_count += 1
                self.stats.unseen_folders += entry.unseen
                if len(self.stats.problems) < SHOWN_PROBLEMS:
                    self.stats.problems.append((entry.rel, entry.message))
            elif isinstance(entry, Skipped):
                self.stats.skipped_by_kind[os.path.splitext(entry.rel)[1].lower() or "(no extension)"] += 1
                if len(self.stats.skipped) < MAX_SKIPPED_LISTED:
                    self.stats.skipped.append((entry.rel, entry.reason))
        keys = [encode_rel(found.rel) for found in files]
        known = self.ledger.rows_of(keys)
        marks, unchanged = [], []
        for key, found in zip(keys, files):
            rows = known.get(key, {})
            self.stats.files += 1
            self.stats.pages += found.pages
            if rows and max(rows) > found.pages:  # the file lost pages: their records go
                self.stats.vanished_pages += sum(1 for page in rows if page > found.pages)
                self.stats.superseded += self.ledger.drop_pages_after(found.rel, found.pages)
            todos = [self._decide(rows.get(page), found) for page in range(1, found.pages + 1)]
            self.stats.todo += sum(todo > 0 for todo in todos)
            if not any(todos) and all(rows[page].pages == found.pages for page in rows):
                unchanged.append(key)  # the common case on a resume: one statement for the batch
                continue
            marks += [
                (found.rel, page, found.pages, found.size, found.mtime_ns, todo) for page, todo in enumerate(todos, 1)
            ]
        self.ledger.mark_files_seen(unchanged)
        self.ledger.mark_found(marks)

    def _decide(self, row: PageRow | None, found: FoundFile) -> int:
        if row is None or row.status is None:
            self.stats.new += 1
            return NEW
        if (row.size, row.mtime_ns) != (found.size, found.mtime_ns):
            self.stats.file_changed += 1
            return NEW
        if row.fingerprint != self.fingerprint:
            self.stats.settings_changed[self._change(row.fingerprint)] += 1
            return NEW
        if row.status == OK:
            self.stats.skipped_ok += 1
            return 0
        self.stats.failed_before += 1
        return FAILED_BEFORE

    def _change(self, fingerprint: int | None) -> str:
        if fingerprint not in self._changes:
            old = self.ledger.fingerprint_settings(fingerprint) if fingerprint is not None else {}
            self._changes[fingerprint] = describe_change(old, self.fingerprint_settings)
        return self._changes[fingerprint]
