"""The worker pool under faults, with real processes and fake engines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import psutil
from conftest import batchocr_env, fault_engine, read_jsonl

FAKE = fault_engine("FakeEngine")
# How each executor words a worker killed by SIGKILL (Ray does not report the signal).
KILLED = {"local": "killed by signal 9", "ray": "died"}


def test_every_page_once_with_dynamic_dispatch(run_batchocr, fake_pages, executor):
    names = [f"p{i:02d}.png" for i in range(20)]
    result = run_batchocr(fake_pages(names), *FAKE, "--workers", "2", *executor)
    assert result.returncode == 0, result.stderr
    assert result.pages() == Counter({(n, 1): 1 for n in names})
    workers = Counter(r["worker"] for r in result.results())
    assert set(workers) == {1, 2}  # both workers got work


def test_poison_page_is_retried_once_then_recorded(run_batchocr, fake_pages, executor):
    names = ["a.png", "b-crash.png", "c.png", "d.png", "e.png"]
    result = run_batchocr(fake_pages(names), *FAKE, "--workers", "2", *executor)
    assert result.returncode == 1
    records = {r["path"]: r for r in result.results()}
    assert result.pages() == Counter({(n, 1): 1 for n in names})
    poison = records["b-crash.png"]
    assert poison["status"] == "error"
    assert poison["attempt"] == 2
    assert KILLED[executor[1]] in poison["error"] and "tried 2 times" in poison["error"]
    assert all(records[n]["status"] == "ok" for n in names if n != "b-crash.png")
    exits = [e for e in result.memory() if e["event"] == "exit" and KILLED[executor[1]] in (e.get("cause") or "")]
    assert len(exits) == 2  # the first try and the retry each killed a worker
    assert "b-crash.png" in result.stderr  # the summary says where it went wrong


def test_page_that_crashes_once_succeeds_on_retry(run_batchocr, fake_pages, executor):
    names = ["a.png", "b-once.png", "c.png"]
    result = run_batchocr(fake_pages(names), *FAKE, "--workers", "2", *executor)
    assert result.returncode == 0, result.stderr
    records = {r["path"]: r for r in result.results()}
    assert records["b-once.png"]["status"] == "ok"
    assert records["b-once.png"]["attempt"] == 2


def test_os_exit_in_worker_is_a_crash_with_its_code(run_batchocr, fake_pages):
    result = run_batchocr(fake_pages(["a.png", "b-exit.png"]), *fault_engine("FakeEngine"), "--workers", "1")
    records = {r["path"]: r for r in result.results()}
    assert records["b-exit.png"]["status"] == "error"
    assert "exited unexpectedly with code 3" in records["b-exit.png"]["error"]
    assert records["a.png"]["status"] == "ok"


def test_hanging_page_times_out_and_others_finish(run_batchocr, fake_pages, executor):
    names = ["a.png", "b-hang.png", "c.png", "d.png"]
    started = time.monotonic()
    result = run_batchocr(fake_pages(names), *FAKE, "--workers", "2", "--timeout", "2", *executor)
    assert time.monotonic() - started < 60
    records = {r["path"]: r for r in result.results()}
    assert records["b-hang.png"]["status"] == "timeout"
    assert "timeout of 2 s" in records["b-hang.png"]["error"]
    assert [records[n]["status"] for n in ("a.png", "c.png", "d.png")] == ["ok"] * 3
    assert result.returncode == 1
    kinds = Counter(e["kind"] for e in result.memory() if e["event"] == "exit")
    assert kinds["timeout"] == 1 and kinds["crash"] == 0, kinds  # killed on purpose, not a crash


def test_engine_exception_is_an_error_record_and_engine_is_rebuilt(run_batchocr, fake_pages):
    names = ["a-raise.png", "b.png"]
    result = run_batchocr(fake_pages(names), *fault_engine("FakeEngine"), "--workers", "1")
    records = {r["path"]: r for r in result.results()}
    assert records["a-raise.png"]["status"] == "error"
    assert "fake engine refused this page" in records["a-raise.png"]["error"]
    assert records["b.png"]["status"] == "ok"  # a used-after-free engine would have failed
    recycles = [e for e in result.memory() if e["event"] == "recycle"]
    assert [e["reason"] for e in recycles] == ["error"]


def test_recycle_by_count_logs_before_and_after_for_every_worker(run_batchocr, fake_pages):
    names = [f"p{i:02d}.png" for i in range(12)]
    result = run_batchocr(
        fake_pages(names), *fault_engine("CachingFakeEngine"), "--workers", "2", "--recycle-every", "2"
    )
    assert result.returncode == 0, result.stderr
    recycles = [e for e in result.memory() if e["event"] == "recycle"]
    assert {e["worker"] for e in recycles} == {1, 2}
    for e in recycles:
        assert e["reason"] == "count" and e["mode"] == "in-process"
        # the engine's 30 MB cache is there before and gone after: both measured at the right moment
        assert e["rss_before_mb"] - e["rss_after_mb"] > 20


def test_leaking_engine_gets_its_process_replaced(run_batchocr, fake_pages, executor):
    """In-process freeing cannot return this leak: the worker process is replaced."""
    names = [f"p{i:02d}.png" for i in range(6)]
    only_the_rss_limit = ("--max-worker-rss", "150", "--recycle-every", "0")
    result = run_batchocr(
        fake_pages(names), *fault_engine("LeakyFakeEngine"), "--workers", "1", *only_the_rss_limit, *executor
    )
    assert result.returncode == 0, result.stderr
    assert result.pages() == Counter({(n, 1): 1 for n in names})
    memory = result.memory()
    restarts = [e for e in memory if e["event"] == "recycle" and e["mode"] == "restart"]
    assert restarts and all(e["reason"] == "rss" for e in restarts)
    assert all(e["rss_after_mb"] > 150 * 0.75 for e in restarts)
    starts = [e for e in memory if e["event"] == "start"]
    assert len({e["pid"] for e in starts}) == len(restarts) + 1  # one fresh process per restart
    assert max(e["rss_mb"] for e in starts) < 150  # and each starts small again


def test_engine_that_cannot_load_aborts_quickly(run_batchocr, fake_pages, executor):
    started = time.monotonic()
    result = run_batchocr(fake_pages(["a.png", "b.png"]), *fault_engine("BrokenInitFakeEngine"), *executor)
    assert result.returncode == 4
    assert "model file is corrupt (simulated)" in result.stderr
    assert result.run_info()["exit_code"] == 4
    assert time.monotonic() - started < 60


def test_missing_model_exits_3_before_any_worker(run_batchocr, fake_pages):
    result = run_batchocr(fake_pages(["a.png"]), *fault_engine("NeedsModelFakeEngine"))
    assert result.returncode == 3
    assert "fake.model" in result.stderr and "/nonexistent-fake-models" in result.stderr
    assert not (result.out_dir / "memory.jsonl").exists()  # no worker ever started


def test_sigkill_of_a_worker_from_outside_loses_nothing(tmp_path, fake_pages, executor):
    """A real kill from the test while pages are in flight."""
    names = [f"p{i:02d}.png" for i in range(30)]
    out_dir = tmp_path / "out"
    proc = _start_fake_run(tmp_path, fake_pages(names), out_dir, sleep="0.3", args=executor)
    victim = _wait_for_worker_with_results(out_dir, proc)
    os.kill(victim, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    records = read_jsonl(out_dir / "results.jsonl")
    assert Counter((r["path"], r["page"]) for r in records) == Counter({(n, 1): 1 for n in names})
    assert all(r["status"] == "ok" for r in records)
    assert any(r["attempt"] == 2 for r in records)  # the page in hand was retried
    assert victim not in {r["pid"] for r in records if r["attempt"] == 2}
    lost = [e for e in read_jsonl(out_dir / "memory.jsonl") if e["event"] == "exit" and e["pid"] == victim]
    assert len(lost) == 1 and KILLED[executor[1]] in lost[0]["cause"] and lost[0]["kind"] == "crash"


def test_three_worker_kills_in_one_run_lose_nothing(tmp_path, fake_pages):
    names = [f"p{i:02d}.png" for i in range(40)]
    out_dir = tmp_path / "out"
    proc = _start_fake_run(tmp_path, fake_pages(names), out_dir, sleep="0.2")
    victims = []
    for round_ in range(3):
        victim = _wait_for_worker_with_results(out_dir, proc, min_results=4 + 6 * round_, exclude=victims)
        os.kill(victim, signal.SIGKILL)
        victims.append(victim)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    records = read_jsonl(out_dir / "results.jsonl")
    assert Counter((r["path"], r["page"]) for r in records) == Counter({(n, 1): 1 for n in names})
    assert all(r["status"] == "ok" for r in records)
    killed = [e for e in read_jsonl(out_dir / "memory.jsonl") if e["event"] == "exit" and e["pid"] in victims]
    assert len(killed) == 3 and all("signal 9" in e["cause"] for e in killed)


def _start_fake_run(tmp_path, in_dir, out_dir, sleep: str, args=()) -> subprocess.Popen:
    """A 2-worker run with the fake engine, in the background, to kill workers of."""
    return subprocess.Popen(
        [sys.executable, "-m", "batchocr", "run", str(in_dir), "-o", str(out_dir), *FAKE, "--workers", "2"]
        + ["--quiet", *args],
        env=batchocr_env(tmp_path, FAULT_SLEEP=sleep),
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_worker_with_results(out_dir, proc, timeout=60, min_results=3, exclude=()) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = read_jsonl_tolerant(out_dir / "results.jsonl")
        if len(done) >= min_results:
            pid = done[-1]["pid"]
            if pid not in exclude and psutil.pid_exists(pid):
                return pid
        assert proc.poll() is None, "run ended before the kill"
        time.sleep(0.05)
    raise AssertionError("no worker produced results in time")


def read_jsonl_tolerant(path):
    try:
        return read_jsonl(path)
    except ValueError:  # a line being written right now
        return []


def test_run_stops_early_when_most_pages_fail(run_batchocr, fake_pages):
    names = [f"p{i:02d}-raise.png" for i in range(40)] + [f"q{i:02d}.png" for i in range(40)]
    result = run_batchocr(
        fake_pages(names),
        *fault_engine("FakeEngine"),
        "--workers",
        "2",
        env={"BATCHOCR_MAX_FAILED_SHARE": "0.5"},
    )
    assert result.returncode == 1
    info = result.run_info()
    assert info["status"] == "stopped-early" and "max_failed_share" in info["stopped_early"]
    assert info["counts"]["not_done"] > 0  # it did not grind through the rest
    assert "stopped early" in result.stderr
