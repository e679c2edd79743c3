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


def test_a_blank_scanned_page_is_blank_not_damaged(tmp_path):
    path = scanned_pdf(tmp_path / "blank.pdf", [Image.new("L", (850, 1100), 255)], dpi=100)
    page = decode_page(str(path), 1, 10**8)
    assert page.text_layer is None and page.image.getextrema() == (255, 255)


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


def damage_page_object(path, number: int) -> None:
    """Bit rot in page ``number``'s dictionary: its bytes overwritten with
    garbage of the same length, so the cross-reference table still holds."""
    pikepdf = pytest.importorskip("pikepdf")
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:  # every object on its own, at its offset
        pdf.save(path, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    with pikepdf.open(path) as pdf:
        object_number = pdf.pages[number - 1].objgen[0]
    data = path.read_bytes()
    start = data.index(b"\n%d 0 obj" % object_number) + len(b"\n%d 0 obj" % object_number)
    end = data.index(b"endobj", start)
    path.write_bytes(data[:start] + b"\n" + b"\xff" * (end - start - 2) + b"\n" + data[end:])


def damage_page_image(path, number: int) -> None:
    """Page ``number``'s scanned image garbled (its JPEG data replaced)."""
    pikepdf = pytest.importorskip("pikepdf")
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        for image in pdf.pages[number - 1].get_images().values():
            image.write(b"\x00garbled" * 500, filter=pikepdf.Name.DCTDecode, type_check=False)
        pdf.save(path)


def pages_pdfium_cannot_read(path) -> list[int]:
    """The pages PDFium fails on: it cannot load them, or cannot decode an image on them."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    failed = []
    with pdfium.PdfDocument(path) as document:
        for index in range(len(document)):
            try:
                page = document[index]
                for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
                    image.get_bitmap()
            except pdfium.PdfiumError:
                failed.append(index + 1)
    return failed


@pytest.mark.parametrize(
    "damage, message",
    [
        (damage_page_object, "damaged page: PDFium cannot load page 2"),
        (damage_page_image, "damaged image: PDFium cannot decode"),
    ],
)
def test_one_broken_page_is_an_error_and_the_other_pages_are_read(run_batchocr, tmp_path, damage, message):
    """The real engine, a 3-page scanned PDF whose page 2 is damaged, and a
    truncated PDF beside it."""
    from conftest import text_page

    folder = tmp_path / "in"
    words = ["Harbour", "Granary", "Lighthouse"]
    scans = [text_page(tmp_path / f"{word}.png", [f"{word} ledger, folio {n}"]) for n, word in enumerate(words, 1)]
    ledger = scanned_pdf(folder / "ledger.pdf", [Image.open(scan) for scan in scans], dpi=200)
    damage(ledger, 2)
    assert pages_pdfium_cannot_read(ledger) == [2]  # the damage is real, and only on page 2
    (folder / "truncated.pdf").write_bytes(text_pdf(tmp_path / "whole.pdf", [LINES]).read_bytes()[:150])
    result = run_batchocr(folder, "--workers", "2")
    assert result.returncode == 1, result.stderr
    records = {(r["path"], r["page"]): r for r in result.results()}
    assert set(records) == {("ledger.pdf", 1), ("ledger.pdf", 2), ("ledger.pdf", 3), ("truncated.pdf", 1)}
    for page in (1, 3):
        record = records[("ledger.pdf", page)]
        assert (record["status"], record["source"]) == ("ok", "ocr") and words[page - 1] in record["text"]
    broken = records[("ledger.pdf", 2)]
    assert (broken["status"], broken["pages"]) == ("error", 3) and message in broken["error"], broken["error"]
    assert "cannot read PDF" in records[("truncated.pdf", 1)]["error"]
