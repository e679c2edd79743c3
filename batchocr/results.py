"""results.jsonl and the ledger kept in step.  Supervisor side.

- ``ResultsWriter`` appends records (one ``os.write`` each) and tells the
  ledger where each one sits.  It notices the file being deleted mid-run
  (it still holds the data: the file is written back) or truncated (the
  records lost are marked to do again).
- ``adopt_tail`` reads the records the ledger has not accounted for: all
  of them for an output directory made before the ledger, the last second's
  worth after a crash.  It streams; a torn last line is cut away; a line
  that is not a record object is set aside in ``set-aside.jsonl``.
- ``compact`` rewrites results.jsonl to each page's final record once,
  streaming in file order, only when some line was superseded.
- ``repair_torn_tail`` cuts a half-written last line (memory.jsonl too).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchocr.errors import OutputError
from batchocr.ledger import Ledger
from batchocr.output import close_synced, dumps, encode_line, write_line

SET_ASIDE = "set-aside.jsonl"
TAIL_CHUNK = 1 << 16
COPY_CHUNK = 1 << 20


def repair_torn_tail(path: Path) -> int:
    """Cut everything after the last newline (a line torn by a crash or a
    full disk), so the next line written starts a line.  Returns bytes cut."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        end = size
        while end > 0:
            start = max(0, end - TAIL_CHUNK)
            chunk = os.pread(fd, end - start, start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end < size:
            os.ftruncate(fd, end)
            os.fsync(fd)
        return size - end
    finally:
        os.close(fd)


def complete_lines(path: Path, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of every whole line from ``start`` on; a torn tail is not one."""
    with open(path, "rb") as fh:
        fh.seek(start)
        offset = start
        for raw in fh:
            if not raw.endswith(b"\n"):
                return
            yield offset, raw
            offset += len(raw)


@dataclass
class Adopted:
    records: int = 0
    set_aside: int = 0
    torn_bytes: int = 0
    warnings: list[str] = field(default_factory=list)


def adopt_tail(ledger: Ledger, path: Path, fingerprint_of: Callable[[dict[str, Any]], int]) -> Adopted:
    """Account in the ledger for the records past ``ledger.results_end``.

    ``fingerprint_of(record)`` gives the fingerprint id a record was made with."""
    adopted = Adopted()
    if not path.exists():
        return adopted
    adopted.torn_bytes = repair_torn_tail(path)
    start = ledger.results_end
    size = path.stat().st_size
    if size < start:  # truncated or replaced while no run held it
        lost = ledger.forget_records_from(size)
        start = ledger.records_end()
        adopted.warnings.append(f"{path.name} is shorter than recorded: {lost} pages lost their record and are redone")
    superseded = 0
    for offset, raw in complete_lines(path, start):
        record = _parse(raw)
        if record is None:
            _set_aside(path.parent, offset, raw)
            adopted.set_aside += 1
            superseded += 1
            continue
        _, replaced = ledger.record(record, fingerprint_of(record), offset, len(raw))
        superseded += replaced
        adopted.records += 1
        if adopted.records % 10_000 == 0:
            ledger.commit()
    ledger.set_meta("results_end", path.stat().st_size)
    ledger.set_meta("superseded", int(ledger.meta("superseded") or 0) + superseded)
    if adopted.set_aside:
        adopted.warnings.append(
            f"{adopted.set_aside} line(s) of {path.name} are not page records; moved to {SET_ASIDE}"
        )
    return adopted


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("path"), str)
        or not isinstance(record.get("page"), int)
    ):
        return None
    return record


def _set_aside(out_dir: Path, offset: int, raw: bytes) -> None:
    with open(out_dir / SET_ASIDE, "ab") as fh:
        fh.write(encode_line(dumps({"offset": offset, "line": raw.decode("utf-8", "replace").rstrip("\n")}) + "\n"))


class ResultsWriter:
    """Appends records to results.jsonl and returns where each one went."""

    def __init__(self, path: Path, on_truncated: Callable[[int], None]) -> None:
        self.path = path
        self.on_truncated = on_truncated  # called with the size the file was cut to
        self._open()

    def _open(self) -> None:
        # Read access too: if the file is deleted, its data is copied back from here.
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._end = os.fstat(self._fd).st_size
        self._last_sync = time.monotonic()

    def write(self, record: dict[str, Any]) -> tuple[int, int]:
        line = encode_line(dumps(record) + "\n")
        try:
            self._check_file()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._last_sync = write_line(self._fd, line, self.path, self._last_sync)
        offset, self._end = self._end, self._end + len(line)
        return offset, len(line)

    def _check_file(self) -> None:
        """Someone deleted or truncated results.jsonl under a live run."""
        mine = os.fstat(self._fd)
        try:
            there = os.stat(self.path)
        except FileNotFoundError:
            there = None
        if there is None or there.st_ino != mine.st_ino:
            self._write_back(mine.st_size)
            print(
                f"batchocr: warning: {self.path} was deleted or replaced during the run; "
                "written back with every record",
                file=sys.stderr,
            )
        elif mine.st_size < self._end:
            print(
                f"batchocr: warning: {self.path} was truncated during the run; "
                "the pages whose records were cut are redone by the next run",
                file=sys.stderr,
            )
            self.on_truncated(mine.st_size)
            self._end = mine.st_size

    def _write_back(self, size: int) -> None:
        """Copy what we still hold open to a new file at the path."""
        tmp = self.path.with_name(f".{self.path.name}.restore")
        with open(tmp, "wb") as out:
            offset = 0
            while offset < size:
                chunk = os.pread(self._fd, min(COPY_CHUNK, size - offset), offset)
                if not chunk:
                    break
                out.write(chunk)
                offset += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        os.close(self._fd)
        self._open()

    def close(self) -> None:
        self._fd = close_synced(self._fd)


# --- compaction ------------------------------------------------------------------

COMPACT_TMP = ".results.jsonl.compact"


def finish_interrupted_compaction(ledger: Ledger, path: Path) -> None:
    """A compaction whose ledger update committed but whose rename did not
    happen: the new file is complete (fsynced before the commit); finish it."""
    if ledger.meta("compacting") is None:
        return
    tmp = path.with_name(COMPACT_TMP)
    if tmp.exists():
        os.replace(tmp, path)
    ledger.set_meta("compacting", None)
    ledger.commit()


def compact(ledger: Ledger, path: Path) -> tuple[int, int] | None:
    """Rewrite results.jsonl to the records the ledger points at, in file
    order, streaming, when some line was superseded.  Returns (bytes before,
    bytes after), or None when nothing was to do."""
    if not int(ledger.meta("superseded") or 0) or not path.exists():
        return None
    before = path.stat().st_size
    tmp = path.with_name(COMPACT_TMP)
    ledger.db.execute("CREATE TEMP TABLE IF NOT EXISTS moves (rel BLOB, page INTEGER, offset INTEGER)")
    ledger.db.execute("DELETE FROM moves")
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        new_offset = 0
        for rel, page, offset, length in ledger.record_spans():
            src.seek(offset)
            dst.write(src.read(length))
            ledger.db.execute("INSERT INTO moves VALUES (?, ?, ?)", (rel, page, new_offset))
            new_offset += length
        dst.flush()
        os.fsync(dst.fileno())
    ledger.db.execute(
        "UPDATE pages SET offset = moves.offset FROM moves WHERE pages.rel = moves.rel AND pages.page = moves.page"
    )
    ledger.db.execute("DELETE FROM moves")
    ledger.set_meta("results_end", new_offset)
    ledger.set_meta("superseded", 0)
    ledger.set_meta("compacting", 1)
    ledger.commit()  # from here the ledger describes the new file
    os.replace(tmp, path)
    ledger.set_meta("compacting", None)
    ledger.commit()
    return before, new_offset
