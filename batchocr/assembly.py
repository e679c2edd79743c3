"""Per-file outputs (``--formats``): when a file is complete, write them.  Supervisor side.

Data flow::

    sink.page_done --rel--> Assembler.file_recorded: ledger.file_spans(rel)
        every page has its final record, nothing left to do?  --Job--> jobs queue
    assembly thread: Job -> each format's writer reads the records back from
        results.jsonl by their byte offsets (one at a time), writes
        OUT/<format>/<rel>.<ext> atomically --Done--> done queue
    supervisor thread (next page_done, or close): Done -> ledger.mark_output,
        unless a record of the file arrived meanwhile (then it is redone)

The ledger is the source of truth: ``outputs(rel, format)`` rows say which
outputs were written from the records it points at; a new record of a file
deletes its rows (``Ledger.record``).  So outputs are written from records on
disk, never from worker memory, exactly once per set of final records, also
for a file whose pages were done over several runs or by several workers.

After a run that went to its end, ``sweep`` walks the ledger's files in
path order (a batch at a time: nothing held per file) and queues every
present, complete file whose requested outputs are not marked or not on
disk: that writes outputs for files done by earlier runs, for a re-run with
another ``--formats`` list (no page is OCRed again: ``formats`` is not part
of the settings fingerprint), and after a crash between writing an output
and committing its row (the file is written again, whole).

Writes are atomic: a temporary file in the output's directory, fsync,
rename.  A crash leaves the previous output or the new one, never a torn
one.  The work runs in one thread of the supervisor process: the workers
never wait for it (run.json's ``outputs.ms_per_page`` says what it cost).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchocr.ledger import FileSpan, Ledger, decode_rel
from batchocr.output import write_atomic
from batchocr.outputs import FileDocument, OutputFormat, format_names, get_format, output_path
from batchocr.records import OK

SWEEP_BATCH = 500  # files per ledger query in the sweep
MAX_QUEUED_IN_SWEEP = 64  # jobs waiting at most while sweeping (bounded memory)
SHOWN = 10  # files named in the summary (all are counted)


@dataclass(frozen=True)
class Job:
    rel: str
    spans: tuple[FileSpan, ...]  # the file's pages, each with its record's place
    formats: tuple[str, ...]

    @property
    def failed_pages(self) -> int:
        return sum(span.status != OK for span in self.spans)


@dataclass(frozen=True)
class Done:
    job: Job
    written: tuple[str, ...]  # formats written
    errors: tuple[str, ...]  # "format: why", for those that could not be
    seconds: dict[str, float]  # per format written


@dataclass
class AssemblyStats:
    files: int = 0  # files whose outputs were written this run
    written: Counter = field(default_factory=Counter)  # format -> files
    pages: Counter = field(default_factory=Counter)  # format -> pages written
    seconds: dict[str, float] = field(default_factory=dict)  # format -> seconds writing
    with_failed_pages: int = 0
    failed_files: list[str] = field(default_factory=list)  # the first SHOWN
    errors: int = 0
    error_list: list[str] = field(default_factory=list)  # the first SHOWN

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "written": dict(self.written),
            "ms_per_page": {
                name: round(1000 * self.seconds[name] / self.pages[name], 3) for name in self.pages if self.pages[name]
            },
            "files_with_failed_pages": self.with_failed_pages,
            "failed_files": self.failed_files,
            "errors": self.errors,
            "error_list": self.error_list,
        }


def complete(spans: list[FileSpan]) -> bool:
    """Every page of the file has its final record: pages 1..n all present,
    each with a record and nothing left to do for it."""
    if not spans:
        return False
    count = spans[0].pages
    return (
        count == len(spans)
        and all(span.pages == count and span.page == index for index, span in enumerate(spans, 1))
        and all(span.offset is not None and span.todo == 0 for span in spans)
    )


class Assembler:
    """Owns the assembly thread.  Its methods run in the supervisor thread
    (the only one that touches the ledger)."""

    def __init__(self, ledger: Ledger, input_dir: str, out_dir: Path, results: Path, formats: tuple[str, ...]) -> None:
        self.ledger = ledger
        self.input_dir = os.path.abspath(input_dir)
        self.out_dir = out_dir
        self.results = results
        self.formats = formats
        self.writers = {name: get_format(name) for name in formats}
        self.stats = AssemblyStats()
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._done: queue.Queue[Done] = queue.Queue()
        self._pending = 0  # jobs queued and not yet settled
        self._abandon = threading.Event()
        self._closed = False
        self._failed: set[str] = set()  # files with an output that could not be written: the sweep skips them
        self._thread = threading.Thread(target=self._work, name="batchocr-assembly", daemon=True)
        self._thread.start()

    # --- supervisor thread -------------------------------------------------------
    def file_recorded(self, rel: str) -> None:
        """A record of ``rel`` was written: queue its outputs if it is complete now."""
        self.settle()
        if self.ledger.file_waits(rel):  # the common case in a many-page file: no rows read
            return
        spans = self.ledger.file_spans(rel)
        if complete(spans):
            self._queue(Job(rel, tuple(spans), self.formats))

    def sweep(self, generation: int, stop_requested: Callable[[], bool] = lambda: False) -> None:
        """Queue every present, complete file with a requested output not
        marked written or not on disk.  Bounded memory: a batch of files at a
        time, at most MAX_QUEUED_IN_SWEEP jobs waiting."""
        self._wait_below(0)  # outputs of files completed during the run are marked first
        after = b""
        while not stop_requested():
            self.ledger.commit_if_due()  # the outputs marked so far survive a crash mid-sweep
            rows = self.ledger.files_after(after, SWEEP_BATCH)
            if not rows:
                return
            after = rows[-1][0]
            candidates = [
                row[0] for row in rows if row[1] == row[2] == row[3] == row[4] and row[5] >= generation
            ]  # every page recorded and done, and the file found by this run
            marked = self.ledger.outputs_of(candidates)
            for key in candidates:
                rel = decode_rel(key)
                if rel in self._failed:  # tried this run already: the next run tries again
                    continue
                missing = tuple(name for name in self.formats if not self._present(rel, name, marked.get(key)))
                if missing:
                    self._queue(Job(rel, tuple(self.ledger.file_spans(rel)), missing))
                    self._wait_below(MAX_QUEUED_IN_SWEEP)

    def _present(self, rel: str, name: str, marked: set[str] | None) -> bool:
        return (
            marked is not None and name in marked and os.path.exists(output_path(self.out_dir, self.writers[name], rel))
        )

    def _queue(self, job: Job) -> None:
        self._pending += 1
        self._jobs.put(job)

    def _wait_below(self, limit: int) -> None:
        while self._pending > limit:
            self._settle_one(self._done.get())

    def settle(self) -> None:
        """Account in the ledger for the outputs written meanwhile."""
        while True:
            try:
                done = self._done.get_nowait()
            except queue.Empty:
                return
            self._settle_one(done)

    def _settle_one(self, done: Done) -> None:
        self._pending -= 1
        job = done.job
        self._count(done)
        if tuple(self.ledger.file_spans(job.rel)) != job.spans:
            # A record of the file came after the job was made: the outputs
            # just written are stale; the file is queued again if complete.
            if not self._closed:
                self.file_recorded(job.rel)
            return
        for name in done.written:
            self.ledger.mark_output(job.rel, name)

    def _count(self, done: Done) -> None:
        stats = self.stats
        if done.written:
            stats.files += 1
            if done.job.failed_pages:
                stats.with_failed_pages += 1
                if len(stats.failed_files) < SHOWN:
                    stats.failed_files.append(done.job.rel)
        for name in done.written:
            stats.written[name] += 1
            stats.pages[name] += len(done.job.spans)
            stats.seconds[name] = stats.seconds.get(name, 0.0) + done.seconds[name]
        if done.errors:
            self._failed.add(done.job.rel)
        for error in done.errors:
            stats.errors += 1
            if len(stats.error_list) < SHOWN:
                stats.error_list.append(f"{done.job.rel}: {error}")

    def close(self, finish: bool) -> None:
        """``finish``: write every queued job first (and any a newer record
        made stale meanwhile); else only the one being written ends (the
        rest are written by the next run's sweep)."""
        if finish:
            self._wait_below(0)
        else:
            self._abandon.set()
        self._jobs.put(None)
        self._thread.join()
        self._closed = True
        self.settle()

    # --- assembly thread ------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if self._abandon.is_set():
                continue
            self._done.put(self._write(job))

    def _write(self, job: Job) -> Done:
        written, errors, seconds = [], [], {}
        with open(self.results, "rb") as results:
            doc = FileDocument(
                path=os.path.join(self.input_dir, job.rel),
                rel=job.rel,
                page_count=len(job.spans),
                read_pages=lambda: read_records(results.fileno(), job.spans),
            )
            for name in job.formats:
                started = time.perf_counter()
                try:
                    write_output(self.writers[name], doc, self.out_dir)
                except Exception as exc:  # one file's failure never stops the run
                    errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    continue
                seconds[name] = time.perf_counter() - started
                written.append(name)
        return Done(job, tuple(written), tuple(errors), seconds)


def read_records(fd: int, spans: tuple[FileSpan, ...]) -> Iterator[dict[str, Any]]:
    """The records at ``spans`` of results.jsonl, in page order, one at a time."""
    for span in spans:
        assert span.offset is not None and span.length is not None  # a complete file's pages have records
        raw = os.pread(fd, span.length, span.offset)
        record = json.loads(raw)
        if record.get("page") != span.page:  # the ledger and the file disagree: never write a wrong page
            raise ValueError(f"results.jsonl at offset {span.offset} is not the record of page {span.page}")
        yield record


def write_output(fmt: OutputFormat, doc: FileDocument, out_dir: Path) -> str:
    """Write ``doc`` in ``fmt`` to its place under ``out_dir``, atomically."""
    path = output_path(out_dir, fmt, doc.rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomic(Path(path), lambda dest: fmt.write(doc, dest))
    return path


def remove_outputs(out_dir: Path, outputs: Iterable[tuple[str, str]]) -> tuple[int, int]:
    """Delete these (path, format) outputs (of files dropped by --drop-missing);
    returns how many were removed and how many could not be (each of those
    is left as it is; the others go on).  A format this batchocr no longer
    has is left alone."""
    removed = failed = 0
    for rel, name in outputs:
        if name not in format_names():
            continue
        path = Path(output_path(out_dir, get_format(name), rel))
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass  # removed by hand already
        except OSError:
            failed += 1
        _remove_empty_folders(path.parent, stop=out_dir / name)
    return removed, failed


def _remove_empty_folders(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``stop`` while they are empty."""
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (or not there): the parents are not either
            return
        folder = folder.parent
