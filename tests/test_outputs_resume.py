"""Per-file outputs across runs: exactly once, complete, never OCRed twice.

- another --formats list on a finished output directory writes only what is
  missing, from the records, without OCR (real tesseract);
- a run killed mid-file leaves no output for that file; the resumed run
  writes it whole (fault engine, so pages are slow and deterministic);
- a page that failed is an empty page until a later run reads it; then the
  outputs are written again, from records made by two runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import RunResult, batchocr_env, read_jsonl, text_page
from PIL import Image
from test_outputs import run


def multipage_tiff(path: Path, pages: int) -> Path:
    frames = []
    for number in range(1, pages + 1):
        page = text_page(path.parent / f"tmp-{number}.png", [f"Page {number} of the bound volume"])
        frames.append(Image.open(page).convert("L"))
        page.unlink()
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


def mtimes(out: Path) -> dict[str, int]:
    return {
        str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.suffix != ".lock"
    }


def test_another_formats_list_writes_the_missing_ones_without_ocr(tmp_path):
    source = tmp_path / "in"
    text_page(source / "a.png", ["Alpha page for formats"])
    multipage_tiff(source / "sub" / "b.tif", 2)
    out = tmp_path / "out"
    first = run(source, out, "--formats", "txt")
    assert first.returncode == 0, first.stderr
    assert sorted(os.listdir(out / "txt")) == ["a.png.txt", "sub"]
    results = (out / "results.jsonl").read_bytes()
    txt_written = mtimes(out / "txt")

    second = run(source, out, "--formats", "txt,hocr,alto")
    assert second.returncode == 0, second.stderr
    assert (out / "results.jsonl").read_bytes() == results  # nothing OCRed again
    assert second.run_info()["counts"]["done_this_run"] == 0
    assert second.run_info()["outputs"]["written"] == {"hocr": 2, "alto": 2}
    assert mtimes(out / "txt") == txt_written  # the txt outputs were current: untouched
    assert (out / "hocr" / "sub" / "b.tif.hocr").read_text().count('class="ocr_page"') == 2
    assert "Alpha" in (out / "alto" / "a.png.xml").read_text()

    third = run(source, out, "--formats", "txt,hocr,alto")
    assert third.run_info()["outputs"]["files"] == 0  # everything current: nothing written

    (out / "hocr" / "a.png.hocr").unlink()  # an output deleted by hand is written again
    fourth = run(source, out, "--formats", "txt,hocr,alto")
    assert fourth.run_info()["outputs"]["written"] == {"hocr": 1}
    assert (out / "hocr" / "a.png.hocr").exists()
    assert (out / "results.jsonl").read_bytes() == results


def test_a_run_killed_mid_file_leaves_no_output_and_the_resumed_run_writes_it_whole(tmp_path):
    source = tmp_path / "in"
    multipage_tiff(source / "volume.tif", 6)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "batchocr", "run", str(source), "-o", str(out), "--formats", "txt,hocr"]
    command += ["--engine", "fault_engines:FakeEngine", "--workers", "1"]
    proc = subprocess.Popen(
        command,
        env={**batchocr_env(tmp_path), "FAULT_SLEEP": "0.4"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(read_jsonl(out / "results.jsonl")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the machine dies: supervisor and workers
        proc.wait()
    done = read_jsonl(out / "results.jsonl")
    assert 2 <= len(done) < 6
    assert not (out / "txt" / "volume.tif.txt").exists() and not (out / "hocr" / "volume.tif.hocr").exists()

    resumed = run(source, out, "--formats", "txt,hocr", "--engine", "fault_engines:FakeEngine")
    assert resumed.returncode == 0, resumed.stderr
    records = sorted(resumed.results(), key=lambda r: r["page"])
    assert [r["page"] for r in records] == [1, 2, 3, 4, 5, 6]  # each page once
    assert len({r["run"] for r in records}) == 2  # made by the killed run and the resumed one
    pages = (out / "txt" / "volume.tif.txt").read_text().split("\f")
    assert pages == [r["text"] for r in records]
    assert (out / "hocr" / "volume.tif.hocr").read_text().count('class="ocr_page"') == 6
    assert [p.name for p in (out / "txt").iterdir()] == ["volume.tif.txt"]  # no temporary file left


def test_a_failed_page_is_empty_until_a_later_run_reads_it(tmp_path):
    source = tmp_path / "in"
    text_page(source / "fine.png", ["fine"])
    multipage_tiff(source / "once-scan.tif", 3)  # the fault engine kills its worker the first time
    out = tmp_path / "out"
    args = ("--formats", "txt", "--engine", "fault_engines:FakeEngine", "--workers", "1", "--retries", "0")
    first = run(source, out, *args)
    assert first.returncode == 1, first.stderr
    failed = [r for r in first.results() if r["status"] != "ok"]
    assert len(failed) == 1 and failed[0]["path"] == "once-scan.tif"
    pages = (out / "txt" / "once-scan.tif.txt").read_text().split("\f")
    assert len(pages) == 3 and pages[failed[0]["page"] - 1] == "" and pages.count("") == 1
    assert "1 file with failed pages (empty pages in the outputs; a re-run retries them): once-scan.tif" in first.stderr

    second = run(source, out, *args)
    assert second.returncode == 0, second.stderr
    assert second.run_info()["outputs"]["written"] == {"txt": 1}  # only the file that changed
    final = {r["page"]: r for r in second.results() if r["path"] == "once-scan.tif" and r["status"] == "ok"}
    pages = (out / "txt" / "once-scan.tif.txt").read_text().split("\f")
    assert pages == [final[n]["text"] for n in (1, 2, 3)] and "" not in pages
    assert "with failed pages" not in second.stderr


def test_restart_moves_the_format_directories_aside_too(tmp_path):
    source = tmp_path / "in"
    text_page(source / "a.png", ["a"])
    out = tmp_path / "out"
    args = ("--formats", "txt", "--engine", "fault_engines:FakeEngine")
    assert run(source, out, *args).returncode == 0
    (source / "a.png").rename(source / "b.png")
    restarted = run(source, out, *args, "--restart")
    assert restarted.returncode == 0, restarted.stderr
    previous = next(out.glob("previous-*"))
    assert [p.name for p in (previous / "txt").iterdir()] == ["a.png.txt"]
    assert [p.name for p in (out / "txt").iterdir()] == ["b.png.txt"]  # no output of a file gone


def test_an_output_that_cannot_be_written_is_reported_and_the_run_goes_on(tmp_path):
    """A 250-character file name is fine as input, but with ".txt" appended it
    is too long for the file system: that output is listed, the others written."""
    source = tmp_path / "in"
    long_name = "x" * 246 + ".png"
    text_page(source / long_name, ["long"])
    text_page(source / "short.png", ["short"])
    out = tmp_path / "out"
    result = run(source, out, "--formats", "txt", "--engine", "fault_engines:FakeEngine")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (out / "txt").iterdir()] == ["short.png.txt"]
    outputs = result.run_info()["outputs"]
    assert outputs["errors"] == 1 and outputs["written"] == {"txt": 1}
    assert f"1 outputs could not be written (a re-run tries again):\n    {long_name}: txt: OSError" in result.stderr
    assert len(result.results()) == 2  # every page recorded


def test_drop_missing_drops_the_outputs_of_files_gone_too(tmp_path):
    """A file no longer under the input keeps its outputs (it is only listed as
    gone) until --drop-missing, which drops its records and its outputs."""
    source = tmp_path / "in"
    text_page(source / "kept.png", ["kept"])
    text_page(source / "sub" / "gone.png", ["gone"])
    out = tmp_path / "out"
    args = ("--formats", "txt,hocr", "--engine", "fault_engines:FakeEngine")
    assert run(source, out, *args).returncode == 0
    (source / "sub" / "gone.png").unlink()
    listed = run(source, out, *args)
    assert listed.returncode == 0, listed.stderr
    assert (out / "txt" / "sub" / "gone.png.txt").exists() and (out / "hocr" / "sub" / "gone.png.hocr").exists()
    dropped = run(source, out, *args, "--drop-missing")
    assert dropped.returncode == 0, dropped.stderr
    written = sorted(str(p.relative_to(out)) for fmt in ("txt", "hocr") for p in (out / fmt).rglob("*") if p.is_file())
    assert written == ["hocr/kept.png.hocr", "txt/kept.png.txt"]
    assert not (out / "txt" / "sub").exists() and (out / "txt").is_dir()  # no empty folder left behind
    assert dropped.run_info()["resume"]["gone_outputs_removed"] == 2
    assert "2 of their outputs removed" in dropped.stderr
    again = run(source, out, *args)  # nothing is written back
    assert not (out / "txt" / "sub" / "gone.png.txt").exists() and again.returncode == 0


def run_patched(patch: str, tmp_path: Path, source: Path, out: Path, *args: str) -> RunResult:
    """``batchocr run`` with ``patch`` (Python) applied first, in the
    supervisor's process: a fault the file system will not give on demand."""
    script = tmp_path / "patched.py"
    script.write_text(f"{patch}\nimport sys\nfrom batchocr.cli import main\nsys.argv[0] = 'batchocr'\nmain()\n")
    command = [sys.executable, str(script), "run", str(source), "-o", str(out), *args]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=batchocr_env(tmp_path), cwd=tmp_path
    )
    return RunResult(proc.returncode, proc.stdout, proc.stderr, out)


