"""Resuming into an existing output directory.  Supervisor side.

A run into an output directory continues it: the ledger (``ledger.py``)
says which pages are done, with which file identity and settings; this
module opens it before the run and closes the books after it.

Before the run (``open_resume``):

- the output directory must belong to this input directory (exit 2 otherwise);
- a compaction cut short by a crash is finished;
- this run's settings fingerprint is registered;
- records the ledger has not accounted for are read back from results.jsonl
  (all of them for a directory written before the ledger existed; the last
  second's worth after a crash), and a torn tail of memory.jsonl is cut.

After the run (``finish_resume``): pages of files no longer present are
counted (and dropped with ``--drop-missing``), and results.jsonl is
compacted when some record in it was superseded.

"Unchanged" means same relative path, page, file size and modification time
(nanoseconds).  A content hash would be stronger, but would read every byte
of a million-page archive on each resume; replacing a scan with another one
changes its mtime (or size) in every workflow we know, and ``--restart``
covers the rest.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchocr import plural
from batchocr.assembly import remove_outputs
from batchocr.errors import ConfigError
from batchocr.fingerprint import digest, same_as_far_as_known, settings_fingerprint
from batchocr.ledger import LEDGER, Ledger
from batchocr.ledger_source import DiscoveryStats, LedgerSource
from batchocr.output import MEMORY, RESULTS, RUN_INFO
from batchocr.outputs import format_names
from batchocr.results import SET_ASIDE, adopt_tail, compact, finish_interrupted_compaction, repair_torn_tail

SHOWN_GONE_FILES = 10


@dataclass
class Resume:
    input_dir: str
    out_dir: Path
    ledger: Ledger
    fingerprint: int  # this run's fingerprint id in the ledger
    fingerprint_settings: dict[str, Any]
    stamp: dict[str, Any]  # fields every record of this run carries
    adopted: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def source(self, on_found: Callable[[int], None]) -> LedgerSource:
        return LedgerSource(
            self.ledger, self.input_dir, [str(self.out_dir)], self.fingerprint, self.fingerprint_settings, on_found
        )


def open_resume(input_dir: str, out_dir: Path, settings, engine, inventory) -> Resume:
    ledger = Ledger(out_dir)
    try:
        _claim(ledger, out_dir, os.path.abspath(input_dir))
        finish_interrupted_compaction(ledger, out_dir / RESULTS)
        fingerprint = settings_fingerprint(settings, engine.name, engine.version(), inventory, ledger)
        fingerprint_id = ledger.fingerprint_id(digest(fingerprint), fingerprint)
        memory_torn = repair_torn_tail(out_dir / MEMORY)
        adopted = adopt_tail(
            ledger, out_dir / RESULTS, _record_fingerprint(ledger, out_dir, fingerprint, fingerprint_id)
        )
        ledger.new_generation()
        ledger.commit()
    except BaseException:
        ledger.close()
        raise
    stamp = {"engine_version": fingerprint["engine_version"], "lang": settings.lang, "fingerprint": digest(fingerprint)}
    return Resume(
        input_dir=input_dir,
        out_dir=out_dir,
        ledger=ledger,
        fingerprint=fingerprint_id,
        fingerprint_settings=fingerprint,
        stamp=stamp,
        warnings=adopted.warnings,
        adopted={
            "records": adopted.records,
            "set_aside": adopted.set_aside,
            "torn_bytes_cut": adopted.torn_bytes,
            "memory_torn_bytes_cut": memory_torn,
        },
    )


def _claim(ledger: Ledger, out_dir: Path, input_dir: str) -> None:
    """One output directory belongs to one input directory."""
    owner = ledger.meta("input_dir") or _legacy_run_info(out_dir).get("input_dir")
    if owner and owner != input_dir:
        raise ConfigError(
            f"output directory {out_dir} belongs to input {owner}, not {input_dir}; "
            f"use another --output-dir, or --restart to start it over for {input_dir}"
        )
    ledger.set_meta("input_dir", input_dir)


def _legacy_run_info(out_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads((out_dir / RUN_INFO).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _record_fingerprint(ledger: Ledger, out_dir: Path, current: dict[str, Any], current_id: int):
    """fingerprint_of(record) for records read back from results.jsonl."""
    ids: dict[str, int] = {digest(current): current_id}
    legacy = _legacy_fingerprint(out_dir)

    def fingerprint_of(record: dict[str, Any]) -> int:
        known = record.get("fingerprint")
        if isinstance(known, str):
            if known not in ids:
                row = ledger.db.execute("SELECT id FROM fingerprints WHERE digest = ?", (known,)).fetchone()
                ids[known] = row[0] if row else ledger.fingerprint_id(known, {})
            return ids[known]
        # Written before the ledger: only the engine name, and run.json's version and lang.
        made_with = {**legacy, "engine": record.get("engine")}
        if same_as_far_as_known(made_with, current):
            return current_id
        key = "legacy-" + digest(made_with)
        if key not in ids:
            ids[key] = ledger.fingerprint_id(key, made_with)
        return ids[key]

    return fingerprint_of


def _legacy_fingerprint(out_dir: Path) -> dict[str, Any]:
    info = _legacy_run_info(out_dir)
    engine = info["engine"] if isinstance(info.get("engine"), dict) else {}
    settings = info["settings"] if isinstance(info.get("settings"), dict) else {}
    known = {"engine_version": engine.get("version"), "lang": settings.get("lang")}
    return {k: v for k, v in known.items() if v is not None}


def finish_resume(resume: Resume, found: DiscoveryStats, sink, drop_missing: bool) -> dict[str, Any]:
    """After the run: files gone, compaction.  Returns run.json's ``resume``."""
    ledger = resume.ledger
    summary: dict[str, Any] = {"lost_records": sink.lost_records}
    if found.superseded:
        ledger.set_meta("superseded", int(ledger.meta("superseded") or 0) + found.superseded)
    if found.complete:  # only a whole discovery knows what is gone
        summary["present_generation"] = ledger.generation  # for report: pages seen since are present
        gone, files = ledger.gone(ledger.generation, SHOWN_GONE_FILES)
        summary.update(gone_pages=gone, gone_files=files, gone_dropped=False)
        if gone and drop_missing and found.unseen_folders:  # what discovery missed is not gone
            summary["gone_not_dropped"] = f"{plural.count(found.unseen_folders, 'folder')} could not be listed"
        elif gone and drop_missing:
            removed, failed = remove_outputs(resume.out_dir, ledger.gone_outputs(ledger.generation))
            summary.update(gone_outputs_removed=removed, gone_outputs_not_removed=failed)
            ledger.drop_gone(ledger.generation)
            ledger.set_meta("superseded", int(ledger.meta("superseded") or 0) + gone)
            summary["gone_dropped"] = True
    ledger.commit()
    compacted = compact(ledger, resume.out_dir / RESULTS)
    if compacted:
        summary["compacted_bytes"] = {"before": compacted[0], "after": compacted[1]}
    return summary


def move_aside(out_dir: Path) -> Path | None:
    """``--restart``: move earlier outputs into ``previous-<time>/``, never delete them."""
    names = (RESULTS, MEMORY, RUN_INFO, SET_ASIDE, LEDGER, LEDGER + "-wal", LEDGER + "-shm", *format_names())
    present = [out_dir / name for name in names if (out_dir / name).exists()]
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


def read_records(path: Path) -> tuple[list[dict], int]:
    """Every readable record, and how many lines were not (torn or corrupt)."""
    records, bad = [], 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):  # torn tail of a live or killed run
                bad += 1
                break
            try:
                record = json.loads(raw)
            except ValueError:
                bad += 1
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                bad += 1
    return records, bad
