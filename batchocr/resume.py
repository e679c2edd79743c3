"""Resuming into an existing output directory.  Supervisor side.

A run into an output directory that already has ``results.jsonl`` continues
it: pages recorded ``ok`` whose file is unchanged are skipped; failed,
changed and new pages are done.  Before the run starts the file is compacted
(atomically: write a new file, fsync, rename) to the records that stay
valid, so that once the run finishes ``results.jsonl`` holds each page's
final record exactly once.

"Unchanged" means same relative path, page, file size and modification time
(nanoseconds).  A content hash would be stronger, but would read every byte
of a million-page archive on each resume; replacing a scan with another one
changes its mtime (or size) in every workflow we know, and ``--restart``
covers the rest.

A run killed mid-write can leave a torn last line; it is cut away here, and a
line that is not JSON anywhere else is dropped with a warning count, so the
file is always readable line by line.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from batchocr.output import MEMORY, RESULTS, RUN_INFO, dumps, encode_line
from batchocr.records import OK, WorkItem


@dataclass
class ResumePlan:
    todo: list[WorkItem]
    skipped_ok: int = 0  # pages already done
    redo: int = 0  # pages with an earlier failed or outdated record
    dropped_lines: int = 0  # torn or unreadable lines removed


def read_records(path: Path) -> tuple[list[dict], int]:
    """Every readable record, and how many lines were not (torn or corrupt)."""
    records, bad = [], 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):  # torn tail of a killed run
                bad += 1
                break
            try:
                records.append(json.loads(raw))
            except ValueError:
                bad += 1
    return records, bad


def plan_resume(out_dir: Path, items: list[WorkItem]) -> ResumePlan:
    """Decide what to do and compact results.jsonl to the records that stay."""
    path = out_dir / RESULTS
    if not path.exists():
        return ResumePlan(todo=list(items))
    records, bad = read_records(path)
    latest = {(r.get("path"), r.get("page")): r for r in records}  # last record wins
    plan = ResumePlan(todo=[], dropped_lines=bad)
    redo_keys = set()
    for item in items:
        previous = latest.get((item.rel, item.page))
        if previous is not None and _still_valid(previous, item):
            plan.skipped_ok += 1
            continue
        if previous is not None:
            plan.redo += 1
            redo_keys.add((item.rel, item.page))
        plan.todo.append(item)
    kept = [r for key, r in latest.items() if key not in redo_keys]
    if len(kept) != len(records) or bad:
        _rewrite(path, kept)
    return plan


def _still_valid(record: dict, item: WorkItem) -> bool:
    return record.get("status") == OK and record.get("size") == item.size and record.get("mtime_ns") == item.mtime_ns


def _rewrite(path: Path, records: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.compact")
    with open(tmp, "wb") as fh:
        for record in records:
            fh.write(encode_line(dumps(record) + "\n"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def move_aside(out_dir: Path) -> Path | None:
    """``--restart``: move earlier outputs into ``previous-<time>/``, never delete them."""
    present = [out_dir / name for name in (RESULTS, MEMORY, RUN_INFO) if (out_dir / name).exists()]
    if not present:
        return None
    target = out_dir / time.strftime("previous-%Y%m%d-%H%M%S")
    suffix = 1
    while target.exists():
        suffix += 1
        target = out_dir / f"{time.strftime('previous-%Y%m%d-%H%M%S')}-{suffix}"
    target.mkdir()
    for path in present:
        os.replace(path, target / path.name)
    return target
