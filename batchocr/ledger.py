"""The run ledger: what is to do and what is done, in SQLite.  Supervisor side.

``OUT/ledger.sqlite`` is the source of truth of an output directory; the
supervisor is its only writer (workers never see it).  One row per page::

    pages(rel, page)    key: path relative to the input directory (bytes, so a
                        non-UTF-8 file name round-trips), 1-based page
      pages             pages the file had when it was last found
      size, mtime_ns    the file's identity when its record was made
      found_size, found_mtime_ns   ... and when this run found it (what a new record will carry)
      fingerprint       id of the settings its record was made with
      status            ok / error / timeout of its record; NULL: none yet
      attempts, run     records made for it so far; the run that made the last
      offset, length    where its record sits in results.jsonl
      seen              the run (generation) that last found its file
      todo              0 done or not found; 1 to do; 2 to do, failed before
                        (handed out after every new page: it cannot stall them)
      taken             the generation that handed it out (not handed twice)

    outputs(rel, format)   the per-file output (``--formats``) of this file in
                        this format was written from the records the ledger
                        points at now; any new record of the file deletes
                        the file's rows (the outputs are then stale)

Why SQLite: resume becomes a query over an index instead of reading every
record into memory; one file, transactions, crash-safe (WAL), in the
standard library.  Commits are batched (``COMMIT_SECONDS``): a crash loses
only the ledger's view of the last records, and ``results.adopt_tail``
reads those records back from results.jsonl (``meta.results_end`` is the
byte offset up to which the ledger has accounted for the file).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

LEDGER = "ledger.sqlite"
SCHEMA_VERSION = 1
CACHE_KB = 64 * 1024  # SQLite's page cache: bounded, part of the supervisor's RSS budget
COMMIT_SECONDS = 1.0  # commit the ledger at most this often during a run
NEW, FAILED_BEFORE = 1, 2  # values of ``todo``
MAX_PARAMS = 500  # SQL parameters per query (SQLite's limit is higher; this keeps queries small)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS fingerprints (id INTEGER PRIMARY KEY, digest TEXT UNIQUE, settings TEXT);
CREATE TABLE IF NOT EXISTS checksums (path BLOB PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT);
CREATE TABLE IF NOT EXISTS pages (
    rel BLOB NOT NULL, page INTEGER NOT NULL, pages INTEGER,
    size INTEGER, mtime_ns INTEGER, found_size INTEGER, found_mtime_ns INTEGER, fingerprint INTEGER, status TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, run TEXT, offset INTEGER, length INTEGER,
    seen INTEGER NOT NULL DEFAULT 0, todo INTEGER NOT NULL DEFAULT 0, taken INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rel, page)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pages_todo ON pages (todo, rel, page) WHERE todo > 0;
CREATE INDEX IF NOT EXISTS pages_offset ON pages (offset) WHERE offset IS NOT NULL;
CREATE TABLE IF NOT EXISTS outputs (rel BLOB NOT NULL, format TEXT NOT NULL, PRIMARY KEY (rel, format)) WITHOUT ROWID;
"""


class PageRow(NamedTuple):  # a tuple: a million of them are made per resume
    page: int
    pages: int
    size: int | None  # of the file when its record was made
    mtime_ns: int | None
    fingerprint: int | None
    status: str | None  # of its record; None: no record
    offset: int | None


class FileSpan(NamedTuple):
    page: int
    pages: int | None
    offset: int | None  # of its record in results.jsonl; None: no record
    length: int | None
    status: str | None
    todo: int


@dataclass(frozen=True)
class PageToDo:
    rel: str
    page: int
    pages: int
    size: int  # of the file as this run found it
    mtime_ns: int


def encode_rel(rel: str) -> bytes:
    return os.fsencode(rel)


def decode_rel(raw: bytes) -> str:
    return os.fsdecode(raw)


