"""Where records and memory events land.  Supervisor side.

``OutputSink`` is the executors' ``RunSink``: each record is stamped (run,
time, the settings it was made with), appended to results.jsonl, and its
page marked done in the ledger, in that order, so a crash between the two
leaves a record the next run reads back (``results.adopt_tail``), never a
page marked done without its record.  Then the file's per-file outputs are
queued if it is complete (``assembly``).  Counting, the failure policy and the
progress bar are ``RunCounts``.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchocr.ledger import Ledger
from batchocr.output import MEMORY, RESULTS, JsonlWriter
from batchocr.progress import Progress
from batchocr.records import OK, with_every_field
from batchocr.results import ResultsWriter

if TYPE_CHECKING:
    from batchocr.assembly import Assembler

SHOWN_FAILURES = 10  # failures kept by path for the summary (all are counted)
MIN_PAGES_FOR_FAILED_SHARE = 20  # judge the failure share only after this many pages


class RunCounts:
    """Counts this run's records and applies ``max_failed_share``.

    Only first-time failures count toward the share: pages that failed in an
    earlier run and fail again must not stop the new pages behind them."""

    def __init__(self, progress: Progress, max_failed_share: float) -> None:
        self.progress = progress
        self.max_failed_share = max_failed_share
        self.on_too_many_failures: Callable[[str], None] = lambda message: None  # set by the runner
        self.too_many_failures: str | None = None
        self.counts: Counter[str] = Counter()
        self.failed = 0
        self.first_failures = 0
        self.failures: list[dict[str, Any]] = []  # the first SHOWN_FAILURES
        self.low_confidence = 0  # pages read under the low_confidence threshold

    def add(self, record: dict[str, Any], failed_before: bool) -> None:
        self.counts[record["status"]] += 1
        self.low_confidence += bool(record.get("low_confidence"))
        if record["status"] != OK:
            self.failed += 1
            self.first_failures += not failed_before
            if len(self.failures) < SHOWN_FAILURES:
                self.failures.append({k: record.get(k) for k in ("path", "page", "status", "error")})
            self._check_failed_share()
        self.progress.page_done(self.failed)

    def _check_failed_share(self) -> None:
        done = sum(self.counts.values())
        share = self.first_failures / done
        if self.too_many_failures or done < MIN_PAGES_FOR_FAILED_SHARE or share <= self.max_failed_share:
            return
        self.too_many_failures = (
            f"stopped early: {self.first_failures} of the {done} pages done failed ({share:.0%}, "
            f"above max_failed_share {self.max_failed_share:.0%}); look at the errors, then re-run to resume"
        )
        self.on_too_many_failures(self.too_many_failures)


class OutputSink:
    """Receives records from the executor: results.jsonl, the ledger, the counts."""

    def __init__(
        self,
        out_dir: Path,
        ledger: Ledger,
        stamp: dict[str, Any],
        fingerprint: int,
        counts: RunCounts,
        run_started: float,
        assembler: Assembler | None = None,
    ) -> None:
        self.run_started = run_started
        # Tags every line, so runs resumed into the same files stay apart.
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(run_started))}-{os.getpid()}"
        self.ledger = ledger
        self.stamp = stamp  # the settings every record carries
        self.fingerprint = fingerprint
        self.counts = counts
        self.superseded = 0
        self.lost_records = 0  # records cut from results.jsonl by someone else mid-run
        self.results = ResultsWriter(out_dir / RESULTS, on_truncated=self._truncated)
        self.memory_log = JsonlWriter(out_dir / MEMORY)
        self.assembler = assembler  # per-file outputs (--formats), or None

    def page_done(self, record: dict[str, Any]) -> None:
        record["t"] = round(time.time() - self.run_started, 3)  # when it was recorded
        record["run"] = self.run_id
        record.update(self.stamp)
        record = with_every_field("results", record)  # every field, null where it does not apply
        offset, length = self.results.write(record)
        failed_before, superseded = self.ledger.record(record, self.fingerprint, offset, length)
        if superseded:
            self.superseded += 1
            self.ledger.set_meta("superseded", int(self.ledger.meta("superseded") or 0) + 1)
        if self.assembler is not None:
            self.assembler.file_recorded(record["path"])
        self.ledger.commit_if_due()
        self.counts.add(record, failed_before)

    def _truncated(self, size: int) -> None:
        self.lost_records += self.ledger.forget_records_from(size)

    def memory(self, event: dict[str, Any]) -> None:
        event["run"] = self.run_id
        self.memory_log.write(with_every_field("memory", event))

    def write_missing_outputs(self, stop_requested: Callable[[], bool]) -> None:
        """After a run that went to its end: every present, complete file's
        requested outputs that are missing or stale (``assembly``)."""
        if self.assembler is not None:
            self.assembler.sweep(self.ledger.generation, stop_requested)

    def close(self, finish_outputs: bool = True) -> None:
        """``finish_outputs``: write the outputs already queued (False on an
        interrupt: the next run writes them)."""
        try:
            if self.assembler is not None:
                self.assembler.close(finish=finish_outputs)
            self.results.close()
            self.memory_log.close()
        finally:
            self.ledger.commit()
