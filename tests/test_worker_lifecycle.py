"""The edges of a worker's life, with real processes: starting, recycling,
stopping, freezing, flooding stderr.  Each is run over every executor where
the executor matters (``executor`` fixture: local pool and Ray)."""

from __future__ import annotations

import time
from collections import Counter

from conftest import fault_engine

# --start-timeout short enough to wait out in a test: Ray needs longer just to
# start an actor's process on a loaded 2-core machine.
START_TIMEOUT = {"local": "2", "ray": "20"}


def exit_causes(result) -> list[str]:
    return [e["cause"] for e in result.memory() if e["event"] == "exit" and e["cause"] != "finished"]


def test_an_engine_that_never_loads_aborts_at_the_start_deadline(run_batchocr, fake_pages, executor):
    started = time.monotonic()
    result = run_batchocr(
        fake_pages(["a.png", "b.png"]), *fault_engine("HangingStartFakeEngine"), "--start-timeout", "2", *executor
    )
    assert time.monotonic() - started < 90
    assert result.returncode == 4, result.stderr
    assert "workers cannot start: engine did not start within 2 s (--start-timeout)" in result.stderr
    assert result.run_info()["exit_code"] == 4


def test_one_hanging_load_is_replaced_and_the_run_finishes(run_batchocr, fake_pages, executor):
    names = [f"p{i}.png" for i in range(6)]
    result = run_batchocr(
        fake_pages(names),
        *fault_engine("HangingStartFakeEngine"),
        "--workers",
        "2",
        "--start-timeout",
        START_TIMEOUT[executor[1]],
        *executor,
        env={"FAULT_HANG_ONCE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.pages() == Counter({(n, 1): 1 for n in names})


def test_a_worker_frozen_while_loading_does_not_keep_the_run_alive(run_batchocr, fake_pages, executor):
    names = [f"p{i}.png" for i in range(4)]
    started = time.monotonic()
    result = run_batchocr(fake_pages(names), *fault_engine("StoppedStartFakeEngine"), "--workers", "2", *executor)
    assert time.monotonic() - started < 60  # not the 120 s start deadline: no work was left for it
    assert result.returncode == 0, result.stderr
    assert result.pages() == Counter({(n, 1): 1 for n in names})


def test_a_hanging_free_resources_costs_workers_not_pages(run_batchocr, fake_pages, executor):
    names = [f"p{i}.png" for i in range(3)]  # two pages, a recycle that hangs, a fresh worker, one page
    started = time.monotonic()
    start_timeout = START_TIMEOUT[executor[1]]
    result = run_batchocr(
        fake_pages(names),
        *fault_engine("HangingFreeFakeEngine"),
        "--workers",
        "1",
        "--recycle-every",
        "2",
        "--start-timeout",
        start_timeout,
        *executor,
    )
    assert time.monotonic() - started < 150
    assert result.returncode == 0, result.stderr
    assert result.pages() == Counter({(n, 1): 1 for n in names})
    assert all(r["status"] == "ok" and r["attempt"] == 1 for r in result.results())
    causes = exit_causes(result)
    assert any(f"engine rebuild took longer than {start_timeout} s" in c for c in causes), causes
    assert any("did not exit within" in c for c in causes), causes  # the final free hangs too


def test_a_failing_rebuild_restarts_the_process_and_no_page_is_recognised_twice(
    run_batchocr, fake_pages, executor, tmp_path
):
    names = [f"p{i}.png" for i in range(6)]
    result = run_batchocr(
        fake_pages(names), *fault_engine("RebuildFailsFakeEngine"), "--workers", "2", "--recycle-every", "1", *executor
    )
    assert result.returncode == 0, result.stderr
    assert all(r["status"] == "ok" and r["attempt"] == 1 for r in result.results())
    assert result.pages() == Counter({(n, 1): 1 for n in names})
    recognised = Counter(f.name.split("-")[1] for f in tmp_path.glob("recognised-*"))
    assert recognised == Counter({n: 1 for n in names})
    causes = exit_causes(result)
    assert causes and all("recycle failed: RuntimeError: second engine in one process" in c for c in causes)


def test_engine_extra_fields_cannot_overwrite_the_records_own(run_batchocr, fake_pages):
    result = run_batchocr(fake_pages(["a.png", "b.png"]), *fault_engine("ReservedFieldsFakeEngine"), "--workers", "1")
    records = result.results()
    assert [(r["page"], r["attempt"], r["status"]) for r in records] == [(1, 1, "error")] * 2
    assert all("fields that batchocr sets itself: attempt, page" in r["error"] for r in records)
    assert not exit_causes(result)  # no worker died over it
    assert result.returncode == 1


def test_a_worker_frozen_in_the_middle_of_a_reply_is_caught_by_its_deadline(run_batchocr, fake_pages):
    names = ["a.png", "b-freeze.png", "c.png", "d.png", "e.png"]
    started = time.monotonic()
    result = run_batchocr(
        fake_pages(names), *fault_engine("FreezeMidReplyFakeEngine"), "--workers", "2", "--timeout", "5"
    )
    assert time.monotonic() - started < 90
    assert result.pages() == Counter({(n, 1): 1 for n in names})
    statuses = {r["path"]: r["status"] for r in result.results()}
    # frozen mid-reply: timed out; frozen just after it: its reply counts, and the
    # next page it was given times out instead.  Either way one page, not the run.
    assert list(statuses.values()).count("timeout") == 1, statuses
    assert result.returncode == 1


def test_worker_stderr_is_capped_and_its_last_line_explains_a_crash(run_batchocr, fake_pages):
    names = ["a.png", "b.png", "c-crash.png"]
    result = run_batchocr(fake_pages(names), *fault_engine("StderrFloodFakeEngine"), "--workers", "1")
    assert len(result.stderr) < 20_000, len(result.stderr)  # 80 MB were written
    assert "pix not defined" in result.stderr and "held back" in result.stderr
    crash = {r["path"]: r for r in result.results()}["c-crash.png"]
    assert "its last stderr line: Error in pixGetWidth: pix not defined" in crash["error"]
    exits = [e for e in result.memory() if e["event"] == "exit" and "signal 9" in (e.get("cause") or "")]
    assert exits and all(e["stderr"][-1] == "Error in pixGetWidth: pix not defined" for e in exits)
