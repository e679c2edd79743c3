"""Writing results: only the supervisor writes, workers send records back.

JSONL lines are written with one ``os.write`` on an ``O_APPEND`` descriptor
each, so a line is either all there or (if the disk fills or the machine
dies mid-write) a torn tail that ``resume`` cuts away; an earlier line is
never damaged.  ``run.json`` is replaced atomically (write, fsync, rename).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from batchocr.errors import OutputError

# The files of an output directory.
RESULTS = "results.jsonl"
MEMORY = "memory.jsonl"
RUN_INFO = "run.json"

# fsync the JSONL files at most this often: every record would cost a disk
# flush; a machine crash then loses at most this many seconds of lines,
# which a resume redoes.
FSYNC_SECONDS = 5.0


def dumps(obj: Any) -> str:
    """One JSON line (no newline inside: JSON escapes them)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


def encode_line(text: str) -> bytes:
    """UTF-8; a non-UTF-8 file name (decoded with surrogate escapes) becomes the
    JSON escape ``\\udcXX``, so the file stays valid UTF-8 and valid JSON and
    ``os.fsencode`` gives back the original bytes."""
    return text.encode("utf-8", "backslashreplace")


def write_line(fd: int, line: bytes, path: Path, last_sync: float) -> float:
    """Append one whole line with ``os.write``; fsync at most every
    ``FSYNC_SECONDS``.  Returns the time of the last fsync."""
    view = memoryview(line)
    try:
        while view:  # os.write may write less than asked (rare, on signals)
            view = view[os.write(fd, view) :]
        now = time.monotonic()
        if now - last_sync >= FSYNC_SECONDS:
            os.fsync(fd)
            return now
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror or exc}; everything recorded so far is intact, "
            "and a re-run resumes from it"
        ) from None
    return last_sync


def close_synced(fd: int) -> int:
    """fsync and close ``fd`` (if open); returns -1, the closed marker."""
    if fd >= 0:
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return -1


class JsonlWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._last_sync = time.monotonic()

    def write(self, obj: Any) -> None:
        self._last_sync = write_line(self._fd, encode_line(dumps(obj) + "\n"), self.path, self._last_sync)

    def close(self) -> None:
        self._fd = close_synced(self._fd)


def write_json_atomic(path: Path, obj: Any) -> None:
    text = encode_line(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
    write_atomic(path, lambda fh: fh.write(text))


def write_atomic(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Write a whole file with ``write(fh)``: into a temporary file beside
    it, fsynced, then renamed over ``path``.  Readers (and a crash) see the
    old file or the new one, never a part; a failed write leaves no
    temporary file behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class OutputLock:
    """One live run per output directory.

    An ``flock`` on ``OUT/.batchocr.lock``: the kernel releases it when the
    holder dies, so a lock left by a killed run is taken over without any
    stale-lock guessing."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / ".batchocr.lock"
        self._fd = -1

    def acquire(self) -> bool:
        import fcntl

        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = -1
            return False
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
