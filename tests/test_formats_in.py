"""Every format Pillow reads comes in; everything else is listed as skipped."""

from __future__ import annotations

import os
import zipfile

from conftest import text_page
from PIL import Image

from batchocr.discovery import discover


def test_jpeg2000_pnm_tga_and_animated_gif_frames_are_pages(tmp_path):
    base = text_page(tmp_path / "src.png", ["A page"])
    image = Image.open(base).convert("L")
    (tmp_path / "in").mkdir()
    image.save(tmp_path / "in" / "master.jp2")
    image.save(tmp_path / "in" / "scan.pnm")
    image.save(tmp_path / "in" / "scan-without-extension", format="PPM")
    image.save(tmp_path / "in" / "old.tga")
    frames = [image.point(lambda v, i=i: min(255, v + i)) for i in range(3)]
    frames[0].save(tmp_path / "in" / "flip.gif", save_all=True, append_images=frames[1:])
    found = discover(str(tmp_path / "in"))
    pages = {(i.rel, i.page, i.pages) for i in found.items}
    assert pages == {
        ("flip.gif", 1, 3),
        ("flip.gif", 2, 3),
        ("flip.gif", 3, 3),
        ("master.jp2", 1, 1),
        ("old.tga", 1, 1),
        ("scan-without-extension", 1, 1),
        ("scan.pnm", 1, 1),
    }
    assert found.skipped == []


def test_everything_else_is_skipped_with_a_reason(tmp_path):
    root = tmp_path / "in"
    text_page(root / "page.png", ["A page"])
    with zipfile.ZipFile(root / "letter.docx", "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    (root / "notes.txt").write_text("shopping list\n")
    (root / "empty.dat").write_bytes(b"")
    (root / ".hidden.png").write_bytes(b"x")
    os.mkfifo(root / "pipe.png")  # named like an image: must not block discovery
    found = discover(str(root))
    assert [i.rel for i in found.items] == ["page.png"]
    reasons = dict(found.skipped)
    assert reasons == {
        ".hidden.png": "hidden",
        "empty.dat": "an empty file",
        "letter.docx": "unsupported format (a zip archive (.docx, .xlsx, .odt and .zip are zips))",
        "notes.txt": "unsupported format (text)",
        "pipe.png": "not a regular file (a FIFO)",
    }
    assert found.skipped_by_kind == {".docx": 1, ".txt": 1, ".dat": 1, ".png": 2}


def test_skips_are_in_run_json_and_the_summary(run_batchocr, tmp_path):
    root = tmp_path / "in"
    text_page(root / "page.png", ["A page"])
    for i in range(3):
        (root / f"n{i}.txt").write_text("words\n")
    result = run_batchocr(root, "--engine", "fault_engines:FakeEngine")
    assert result.returncode == 0, result.stderr
    skipped = result.run_info()["skipped"]
    assert skipped["files"] == 3 and skipped["by_extension"] == {".txt": 3}
    assert "3 files skipped: 3 .txt; see skipped in" in result.stderr


def test_a_folder_with_no_pages_exits_5_saying_where_it_looked(run_batchocr, tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    (root / "readme.txt").write_text("nothing to see\n")
    result = run_batchocr(root, "--engine", "fault_engines:FakeEngine")
    assert result.returncode == 5
    assert f"no pages found under {root} (1 file there" in result.stderr
    assert not (result.out_dir / "results.jsonl").exists()


def test_a_large_folder_with_no_pages_exits_5_too(run_batchocr, tmp_path):
    """Discovery that outlasts the start (a big share of other files) still ends in 5."""
    root = tmp_path / "in"
    root.mkdir()
    (root / "n00000.txt").write_text("words\n")
    for i in range(1, 40000):  # hard links: many files, made fast
        os.link(root / "n00000.txt", root / f"n{i:05d}.txt")
    result = run_batchocr(root, "--engine", "fault_engines:FakeEngine")
    assert result.returncode == 5, result.stderr
    assert f"no pages found under {root}" in result.stderr
