"""``batchocr report`` on the outputs of real runs (fake engines), and its pure parts."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import batchocr_env, read_jsonl, text_page

from batchocr.errors import ConfigError
from batchocr.records import INTERRUPT_KILL
from batchocr.report import chart_data
from batchocr.report.pages import failure_cause, low_confidence_pages
from batchocr.report.reading import Outputs, load_outputs
from batchocr.report.runs import RecordTally, final_records, run_history, split_memory_by_run
from batchocr.report.summary import summarize
from batchocr.report.text import format_growth, format_text
from batchocr.report.workers import (
    across_run_growth,
    exit_kind,
    growth_json,
    restart_cost,
    within_segment_growth,
    worker_stats,
)

FAKE = "fault_engines:FakeEngine"


def run_cli(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m batchocr ARGS`` in a subprocess, fake engines on the path,
    an RSS sample after every page (so the leak fit has points)."""
    full_env = {**batchocr_env(tmp), "BATCHOCR_MEMORY_SAMPLE_SECONDS": "0", "FAULT_SLEEP": "0.01", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "batchocr", *args], capture_output=True, text=True, timeout=300, env=full_env, cwd=tmp
    )


def make_pages(directory: Path, names: list[str]) -> Path:
    for name in names:
        text_page(directory / name, [name], size=(200, 120))
    return directory


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory) -> Path:
    """Two runs into one output directory: the first with engine errors, a
    poison page and recycling every 2 pages; the second resumes after new
    pages were added (and redoes the failed ones, which fail again)."""
    tmp = tmp_path_factory.mktemp("resumed")
    pages = make_pages(
        tmp / "in", [f"p{i:02d}.png" for i in range(12)] + ["r1-raise.png", "r2-raise.png", "x-crash.png"]
    )
    out = tmp / "out"
    common = ["-o", str(out), "--engine", FAKE, "--workers", "2", "--recycle-every", "2"]
    first = run_cli(tmp, "run", str(pages), *common)
    assert first.returncode == 1, first.stderr
    make_pages(pages, [f"q{i:02d}.png" for i in range(4)])
    second = run_cli(tmp, "run", str(pages), *common)
    assert second.returncode == 1, second.stderr
    return out


@pytest.fixture(scope="module")
def summary(resumed_run) -> dict:
    return summarize(load_outputs(resumed_run))


def memory_runs(out: Path) -> dict[str, list[dict]]:
    return split_memory_by_run(read_jsonl(out / "memory.jsonl"))


# --- counts from real runs ------------------------------------------------------------


def test_page_counts_match_results_jsonl(resumed_run, summary):
    records = read_jsonl(resumed_run / "results.jsonl")
    statuses = Counter(r["status"] for r in final_records(records))
    assert summary["pages"] == {"recorded": 19, "ok": 16, "error": 3, "timeout": 0}
    assert statuses == Counter({"ok": 16, "error": 3})


def test_resumed_run_is_split_into_two_runs(resumed_run, summary):
    assert len(summary["runs"]) == 2
    starts = [e for e in read_jsonl(resumed_run / "memory.jsonl") if e["event"] == "start"]
    per_run = [sum(e["event"] == "start" for e in events) for events in memory_runs(resumed_run).values()]
    assert sum(per_run) == len(starts)
    # the second run did the 4 new pages and the 3 failed ones again
    assert summary["runs"][1]["pages"] == 7
    assert summary["runs"][1]["already_done"] == 12
    # the first run did 15 pages; the second redid its 3 failed ones: not "0 pages" or "12 pages"
    assert summary["runs"][0]["pages"] == 15
    assert [r["pages_final"] for r in summary["runs"]] == [12, 7]
    assert sum(r["pages_final"] for r in summary["runs"]) == len(read_jsonl(resumed_run / "results.jsonl"))