def recorded_files(path: Path) -> Callable[[str], tuple[int, int, int] | None]:
    """known(rel) for ``discovery.walk``: a file's size, mtime and pages as its
    first page was last recorded.  Its own read-only connection: it runs in
    the discovery thread (WAL lets it read while the supervisor writes)."""
    if not path.exists():
        return lambda rel: None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    query = "SELECT size, mtime_ns, pages FROM pages WHERE rel = ? AND page = 1 AND size IS NOT NULL"

    def known(rel: str) -> tuple[int, int, int] | None:
        return db.execute(query, (encode_rel(rel),)).fetchone()

    return known


class Ledger:
    """The pages table and its bookkeeping.  One instance per run, in the
    supervisor's main thread only (sqlite3 connections are not shared)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / LEDGER
        self.existed = self.path.exists()
        self.db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
        self.db.execute(f"PRAGMA cache_size=-{CACHE_KB}")
        self.db.executescript(SCHEMA)
        self.db.execute("BEGIN")
        self._last_commit = time.monotonic()
        self.generation = int(self.meta("generation") or 0)
        if self.meta("schema") is None:
            self.set_meta("schema", str(SCHEMA_VERSION))

    # --- transactions --------------------------------------------------------
    def commit(self) -> None:
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")
        self._last_commit = time.monotonic()

    def commit_if_due(self) -> None:
        if time.monotonic() - self._last_commit >= COMMIT_SECONDS:
            self.commit()

    def close(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")
        self.db.close()

    # --- meta ----------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, None if value is None else str(value)))

    def new_generation(self) -> int:
        """Number this run; pages found by it are marked ``seen`` with it."""
        self.generation += 1
        self.set_meta("generation", self.generation)
        # Whatever earlier runs left to do is decided anew by this run's discovery.
        self.db.execute("UPDATE pages SET todo = 0 WHERE todo > 0")
        return self.generation

    @property
    def results_end(self) -> int:
        return int(self.meta("results_end") or 0)

    # --- fingerprints and the checksum cache ---------------------------------
    def fingerprint_id(self, digest: str, settings: dict[str, Any]) -> int:
        self.db.execute(
            "INSERT OR IGNORE INTO fingerprints (digest, settings) VALUES (?, ?)",
            (digest, json.dumps(settings, sort_keys=True)),
        )
        return self.db.execute("SELECT id FROM fingerprints WHERE digest = ?", (digest,)).fetchone()[0]

    def fingerprint_settings(self, fingerprint: int) -> dict[str, Any]:
        row = self.db.execute("SELECT settings FROM fingerprints WHERE id = ?", (fingerprint,)).fetchone()
        return json.loads(row[0]) if row else {}

    def cached_checksum(self, path: str, size: int, mtime_ns: int) -> str | None:
        row = self.db.execute(
            "SELECT sha256 FROM checksums WHERE path = ? AND size = ? AND mtime_ns = ?",
            (encode_rel(path), size, mtime_ns),
        ).fetchone()
        return row[0] if row else None

    def store_checksum(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO checksums VALUES (?, ?, ?, ?)", (encode_rel(path), size, mtime_ns, sha256)
        )

    # --- pages ----------------------------------------------------------------
    def rows_of(self, keys: list[bytes]) -> dict[bytes, dict[int, PageRow]]:
        """The rows of these files, by encoded path (one query per discovery batch)."""
        found: dict[bytes, dict[int, PageRow]] = {}
        for start in range(0, len(keys), MAX_PARAMS):
            chunk = keys[start : start + MAX_PARAMS]
            marks = ",".join("?" * len(chunk))
            for key, *rest in self.db.execute(
                f"SELECT rel, page, pages, size, mtime_ns, fingerprint, status, offset FROM pages WHERE rel IN ({marks})",
                chunk,
            ):
                found.setdefault(key, {})[rest[0]] = PageRow(*rest)
        return found

    def mark_files_seen(self, keys: list[bytes]) -> None:
        """Discovery found these files (encoded paths) as they were: every page done, nothing to change."""
        for start in range(0, len(keys), MAX_PARAMS):
            chunk = keys[start : start + MAX_PARAMS]
            self.db.execute(
                f"UPDATE pages SET seen = ? WHERE rel IN ({','.join('?' * len(chunk))})", (self.generation, *chunk)
            )

    def mark_found(self, pages: list[tuple[str, int, int, int, int, int]]) -> None:
        """Discovery found these pages: (rel, page, pages, size, mtime_ns, todo),
        ``todo`` saying whether each is to be done this run."""
        self.db.executemany(
            """INSERT INTO pages (rel, page, pages, found_size, found_mtime_ns, todo, seen) VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (rel, page) DO UPDATE SET pages = excluded.pages, seen = excluded.seen,
               todo = excluded.todo, found_size = excluded.found_size, found_mtime_ns = excluded.found_mtime_ns""",
            [(encode_rel(rel), *rest, self.generation) for rel, *rest in pages],
        )

    def drop_pages_after(self, rel: str, pages: int) -> int:
        """The file has ``pages`` pages now: forget the ones past its end.
        Returns how many had a record (those lines are superseded)."""
        key = encode_rel(rel)
        recorded = self.db.execute(
            "SELECT count(offset) FROM pages WHERE rel = ? AND page > ?", (key, pages)
        ).fetchone()[0]
        self.db.execute("DELETE FROM outputs WHERE rel = ?", (key,))
        self.db.execute("DELETE FROM pages WHERE rel = ? AND page > ?", (key, pages))
        return recorded

    def take(self, generation: int, limit: int, failed_too: bool) -> list[PageToDo]:
        """Up to ``limit`` pages to do, new ones before ones that failed
        before (those only with ``failed_too``), each handed out once per run."""
        rows = self.db.execute(
            """SELECT rel, page, pages, found_size, found_mtime_ns FROM pages
               WHERE todo > 0 AND todo <= ? AND taken != ? ORDER BY todo, rel, page LIMIT ?""",
            (FAILED_BEFORE if failed_too else NEW, generation, limit),
        ).fetchall()
        self.db.executemany(
            "UPDATE pages SET taken = ? WHERE rel = ? AND page = ?", [(generation, r[0], r[1]) for r in rows]
        )
        return [PageToDo(decode_rel(r[0]), *r[1:]) for r in rows]

    def count_untaken(self) -> int:
        """Pages to do this run and not handed out yet."""
        return self.db.execute(
            "SELECT count(*) FROM pages WHERE todo > 0 AND taken != ?", (self.generation,)
        ).fetchone()[0]

    def record(self, record: dict[str, Any], fingerprint: int, offset: int, length: int) -> tuple[bool, bool]:
        """A record was written at ``offset``: the page is done (whatever its status).

        Returns (the page failed before this run, an older record of it is
        now superseded)."""
        key = (encode_rel(record["path"]), record["page"])
        before = self.db.execute("SELECT todo, offset FROM pages WHERE rel = ? AND page = ?", key).fetchone()
        self.db.execute("DELETE FROM outputs WHERE rel = ?", key[:1])  # the file's outputs are stale now
        self.db.execute(
            """INSERT INTO pages (rel, page, pages, size, mtime_ns, fingerprint, status, attempts, run,
                                  offset, length, seen, todo)
               VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, 0)
               ON CONFLICT (rel, page) DO UPDATE SET pages = excluded.pages, size = excluded.size,
               mtime_ns = excluded.mtime_ns, fingerprint = excluded.fingerprint, status = excluded.status,
               attempts = attempts + 1, run = excluded.run, offset = excluded.offset,
               length = excluded.length, todo = 0""",
            (
                *key,
                record.get("pages"),
                record.get("size"),
                record.get("mtime_ns"),
                fingerprint,
                record.get("status"),
                record.get("run"),
                offset,
                length,
                self.generation,
            ),
        )
        self.set_meta("results_end", offset + length)
        failed_before = before is not None and before[0] == FAILED_BEFORE
        superseded = before is not None and before[1] is not None
        return failed_before, superseded

    def forget_records_from(self, offset: int) -> int:
        """results.jsonl lost everything from ``offset`` on: those pages have
        no record any more and are to do again.  Returns how many."""
        self.db.execute("DELETE FROM outputs WHERE rel IN (SELECT rel FROM pages WHERE offset + length > ?)", (offset,))
        lost = self.db.execute(
            "UPDATE pages SET offset = NULL, length = NULL, status = NULL, todo = ? WHERE offset + length > ?",
            (NEW, offset),
        ).rowcount
        self.set_meta("results_end", self.records_end())
        return lost

    def records_end(self) -> int:
        """Where the last record the ledger points at ends."""
        row = self.db.execute(
            "SELECT offset + length FROM pages WHERE offset IS NOT NULL ORDER BY offset DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else 0

    def gone(self, generation: int, limit: int) -> tuple[int, list[str]]:
        """Pages not found by run ``generation`` (its discovery completed), and
        the first few of their files."""
        count = self.db.execute("SELECT count(*) FROM pages WHERE seen < ?", (generation,)).fetchone()[0]
        files = self.db.execute(
            "SELECT DISTINCT rel FROM pages WHERE seen < ? ORDER BY rel LIMIT ?", (generation, limit)
        ).fetchall()
        return count, [decode_rel(r[0]) for r in files]

    def gone_outputs(self, generation: int) -> Iterator[tuple[str, str]]:
        """(path, format) of each output written for a file no longer present."""
        query = "SELECT rel, format FROM outputs WHERE rel IN (SELECT rel FROM pages WHERE seen < ?)"
        for key, name in self.db.execute(query, (generation,)):
            yield decode_rel(key), name

    def drop_gone(self, generation: int) -> int:
        """Forget the pages of files no longer present, and their outputs'
        marks; their lines go at the next compaction."""
        self.db.execute("DELETE FROM outputs WHERE rel IN (SELECT rel FROM pages WHERE seen < ?)", (generation,))
        return self.db.execute("DELETE FROM pages WHERE seen < ?", (generation,)).rowcount

    # --- per-file outputs (``assembly``) ---------------------------------------
    def file_spans(self, rel: str) -> list[FileSpan]:
        """The file's pages in page order, with where their records are."""
        return [
            FileSpan(*row)
            for row in self.db.execute(
                "SELECT page, pages, offset, length, status, todo FROM pages WHERE rel = ? ORDER BY page",
                (encode_rel(rel),),
            )
        ]

    def file_waits(self, rel: str) -> bool:
        """Some page of the file has no record yet or is to be done again.
        Cheap (it stops at the first such page): asked after every record."""
        return (
            self.db.execute(
                "SELECT 1 FROM pages WHERE rel = ? AND (offset IS NULL OR todo > 0) LIMIT 1", (encode_rel(rel),)
            ).fetchone()
            is not None
        )

    def files_after(self, after: bytes, limit: int) -> list[tuple[bytes, int, int, int, int, int]]:
        """Up to ``limit`` files in path order after ``after``: (encoded path,
        pages recorded in the ledger, max and min of ``pages``, pages with a
        record and nothing to do, the least ``seen``)."""
        return self.db.execute(
            """SELECT rel, count(*), max(pages), min(pages), sum(offset IS NOT NULL AND todo = 0), min(seen)
               FROM pages WHERE rel > ? GROUP BY rel ORDER BY rel LIMIT ?""",
            (after, limit),
        ).fetchall()

    def outputs_of(self, keys: list[bytes]) -> dict[bytes, set[str]]:
        """The formats marked written, by encoded path."""
        found: dict[bytes, set[str]] = {}
        for start in range(0, len(keys), MAX_PARAMS):
            chunk = keys[start : start + MAX_PARAMS]
            marks = ",".join("?" * len(chunk))
            for key, name in self.db.execute(f"SELECT rel, format FROM outputs WHERE rel IN ({marks})", chunk):
                found.setdefault(key, set()).add(name)
        return found

    def mark_output(self, rel: str, name: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO outputs VALUES (?, ?)", (encode_rel(rel), name))

    # --- the records, for compaction and checks -----------------------------
    def record_spans(self) -> Iterator[tuple[bytes, int, int, int]]:
        """(rel, page, offset, length) of every page that has a record, in file order."""
        return self.db.execute("SELECT rel, page, offset, length FROM pages WHERE offset IS NOT NULL ORDER BY offset")
