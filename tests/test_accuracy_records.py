"""Issue 12 end to end with the real tesseract engine: what records, the
summary and ``batchocr report`` say about suspect, blank, low-confidence,
turned and skewed pages, and the switches that turn the work off."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys

from conftest import SAMPLES, batchocr_env
from PIL import Image, ImageDraw

PAPER = (1200, 1600)  # 6 x 8 inches at 200 dpi


def form_without_text(path):
    """An empty ruled form: plenty of ink, no text at all."""
    image = Image.new("L", PAPER, 250)
    draw = ImageDraw.Draw(image)
    for i in range(12):
        draw.line((100, 150 + i * 110, 1100, 150 + i * 110), fill=20, width=4)
    for x in (100, 600, 1100):
        draw.line((x, 150, x, 150 + 11 * 110), fill=20, width=4)
    image.save(path, dpi=(200, 200))


def blots(path):
    """Ink blots: tesseract reads a few confident-looking garbage characters."""
    rng = random.Random(1)
    image = Image.new("L", PAPER, 250)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y, r = rng.randint(0, 1100), rng.randint(0, 1500), rng.randint(20, 90)
        draw.ellipse((x, y, x + r, y + r * 2), fill=rng.randint(20, 120))
    image.save(path, dpi=(200, 200))


def test_suspect_blank_and_low_confidence_pages(run_batchocr, tmp_path):
    pages = tmp_path / "in"
    pages.mkdir()
    shutil.copy(SAMPLES / "letter.png", pages / "letter.png")
    Image.new("L", PAPER, 250).save(pages / "blank.png", dpi=(200, 200))
    form_without_text(pages / "form.png")
    blots(pages / "blots.png")

    first = run_batchocr(pages, "--workers", "2")
    assert first.returncode == 1, first.stderr  # a page failed: the suspect one
    records = {r["path"]: r for r in first.results()}
    form = records["form.png"]
    assert form["status"] == "error" and form["error_kind"] == "suspect"
    assert form["suspect"] == form["error"] == "no text on an inked page"
    assert form["text"] == "" and form["passes"] == 2  # the second look ran, the text is kept
    blank = records["blank.png"]
    assert blank["status"] == "ok" and blank["text"] == "" and blank["passes"] == 1
    assert records["blots.png"]["status"] == "ok" and records["blots.png"]["low_confidence"] is True
    assert records["letter.png"]["low_confidence"] is False and "Dear" in records["letter.png"]["text"]
    assert "1 low-confidence" in first.stderr
    assert "form.png page 1: no text on an inked page" in first.stderr
    assert first.run_info()["counts"]["low_confidence"] == 1

    report = subprocess.run(
        [sys.executable, "-m", "batchocr", "report", str(first.out_dir), "--json"],
        capture_output=True,
        text=True,
        env=batchocr_env(tmp_path),
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    flagged = json.loads(report.stdout)["low_confidence"]
    assert [(p["path"], p["page"]) for p in flagged] == [("blots.png", 1)]

    # The next run retries the suspect page (and only the pages not ok).
    again = run_batchocr(pages, "--workers", "1")
    retried = [r["path"] for r in again.results() if r["run"] != form["run"]]
    assert retried == ["form.png"]


def test_switches_turn_the_work_off(run_batchocr, tmp_path):
    pages = tmp_path / "in"
    pages.mkdir()
    for name in ("turned-180.png", "skewed-cw4.png"):
        shutil.copy(SAMPLES / "accuracy" / name, pages / name)

    off = run_batchocr(
        pages, "--workers", "2", "--no-rotate-pages", "--no-deskew", "--psm", "3", out_dir=tmp_path / "off"
    )
    records = {r["path"]: r for r in off.results()}
    assert records["turned-180.png"]["rotation"] == 0 and records["turned-180.png"]["low_confidence"] is True
    assert records["skewed-cw4.png"]["skew"] == 0.0
    assert off.run_info()["models"]["required"] == ["eng.traineddata"]  # no orientation model needed

    on = run_batchocr(pages, "--workers", "2", out_dir=tmp_path / "on")
    records = {r["path"]: r for r in on.results()}
    assert records["turned-180.png"]["rotation"] == 180 and records["turned-180.png"]["passes"] == 2
    assert records["skewed-cw4.png"]["skew"] == 4.0 and records["skewed-cw4.png"]["passes"] == 1

    assert run_batchocr(pages, "--psm", "0", out_dir=tmp_path / "bad").returncode == 2
