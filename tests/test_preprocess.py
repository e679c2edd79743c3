"""Page geometry (batchocr/preprocess.py) and the second-look rules
(batchocr/second_look.py) on rendered pages: no engine, milliseconds each."""

from __future__ import annotations

import random

import pytest
from PIL import Image, ImageDraw, ImageFont

from batchocr.engines.base import TextLine
from batchocr.preprocess import InkMask, Straighten, estimate_skew, uncovered_ink
from batchocr.second_look import NO_TEXT, Reading, better, second_look_reason, suspect

DPI = 200


def text_page(lines: int = 25, background: int = 245) -> Image.Image:
    """A 200-dpi half-letter page of level text lines."""
    image = Image.new("L", (1100, 1400), background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    words = random.Random(5).choices(["ledger", "harbor", "quarry", "minutes", "the", "of", "parish"], k=lines * 8)
    for i in range(lines):
        draw.text((100, 100 + i * 46), " ".join(words[i * 8 : i * 8 + 8]), font=font, fill=30)
    return image


@pytest.mark.parametrize("angle", [-6.0, -4.0, -2.0, 0.0, 1.5, 3.0, 5.5])
def test_skew_is_found_to_a_fifth_of_a_degree(angle):
    crooked = text_page().rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=245)
    # The estimate is the correction: rotating back by minus the skew.
    assert estimate_skew(InkMask.of(crooked, DPI)) == pytest.approx(-angle, abs=0.2)


def test_a_level_page_is_left_alone():
    assert estimate_skew(InkMask.of(text_page(), DPI)) == 0.0


def test_a_blank_noisy_scan_has_no_ink_and_no_skew():
    rng = random.Random(3)
    noise = Image.frombytes("L", (1100, 1400), bytes(rng.randint(215, 250) for _ in range(1100 * 1400)))
    ink = InkMask.of(noise, DPI)
    assert ink.ink_share() < 0.001
    assert estimate_skew(ink) == 0.0
    assert InkMask.of(text_page(), DPI).ink_share() > 0.01


@pytest.mark.parametrize("turn,skew", [(0, 0.0), (0, 4.0), (90, 0.0), (180, -3.0), (270, 2.5)])
def test_boxes_map_back_to_the_stored_image(turn, skew):
    """A mark drawn on the stored page, found in the straightened page, maps
    back onto itself (within a pixel or two: the enclosing box of a turned box)."""
    stored = Image.new("L", (900, 1200), 255)
    mark = (600, 150, 700, 190)
    ImageDraw.Draw(stored).rectangle(mark, fill=0)
    straighten = Straighten(stored.size, turn=turn, skew=skew)
    turned = straighten.apply(stored)
    found = turned.point(lambda v: 255 if v < 128 else 0).getbbox()
    back = straighten.box_to_stored(found)
    slack = 3 + round(abs(skew) * 2)  # a tilted box's enclosing box is larger
    for got, want in zip(back, mark):
        assert abs(got - want) <= slack, (back, mark)


def test_ink_outside_every_line_is_measured():
    page = text_page(lines=20)
    ink = InkMask.of(page, DPI)
    all_lines = [(90, 90 + i * 46, 1050, 140 + i * 46) for i in range(20)]
    assert uncovered_ink(ink, all_lines) < 0.05
    assert uncovered_ink(ink, all_lines[:10]) == pytest.approx(0.5, abs=0.1)
    assert uncovered_ink(ink, []) == 1.0


def reading(text: str, confidence: float | None, boxes=()) -> Reading:
    lines = [TextLine(text=text, confidence=confidence, bbox=box) for box in boxes] or [
        TextLine(text=text, confidence=confidence, bbox=None)
    ]
    return Reading(text=text, confidence=confidence, lines=lines if text else [])


def test_second_look_reasons():
    page = text_page(lines=20)
    ink = InkMask.of(page, DPI)
    all_lines = [(90, 90 + i * 46, 1050, 140 + i * 46) for i in range(20)]
    words = "ledger harbor quarry " * 20
    assert second_look_reason(reading(words, 95, all_lines), ink) is None
    assert second_look_reason(reading("", None), ink) == NO_TEXT
    assert second_look_reason(reading(words, 38, all_lines), ink) == "low confidence"
    assert second_look_reason(reading(words, 95, all_lines[:8]), ink) == "ink without text"
    blank = InkMask.of(Image.new("L", page.size, 250), DPI)
    assert second_look_reason(reading("", None), blank) is None


def test_the_better_reading_is_kept_and_ties_keep_the_first():
    garbage = reading("jo 4ynq [[e pue Anyereo " * 20, 38)
    upright = reading("all of the bridge was " * 20, 95)
    assert better(garbage, upright) is upright
    assert better(upright, garbage) is upright
    same = reading("all of the bridge was " * 20, 95)
    assert better(upright, same) is upright


def test_an_inked_page_without_text_is_suspect_and_a_blank_one_is_not():
    ink = InkMask.of(text_page(), DPI)
    blank = InkMask.of(Image.new("L", (1100, 1400), 250), DPI)
    assert suspect(reading("", None), ink) == NO_TEXT
    assert suspect(reading("", None), blank) is None
    assert suspect(reading("ledger harbor", 90), ink) is None
    assert suspect(reading("a", 40), ink) == NO_TEXT  # one stray letter does not read a page of ink


def test_a_page_with_one_short_word_is_not_suspect():
    page = Image.new("L", (1000, 600), 255)
    ImageDraw.Draw(page).text((40, 40), "odd", font=ImageFont.load_default(size=32), fill=0)
    ink = InkMask.of(page, None)
    assert suspect(reading("odd", 96), ink) is None
    assert second_look_reason(reading("odd", 96, [(38, 40, 100, 75)]), ink) is None
    assert suspect(reading("", None), ink) == NO_TEXT