def test_recycles_and_crashes_match_memory_jsonl(resumed_run, summary):
    for run, events in zip(summary["runs"], memory_runs(resumed_run).values()):
        for stats in run["worker_stats"]:
            mine = [e for e in events if e["worker"] == stats["worker"]]
            recycles = Counter(e["mode"] for e in mine if e["event"] == "recycle")
            crashes = [e for e in mine if e["event"] == "exit" and e["cause"] != "finished"]
            assert stats["recycles_in_process"] == recycles["in-process"]
            assert stats["recycles_restart"] == recycles["restart"]
            assert stats["crashes"] == len(crashes)
            assert stats["processes"] == len({e["pid"] for e in mine})
    total = sum(w["recycles_in_process"] for r in summary["runs"] for w in r["worker_stats"])
    assert total == sum(e["event"] == "recycle" for e in read_jsonl(resumed_run / "memory.jsonl"))
    assert total > 0
    # the poison page killed a worker twice per run (first try and retry)
    assert [sum(w["crashes"] for w in r["worker_stats"]) for r in summary["runs"]] == [2, 2]


def test_worker_pages_add_up_and_rss_is_reported(summary):
    for run in summary["runs"]:
        assert sum(w["pages"] for w in run["worker_stats"]) == run["pages_final"]
        assert run["pages_per_second"] > 0
        assert run["time"]["capacity"] >= run["time"]["engine"] > 0
        for w in run["worker_stats"]:
            assert 0 < w["rss_start_mb"] <= w["rss_max_mb"]
            assert w["rss_median_mb"] <= w["rss_max_mb"]


def test_failure_causes_are_grouped(summary):
    causes = {f["cause"]: f["count"] for f in summary["failures"]}
    assert causes == {
        "engine: engine error: RuntimeError: fake engine refused this page": 2,
        "crash: worker killed by signal 9 (SIGKILL) (out of memory?)": 1,
    }


# --- memory growth on real runs -------------------------------------------------------------


def test_growth_of_a_leaking_engine(tmp_path):
    """LeakyFakeEngine keeps 40 MB per page: 40,000 MB per 1,000 pages, within segments and across the run."""
    pages = make_pages(tmp_path / "in", [f"p{i:02d}.png" for i in range(16)])
    out = tmp_path / "out"
    args = [
        "--engine",
        "fault_engines:LeakyFakeEngine",
        "--workers",
        "1",
        "--recycle-every",
        "0",
        "--max-worker-rss",
        "0",
    ]
    assert run_cli(tmp_path, "run", str(pages), "-o", str(out), *args).returncode == 0
    growth = summarize(load_outputs(out))["growth"]
    for figure in growth.values():
        assert figure["groups_used"] == 1
        assert figure["mb_per_1000_pages"] == pytest.approx(40_000, rel=0.1)
        assert figure["measurable"] and figure["low"] <= 40_000 * 1.1 and figure["high"] >= 40_000 * 0.9, growth


def test_growth_of_a_flat_engine(tmp_path):
    """A flat engine is never reported leaking 0.5 MB per page (by design: the claim needs the
    whole 95% interval above it, whatever the noise of a loaded machine)."""
    pages = make_pages(tmp_path / "in", [f"p{i:02d}.png" for i in range(40)])
    out = tmp_path / "out"
    args = ["--engine", FAKE, "--workers", "2", "--recycle-every", "0"]
    assert run_cli(tmp_path, "run", str(pages), "-o", str(out), *args).returncode == 0
    growth = summarize(load_outputs(out))["growth"]
    within = growth["within_segments"]
    assert within["groups_used"] == 2
    for figure in growth.values():
        assert figure["low"] is not None and figure["low"] < 500


# --- the command ------------------------------------------------------------------------------


