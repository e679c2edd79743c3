"""The run ledger with real runs: done means done with these settings, one
input per output dir, files gone, damaged TIFFs, failures that cannot stall
a resume, crashes at any moment, and output dirs from before the ledger."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from conftest import batchocr_env, read_jsonl, text_page
from PIL import Image, ImageDraw

FAKE = ("--engine", "fault_engines:FakeEngine", "--quiet")


def keys(records):
    return Counter((r["path"], r["page"]) for r in records)


def ledger_rows(out_dir: Path) -> list[tuple]:
    with sqlite3.connect(out_dir / "ledger.sqlite") as db:
        return db.execute(
            "SELECT rel, page, offset, length, status FROM pages WHERE offset IS NOT NULL ORDER BY offset"
        ).fetchall()


def assert_ledger_matches_results(out_dir: Path) -> None:
    """Every line of results.jsonl is the record a ledger row points at, and
    every row with a record points at a line."""
    data = (out_dir / "results.jsonl").read_bytes()
    lines, offset = [], 0
    for raw in data.splitlines(keepends=True):
        lines.append((offset, raw))
        offset += len(raw)
    rows = ledger_rows(out_dir)
    assert len(rows) == len(lines)
    for (rel, page, row_offset, length, status), (line_offset, raw) in zip(rows, lines):
        record = json.loads(raw)
        assert (row_offset, length) == (line_offset, len(raw))
        assert (os.fsdecode(rel), page, status) == (record["path"], record["page"], record["status"])


def test_lang_change_redoes_exactly_the_pages_made_with_the_old_lang(run_batchocr, fake_pages):
    in_dir = fake_pages(["a.png", "b.png"])
    first = run_batchocr(in_dir, *FAKE, "--lang", "eng")
    assert first.returncode == 0, first.stderr
    assert {r["lang"] for r in first.results()} == {"eng"}
    text_page(in_dir / "c.png", ["new"])
    second = run_batchocr(in_dir, *FAKE, "--lang", "deu")
    assert second.returncode == 0, second.stderr
    assert "2 pages redone: settings changed (lang eng -> deu)" in second.stderr
    counts = second.run_info()["counts"]
    assert counts["done_this_run"] == 3 and counts["new"] == 1 and counts["skipped_already_ok"] == 0
    records = second.results()
    assert keys(records) == Counter({("a.png", 1): 1, ("b.png", 1): 1, ("c.png", 1): 1})
    assert {r["lang"] for r in records} == {"deu"}
    assert len({r["fingerprint"] for r in records}) == 1
    assert second.run_info()["fingerprint"]["lang"] == "deu"
    third = run_batchocr(in_dir, *FAKE, "--lang", "deu")
    assert third.run_info()["counts"]["done_this_run"] == 0
    assert third.run_info()["counts"]["skipped_already_ok"] == 3
    assert_ledger_matches_results(third.out_dir)


def test_a_second_input_dir_into_the_same_output_dir_is_refused(run_batchocr, fake_pages, tmp_path):
    first_in = fake_pages(["a.png"])
    assert run_batchocr(first_in, *FAKE).returncode == 0
    other = tmp_path / "other"
    text_page(other / "a.png", ["another a"])
    refused = run_batchocr(other, *FAKE)
    assert refused.returncode == 2
    assert f"belongs to input {first_in}" in refused.stderr
    assert keys(read_jsonl(refused.out_dir / "results.jsonl")) == Counter({("a.png", 1): 1})
    assert run_batchocr(other, *FAKE, "--restart").returncode == 0  # starting over is allowed


def test_deleted_file_is_reported_then_dropped_with_the_flag(run_batchocr, fake_pages):
    in_dir = fake_pages(["a.png", "b.png", "c.png"])
    assert run_batchocr(in_dir, *FAKE).returncode == 0
    (in_dir / "c.png").unlink()
    second = run_batchocr(in_dir, *FAKE)
    assert second.returncode == 0
    assert "1 pages of files no longer present" in second.stderr and "c.png" in second.stderr
    assert second.run_info()["counts"]["pages"] == 2
    assert second.run_info()["resume"]["gone_pages"] == 1
    assert ("c.png", 1) in keys(second.results())  # kept until asked
    report = subprocess.run(
        [sys.executable, "-m", "batchocr", "report", str(second.out_dir)],
        capture_output=True,
        text=True,
        env=batchocr_env(second.out_dir.parent),
    )
    assert "1 pages of files no longer present" in report.stdout
    assert "pages: 2 recorded" in report.stdout  # the run and the report agree
    third = run_batchocr(in_dir, *FAKE, "--drop-missing")
    assert third.returncode == 0
    assert keys(third.results()) == Counter({("a.png", 1): 1, ("b.png", 1): 1})
    assert_ledger_matches_results(third.out_dir)


def damaged_tiff(path: Path, pages: int, damaged_page: int) -> Path:
    """A multi-page TIFF whose ``damaged_page``-th page directory is garbage."""
    frames = []
    for i in range(pages):
        frame = Image.new("L", (300, 120), 255)
        ImageDraw.Draw(frame).text((10, 10), f"page {i + 1}", fill=0)
        frames.append(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], compression=None)
    data = bytearray(path.read_bytes())
    offset, index = struct.unpack_from("<I", data, 4)[0], 1
    while index < damaged_page:
        entries = struct.unpack_from("<H", data, offset)[0]
        offset = struct.unpack_from("<I", data, offset + 2 + 12 * entries)[0]
        index += 1
    data[offset : offset + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))
    return path


def test_damaged_fourth_page_directory_is_an_error_record_not_a_silent_loss(run_batchocr, tmp_path):
    in_dir = tmp_path / "in"
    damaged_tiff(in_dir / "scan.tif", pages=6, damaged_page=4)
    result = run_batchocr(in_dir, *FAKE)
    assert result.returncode == 1, result.stderr
    status = {r["page"]: r["status"] for r in result.results()}
    assert status == {1: "ok", 2: "ok", 3: "ok", 4: "error"}
    assert "damaged page directory" in next(r for r in result.results() if r["page"] == 4)["error"]
    assert "page 4: damaged page directory; the pages after it cannot be read" in result.stderr


def test_failures_from_earlier_runs_cannot_stall_new_pages(run_batchocr, tmp_path):
    in_dir = tmp_path / "in"
    for i in range(25):
        text_page(in_dir / f"a{i:02d}-raise.png", ["broken"], size=(200, 100))
    first = run_batchocr(in_dir, *FAKE, "--workers", "2")
    assert first.returncode == 1
    failed_before = {r["path"] for r in first.results()}
    for i in range(40):
        text_page(in_dir / f"b{i:02d}.png", ["new"], size=(200, 100))  # sorts after the broken ones
    second = run_batchocr(in_dir, *FAKE, "--workers", "2")
    third = second if second.run_info()["counts"]["not_done"] == 0 else run_batchocr(in_dir, *FAKE)
    ok = {r["path"] for r in third.results() if r["status"] == "ok"}
    assert ok == {f"b{i:02d}.png" for i in range(40)}
    order = [r["path"] for r in read_jsonl(second.out_dir / "results.jsonl") if r["run"] == second.run_info()["run"]]
    first_retry = min(i for i, path in enumerate(order) if path in failed_before)
    new_before = sum(path.startswith("b") for path in order[:first_retry])
    assert new_before >= 39  # every new page before those that failed (one may be in flight on the other worker)
    again = run_batchocr(in_dir, *FAKE, "--workers", "2")  # only the 25 broken ones are left to do
    assert again.run_info()["status"] == "finished"  # failing again is no reason to stop early
    assert again.run_info()["counts"]["redone_failed_before"] == 25
    assert again.run_info()["counts"]["done_this_run"] == 25


def test_supervisor_killed_at_ten_random_moments_ends_with_every_page_once(tmp_path, run_batchocr):
    names = [f"p{i:03d}.png" for i in range(240)]
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    for name in names:
        text_page(in_dir / name, [name], size=(200, 100))
    text_page(in_dir / "z-raise.png", ["broken"], size=(200, 100))  # error records get superseded too
    moments = random.Random(2026).sample(range(30, 300), 10)  # hundredths of a second after start
    env = batchocr_env(tmp_path, FAULT_SLEEP="0.05")
    cut_short = 0  # kills that left pages to do
    for moment in moments:
        proc = subprocess.Popen(
            [sys.executable, "-m", "batchocr", "run", str(in_dir), "-o", str(out_dir), *FAKE, "--workers", "2"],
            env=env,
            start_new_session=True,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(moment / 100)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        whole = (
            (out_dir / "results.jsonl").read_bytes().rsplit(b"\n", 1)[0]
            if (out_dir / "results.jsonl").exists()
            else b""
        )
        cut_short += len({(r["path"], r["page"]) for r in map(json.loads, whole.splitlines())}) < len(names) + 1
    assert cut_short >= 3  # the moments fell in the middle of the work, not only after it
    final = run_batchocr(in_dir, *FAKE, out_dir=out_dir)
    assert final.returncode == 1, final.stderr  # z-raise.png
    assert keys(final.results()) == Counter({(n, 1): 1 for n in [*names, "z-raise.png"]})
    assert_ledger_matches_results(out_dir)


def test_output_dir_from_before_the_ledger_is_adopted(run_batchocr, fake_pages):
    in_dir = fake_pages(["a.png", "b.png", "c-raise.png"])
    first = run_batchocr(in_dir, *FAKE)
    out = first.out_dir
    # What the version before the ledger left: records without settings, no ledger.
    records = [
        {k: v for k, v in r.items() if k not in ("fingerprint", "engine_version", "lang")} for r in first.results()
    ]
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    info = first.run_info()
    del info["fingerprint"]
    (out / "run.json").write_text(json.dumps(info))
    for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"):
        (out / name).unlink(missing_ok=True)
    second = run_batchocr(in_dir, *FAKE)
    assert second.returncode == 1
    assert second.run_info()["adopted"]["records"] == 3
    counts = second.run_info()["counts"]
    assert counts["skipped_already_ok"] == 2 and counts["redone_failed_before"] == 1
    assert keys(second.results()) == Counter({("a.png", 1): 1, ("b.png", 1): 1, ("c-raise.png", 1): 1})
    assert_ledger_matches_results(out)
    third = run_batchocr(in_dir, *FAKE, "--lang", "deu")
    assert "3 pages redone: settings changed (lang eng -> deu)" in third.stderr


def test_a_line_that_is_not_a_record_is_set_aside(run_batchocr, fake_pages):
    in_dir = fake_pages(["a.png", "b.png"])
    first = run_batchocr(in_dir, *FAKE)
    results = first.out_dir / "results.jsonl"
    results.write_bytes(b"null\n" + results.read_bytes() + b"[1, 2]\n")
    (first.out_dir / "ledger.sqlite").unlink()  # read it all again, as an old output dir
    second = run_batchocr(in_dir, *FAKE)
    assert second.returncode == 0, second.stderr
    assert "2 line(s) of results.jsonl are not page records; moved to set-aside.jsonl" in second.stderr
    assert [json.loads(e["line"]) for e in read_jsonl(first.out_dir / "set-aside.jsonl")] == [None, [1, 2]]
    assert keys(second.results()) == Counter({("a.png", 1): 1, ("b.png", 1): 1})
    assert_ledger_matches_results(second.out_dir)


def test_torn_tail_of_memory_jsonl_is_repaired(run_batchocr, fake_pages):
    in_dir = fake_pages(["a.png"])
    first = run_batchocr(in_dir, *FAKE)
    memory = first.out_dir / "memory.jsonl"
    with open(memory, "ab") as fh:
        fh.write(b'{"worker": 1, "event": "sam')  # as after a full disk
    text_page(in_dir / "b.png", ["new"])
    second = run_batchocr(in_dir, *FAKE)
    assert second.returncode == 0
    events = read_jsonl(memory)  # every line parses: nothing glued onto the torn one
    assert any(e["run"] == second.run_info()["run"] and e["event"] == "start" for e in events)


def test_pages_past_the_end_of_a_shorter_file_are_dropped(run_batchocr, tmp_path):
    in_dir = tmp_path / "in"
    pages = [Image.new("L", (200, 100), 255) for _ in range(3)]
    in_dir.mkdir()
    pages[0].save(in_dir / "scan.tif", save_all=True, append_images=pages[1:])
    first = run_batchocr(in_dir, *FAKE)
    assert keys(first.results()) == Counter({("scan.tif", 1): 1, ("scan.tif", 2): 1, ("scan.tif", 3): 1})
    Image.new("L", (220, 100), 255).save(in_dir / "scan.tif")  # rescanned as one page
    second = run_batchocr(in_dir, *FAKE)
    assert second.returncode == 0
    assert keys(second.results()) == Counter({("scan.tif", 1): 1})
    assert "2 pages dropped: their file has fewer pages now" in second.stderr
    assert_ledger_matches_results(second.out_dir)


def test_results_deleted_mid_run_loses_nothing(tmp_path, run_batchocr):
    names = [f"p{i:02d}.png" for i in range(40)]
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    for name in names:
        text_page(in_dir / name, [name], size=(200, 100))
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchocr", "run", str(in_dir), "-o", str(out_dir), *FAKE, "--workers", "2"],
        env=batchocr_env(tmp_path, FAULT_SLEEP="0.1"),
        stderr=subprocess.PIPE,
        text=True,
    )
    results = out_dir / "results.jsonl"
    deadline = time.monotonic() + 60
    while (not results.exists() or results.read_bytes().count(b"\n") < 5) and time.monotonic() < deadline:
        time.sleep(0.02)
    results.unlink()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "was deleted or replaced during the run; written back" in stderr
    assert keys(read_jsonl(results)) == Counter({(n, 1): 1 for n in names})
    assert_ledger_matches_results(out_dir)
