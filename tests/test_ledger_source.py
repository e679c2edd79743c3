"""The ledger-backed page source in-process, with a discovery held at will:
pages are handed out while discovery goes on, and pages that failed before
wait until it has ended."""

from __future__ import annotations

import threading
import time

import pytest

from batchocr import ledger_source
from batchocr.discovery import FoundFile
from batchocr.ledger import Ledger


def found(rel: str) -> FoundFile:
    return FoundFile(path=f"/in/{rel}", rel=rel, size=10, mtime_ns=1, pages=1)


@pytest.fixture
def held_discovery(monkeypatch):
    """walk() yields ``first``, then waits for ``release`` before yielding ``rest``."""
    release = threading.Event()
    script: dict[str, list[FoundFile]] = {"first": [], "rest": []}

    def fake_walk(root, exclude, known=None):
        yield from script["first"]
        release.wait(10)
        yield from script["rest"]

    monkeypatch.setattr(ledger_source, "walk", fake_walk)
    monkeypatch.setattr(ledger_source, "BATCH_FILES", 1)  # hand over file by file
    return script, release


def take_all(source, seconds=5.0):
    taken, deadline = [], time.monotonic() + seconds
    while not source.exhausted() and time.monotonic() < deadline:
        item = source.take()
        if item is not None:
            taken.append(item.rel)
    return taken


def test_pages_come_while_discovery_goes_on_and_failed_ones_wait(tmp_path, held_discovery):
    script, release = held_discovery
    ledger = Ledger(tmp_path)
    ledger.new_generation()
    # An earlier run recorded a.png as failed (same file, same settings).
    ledger.record({"path": "a.png", "page": 1, "pages": 1, "size": 10, "mtime_ns": 1, "status": "error"}, 1, 0, 10)
    ledger.new_generation()
    script["first"] = [found("a.png"), found("b.png")]
    script["rest"] = [found("c.png")]
    source = ledger_source.LedgerSource(ledger, "/in", [], fingerprint=1, fingerprint_settings={})
    source.start()
    try:
        first = None
        deadline = time.monotonic() + 5
        while first is None and time.monotonic() < deadline:
            first = source.take()
        assert first is not None and first.rel == "b.png"  # before discovery has ended
        assert source.take() is None  # a.png failed before: it waits for the end of discovery
        assert not source.exhausted()
        release.set()
        assert take_all(source) == ["c.png", "a.png"]  # new pages first, then the failed one
        assert source.stats.complete and source.stats.failed_before == 1 and source.stats.new == 2
    finally:
        release.set()
        source.close()
        ledger.close()


def test_a_file_unchanged_since_recorded_is_not_opened_again(tmp_path):
    """Resume over a big archive: size and mtime as recorded -> recorded page count, unopened."""
    from batchocr.discovery import walk

    scan = tmp_path / "scan.tif"
    scan.write_bytes(b"not an image at all")  # opened, this would be skipped as not pages
    info = scan.stat()
    recorded = {"scan.tif": (info.st_size, info.st_mtime_ns, 3)}
    [found] = list(walk(str(tmp_path), known=recorded.get))
    assert (found.rel, found.pages) == ("scan.tif", 3)
    recorded["scan.tif"] = (info.st_size, info.st_mtime_ns - 1, 3)  # changed since: looked at again
    [found] = list(walk(str(tmp_path), known=recorded.get))
    assert found.pages == 1 and found.size == info.st_size