def test_json_output_parses(resumed_run, tmp_path, summary):
    proc = run_cli(tmp_path, "report", str(resumed_run), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["pages"] == summary["pages"]
    assert len(data["runs"]) == 2


def test_text_output(resumed_run, tmp_path):
    proc = run_cli(tmp_path, "report", str(resumed_run))
    assert proc.returncode == 0, proc.stderr
    assert "16 ok, 3 error, 0 timeout" in proc.stdout
    assert "top failure causes:" in proc.stdout
    assert "fake engine refused this page" in proc.stdout


def test_plot_and_html(resumed_run, tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    png, page = tmp_path / "memory.png", tmp_path / "report.html"
    proc = run_cli(tmp_path, "report", str(resumed_run), "--plot", str(png), "--html", str(page))
    assert proc.returncode == 0, proc.stderr
    with Image.open(png) as image:
        image.verify()  # a whole, valid PNG
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (1100, 800)
    html = page.read_text()
    assert "data:image/png;base64," in html and "16 ok, 3 error" in html


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    from batchocr.report import plotting

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    with pytest.raises(
        ConfigError, match=r"-m pip install 'matplotlib>=3.7' \(from a checkout: bash scripts/setup.sh plot\)"
    ):
        plotting.render([], {})


def test_not_an_output_directory(tmp_path):
    proc = run_cli(tmp_path, "report", str(tmp_path))
    assert proc.returncode == 2
    assert "holds no batchocr outputs" in proc.stderr


# --- pure parts ---------------------------------------------------------------------------------


def events(pid, points, worker=1, **extra):
    """sample events for (images, rss) points."""
    return [
        {"worker": worker, "pid": pid, "event": "sample", "images": i, "rss_mb": r, "t": i, **extra} for i, r in points
    ]


def sawtooth(leak_per_page=0.5, period=50, periods=3, pid=7):
    """0.5 MB per page, reset to 100 MB by a recycle every 50 pages."""
    trace = [{"worker": 1, "pid": pid, "event": "start", "images": 0, "rss_mb": 40.0, "t": 0}]
    for start in range(0, period * periods, period):
        trace += events(pid, [(i, 100 + leak_per_page * (i - start)) for i in range(start + 1, start + period)])
        trace.append(
            {
                "worker": 1,
                "pid": pid,
                "event": "recycle",
                "images": start + period,
                "rss_mb": 60.0,
                "rss_before_mb": 100 + leak_per_page * period,
                "mode": "in-process",
                "t": start + period,
            }
        )
    return trace


def test_growth_within_segments_and_across_the_run_are_told_apart():
    # a leak recycling contains: a fit across the saw-tooth says ~0, within segments it is 500 / 1,000
    trace = sawtooth()
    within = within_segment_growth(trace)
    assert within.groups_used == 3
    assert within.mb_per_1000_pages == pytest.approx(500, rel=0.01)
    assert within.measurable
    across = across_run_growth(trace)
    assert not across.measurable
    assert across.low < 0 < across.high


def test_a_staircase_shows_across_the_run():
    """A leak recycling does not fix: flat within each engine's life, a step up at each recycle."""
    trace = [{"worker": 1, "pid": 7, "event": "start", "images": 0, "rss_mb": 40.0, "t": 0}]
    rng = random.Random(3)
    for step, start in enumerate(range(0, 400, 50)):
        level = 100 + 20 * step  # 20 MB kept per 50 pages: 400 MB per 1,000 pages
        trace += events(7, [(i, level + rng.uniform(-2, 2)) for i in range(start + 1, start + 50)])
        trace.append({"worker": 1, "pid": 7, "event": "recycle", "images": start + 50, "rss_mb": level,
                      "rss_before_mb": level, "mode": "in-process", "t": start + 50})  # fmt: skip
    across = across_run_growth(trace)
    assert across.measurable and across.low <= 400 <= across.high * 1.1
    assert not within_segment_growth(trace).measurable


def noisy_worker(rng, pages, leak_mb_per_page=0.0, swing=300.0, recycle_every=0, pid=7, worker=1):
    """An engine like Aspose: RSS swings by +-``swing`` MB with the page, around 1,100 MB."""
    trace = [{"worker": worker, "pid": pid, "event": "start", "images": 0, "rss_mb": 400.0, "t": 0}]
    since = 0
    for i in range(1, pages + 1):
        since += 1
        rss = 1100 + leak_mb_per_page * since + rng.uniform(-swing, swing)
        if recycle_every and since == recycle_every:
            trace.append({"worker": worker, "pid": pid, "event": "recycle", "images": i, "rss_mb": 500.0,
                          "rss_before_mb": rss, "mode": "in-process", "t": i})  # fmt: skip
            since = 0
        else:
            trace.append({"worker": worker, "pid": pid, "event": "sample", "images": i, "rss_mb": rss, "t": i})
    return trace


@pytest.mark.parametrize("recycle_every", [0, 50])
def test_noisy_flat_memory_is_no_measurable_growth(recycle_every):
    """Aspose-like swings of +-300 MB on flat memory: the old figure printed -748.5 or +2,167 MB per
    1,000 pages as fact.  Now at most ~5% of runs (by chance) may say growth is measurable."""
    claims = 0
    for seed in range(100):
        rng = random.Random(seed)
        trace = noisy_worker(rng, 300, recycle_every=recycle_every) + noisy_worker(
            rng, 300, recycle_every=recycle_every, pid=8, worker=2
        )
        figures = [within_segment_growth(trace), across_run_growth(trace)]
        claims += any(f.measurable for f in figures)
        assert all(f.low < f.mb_per_1000_pages < f.high for f in figures)
    assert claims <= 12  # 2 figures at 5% each: ~10 expected; the chance of more than 12 is small


def test_noisy_real_leak_is_measured():
    rng = random.Random(1)
    trace = noisy_worker(rng, 600, leak_mb_per_page=5.0)  # 5,000 MB per 1,000 pages under +-300 MB noise
    growth = within_segment_growth(trace)
    assert growth.measurable and growth.low < 5000 < growth.high
    assert growth.high - growth.low < 2000
    text = format_growth(growth_json(growth))
    assert "95% interval" in text and "no measurable" not in text


def test_autocorrelated_noise_widens_the_interval():
    """RSS that drifts (each reading near the last) is no leak: without the autocorrelation
    correction a least-squares interval would call half of these runs growing."""
    claims = 0
    for seed in range(100):
        rng = random.Random(seed)
        noise, points = 0.0, []
        for i in range(1, 300):
            noise = 0.8 * noise + rng.gauss(0, 20)
            points.append((i, 500 + noise))
        claims += within_segment_growth(events(7, points)).measurable
    assert claims <= 12


def test_short_segments_are_not_used():
    trace = events(7, [(1, 100.0), (2, 140.0), (3, 150.0), (4, 151.0), (5, 152.0)])
    growth = within_segment_growth(trace)
    assert growth.mb_per_1000_pages is None
    assert format_growth(growth_json(growth)).startswith("n/a")


def test_growth_text_says_no_measurable_growth_when_noise_exceeds_it():
    flat = {"mb_per_1000_pages": -748.5, "low": -3100.0, "high": 1600.0, "measurable": False,
            "groups_used": 4, "pages_covered": 800, "readings": 800}  # fmt: skip
    assert format_growth(flat).startswith("no measurable growth (-748 MB per 1,000 pages, 95% interval")
    assert plotting_verdict(flat) == "no measurable growth (95%: -3,100 to +1,600 MB per 1,000 pages)"


def plotting_verdict(growth):
    pytest.importorskip("matplotlib")
    from batchocr.report import plotting

    return plotting.verdict(growth)


def test_untagged_runs_split_where_the_clock_restarts():
    lines = [
        {"worker": 1, "pid": 1, "event": "start", "t": 0.8},
        {"worker": 1, "pid": 1, "event": "sample", "t": 5.0},
        {"worker": 1, "pid": 3, "event": "start", "t": 5.2},  # a restart within the run
        {"worker": 1, "pid": 3, "event": "exit", "t": 9.0},
        {"worker": 1, "pid": 9, "event": "start", "t": 0.9},  # a resumed run
        {"worker": 1, "pid": 9, "event": "exit", "t": 3.0},
    ]
    runs = split_memory_by_run(lines)
    assert [[e["pid"] for e in run] for run in runs.values()] == [[1, 1, 3, 3], [9, 9]]


def test_failure_cause_masks_particulars():
    a = {
        "status": "error",
        "error_kind": "decode",
        "error": "cannot decode image: broken data stream at /x/a.png 123456",
    }
    b = {"status": "error", "error_kind": "decode", "error": "cannot decode image: broken data stream at /y/b.png 987"}
    assert failure_cause(a) == failure_cause(b)
    crash = {"status": "error", "error_kind": "crash", "error": "worker killed by signal 11 (SIGSEGV) (tried 2 times)"}
    assert failure_cause(crash) == "crash: worker killed by signal 11 (SIGSEGV)"


def test_rolling_rate():
    series = chart_data.rolling_rate([i * 0.5 for i in range(1, 41)], end=20.0, window=5.0, points=20)
    assert series[-1] == (20.0, pytest.approx(2.0))
    assert max(rate for _, rate in series) == pytest.approx(2.0, abs=0.21)


def test_runs_with_the_same_tag_are_told_apart_by_their_clock():
    """Two short runs started within one second carry the same ``run`` tag."""

    def short_run(pids):
        lines = [
            {"worker": w, "pid": pid, "event": "start", "images": 0, "rss_mb": 20.0, "t": 0.1 + w / 100, "run": "X"}
            for w, pid in enumerate(pids, 1)
        ]
        return lines + [
            {
                "worker": w,
                "pid": pid,
                "event": "exit",
                "images": 3,
                "rss_mb": 21.0,
                "t": 0.2,
                "run": "X",
                "cause": "finished",
            }
            for w, pid in enumerate(pids, 1)
        ]

    runs = split_memory_by_run(short_run([10, 11]) + short_run([20, 21]))
    assert {name: [e["pid"] for e in run] for name, run in runs.items()} == {
        "X": [10, 11, 10, 11],
        "X#2": [20, 21, 20, 21],
    }
    history = run_history({"run": "X", "seconds": 0.3, "previous_runs": [{"run": "X", "seconds": 0.25}]}, list(runs))
    assert history["X"]["seconds"] == 0.25 and history["X#2"]["seconds"] == 0.3


# --- how runs and workers ended --------------------------------------------------------------


def synthetic_outputs(out_dir: Path, memory: list[dict], results: list[dict], run_info: dict) -> Outputs:
    return Outputs(out_dir, results, memory, run_info)


def restarted_worker() -> tuple[list[dict], list[dict]]:
    """Worker 1: pid 1 does 10 pages of 1 s, restarts (the new process is ready 1.5 s later) and pid 2
    does 10 more, its first page 3 s; worker 2's process is killed at an interrupt."""
    memory = [
        {"worker": 1, "pid": 1, "event": "start", "images": 0, "rss_mb": 50.0, "t": 1.0},
        {"worker": 2, "pid": 5, "event": "start", "images": 0, "rss_mb": 50.0, "t": 1.0},
        {"worker": 1, "pid": 1, "event": "recycle", "images": 10, "rss_mb": 300.0, "rss_before_mb": 310.0,
         "rss_after_mb": 300.0, "mode": "restart", "reason": "rss", "recycle_ms": 200.0, "t": 11.0},
        {"worker": 1, "pid": 2, "event": "start", "images": 0, "rss_mb": 50.0, "t": 12.5},
        {"worker": 1, "pid": 2, "event": "exit", "images": 10, "rss_mb": 80.0, "t": 25.0, "cause": "finished"},
        {"worker": 2, "pid": 5, "event": "exit", "images": 20, "rss_mb": 80.0, "t": 26.0,
         "cause": INTERRUPT_KILL},
    ]  # fmt: skip
    results = [{"path": f"a{i}.png", "page": 1, "status": "ok", "worker": 1, "pid": 1, "ms": 1000, "t": 1.0 + i}
               for i in range(1, 11)]  # fmt: skip
    results += [{"path": f"b{i}.png", "page": 1, "status": "ok", "worker": 1, "pid": 2, "ms": 3000 if i == 1 else 1000,
                 "t": 12.5 + i + (2 if i else 0)} for i in range(1, 11)]  # fmt: skip
    results += [{"path": f"c{i}.png", "page": 1, "status": "ok", "worker": 2, "pid": 5, "ms": 1000, "t": 1.0 + i}
                for i in range(1, 21)]  # fmt: skip
    return memory, results


def test_restarts_are_costed_and_interrupt_kills_are_not_crashes(tmp_path):
    memory, results = restarted_worker()
    run_info = {"run": None, "status": "interrupted", "ended": "x", "seconds": 26.0, "workers": 2}
    summary = summarize(synthetic_outputs(tmp_path, memory, results, run_info))
    run = summary["runs"][0]
    assert run["restarts"]["restarts"] == 1
    assert run["restarts"]["respawn_seconds"] == pytest.approx(1.5)
    # the first page of pid 2 took 3 s against a mean of 1.05 s
    assert run["restarts"]["first_page_seconds"] == pytest.approx(3.0 - 42 / 40, abs=0.01)
    time = run["time"]
    assert time["restart"] == pytest.approx(1.5 + 3.0 - 42 / 40, abs=0.01)
    assert time["engine"] == pytest.approx(42 - (3.0 - 42 / 40), abs=0.01)
    assert time["other"] == pytest.approx(52 - 42 - 0.2 - 1.5, abs=0.01)
    workers = {w["worker"]: w for w in run["worker_stats"]}
    assert workers[2]["crashes"] == 0 and workers[2]["interrupted"] == 1
    text = format_text(summary)
    assert "1 killed at the interrupt (not crashes)" in text
    assert "restart: 1 new process, respawn 1.5 s + first pages 1.9 s slower than average" in text
    assert "restart 3.5 s (7%)" in text


def test_a_crash_respawn_is_costed_and_counted():
    memory = [
        {"worker": 1, "pid": 1, "event": "start", "images": 0, "rss_mb": 50.0, "t": 1.0},
        {"worker": 1, "pid": 1, "event": "exit", "images": 3, "rss_mb": 60.0, "t": 5.0,
         "cause": "worker killed by signal 11 (SIGSEGV)"},
        {"worker": 1, "pid": 3, "event": "start", "images": 0, "rss_mb": 50.0, "t": 7.0},
    ]  # fmt: skip
    assert exit_kind(memory[1]) == "crash"
    assert restart_cost(memory, RecordTally()).respawn_seconds == pytest.approx(2.0)
    assert worker_stats(1, memory, 3, 10.0).crashes == 1


def test_a_superseded_run_shows_the_pages_it_did(tmp_path):
    memory, results = restarted_worker()
    earlier = {"run": "A", "status": "finished", "counts": {"done_this_run": 40}, "seconds": 26.0}
    later_memory = [{**e, "run": "B", "pid": e["pid"] + 100, "t": e["t"] / 10} for e in memory]
    memory = [{**e, "run": "A"} for e in memory]
    results = [{**r, "run": "B", "pid": r["pid"] + 100} for r in results]  # B redid every page
    run_info = {"run": "B", "status": "finished", "ended": "x", "seconds": 2.6, "workers": 2, "previous_runs": [earlier],
                "counts": {"done_this_run": 40, "skipped_already_ok": 0}}  # fmt: skip
    summary = summarize(synthetic_outputs(tmp_path, memory + later_memory, results, run_info))
    first = summary["runs"][0]
    assert (first["pages"], first["pages_final"]) == (40, 0)
    text = format_text(summary)
    assert "run A (finished): 40 pages done in 26.0 s = 1.54 pages/s" in text
    assert "40 of its pages since redone by a later run" in text
    assert "0 pages in" not in text


def test_a_live_run_is_shown_live_and_a_dead_one_as_dead(tmp_path):
    from batchocr.output import OutputLock

    memory, results = restarted_worker()
    run_info = {"run": None, "status": "running", "started": "2026-12-03T10:00:00+00:00", "workers": 2,
                "input_dir": "/data/in", "output_dir": str(tmp_path)}  # fmt: skip
    lock = OutputLock(tmp_path)
    assert lock.acquire()
    try:
        live = summarize(synthetic_outputs(tmp_path, memory, results, run_info))
    finally:
        lock.release()
    text = format_text(live)
    assert live["latest_run"]["state"] == "live" and live["runs"][-1]["status"] == "live"
    assert "LIVE (running since 2026-12-03T10:00:00+00:00" in text
    assert "exit code None" not in text
    dead = summarize(synthetic_outputs(tmp_path, memory, results, run_info))
    assert dead["latest_run"]["state"] == "died"
    assert "ended without writing its end" in format_text(dead)


# --- charts ------------------------------------------------------------------------------------


def test_throughput_window_spans_several_pages():
    """Two workers busy on 10 s pages for 60 s: a 5 s window would read 0 between pages."""
    times = [t for t in range(10, 61, 10) for _ in range(2)]
    window = chart_data.throughput_window(60.0, pages=len(times), workers=2)
    assert window >= 20
    series = chart_data.rolling_rate(times, end=60.0, window=window, points=120)
    assert all(rate > 0 for t, rate in series if t >= 10)
    assert chart_data.throughput_window(3600.0, pages=36_000, workers=2) == 120  # fast pages: as before
    assert chart_data.throughput_window(8.0, pages=2, workers=2) == 8.0  # never longer than the run


def many_recycles_outputs(tmp_path, recycles=200, crash=False) -> Outputs:
    memory = [{"worker": w, "pid": w, "event": "start", "images": 0, "rss_mb": 50.0, "t": 0.5} for w in (1, 2)]
    for i in range(1, recycles * 10 + 1):
        w = 1 + i % 2
        memory.append({"worker": w, "pid": w, "event": "sample", "images": i, "rss_mb": 100.0 + i % 10, "t": i * 0.1})
        if i % 10 == 0:
            memory.append({"worker": w, "pid": w, "event": "recycle", "images": i, "rss_mb": 60.0,
                           "rss_before_mb": 110.0, "rss_after_mb": 60.0, "mode": "in-process", "reason": "count",
                           "recycle_ms": 10.0, "t": i * 0.1})  # fmt: skip
    if crash:
        memory.append({"worker": 1, "pid": 1, "event": "exit", "images": 5, "rss_mb": 100.0, "t": 99.0,
                       "cause": "worker killed by signal 9 (SIGKILL)"})  # fmt: skip
    results = [{"path": f"p{i}.png", "page": 1, "status": "ok", "worker": 1 + i % 2, "pid": 1 + i % 2, "ms": 80,
                "t": i * 0.1, "low_confidence": i % 3 == 0, "confidence": 40.0 + i % 7} for i in range(1, 2001)]  # fmt: skip
    run_info = {"run": None, "status": "finished", "ended": "x", "exit_code": 0, "seconds": 200.0, "workers": 2,
                "input_dir": "/data/scans in", "output_dir": str(tmp_path), "settings": {"max_worker_rss": 2048}}  # fmt: skip
    return synthetic_outputs(tmp_path, memory, results, run_info)


def test_png_legend_ticks_and_title(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    from batchocr.report import plotting

    outputs = many_recycles_outputs(tmp_path, recycles=200)
    summary = summarize(outputs)
    fig = plotting.figure(chart_data.chart_data(outputs), summary)
    try:
        rss_ax = fig.axes[0]
        labels = [t.get_text() for t in rss_ax.get_legend().get_texts()]
        assert labels == ["worker 1", "worker 2", "recycle in-process (tick)"]  # no restart, crash, limit
        ticks = [c for c in rss_ax.collections if isinstance(c, LineCollection)]
        assert sum(len(c.get_segments()) for c in ticks) == 200  # one thin tick each, not a marker band
        assert all(c.get_linewidth()[0] < 1 for c in ticks)
        title = fig._suptitle.get_text()
        assert title.startswith(f"/data/scans in -> {tmp_path}")
        assert "RSS across the run: no measurable growth (95%:" in title
        assert "\nRSS within recycle segments:" in title
    finally:
        plt.close(fig)
    crashed = many_recycles_outputs(tmp_path, recycles=20, crash=True)
    fig = plotting.figure(chart_data.chart_data(crashed), summarize(crashed))
    try:
        assert "crash (1)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    finally:
        plt.close(fig)


def test_html_report_is_self_contained_interactive_and_lists_pages(tmp_path):
    pytest.importorskip("plotly")
    from batchocr.report import html_page

    outputs = many_recycles_outputs(tmp_path, recycles=200, crash=True)
    outputs.results += [{"path": "bad/scan 1.pdf", "page": 3, "status": "error", "error_kind": "decode",
                         "error": "cannot decode", "worker": 1, "pid": 1, "t": 50.0}]  # fmt: skip
    summary = summarize(outputs)
    page = tmp_path / "report.html"
    html_page.write_html(chart_data.chart_data(outputs), summary, format_text(summary), page)
    html = page.read_text()
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=|<link", html)  # nothing fetched: plotly.js is inline
    assert "Plotly.newPlot" in html
    assert "pages done by this process" in html and "pid %{customdata[0]}" in html  # hover: worker, pages, RSS
    assert "file:///data/scans%20in/bad/scan%201.pdf#page=3" in html  # the failed page, linked
    assert "Low-confidence pages: 666" in html
    assert "... and 466 more" in html  # the table is capped, the rest counted
    assert "crash (1)" in html and "killed at the interrupt" not in html  # only what occurred
    assert page.stat().st_size < 6_000_000


def test_html_thins_long_lines_keeping_peaks():
    from batchocr.report import html_page

    points = [(float(i), 100.0 + (500.0 if i == 7777 else 0.0), i) for i in range(100_000)]
    kept = html_page.thin(points, 1000)
    assert len(kept) <= 1100
    assert (7777.0, 600.0, 7777) in kept
    assert kept[0] == points[0] and kept[-1] == points[-1]
    assert [p[0] for p in kept] == sorted(p[0] for p in kept)


def test_low_confidence_list_is_bounded_least_confident_first():
    records = [
        {"path": f"p{i}.png", "page": 1, "low_confidence": True, "confidence": (i * 37) % 100} for i in range(500)
    ]
    flagged = low_confidence_pages(records, keep=10)
    assert flagged.count == 500
    assert [p["confidence"] for p in flagged.pages] == sorted(p["confidence"] for p in flagged.pages)
    assert [p["confidence"] for p in flagged.pages] == sorted((i * 37) % 100 for i in range(500))[:10]


def test_missing_plotly_says_how_to_install(monkeypatch):
    from batchocr.report import html_page

    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(ConfigError, match=r"HTML report needs plotly.*-m pip install 'plotly>=5'"):
        html_page.chart_figure([], {})


def test_a_steep_leak_with_one_reading_off_keeps_a_tight_interval():
    """Residuals of 0.1 MB that happen to be correlated must not hide a 40 MB per page leak."""
    drift = [0.0] * 10 + [0.1, 0.2, 0.3]  # the last readings a little high, one after another
    points = [(i, 182.0 + 40 * (i - 4) + d) for i, d in zip(range(4, 17), drift, strict=True)]
    growth = within_segment_growth(events(7, points))
    assert growth.measurable and 39_900 < growth.low < growth.high < 40_100
