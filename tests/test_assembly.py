"""The pieces of per-file output assembly, against a real ledger (SQLite)
and real files: when a file is complete, when its outputs go stale, and
that a write is all or nothing."""

from __future__ import annotations

import json

import pytest

from batchocr.assembly import Assembler, complete
from batchocr.ledger import FileSpan, Ledger
from batchocr.output import write_atomic


def span(page, pages=2, offset=0, status="ok", todo=0):
    return FileSpan(page, pages, offset, 10 if offset is not None else None, status, todo)


def test_a_file_is_complete_when_every_page_has_a_record_and_nothing_is_left_to_do():
    assert complete([span(1), span(2, status="error")])
    assert not complete([span(1)])  # page 2 not found yet
    assert not complete([span(1), span(2, offset=None)])  # page 2 has no record
    assert not complete([span(1), span(2, todo=2)])  # page 2 failed and is to be tried again
    assert not complete([span(1, pages=3), span(2, pages=3), span(4, pages=3)])
    assert not complete([])


def record(rel, page, pages=2, text="x"):
    return {"path": rel, "page": page, "pages": pages, "status": "ok", "text": text, "size": 1, "mtime_ns": 1}


def test_a_new_record_of_a_file_makes_its_outputs_stale(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.record(record("a.tif", 1), fingerprint=1, offset=0, length=10)
    ledger.record(record("b.tif", 1), fingerprint=1, offset=10, length=10)
    for rel in ("a.tif", "b.tif"):
        ledger.mark_output(rel, "txt")
    ledger.record(record("a.tif", 2), fingerprint=1, offset=20, length=10)
    assert ledger.outputs_of([b"a.tif", b"b.tif"]) == {b"b.tif": {"txt"}}
    ledger.forget_records_from(10)  # results.jsonl lost b's record: its outputs are stale too
    assert ledger.outputs_of([b"a.tif", b"b.tif"]) == {}
    ledger.close()


@pytest.mark.foreign_records  # hand-made records with only the fields assembly reads
def test_outputs_written_while_a_newer_record_arrived_are_not_marked(tmp_path):
    """The job read page 1's old record; page 1 was recorded again before the
    job was settled: the output is written again from the new record."""
    results = tmp_path / "results.jsonl"
    lines = [json.dumps(record("a.tif", page, text=f"old {page}")) + "\n" for page in (1, 2)]
    results.write_text("".join(lines))
    ledger = Ledger(tmp_path)
    offset = 0
    for line in lines:
        ledger.record(json.loads(line), fingerprint=1, offset=offset, length=len(line))
        offset += len(line)
    assembler = Assembler(ledger, str(tmp_path / "in"), tmp_path / "out", results, ("txt",))
    assembler.file_recorded("a.tif")  # complete: queued
    newer = json.dumps(record("a.tif", 1, text="new 1")) + "\n"
    with open(results, "a") as fh:
        fh.write(newer)
    ledger.record(json.loads(newer), fingerprint=1, offset=offset, length=len(newer))
    assembler.close(finish=True)  # the first job's output is stale: written again
    assert (tmp_path / "out" / "txt" / "a.tif.txt").read_text() == "new 1\fold 2"
    assert ledger.outputs_of([b"a.tif"]) == {b"a.tif": {"txt"}}
    ledger.close()


def test_a_write_that_fails_leaves_the_previous_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "a.png.txt"
    path.write_text("previous")

    def half_then_fail(fh):
        fh.write(b"half of the new")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(path, half_then_fail)
    assert path.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png.txt"]
    write_atomic(path, lambda fh: fh.write(b"new"))
    assert path.read_text() == "new"
