"""Ctrl-C and SIGTERM: stop cleanly, leave valid outputs, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import psutil
import pytest
from conftest import batchocr_env, read_jsonl


def _start(in_dir, out_dir, tmp_path, sleep="0.4", *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "batchocr", "run", str(in_dir), "-o", str(out_dir)]
        + ["--engine", "fault_engines:FakeEngine", "--workers", "2", "--quiet", *extra],
        env=batchocr_env(tmp_path, FAULT_SLEEP=sleep, BATCHOCR_GRACE_SECONDS="10"),
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_results(out_dir, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len((out_dir / "results.jsonl").read_bytes().splitlines()) >= count:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise AssertionError("no results in time")


def _workers_of(proc) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_finishes_in_flight_pages_and_exits(fake_pages, tmp_path, signum, code):
    names = [f"p{i:02d}.png" for i in range(40)]
    in_dir, out_dir = fake_pages(names), tmp_path / "out"
    proc = _start(in_dir, out_dir, tmp_path, "2")  # 2 s pages: both workers hold one at the signal
    _wait_for_results(out_dir, 3)
    workers = _workers_of(proc)
    assert workers
    recorded_before = len(read_jsonl(out_dir / "results.jsonl"))
    # as a terminal sends Ctrl-C, and systemd or timeout(1) SIGTERM: to the whole group
    os.killpg(proc.pid, signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    info = json.loads((out_dir / "run.json").read_text())
    assert info["interrupted"] is True and info["signal"] == signal.Signals(signum).name
    records = read_jsonl(out_dir / "results.jsonl")
    assert all(r["status"] == "ok" for r in records)
    assert len(records) >= recorded_before + 2, "the two pages in progress were cut short"
    assert len(records) < 40
    assert info["counts"]["not_done"] == 40 - len(records)
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive
    # and a re-run finishes the job, each page once
    rerun = subprocess.run(
        [sys.executable, "-m", "batchocr", "run", str(in_dir), "-o", str(out_dir)]
        + ["--engine", "fault_engines:FakeEngine", "--quiet"],
        env=batchocr_env(tmp_path, FAULT_SLEEP="0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert Counter(r["path"] for r in read_jsonl(out_dir / "results.jsonl")) == Counter(names)


def test_second_ctrl_c_stops_at_once(fake_pages, tmp_path):
    in_dir, out_dir = fake_pages(["a.png", "b-hang.png", "c-hang.png"]), tmp_path / "out"
    proc = _start(in_dir, out_dir, tmp_path, "0", "--timeout", "600")
    _wait_for_results(out_dir, 1)
    time.sleep(0.5)  # both workers are now stuck in hanging pages
    workers = _workers_of(proc)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.5)
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 130
    assert json.loads((out_dir / "run.json").read_text())["interrupted"] is True
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive
    exits = [e for e in read_jsonl(out_dir / "memory.jsonl") if e["event"] == "exit"]
    assert len(exits) == 2 and {e["kind"] for e in exits} == {"interrupted"}, exits  # stopped by the user


def test_ctrl_c_while_every_worker_is_still_loading_is_an_interrupt_not_an_abort(fake_pages, tmp_path):
    """With no grace left, the three loading workers are killed at once: that
    is the user stopping the run (130), not workers failing to start (4)."""
    in_dir, out_dir = fake_pages([f"p{i}.png" for i in range(6)]), tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchocr", "run", str(in_dir), "-o", str(out_dir), "--workers", "3", "--quiet"]
        + ["--engine", "fault_engines:SlowStartFakeEngine"],
        env=batchocr_env(tmp_path, FAULT_START_SLEEP="60", BATCHOCR_GRACE_SECONDS="0"),
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(_workers_of(proc)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the workers are loading their engine
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    info = json.loads((out_dir / "run.json").read_text())
    assert info["exit_code"] == 130 and "aborted" not in info, info


def test_ctrl_c_while_workers_are_still_starting_python_leaves_no_traceback(fake_pages, tmp_path):
    """Ctrl-C reaches the whole process group, also a worker still importing
    batchocr: it must not die there with a KeyboardInterrupt traceback."""
    in_dir, out_dir = fake_pages(["a.png", "b.png"]), tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchocr", "run", str(in_dir), "-o", str(out_dir), "--workers", "2"]
        + ["--engine", "fault_engines:FakeEngine"],
        env=batchocr_env(tmp_path),
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not [p for p in _workers_of(proc) if "multiprocessing" in " ".join(p.cmdline())]:
        assert time.monotonic() < deadline, "no worker started"
        time.sleep(0.01)
    time.sleep(0.15)  # past the interpreter's own start: the worker is importing batchocr
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
