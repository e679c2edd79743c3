"""A PDF page's own text layer comes with its lines and words, boxed in the
pixels of the page as rendered, whatever the page's rotation."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
from pdfs import blocks_pdf, text_block, text_pdf

from batchocr.pdf import PdfReader

LINES = ["A page typed into its PDF", "with a second line of text"]
MINUTES = [f"{n}. Item number {n} of the minutes, in the order written" for n in range(1, 9)]


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_each_word_box_holds_its_rendered_glyphs(tmp_path, rotation):
    path = text_pdf(tmp_path / "typed.pdf", [LINES], rotate=rotation)
    page = PdfReader().page(str(path), 1, dpi=150, max_pixels=10**8, use_text=True)
    assert page.text is not None and [line.text for line in page.lines] == LINES
    assert [w.text for line in page.lines for w in line.words] == page.text.split()
    document = pdfium.PdfDocument(str(path))
    image = document[0].render(scale=150 / 72, grayscale=True).to_pil().convert("L")
    document.close()
    for line in page.lines:
        for word in line.words:
            x0, y0, x1, y1 = word.bbox
            assert 0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height
            assert image.crop(word.bbox).getextrema()[0] < 128, word  # ink inside the box
            assert word.confidence is None  # exact text: no confidence
    # ... and none outside them: every dark pixel lies in some word's box
    # (give or take the pixel PDFium's anti-aliasing adds at a glyph's edge)
    boxes = [w.bbox for line in page.lines for w in line.words]
    dark = image.point(lambda v: 255 if v < 128 else 0)
    for x0, y0, x1, y1 in boxes:
        dark.paste(0, (x0 - 1, y0 - 1, x1 + 1, y1 + 1))
    assert dark.getbbox() is None


@pytest.mark.parametrize("angle", [0, 90, 180, 270])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_a_turned_page_reads_in_the_order_it_was_written(tmp_path, rotation, angle):
    """Text typed turned by ``angle`` in the page's own space, on a page
    turned by /Rotate ``rotation`` when shown: upright when they are equal (a
    landscape page in a portrait document is often either), sideways or
    upside down otherwise.  Its lines come in the order written, every time
    (PDFium orders text as shown: on /Rotate 90 its lines came out of order)."""
    path = text_pdf(tmp_path / "turned.pdf", [MINUTES], rotate=rotation, angle=angle)
    page = PdfReader().page(str(path), 1, dpi=100, max_pixels=10**8, use_text=True)
    assert page.text is not None and page.text.split() == " ".join(MINUTES).split()
    assert [line.text for line in page.lines] == MINUTES
    assert (page.width > page.height) == (rotation in (90, 270))  # the size as shown, rotation and all


def test_a_word_hyphenated_at_a_line_end_keeps_its_hyphen_and_its_lines(tmp_path):
    """PDFium reports a hyphen that ends a line as U+0002 and joins the lines:
    the text keeps the hyphen and the line break, as printed."""
    lines = ["This is a fairly long exam-", "ple of hyphen-", "ation in running text here"]
    path = text_pdf(tmp_path / "hyphens.pdf", [lines])
    page = PdfReader().page(str(path), 1, dpi=100, max_pixels=10**8, use_text=True)
    assert page.text == "\n".join(lines)
    assert [line.text for line in page.lines] == lines


def test_text_outside_the_crop_box_is_not_read(tmp_path):
    """Text a viewer does not show (cut off by the CropBox) is no part of the page's text."""
    lines = ["A line that shows on the page", "and a second one", *[""] * 30, "HIDDEN BELOW THE CROP BOX"]
    path = text_pdf(tmp_path / "cropped.pdf", [lines], crop_box=(0, 300, 612, 792))
    page = PdfReader().page(str(path), 1, dpi=100, max_pixels=10**8, use_text=True)
    assert page.text == "A line that shows on the page\nand a second one"
    assert all(x0 < x1 and y0 < y1 for line in page.lines for x0, y0, x1, y1 in [line.bbox])


def test_the_text_direction_is_the_whole_pages_not_its_first_characters(tmp_path):
    """A long sideways margin stamp (as arXiv prints) typed before an upright
    body must not turn the body's reading: the direction most characters
    have, over the whole page, wins."""
    stamp = text_block(["arXiv:2101.00001v1 [cs.CL] 1 Jan 2021 " * 6], angle=90, origin=(30, 100), font_size=6)
    body = ["Upright body text, line one", "Upright body text, line two", "Upright body, line three"] * 4
    path = blocks_pdf(tmp_path / "stamped.pdf", [stamp, text_block(body)])
    page = PdfReader().page(str(path), 1, dpi=100, max_pixels=10**8, use_text=True)
    assert [line.text for line in page.lines if line.text.startswith("Upright")] == body
