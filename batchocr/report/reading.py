"""Opening an output directory for ``batchocr report``.  Supervisor side (the
report command), no engine, no workers.

results.jsonl is streamed (``RecordStream``: slim records, read anew on each
pass, never all in memory); memory.jsonl and run.json are read whole
(memory.jsonl grows with run time, not with pages).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchocr.errors import ConfigError
from batchocr.output import MEMORY, RESULTS, RUN_INFO
from batchocr.results import complete_lines
from batchocr.resume import read_records

# The record fields the report uses: the rest (text, lines, traceback) is
# dropped as each line streams past.
REPORT_FIELDS = (
    "path",
    "page",
    "status",
    "run",
    "pid",
    "worker",
    "t",
    "ms",
    "decode_ms",
    "error",
    "error_kind",
    "confidence",
    "low_confidence",
)


class RecordStream:
    """results.jsonl as an iterable of slim records (``REPORT_FIELDS``),
    read anew on each pass: never all in memory.  Counts the lines that are
    not records (``unreadable``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.unreadable = 0

    def __iter__(self):
        if not self.path.exists():
            return
        self.unreadable = 0
        try:
            for _, raw in complete_lines(self.path):
                try:
                    record = json.loads(raw)
                except ValueError:
                    record = None
                if not isinstance(record, dict):
                    self.unreadable += 1
                    continue
                yield {k: record[k] for k in REPORT_FIELDS if k in record}
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc.strerror or exc}") from None


@dataclass
class Outputs:
    """One output directory: memory.jsonl and run.json read, results.jsonl streamed."""

    out_dir: Path
    results: Any  # an iterable of records: a RecordStream, or a list in tests
    memory: list[dict[str, Any]]
    run_info: dict[str, Any]
    unreadable_lines: int = 0  # torn or corrupt memory.jsonl lines skipped


def load_outputs(out_dir: str | Path) -> Outputs:
    """Open results.jsonl, read memory.jsonl and run.json (any may be missing, not all)."""
    out = Path(out_dir)
    paths = [out / RESULTS, out / MEMORY, out / RUN_INFO]
    if not any(p.exists() for p in paths):
        raise ConfigError(f"{out} holds no batchocr outputs ({RESULTS}, {MEMORY}, {RUN_INFO})")
    memory, bad_memory = _read_jsonl(out / MEMORY)
    return Outputs(out, RecordStream(out / RESULTS), memory, _read_run_info(out / RUN_INFO), bad_memory)


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    if not path.exists():
        return [], 0
    try:
        return read_records(path)  # skips a torn tail: the run may be live
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_run_info(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
