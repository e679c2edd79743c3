"""The progress display, as a person at a terminal sees it.

Each test runs ``batchocr run`` in a real pseudo-terminal (pexpect), and
what it wrote is replayed on a terminal emulator (pyte) to see what is left
on screen.  The fault engines stand in for OCR, so timings are controlled.
"""

from __future__ import annotations

import re
import sys

import pexpect
import pyte
import pytest
from conftest import batchocr_env, fault_engine

COLUMNS, ROWS = 120, 40
BAR = re.compile(r"\|\s*(\d+)/(\d+) \[(\d\d:\d\d)")  # "| 3/6 [00:04<..."


def spawn(tmp_path, in_dir, *args, env=None) -> pexpect.spawn:
    argv = ["-m", "batchocr", "run", str(in_dir), "-o", str(tmp_path / "out"), *map(str, args)]
    return pexpect.spawn(
        sys.executable,
        argv,
        env={**batchocr_env(tmp_path), **(env or {})},
        cwd=str(tmp_path),
        dimensions=(ROWS, COLUMNS),
        encoding="utf-8",
        timeout=120,
    )


def finish(child: pexpect.spawn) -> str:
    """Everything the run wrote until it ended."""
    child.expect(pexpect.EOF)
    child.close()
    return child.before


def screen_of(written: str) -> list[str]:
    """The terminal's lines after ``written`` (cursor moves, overwrites and all)."""
    screen = pyte.Screen(COLUMNS, ROWS)
    pyte.Stream(screen).feed(written)
    return [line.rstrip() for line in screen.display if line.strip()]


def test_a_status_line_says_what_happens_while_workers_start_then_the_bar_replaces_it(tmp_path, fake_pages):
    in_dir = fake_pages(["a.png", "b.png"])
    child = spawn(
        tmp_path, in_dir, *fault_engine("SlowStartFakeEngine"), "--workers", "2", env={"FAULT_START_SLEEP": "4"}
    )
    child.expect(r"starting 2 workers \(slow-start-fake eng\)\.\.\. \[00:0\d\]")
    seen = child.before + child.after
    written = seen + finish(child)
    assert not BAR.search(seen), "the bar was shown before any worker was ready"
    assert child.exitstatus == 0
    screen = screen_of(written)
    assert not any("starting" in line for line in screen), screen  # replaced, not left behind
    assert [BAR.search(line).group(1, 2) for line in screen if BAR.search(line)] == [("2", "2")], screen


def test_the_clock_moves_and_a_slow_page_is_named_while_it_runs(tmp_path, fake_pages):
    """One page done, the next takes 8 s: the bar keeps counting the time,
    its rate falls, and the slow page is named."""
    in_dir = fake_pages(["a.png", "b-slow.png"])
    child = spawn(tmp_path, in_dir, *fault_engine("FakeEngine"), "--workers", "1", env={"FAULT_SLOW_SLEEP": "8"})
    written = finish(child)
    assert child.exitstatus == 0
    waiting = [frame for frame in re.split(r"[\r\n]", written) if BAR.search(frame) and "1/2" in frame]
    elapsed = {BAR.search(frame).group(3) for frame in waiting}
    assert len(elapsed) >= 4, f"the clock stood still while the slow page ran: {waiting}"
    # one page done over a growing time: shown as seconds per page, which must grow
    per_page = [float(m.group(1)) for frame in waiting if (m := re.search(r"([\d.]+)s/page", frame))]
    assert per_page and per_page[-1] > per_page[0] * 1.5, waiting
    assert any(re.search(r"now: b-slow\.png \(\d+ s\)", frame) for frame in waiting), waiting


def test_ctrl_c_leaves_exactly_one_bar_on_screen(tmp_path, fake_pages):
    in_dir = fake_pages([f"p{i}.png" for i in range(8)])
    child = spawn(tmp_path, in_dir, *fault_engine("FakeEngine"), "--workers", "2", env={"FAULT_SLEEP": "1"})
    child.expect(r"\| 2/8 \[")
    child.sendintr()  # as the terminal does for Ctrl-C: SIGINT to the foreground group, and its echo
    written = child.before + child.after + finish(child)
    assert child.exitstatus == 130
    screen = screen_of(written)
    bars = [line for line in screen if BAR.search(line)]
    assert len(bars) == 1, "\n".join(screen)
    assert any(line.startswith("batchocr: SIGINT: finishing pages in progress") for line in screen), screen
    assert not any("^C" in line for line in screen), screen


def test_ctrl_c_before_any_worker_is_ready_says_the_run_is_stopping(tmp_path, fake_pages):
    in_dir = fake_pages(["a.png", "b.png"])
    child = spawn(
        tmp_path, in_dir, *fault_engine("SlowStartFakeEngine"), "--workers", "1", env={"FAULT_START_SLEEP": "30"}
    )
    child.expect("starting 1 worker")
    child.sendintr()
    written = child.before + child.after + finish(child)
    assert child.exitstatus == 130
    screen = screen_of(written)
    assert "stopping before any worker was ready... [" in "\n".join(screen), screen
    assert not any("starting 1 worker" in line for line in screen), screen


def test_a_resume_with_nothing_to_do_says_so(tmp_path, fake_pages, run_batchocr):
    in_dir = fake_pages(["a.png", "b.png"])
    assert run_batchocr(in_dir, *fault_engine("FakeEngine")).returncode == 0
    child = spawn(tmp_path, in_dir, *fault_engine("FakeEngine"))
    written = finish(child)
    assert child.exitstatus == 0
    screen = screen_of(written)
    assert screen[0] == "nothing to do: all 2 pages done by an earlier run", screen
    summary = "".join(screen[1:])  # wrapped at the terminal's width
    assert "no worker needed ->" in summary and "1 worker" not in summary, screen  # none was started
    assert "page/s" not in written and "0page" not in written


@pytest.mark.parametrize("quiet", [False, True])
def test_no_bar_in_a_log_or_with_quiet(tmp_path, fake_pages, run_batchocr, quiet):
    """stderr to a file (cron) or --quiet on a terminal: the summary lines only."""
    in_dir = fake_pages(["a.png", "b.png"])
    if quiet:
        child = spawn(tmp_path, in_dir, *fault_engine("FakeEngine"), "--quiet")
        stderr = finish(child).replace("\r\n", "\n")
    else:
        stderr = run_batchocr(in_dir, *fault_engine("FakeEngine")).stderr
    assert "\r" not in stderr and "page/s" not in stderr and "starting" not in stderr, stderr
    assert all(line.startswith(("batchocr: ", "  ")) for line in stderr.splitlines()), stderr