UNLISTABLE = """
import errno, os
real = os.scandir
def scandir(path="."):
    if os.path.basename(os.fspath(path)) == "sub":  # as a flaky NFS mount fails
        raise OSError(errno.EIO, "Input/output error", path)
    return real(path)
os.scandir = scandir
"""


def test_drop_missing_drops_nothing_when_a_folder_could_not_be_listed(tmp_path):
    """Files in a folder discovery could not list are not gone, only unseen:
    --drop-missing must keep their records and outputs, and say why."""
    source = tmp_path / "in"
    text_page(source / "kept.png", ["kept"])
    text_page(source / "sub" / "unseen.png", ["unseen"])
    out = tmp_path / "out"
    args = ("--formats", "txt", "--engine", "fault_engines:FakeEngine")
    assert run(source, out, *args).returncode == 0
    result = run_patched(UNLISTABLE, tmp_path, source, out, *args, "--drop-missing")
    assert "cannot list directory" in result.stderr, result.stderr
    assert (out / "txt" / "sub" / "unseen.png.txt").exists()
    assert {r["path"] for r in result.results()} == {"kept.png", "sub/unseen.png"}
    assert "not dropped: 1 folder could not be listed" in result.stderr, result.stderr


UNDELETABLE = """
import errno, pathlib
real = pathlib.Path.unlink
def unlink(self, missing_ok=False):
    if self.name == "b.png.txt":
        raise PermissionError(errno.EACCES, "Permission denied", str(self))
    return real(self, missing_ok)
pathlib.Path.unlink = unlink
"""


def test_an_output_that_cannot_be_removed_does_not_stop_the_others(tmp_path):
    source = tmp_path / "in"
    for name in ("a.png", "b.png", "c.png"):
        text_page(source / name, [name])
    out = tmp_path / "out"
    args = ("--formats", "txt", "--engine", "fault_engines:FakeEngine")
    assert run(source, out, *args).returncode == 0
    (source / "b.png").unlink()
    (source / "c.png").unlink()
    result = run_patched(UNDELETABLE, tmp_path, source, out, *args, "--drop-missing")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out / "txt").iterdir()) == ["a.png.txt", "b.png.txt"]  # c's removed
    resume = result.run_info()["resume"]
    assert (resume["gone_outputs_removed"], resume["gone_outputs_not_removed"]) == (1, 1)
    assert {r["path"] for r in result.results()} == {"a.png"}  # the records dropped all the same
    assert "1 of their outputs removed, 1 could not be" in result.stderr, result.stderr
