"""Archives hold every kind of broken file: each gets one clear record, the run goes on.

Runs the real default engine (tesseract): the pages are tiny, so it is quick.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter

from conftest import text_page
from PIL import Image


def _hostile_tree(root):
    root.mkdir()
    good = text_page(root / "good.png", ["Hello hostile world"])
    (root / "zero.png").write_bytes(b"")
    png = good.read_bytes()
    (root / "truncated.png").write_bytes(png[: len(png) // 2])
    text_page(root / "page.jpg", ["jpeg page"], fmt="JPEG")
    jpg = (root / "page.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    pages = [Image.new("L", (400, 200), 255) for _ in range(3)]
    pages[0].save(root / "multi.tif", save_all=True, append_images=pages[1:])
    tif = (root / "multi.tif").read_bytes()
    (root / "truncated.tif").write_bytes(tif[: len(tif) // 10])
    (root / "notes.png").write_text("this is a text file named .png\n")
    Image.new("1", (30000, 30000)).save(root / "bomb.png")  # 900 Mpx, ~100 kB on disk
    os.symlink(root / "missing.png", root / "broken-link.png")
    os.symlink(root, root / "loop")
    Image.new("L", (1, 1), 255).save(root / "one-pixel.png")
    hundred = [Image.new("L", (120, 60), 255) for _ in range(100)]
    hundred[0].save(root / "hundred.tiff", save_all=True, append_images=hundred[1:])
    shutil.copy(good, root / "name with spaces.png")
    shutil.copy(good, root / "new\nline.png")
    shutil.copy(good, os.fsencode(root) + b"/latin1-\xe9t\xe9.png")
    return root


def test_every_broken_file_gets_one_clear_record(run_batchocr, tmp_path):
    root = _hostile_tree(tmp_path / "in")
    result = run_batchocr(root, "--workers", "2", "--max-image-pixels", "50000000")
    assert result.returncode == 1
    records = result.results()
    by_path = {(r["path"], r["page"]): r for r in records}
    assert Counter((r["path"], r["page"]) for r in records).most_common(1)[0][1] == 1  # nothing twice
    # 13 single-page files, multi.tif, hundred.tiff, and truncated.tif: its first page
    # directory is whole, the second one points past the end (a page, with an error)
    assert len(records) == 13 + 3 + 100 + 1
    assert "damaged page directory" in by_path[("truncated.tif", 2)]["error"]

    def error(name):
        record = by_path[(name, 1)]
        assert record["status"] == "error", record
        return record["error"]

    assert error("zero.png") == "empty file (0 bytes)"
    assert "truncated" in error("truncated.png")
    assert "cannot decode" in error("truncated.jpg") or "truncated" in error("truncated.jpg")
    assert "not a recognised image" in error("notes.png")
    assert "pixel budget" in error("bomb.png")
    assert "broken symlink" in error("broken-link.png")
    assert "cannot decode image: image file is truncated" in error("truncated.tif")
    assert "truncated.tif: page 2: damaged page directory" in result.stderr
    for name in ("good.png", "page.jpg", "name with spaces.png", "new\nline.png", "latin1-\udce9t\udce9.png"):
        assert by_path[(name, 1)]["status"] == "ok", name
    assert "Hello" in by_path[("new\nline.png", 1)]["text"]
    assert by_path[("one-pixel.png", 1)]["status"] == "ok"  # a blank page is not an error
    assert by_path[("one-pixel.png", 1)]["confidence"] is None  # no words, no confidence
    assert [by_path[("hundred.tiff", p)]["status"] for p in range(1, 101)] == ["ok"] * 100
    assert [by_path[("multi.tif", p)]["status"] for p in (1, 2, 3)] == ["ok"] * 3
    assert "symlink loop" in result.stderr  # skipped, and said so
    assert not any(e["event"] == "exit" and "signal" in (e.get("cause") or "") for e in result.memory())


def test_results_file_is_valid_utf8_json_lines_with_odd_names(run_batchocr, tmp_path):
    root = tmp_path / "in"
    text_page(root / "x.png", ["odd"])
    os.rename(root / "x.png", os.fsencode(root) + b"/bad-\xff\n.png")
    result = run_batchocr(root)
    raw = (result.out_dir / "results.jsonl").read_bytes()
    raw.decode("utf-8")  # strict: a reader never meets invalid UTF-8
    assert raw.count(b"\n") == 1  # the newline in the name is escaped inside its line
    record = result.results()[0]
    assert os.fsencode(record["path"]) == b"bad-\xff\n.png"  # the exact bytes come back
    assert record["status"] == "ok"


def test_directory_vanishing_mid_run(run_batchocr, tmp_path):
    """Pages whose files disappear after discovery get a clear error record."""
    root = tmp_path / "in"
    for i in range(6):
        text_page(root / f"a{i}.png", [f"page {i}"])
    for i in range(6):
        text_page(root / "zz-doomed" / f"d{i}.png", [f"doomed {i}"])
    result = run_batchocr(
        root,
        "--engine",
        "fault_engines:FakeEngine",
        "--workers",
        "1",
        env={"FAULT_SLEEP": "0.2", "FAULT_REMOVE_AFTER_FIRST": str(root / "zz-doomed")},
    )
    records = {r["path"]: r for r in result.results()}
    assert len(records) == 12
    doomed = [r for p, r in records.items() if p.startswith("zz-doomed")]
    assert all(r["status"] == "error" and "file not found" in r["error"] for r in doomed)
    assert all(r["status"] == "ok" for p, r in records.items() if p.startswith("a"))
    assert result.returncode == 1


def test_unreadable_file_and_directory(tmp_path):
    """Permissions: an error record for the file, a reported skip for the directory."""
    import subprocess
    import sys

    from conftest import batchocr_env, read_jsonl

    root = tmp_path / "in"
    text_page(root / "ok.png", ["readable"])
    text_page(root / "locked.png", ["unreadable"])
    text_page(root / "closed" / "inside.png", ["unreachable"])
    os.chmod(root / "locked.png", 0)
    os.chmod(root / "closed", 0)
    # root reads anything: drop the capabilities that let it, as an ordinary user has none
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    try:
        proc = subprocess.run(
            [
                *prefix,
                sys.executable,
                "-m",
                "batchocr",
                "run",
                str(root),
                "-o",
                str(tmp_path / "out"),
                "--engine",
                "fault_engines:FakeEngine",
            ],
            env=batchocr_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.chmod(root / "closed", 0o755)
    records = {r["path"]: r for r in read_jsonl(tmp_path / "out" / "results.jsonl")}
    assert proc.returncode == 1, proc.stderr
    assert records["ok.png"]["status"] == "ok"
    assert records["locked.png"]["status"] == "error"
    assert "permission denied" in records["locked.png"]["error"]
    assert "closed: cannot list directory: Permission denied" in proc.stderr
