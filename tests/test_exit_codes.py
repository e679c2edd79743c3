"""Every way a command ends has a documented exit code and one line saying
what to do: no tracebacks, no click 'Aborted!', no 1 that means a bug."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import batchocr_env, text_page

FAKE = ("--engine", "fault_engines:FakeEngine")


def batchocr(tmp_path: Path, *args: str, **popen) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "batchocr", *args],
        env=batchocr_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        **popen,
    )


def one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("batchocr:") or ln.startswith("Error")]
    assert "Traceback" not in stderr, stderr
    assert lines, stderr
    return lines[-1]


@pytest.fixture
def pages(tmp_path) -> Path:
    text_page(tmp_path / "in" / "a.png", ["a"])
    return tmp_path / "in"


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_before_the_run_starts_exits_with_its_code(tmp_path, pages, signum, code):
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchocr", "run", str(pages), "-o", str(tmp_path / "out")]
        + ["--engine", "fault_engines:SlowPreflightFakeEngine"],
        env=batchocr_env(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)  # inside the engine's minute-long preflight
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    assert "Aborted!" not in stderr
    assert "stopped before processing any page" in one_line_error(stderr)


def test_an_output_path_that_is_a_file_is_a_usage_error(tmp_path, pages):
    (tmp_path / "taken").write_text("not a directory")
    result = batchocr(tmp_path, "run", str(pages), "-o", str(tmp_path / "taken"), *FAKE)
    assert result.returncode == 2
    assert "taken is a file; give a directory" in one_line_error(result.stderr)


def test_results_jsonl_being_a_directory_is_a_usage_error(tmp_path, pages):
    (tmp_path / "out" / "results.jsonl").mkdir(parents=True)
    result = batchocr(tmp_path, "run", str(pages), "-o", str(tmp_path / "out"), *FAKE)
    assert result.returncode == 2
    assert "results.jsonl" in one_line_error(result.stderr)


def test_too_many_open_files_when_starting_workers_aborts_with_4_and_says_so(tmp_path, pages):
    def low_file_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))

    for i in range(6):  # a page for each worker
        text_page(pages / f"p{i}.png", [str(i)])
    out = tmp_path / "out"
    result = batchocr(tmp_path, "run", str(pages), "-o", str(out), *FAKE, "--workers", "6", preexec_fn=low_file_limit)
    assert result.returncode == 4, result.stderr
    line = one_line_error(result.stderr)
    assert "cannot start a worker process: Too many open files" in line and "ulimit -n" in line
    info = json.loads((out / "run.json").read_text())
    assert (info["status"], info["exit_code"]) == ("aborted", 4)


def test_a_bug_is_exit_70_with_one_line_and_the_traceback_saved(tmp_path, pages):
    out = tmp_path / "out"
    out.mkdir()
    result = batchocr(tmp_path, "run", str(pages), "-o", str(out), "--engine", "fault_engines:BuggyFakeEngine")
    assert result.returncode == 70
    line = one_line_error(result.stderr)
    assert "internal error (a bug in batchocr): ZeroDivisionError" in line
    saved = list(out.glob("batchocr-crash-*.txt"))
    assert len(saved) == 1 and str(saved[0]) in line
    assert "Traceback" in saved[0].read_text() and "run_warnings" in saved[0].read_text()


@pytest.mark.parametrize(
    "args",
    [("--engine", ":"), ("--config", "bad-utf8.toml"), ("--workers", "many"), ("--recycle-every", "often")],
)
def test_bad_settings_are_usage_errors(tmp_path, pages, args):
    (tmp_path / "bad-utf8.toml").write_bytes(b"workers = 2\n# caf\xe9\n")
    result = batchocr(tmp_path, "run", str(pages), "-o", str(tmp_path / "out"), *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_more_workers_than_cpus_is_said(tmp_path, pages):
    workers = (os.cpu_count() or 1) * 4
    result = batchocr(tmp_path, "run", str(pages), "-o", str(tmp_path / "out"), *FAKE, "--workers", str(workers))
    assert result.returncode == 0, result.stderr
    assert f"{workers} workers on {os.cpu_count()} CPUs" in result.stderr


def test_report_into_a_missing_directory_is_one_line(tmp_path, pages):
    out = tmp_path / "out"
    assert batchocr(tmp_path, "run", str(pages), "-o", str(out), *FAKE).returncode == 0
    result = batchocr(tmp_path, "report", str(out), "--html", str(tmp_path / "missing" / "r.html"))
    assert result.returncode == 2
    assert "cannot write the report" in one_line_error(result.stderr)


def test_a_clean_run_leaves_run_json_finished_with_its_exit_code(tmp_path, pages):
    out = tmp_path / "out"
    result = batchocr(tmp_path, "run", str(pages), "-o", str(out), *FAKE)
    assert result.returncode == 0, result.stderr
    info = json.loads((out / "run.json").read_text())
    assert (info["status"], info["exit_code"]) == ("finished", 0)


def test_relative_paths_are_made_absolute_where_settings_are_loaded(tmp_path, monkeypatch):
    from batchocr.config import load_settings

    monkeypatch.chdir(tmp_path)
    settings = load_settings({"model_dir": "tessdata", "output_dir": "out"}, environ={})
    assert settings.model_dir == str(tmp_path / "tessdata")  # what a Ray actor elsewhere gets
    assert settings.output_dir == str(tmp_path / "out")


def test_messages_say_the_fix(tmp_path, pages):
    out = str(tmp_path / "out")
    lang = batchocr(tmp_path, "run", str(pages), "-o", out, "-l", "en")
    assert lang.returncode == 3 and "did you mean en -> eng?" in lang.stderr
    models = batchocr(tmp_path, "models", "list", "--model-dir", str(tmp_path / "nowhere"))
    assert models.returncode == 3 and "(does not exist)" in models.stdout
    first = batchocr(tmp_path, "run", str(pages), "-o", out, *FAKE)
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert f"run {info['run']}: 1 page in 1 file: 1 ok" in first.stderr and "1 worker ->" in first.stderr
    again = batchocr(tmp_path, "run", str(pages), "-o", out, *FAKE, "--restart")
    moved = next((tmp_path / "out").glob("previous-*"))
    assert f"earlier outputs moved to {moved}" in again.stderr
