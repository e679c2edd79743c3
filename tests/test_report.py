"""``batchocr report`` on the outputs of real runs (fake engines), and its pure parts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import batchocr_env, read_jsonl, text_page

from batchocr import report
from batchocr.errors import ConfigError

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
    return report.summarize(report.load_outputs(resumed_run))


def memory_runs(out: Path) -> dict[str, list[dict]]:
    return report.split_memory_by_run(read_jsonl(out / "memory.jsonl"))


# --- counts from real runs ------------------------------------------------------------


def test_page_counts_match_results_jsonl(resumed_run, summary):
    records = read_jsonl(resumed_run / "results.jsonl")
    statuses = Counter(r["status"] for r in report.final_records(records))
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
        assert sum(w["pages"] for w in run["worker_stats"]) == run["pages"]
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


# --- the leak rate on real runs -------------------------------------------------------------


def test_leak_rate_of_a_leaking_engine(tmp_path):
    """LeakyFakeEngine keeps 40 MB per page: 40,000 MB per 1,000 pages."""
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
    leak = report.summarize(report.load_outputs(out))["leak"]
    assert leak["segments_used"] == 1
    assert leak["mb_per_1000_pages"] == pytest.approx(40_000, rel=0.1)


def test_leak_rate_of_a_flat_engine(tmp_path):
    pages = make_pages(tmp_path / "in", [f"p{i:02d}.png" for i in range(40)])
    out = tmp_path / "out"
    args = ["--engine", FAKE, "--workers", "2", "--recycle-every", "0"]
    assert run_cli(tmp_path, "run", str(pages), "-o", str(out), *args).returncode == 0
    leak = report.summarize(report.load_outputs(out))["leak"]
    assert leak["segments_used"] == 2
    assert abs(leak["mb_per_1000_pages"]) < 500  # < 0.5 MB per page: noise, not a leak


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
    from batchocr import plotting

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


def test_leak_rate_fits_within_segments_not_across_recycles():
    # 0.5 MB per page, reset to 100 MB by each recycle every 50 pages: a fit
    # across the saw-tooth would say ~0, within segments it is 500 / 1,000
    trace = [{"worker": 1, "pid": 7, "event": "start", "images": 0, "rss_mb": 40.0, "t": 0}]
    for start in (0, 50, 100):
        trace += events(7, [(i, 100 + 0.5 * (i - start)) for i in range(start + 1, start + 50)])
        trace.append(
            {
                "worker": 1,
                "pid": 7,
                "event": "recycle",
                "images": start + 50,
                "rss_mb": 60.0,
                "rss_before_mb": 100 + 0.5 * 50,
                "mode": "in-process",
                "t": start + 50,
            }
        )
    estimate = report.leak_rate(report.run_segments(trace))
    assert estimate.segments_used == 3
    assert estimate.mb_per_1000_pages == pytest.approx(500, rel=0.01)


def test_short_segments_are_not_used():
    trace = events(7, [(1, 100.0), (2, 140.0), (3, 150.0), (4, 151.0), (5, 152.0)])
    assert report.leak_rate(report.run_segments(trace)).mb_per_1000_pages is None


def test_untagged_runs_split_where_the_clock_restarts():
    lines = [
        {"worker": 1, "pid": 1, "event": "start", "t": 0.8},
        {"worker": 1, "pid": 1, "event": "sample", "t": 5.0},
        {"worker": 1, "pid": 3, "event": "start", "t": 5.2},  # a restart within the run
        {"worker": 1, "pid": 3, "event": "exit", "t": 9.0},
        {"worker": 1, "pid": 9, "event": "start", "t": 0.9},  # a resumed run
        {"worker": 1, "pid": 9, "event": "exit", "t": 3.0},
    ]
    runs = report.split_memory_by_run(lines)
    assert [[e["pid"] for e in run] for run in runs.values()] == [[1, 1, 3, 3], [9, 9]]


def test_failure_cause_masks_particulars():
    a = {
        "status": "error",
        "error_kind": "decode",
        "error": "cannot decode image: broken data stream at /x/a.png 123456",
    }
    b = {"status": "error", "error_kind": "decode", "error": "cannot decode image: broken data stream at /y/b.png 987"}
    assert report.failure_cause(a) == report.failure_cause(b)
    crash = {"status": "error", "error_kind": "crash", "error": "worker killed by signal 11 (SIGSEGV) (tried 2 times)"}
    assert report.failure_cause(crash) == "crash: worker killed by signal 11 (SIGSEGV)"


def test_rolling_rate():
    series = report.rolling_rate([i * 0.5 for i in range(1, 41)], end=20.0, window=5.0, points=20)
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

    runs = report.split_memory_by_run(short_run([10, 11]) + short_run([20, 21]))
    assert {name: [e["pid"] for e in run] for name, run in runs.items()} == {
        "X": [10, 11, 10, 11],
        "X#2": [20, 21, 20, 21],
    }
    history = report.run_history(
        {"run": "X", "seconds": 0.3, "previous_runs": [{"run": "X", "seconds": 0.25}]}, list(runs)
    )
    assert history["X"]["seconds"] == 0.25 and history["X#2"]["seconds"] == 0.3
