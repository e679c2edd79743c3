from __future__ import annotations

import os

from PIL import Image

from batchocr.discovery import discover


def _png(path, size=(20, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, 255).save(path, format="PNG")
    return path


def test_recursive_deterministic_and_by_content(tmp_path):
    _png(tmp_path / "b.png")
    _png(tmp_path / "a" / "z.png")
    _png(tmp_path / "a" / "scan.dat")  # a PNG without an image extension
    (tmp_path / "notes.txt").write_text("ground truth, not an image")
    (tmp_path / "fake.png").write_text("a text file named .png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    _png(tmp_path / ".hidden.png")
    _png(tmp_path / ".cache" / "x.png")
    found = discover(str(tmp_path))
    rels = [i.rel for i in found.items]
    assert rels == ["a/scan.dat", "a/z.png", "b.png", "empty.jpg", "fake.png"]
    assert discover(str(tmp_path)).items == found.items  # same order every time


def test_multipage_tiff_is_one_item_per_page(tmp_path):
    frames = [Image.new("L", (30, 20), c) for c in (0, 128, 255)]
    frames[0].save(tmp_path / "doc.tif", save_all=True, append_images=frames[1:])
    items = discover(str(tmp_path)).items
    assert [(i.rel, i.page, i.pages) for i in items] == [("doc.tif", p, 3) for p in (1, 2, 3)]


def test_output_dir_inside_input_is_skipped(tmp_path):
    _png(tmp_path / "a.png")
    _png(tmp_path / "out" / "previous.png")
    items = discover(str(tmp_path), exclude=[str(tmp_path / "out")]).items
    assert [i.rel for i in items] == ["a.png"]


def test_symlink_loop_terminates_and_is_reported(tmp_path):
    _png(tmp_path / "d" / "a.png")
    os.symlink(tmp_path, tmp_path / "d" / "loop")
    found = discover(str(tmp_path))
    assert [i.rel for i in found.items] == ["d/a.png"]
    assert any("symlink loop" in problem for _, problem in found.problems)


def test_broken_symlink_with_image_name_is_listed(tmp_path):
    os.symlink(tmp_path / "gone.png", tmp_path / "link.png")
    os.symlink(tmp_path / "gone.txt", tmp_path / "link.txt")
    assert [i.rel for i in discover(str(tmp_path)).items] == ["link.png"]


def test_odd_names(tmp_path):
    _png(tmp_path / "with space.png")
    _png(tmp_path / "new\nline.png")
    raw = os.fsencode(str(tmp_path)) + b"/bad-\xff.png"
    Image.new("L", (5, 5)).save(raw.decode("utf-8", "surrogateescape"), format="PNG")
    rels = [i.rel for i in discover(str(tmp_path)).items]
    assert "with space.png" in rels and "new\nline.png" in rels
    assert "bad-\udcff.png" in rels
