"""Each page's final record: statuses, the top failure causes, the failed
and the low-confidence pages worth a person's look.  Report side
(``batchocr report``).

The final statuses come from the ledger (one row per page, with the byte
offset of its final record), so only the failed records are read back; an
output directory made before the ledger falls back to one small entry per
page.  Listings are capped (``LISTED_PAGES``): a million-page run may have
thousands of failed pages, which are counted, not listed.
"""

from __future__ import annotations

import heapq
import json
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchocr.ledger import LEDGER
from batchocr.output import RESULTS
from batchocr.records import OK
from batchocr.report.reading import Outputs, RecordStream
from batchocr.report.runs import final_records

TOP_FAILURE_CAUSES = 10
# Failed and low-confidence pages listed in --json and the HTML tables (a
# million-page run may have thousands: the rest are counted, not listed).
LISTED_PAGES = 1000


# --- failures ------------------------------------------------------------

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_PATH = re.compile(r"(?<![\w.])/[^\s:,;)]+")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_BIG_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_TRIES = re.compile(r"\s*\(tried \d+ times\)$")


def failure_cause(record: dict[str, Any]) -> str:
    """An error message with its particulars (file names, paths, sizes,
    addresses, retry counts) masked, so pages failing for one reason group
    together.  Signal names stay: SIGKILL and SIGSEGV are different causes."""
    message = _TRIES.sub("", record.get("error") or "(no message)")
    message = _QUOTED.sub("'…'", message)
    message = _PATH.sub("<path>", message)
    message = _HEX.sub("<addr>", message)
    message = _BIG_NUMBER.sub(lambda m: m.group(0) if len(m.group(0)) <= 2 else "<n>", message)
    kind = record.get("error_kind") or record.get("status")
    return f"{kind}: {message}"


def top_failures(records: Iterable[dict[str, Any]], limit: int = TOP_FAILURE_CAUSES) -> list[dict[str, Any]]:
    """The most frequent failure causes: cause, count, one example page
    (streams: one count and one example per cause are kept)."""
    counts: Counter[str] = Counter()
    examples: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("status") != OK:
            cause = failure_cause(record)
            counts[cause] += 1
            examples.setdefault(cause, {k: record.get(k) for k in ("path", "page", "error")})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        {
            "cause": cause,
            "count": count,
            "example": f"{examples[cause]['path']} page {examples[cause]['page']}",
            "example_error": examples[cause]["error"],
        }
        for cause, count in ranked
    ]


# --- each page's final record --------------------------------------------------


@dataclass
class FinalPages:
    statuses: Counter
    failures: list[dict[str, Any]]  # the top causes
    failed_pages: list[dict[str, Any]]  # the first LISTED_PAGES failed pages (their count is in statuses)


def final_pages(outputs: Outputs) -> FinalPages:
    """The status of each page's final record, and the failure causes among them."""
    ledger = outputs.out_dir / LEDGER
    if ledger.exists() and isinstance(outputs.results, RecordStream):
        return _final_pages_from_ledger(ledger, outputs.out_dir / RESULTS, _present_from(outputs.run_info))
    final = final_records(outputs.results)  # made before the ledger: one entry per page
    listed: list[dict[str, Any]] = []
    failures = top_failures(_listing_failed(final, listed))
    return FinalPages(Counter(r.get("status") for r in final), failures, listed)


def _listing_failed(records: Iterable[dict[str, Any]], into: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """The records, passed on; the first LISTED_PAGES failed ones copied ``into`` a list on the way."""
    for record in records:
        if record.get("status") != OK and len(into) < LISTED_PAGES:
            into.append({k: record.get(k) for k in ("path", "page", "status", "error_kind", "error")})
        yield record


def _present_from(run_info: dict[str, Any]) -> int:
    """Pages seen by this generation or later are present (0: all)."""
    return int((run_info.get("resume") or {}).get("present_generation") or 0)


def _final_pages_from_ledger(ledger: Path, results: Path, present: int) -> FinalPages:
    db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        statuses = Counter(
            dict(
                db.execute(
                    "SELECT status, count(*) FROM pages WHERE offset IS NOT NULL AND seen >= ? GROUP BY status",
                    (present,),
                ).fetchall()
            )
        )
        spans = db.execute(
            "SELECT offset, length FROM pages WHERE offset IS NOT NULL AND status != ? AND seen >= ? ORDER BY offset",
            (OK, present),
        )
        listed: list[dict[str, Any]] = []
        failures = top_failures(_listing_failed(_records_at(results, spans), listed))
    finally:
        db.close()
    return FinalPages(statuses, failures, listed)


def _records_at(results: Path, spans) -> Iterable[dict[str, Any]]:
    try:
        fd = os.open(results, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        for offset, length in spans:
            try:
                record = json.loads(os.pread(fd, length, offset))
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record
    finally:
        os.close(fd)


@dataclass
class FlaggedPages:
    count: int  # every flagged page
    pages: list[dict[str, Any]]  # the LISTED_PAGES least confident, least confident first


def low_confidence_pages(records: Iterable[dict[str, Any]], keep: int = LISTED_PAGES) -> FlaggedPages:
    """Pages read but flagged ``low_confidence`` (worth a look by a person):
    how many, and the least confident ``keep`` (streams: a bounded heap)."""
    heap: list[tuple[float, int, dict[str, Any]]] = []  # the most confident kept page on top (negated)
    count = 0
    for r in records:
        if not r.get("low_confidence"):
            continue
        count += 1
        entry = (-(r.get("confidence") or 0.0), count, {k: r.get(k) for k in ("path", "page", "confidence")})
        if len(heap) < keep:
            heapq.heappush(heap, entry)
        elif entry[0] > heap[0][0]:
            heapq.heapreplace(heap, entry)
    pages = [page for _, _, page in heap]
    pages.sort(key=lambda p: (p["confidence"] or 0.0, str(p["path"]), p["page"] or 0))
    return FlaggedPages(count, pages)
