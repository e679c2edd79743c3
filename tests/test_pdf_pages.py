"""PDF pages in the worker: the text layer when usable, else rendered pixels."""

from __future__ import annotations

import pytest
from pdfs import scanned_pdf, text_pdf
from PIL import Image, ImageDraw, ImageFont

from batchocr.decoding import DecodeError, decode_page
from batchocr.pdf import usable_text

LINES = ["Quarterly report of the harbour office", "Total tonnage handled: 41,250 tonnes"]


def near(size, want) -> bool:
    """PDFium rounds a rendered page's size up."""
    return all(abs(a - b) <= 1 for a, b in zip(size, want, strict=True))


def test_a_text_layer_is_used_as_is(tmp_path):
    path = text_pdf(tmp_path / "born-digital.pdf", [LINES, ["Second page of the report, with its own words"]])
    first = decode_page(str(path), 1, 10**8)
    assert first.text_layer is not None and LINES[0] in first.text_layer and LINES[1] in first.text_layer
    assert near(first.image.size, (2550, 3300))  # a US letter page at 300 dpi
    second = decode_page(str(path), 2, 10**8)
    assert "Second page" in second.text_layer


def test_force_ocr_renders_the_page_instead(tmp_path):
    path = text_pdf(tmp_path / "born-digital.pdf", [LINES])
    page = decode_page(str(path), 1, 10**8, pdf_dpi=150, pdf_text=False)
    assert page.text_layer is None
    assert near(page.image.size, (1275, 1650)) and page.image.mode == "L"
    assert page.image.getextrema()[0] < 80  # the text is drawn: there is ink


def test_a_scanned_page_is_rendered_within_the_pixel_budget(tmp_path):
    scan = Image.new("L", (1700, 2200), 255)
    ImageDraw.Draw(scan).text((100, 100), "Scanned words", font=ImageFont.load_default(size=60), fill=0)
    path = scanned_pdf(tmp_path / "scan.pdf", [scan, scan], dpi=200)
    page = decode_page(str(path), 2, 10**8)
    assert page.text_layer is None
    assert near(page.image.size, (2550, 3300))  # 8.5x11 in, rendered at 300 dpi
    small = decode_page(str(path), 1, 2_000_000)
    assert small.image.width * small.image.height <= 2_000_000


def test_broken_encrypted_and_missing_pages_are_clear_errors(tmp_path):
    path = text_pdf(tmp_path / "doc.pdf", [LINES])
    with pytest.raises(DecodeError, match="page 3 does not exist in this PDF \\(1 pages\\)"):
        decode_page(str(path), 3, 10**8)
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DecodeError, match="cannot read PDF"):
        decode_page(str(truncated), 1, 10**8)


def test_encrypted_pdf_asks_for_a_password(tmp_path):
    pikepdf = pytest.importorskip("pikepdf")
    plain = text_pdf(tmp_path / "plain.pdf", [LINES])
    locked = tmp_path / "locked.pdf"
    with pikepdf.open(plain) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(owner="o", user="secret"))
    with pytest.raises(DecodeError, match="encrypted PDF: it needs a password"):
        decode_page(str(locked), 1, 10**8)


@pytest.mark.parametrize(
    "text, usable",
    [
        ("Invoice 2024-113: 12 crates of tinned fish, paid in full.", True),
        ("", False),
        ("  . , ;  ", False),
        ("\ufffd" * 80, False),  # a font without a Unicode map
        ("\ue000\ue001" * 40 + " ab", False),  # private-use glyph codes
        ("Na", False),  # a stray glyph or two a scanner left
    ],
)
def test_what_counts_as_a_usable_text_layer(text, usable):
    assert usable_text(text) is usable


def test_a_mixed_folder_of_pdfs_and_images_with_the_real_engine(run_batchocr, tmp_path):
    """Scanned pages OCR as well from a PDF as from the images it was made
    of; a born-digital PDF gives its own text; a broken PDF one error."""
    from conftest import SAMPLES
    from textmetrics import cer

    names = ["letter.png", "memo.png"]
    folder = tmp_path / "in"
    scanned_pdf(folder / "scan.pdf", [Image.open(SAMPLES / name) for name in names], dpi=300)
    for name in names:
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    text_pdf(folder / "digital.pdf", [LINES])
    (folder / "broken.pdf").write_bytes((folder / "digital.pdf").read_bytes()[:150])
    result = run_batchocr(folder, "--workers", "2")
    assert result.returncode == 1, result.stderr  # the broken PDF
    records = {(r["path"], r["page"]): r for r in result.results()}
    assert len(records) == 2 + 2 + 1 + 1
    for page, name in enumerate(names, start=1):
        truth = (SAMPLES / name).with_suffix(".txt").read_text()
        from_pdf, from_image = records[("scan.pdf", page)], records[(name, 1)]
        assert (from_pdf["source"], from_pdf["pages"]) == ("ocr", 2)
        assert abs(cer(truth, from_pdf["text"]) - cer(truth, from_image["text"])) <= 0.005
    digital = records[("digital.pdf", 1)]
    assert digital["source"] == "pdf-text" and LINES[1] in digital["text"]
    assert "cannot read PDF" in records[("broken.pdf", 1)]["error"]
    forced = run_batchocr(folder, "--force-ocr", out_dir=tmp_path / "forced")
    forced_digital = {(r["path"], r["page"]): r for r in forced.results()}[("digital.pdf", 1)]
    assert forced_digital["source"] == "ocr" and cer(LINES[0], forced_digital["text"].splitlines()[0]) < 0.1
