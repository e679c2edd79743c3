"""Re-running into the same output directory finishes the job without redoing it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import psutil
from conftest import batchocr_env, read_jsonl, text_page

from batchocr.output import OutputLock

FAKE = ("--engine", "fault_engines:FakeEngine", "--quiet")


def keys(records):
    return Counter((r["path"], r["page"]) for r in records)


def test_rerun_skips_done_pages_and_redoes_failed_and_changed(run_batchocr, fake_pages, tmp_path):
    in_dir = fake_pages(["a.png", "b.png", "c-raise.png"])
    first = run_batchocr(in_dir, *FAKE)
    assert first.returncode == 1
    first_pids = {r["pid"] for r in first.results()}
    (in_dir / "c-raise.png").rename(in_dir / "c.png")  # the user fixes the bad file
    text_page(in_dir / "d.png", ["new"])  # and a new scan arrives
    text_page(in_dir / "a.png", ["changed"])  # and one is rescanned
    os.utime(in_dir / "a.png", ns=(time.time_ns(), time.time_ns() + 10**9))
    second = run_batchocr(in_dir, *FAKE)
    assert second.returncode == 0, second.stderr
    records = second.results()
    assert keys(records) == Counter({(n, 1): 1 for n in ("a.png", "b.png", "c-raise.png", "c.png", "d.png")})
    redone = {r["path"] for r in records if r["pid"] not in first_pids}
    assert redone == {"a.png", "c.png", "d.png"}
    counts = second.run_info()["counts"]
    assert counts["skipped_already_ok"] == 1 and counts["done_this_run"] == 3


def test_failed_page_is_retried_and_listed_once(run_batchocr, fake_pages):
    in_dir = fake_pages(["a.png", "b-raise.png"])
    run_batchocr(in_dir, *FAKE)
    second = run_batchocr(in_dir, *FAKE)
    assert second.returncode == 1
    assert keys(second.results()) == Counter({("a.png", 1): 1, ("b-raise.png", 1): 1})
    assert second.run_info()["counts"]["redone_failed_before"] == 1


def test_torn_last_line_is_cut_away(run_batchocr, fake_pages):
    in_dir = fake_pages(["a.png", "b.png"])
    first = run_batchocr(in_dir, *FAKE)
    results = first.out_dir / "results.jsonl"
    lines = results.read_bytes().splitlines(keepends=True)
    results.write_bytes(lines[0] + lines[1][:25])  # as if killed while writing
    second = run_batchocr(in_dir, *FAKE)
    assert second.returncode == 0
    assert keys(second.results()) == Counter({("a.png", 1): 1, ("b.png", 1): 1})
    assert second.run_info()["adopted"]["torn_bytes_cut"] == 25


def test_restart_moves_old_outputs_aside(run_batchocr, fake_pages):
    in_dir = fake_pages(["a.png"])
    first = run_batchocr(in_dir, *FAKE)
    second = run_batchocr(in_dir, *FAKE, "--restart")
    assert second.run_info()["counts"]["done_this_run"] == 1
    moved = list(first.out_dir.glob("previous-*/results.jsonl"))
    assert len(moved) == 1 and keys(read_jsonl(moved[0])) == Counter({("a.png", 1): 1})


def test_live_run_holds_the_output_dir(run_batchocr, fake_pages, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    lock = OutputLock(out)
    assert lock.acquire()
    try:
        result = run_batchocr(fake_pages(["a.png"]), *FAKE, out_dir=out)
        assert result.returncode == 2
        assert "in use by a running batchocr" in result.stderr
    finally:
        lock.release()
    assert run_batchocr(fake_pages(["a.png"]), *FAKE, out_dir=out).returncode == 0  # free again


def test_supervisor_killed_then_rerun_has_every_page_once(fake_pages, tmp_path, run_batchocr):
    names = [f"p{i:02d}.png" for i in range(60)]
    in_dir, out_dir = fake_pages(names), tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchocr", "run", str(in_dir), "-o", str(out_dir), *FAKE, "--workers", "2"],
        env=batchocr_env(tmp_path, FAULT_SLEEP="0.1"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(_lines(out_dir / "results.jsonl")) < 15 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the supervisor itself, no chance to clean up
    proc.wait()
    worker_pids = {e["pid"] for e in read_jsonl(out_dir / "memory.jsonl") if e["event"] == "start"}
    assert worker_pids
    _wait_until_gone(worker_pids)  # no orphans: workers die with their supervisor
    assert 15 <= len(_lines(out_dir / "results.jsonl")) < 60
    second = run_batchocr(in_dir, *FAKE, out_dir=out_dir, env={"FAULT_SLEEP": "0.01"})
    assert second.returncode == 0, second.stderr
    assert keys(second.results()) == Counter({(n, 1): 1 for n in names})


def _wait_until_gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"orphaned workers still alive: {alive}")


def _lines(path):
    try:
        return path.read_bytes().splitlines()
    except FileNotFoundError:
        return []


def test_disk_full_is_a_clear_error_and_keeps_what_was_written(run_batchocr, fake_pages, tmp_path):
    in_dir = fake_pages(["a.png", "b.png"])
    out = tmp_path / "out"
    first = run_batchocr(in_dir, *FAKE, out_dir=out)
    assert first.returncode == 0
    before = (out / "results.jsonl").read_bytes()
    text_page(in_dir / "c.png", ["new"])
    (out / "memory.jsonl").unlink()
    os.symlink("/dev/full", out / "memory.jsonl")  # every write: ENOSPC
    result = run_batchocr(in_dir, *FAKE, out_dir=out)
    assert result.returncode == 4
    assert "No space left on device" in result.stderr
    assert (out / "results.jsonl").read_bytes().startswith(before)  # nothing lost or torn
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "aborted" and "No space left" in info["aborted"]
