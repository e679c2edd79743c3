"""The searchable PDF format (``--formats pdf``): one real run with tesseract
over image files and scanned PDFs, then the PDFs read back with PDFium
(pypdfium2) and qpdf (pikepdf) as a viewer would read them."""

from __future__ import annotations

import ctypes
import importlib.util
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
import pytest
from conftest import REPO, SAMPLES, RunResult, batchocr_env
from pdfs import scanned_pdf
from PIL import Image, ImageChops, ImageSequence
from textmetrics import cer

from batchocr.decoding import ORIENTATION, decode_page
from batchocr.outputs.pdf import InputChanged, write_pdf
from batchocr.outputs.pdf_text import line_runs

ACCURACY = SAMPLES / "accuracy"
# input file -> the ground truth of each of its pages
INPUTS = {
    "letter.png": [SAMPLES / "letter.txt"],
    "notice.jpg": [SAMPLES / "notice.txt"],
    "report.tiff": [SAMPLES / "report.txt"],  # three pages, split by form feeds
    "turned-180.png": [ACCURACY / "turned-180.txt"],  # the engine turns it to read it
    "turned-270.png": [ACCURACY / "turned-270.txt"],  # tesseract reads its lines as they stand
    "skewed-cw4.png": [ACCURACY / "skewed-cw4.txt"],
    "scan.pdf": [SAMPLES / "memo.txt", SAMPLES / "quarterly-report.txt"],
    "rotated.pdf": [SAMPLES / "letter.txt"],  # /Rotate 90, a CropBox away from the origin, a stray cm
}
PDF_DPI = 200
CER_MARGIN = 0.02  # the PDF's text may read this much worse than the record's


def make_inputs(directory: Path) -> None:
    directory.mkdir(parents=True)
    for name in ("letter.png", "notice.jpg", "report.tiff"):
        shutil.copy(SAMPLES / name, directory / name)
    for name in ("turned-180.png", "turned-270.png", "skewed-cw4.png"):
        shutil.copy(ACCURACY / name, directory / name)
    pages = [Image.open(SAMPLES / "memo.png"), Image.open(SAMPLES / "quarterly-report.png")]
    scanned_pdf(directory / "scan.pdf", pages, dpi=200)
    rotated = scanned_pdf(directory / "rotated.pdf", [Image.open(SAMPLES / "letter.png")], dpi=200)
    with pikepdf.open(rotated, allow_overwriting_input=True) as pdf:
        page = pdf.pages[0]
        x0, y0, x1, y1 = (float(v) for v in page.MediaBox)
        page.obj.Rotate = 90
        page.obj.CropBox = [x0 + 12, y0 + 30, x1 - 20, y1 - 8]  # the scan's margins, trimmed
        # content that leaves its coordinate system changed (legal; PDF writers do it)
        page.contents_add(pikepdf.Stream(pdf, b"0.5 0 0 0.5 0 0 cm"))
        pdf.save(rotated)


@pytest.fixture(scope="module")
def pdf_run(tmp_path_factory) -> RunResult:
    tmp = tmp_path_factory.mktemp("pdfout")
    make_inputs(tmp / "in")
    out = tmp / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "batchocr", "run", str(tmp / "in"), "-o", str(out), "--workers", "2"]
        + ["--formats", "pdf,txt", "--pdf-dpi", str(PDF_DPI)],
        capture_output=True,
        text=True,
        timeout=600,
        env=batchocr_env(tmp),
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr
    return RunResult(proc.returncode, proc.stdout, proc.stderr, out)


def records_of(run: RunResult, name: str) -> list[dict]:
    return sorted((r for r in run.results() if r["path"] == name), key=lambda r: r["page"])


def truths(name: str) -> list[str]:
    texts = [path.read_text() for path in INPUTS[name]]
    return texts[0].split("\f") if name == "report.tiff" else texts


def output(run: RunResult, name: str) -> pdfium.PdfDocument:
    return pdfium.PdfDocument(run.out_dir / "pdf" / f"{name}.pdf")


def page_text(page: pdfium.PdfPage) -> str:
    textpage = page.get_textpage()
    try:
        return textpage.get_text_bounded()
    finally:
        textpage.close()


def test_one_pdf_per_input_file_with_all_its_pages(pdf_run):
    for name, pages in {**{n: 1 for n in INPUTS}, "report.tiff": 3, "scan.pdf": 2}.items():
        records = records_of(pdf_run, name)
        assert [r["status"] for r in records] == ["ok"] * pages, name
        assert len(output(pdf_run, name)) == pages, name


def test_extracted_text_reads_as_well_as_the_records(pdf_run):
    """Page by page, PDFium's text of the PDF has a CER against the ground
    truth within 0.02 of the record's.  (rotated.pdf is left out: PDFium
    orders the lines of any /Rotate 90 page backwards, whoever wrote them;
    its words are checked in place below.)"""
    rates = {}
    for name in INPUTS:
        if name == "rotated.pdf":
            continue
        document = output(pdf_run, name)
        for record, truth in zip(records_of(pdf_run, name), truths(name), strict=True):
            pdf_text = page_text(document[record["page"] - 1])
            rates[(name, record["page"])] = (cer(truth, pdf_text), cer(truth, record["text"]))
    print("\n".join(f"{key}: pdf {pdf:.2%}, record {rec:.2%}" for key, (pdf, rec) in rates.items()))
    assert all(pdf <= rec + CER_MARGIN for pdf, rec in rates.values()), rates


def device_boxes(page: pdfium.PdfPage, size: tuple[int, int], start: int, count: int) -> list[tuple[float, ...]]:
    """The char boxes of chars start..start+count, in the pixels of the page
    rendered at ``size`` (PDFium's own mapping: /Rotate, CropBox)."""
    textpage = page.get_textpage()
    boxes = []
    for index in range(start, start + count):
        left, bottom, right, top = textpage.get_charbox(index)
        corners = []
        for x, y in ((left, bottom), (right, top)):
            dx, dy = ctypes.c_int(), ctypes.c_int()
            pdfium_raw.FPDF_PageToDevice(page.raw, 0, 0, size[0], size[1], 0, x, y, dx, dy)
            corners.append((dx.value, dy.value))
        (ax, ay), (bx, by) = corners
        boxes.append((min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)))
    textpage.close()
    return boxes


def find_word(page: pdfium.PdfPage, word: str) -> tuple[int, int]:
    textpage = page.get_textpage()
    searcher = textpage.search(word, match_case=True, match_whole_word=True)
    found = searcher.get_next()
    searcher.close()
    textpage.close()
    assert found is not None, word
    return found


def overlap(a, b) -> float:
    """Share of box ``b`` covered by box ``a``."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    area = (b[2] - b[0]) * (b[3] - b[1])
    return max(0, width) * max(0, height) / area if area else 0.0


@pytest.mark.parametrize(
    "name", ["letter.png", "notice.jpg", "skewed-cw4.png", "turned-180.png", "scan.pdf", "rotated.pdf"]
)
def test_words_are_placed_on_their_boxes(pdf_run, name):
    """Each word found in the PDF covers its recognised box: the union of its
    char boxes, rendered at the record's pixel size, holds most of the box."""
    document = output(pdf_run, name)
    for record in records_of(pdf_run, name):
        page = document[record["page"] - 1]
        width, height = record["width"], record["height"]
        checked = 0
        for line in record["lines"]:
            for word in line["words"]:
                text = word["text"]
                # words found once on the page, so the search finds this one
                if len(text) < 4 or not text.isalpha() or len(re.findall(rf"\b{text}\b", record["text"])) != 1:
                    continue
                start, count = find_word(page, text)
                boxes = device_boxes(page, (width, height), start, count)
                union = (
                    min(b[0] for b in boxes),
                    min(b[1] for b in boxes),
                    max(b[2] for b in boxes),
                    max(b[3] for b in boxes),
                )
                box = word["bbox"]
                if name == "turned-180.png":  # the page is shown upright: turn its box too
                    box = [width - box[2], height - box[3], width - box[0], height - box[1]]
                assert overlap(union, box) > 0.6, (name, text, union, box)
                checked += 1
        assert checked > 20, name


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    histogram = ImageChops.difference(a, b.resize(a.size)).histogram()
    return sum(level * count for level, count in enumerate(histogram)) / (a.width * a.height)


def test_a_turned_page_is_shown_upright(pdf_run):
    stored = Image.open(ACCURACY / "turned-180.png").convert("L")
    page = output(pdf_run, "turned-180.png")[0]
    rendered = page.render(scale=stored.width / page.get_width(), grayscale=True).to_pil().convert("L")
    upright, as_stored = mean_difference(rendered, stored.rotate(180)), mean_difference(rendered, stored)
    assert upright < 2 and as_stored > 5 * upright, (upright, as_stored)


def only_image(pdf_path: Path) -> tuple[Image.Image, bytes, pikepdf.Object]:
    """The PDF's one image: decoded, its stream's raw bytes, its filter."""
    with pikepdf.open(pdf_path) as pdf:
        [image] = pdf.pages[0].get_images().values()
        return pikepdf.PdfImage(image).as_pil_image(), image.read_raw_bytes(), image.get("/Filter")


def test_a_jpeg_keeps_its_bytes_and_a_png_its_pixels(pdf_run):
    _, raw, flt = only_image(pdf_run.out_dir / "pdf" / "notice.jpg.pdf")
    assert flt == pikepdf.Name.DCTDecode and raw == (SAMPLES / "notice.jpg").read_bytes()
    pixels, _, flt = only_image(pdf_run.out_dir / "pdf" / "letter.png.pdf")
    assert flt == pikepdf.Name.FlateDecode
    original = Image.open(SAMPLES / "letter.png")
    assert pixels.size == original.size and pixels.tobytes() == original.convert(pixels.mode).tobytes()


def test_a_bilevel_scan_is_group4_the_same_pixels_and_about_its_size(pdf_run):
    """report.tiff: three 1-bit pages (Group 4 in the file).  Each goes in
    as CCITT Group 4, decodes to the very pixels, and shows black on white;
    the PDF is about the TIFF's size (Flate made it twice that)."""
    path = pdf_run.out_dir / "pdf" / "report.tiff.pdf"
    with Image.open(SAMPLES / "report.tiff") as tiff, pikepdf.open(path) as pdf:
        for index, frame in enumerate(ImageSequence.Iterator(tiff)):
            [image] = pdf.pages[index].get_images().values()
            assert image.get("/Filter") == pikepdf.Name.CCITTFaxDecode
            assert pikepdf.PdfImage(image).as_pil_image().tobytes() == frame.convert("1").tobytes()
    page = pdfium.PdfDocument(path)[0]
    shown = page.render(scale=300 / 72, grayscale=True).to_pil().convert("L")
    with Image.open(SAMPLES / "report.tiff") as tiff:
        original = tiff.convert("L")
    assert mean_difference(shown.crop((0, 0, *original.size)), original) < 10  # inverted: ~240
    assert path.stat().st_size < 1.3 * (SAMPLES / "report.tiff").stat().st_size


@pytest.mark.parametrize("fill_order", [1, 2])
def test_a_bilevel_tiff_with_its_bits_in_either_order_shows_its_pixels(tmp_path, fill_order):
    """Fax software often writes FillOrder 2 (each byte's bits reversed): the
    page must still show its own pixels, not a scramble."""
    page = Image.new("1", (801, 603), 1)
    for x in range(0, 801, 37):
        page.paste(0, (x, (x * 7) % 560, x + 15, (x * 7) % 560 + 40))
    path = tmp_path / "fax.tif"
    page.save(path, compression="group4", tiffinfo={266: fill_order}, dpi=(200, 200))
    out = io.BytesIO()
    write_pdf(str(path), [one_line_record(path, width=801, height=603)], out)
    with pikepdf.open(io.BytesIO(out.getvalue())) as pdf:
        [image] = pdf.pages[0].get_images().values()
        assert image.get("/Filter") == pikepdf.Name.CCITTFaxDecode
        assert pikepdf.PdfImage(image).as_pil_image().tobytes() == page.tobytes()
    shown = pdfium.PdfDocument(out.getvalue())[0].render(scale=200 / 72, grayscale=True).to_pil().convert("L")
    assert mean_difference(shown.crop((0, 0, *page.size)), page.convert("L")) < 10


def test_a_bilevel_page_that_cannot_be_coded_group4_goes_in_as_flate(tmp_path, monkeypatch):
    """Without libtiff (or a Pillow that writes strips after all) the page
    is not lost: it goes in as Flate, as before Group 4."""
    from batchocr.outputs import pdf_images

    def no_libtiff(frame):
        raise OSError("encoder group4 not available")

    monkeypatch.setattr(pdf_images, "_group4", no_libtiff)
    page = Image.new("1", (300, 200), 1)
    page.paste(0, (20, 20, 120, 60))
    path = tmp_path / "fax.tif"
    page.save(path, compression="group4")
    out = io.BytesIO()
    write_pdf(str(path), [one_line_record(path, width=300, height=200)], out)
    with pikepdf.open(io.BytesIO(out.getvalue())) as pdf:
        [image] = pdf.pages[0].get_images().values()
        assert image.get("/Filter") == pikepdf.Name.FlateDecode
        assert pikepdf.PdfImage(image).as_pil_image().convert("1").tobytes() == page.tobytes()


def test_page_size_follows_the_images_resolution(pdf_run):
    # letter.png: 1700 x 2200 px at 200 dpi -> 8.5 x 11 in; report.tiff: A4 at 300 dpi
    assert [round(v) for v in output(pdf_run, "letter.png")[0].get_size()] == [612, 792]
    report = output(pdf_run, "report.tiff")
    assert all([round(v) for v in report[i].get_size()] == [595, 842] for i in range(3))


@pytest.mark.parametrize("name", ["scan.pdf", "rotated.pdf"])
def test_a_pdf_keeps_its_pages_as_they_were(pdf_run, name):
    """Same boxes, same /Rotate, same rendering: the text layer shows nothing."""
    source = pdf_run.out_dir.parent / "in" / name
    before, after = pdfium.PdfDocument(source), output(pdf_run, name)
    assert len(before) == len(after)
    for index in range(len(before)):
        assert before[index].get_size() == after[index].get_size()
        assert before[index].get_rotation() == after[index].get_rotation()
        assert before[index].get_cropbox() == after[index].get_cropbox()
        old = before[index].render(scale=0.5).to_pil()
        new = after[index].render(scale=0.5).to_pil()
        assert ImageChops.difference(old, new).getbbox() is None, (name, index)
        assert page_text(after[index]).strip() and not page_text(before[index]).strip()


# --- without the engine: records written by hand ---------------------------------


def one_line_record(path: Path, **fields) -> dict:
    image = Image.open(path)
    stat = path.stat()
    record = {
        "path": path.name, "page": 1, "status": "ok", "text": "Hello world", "width": image.width,
        "height": image.height, "rotation": 0, "skew": 0.0, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
        "lines": [{"text": "Hello world", "confidence": 90.0, "bbox": [100, 100, 500, 150], "words": [
            {"text": "Hello", "confidence": 90.0, "bbox": [100, 100, 280, 150]},
            {"text": "world", "confidence": 90.0, "bbox": [320, 100, 500, 150]},
        ]}],
    }  # fmt: skip
    record.update(fields)
    return record


def test_a_failed_page_is_the_bare_image(tmp_path):
    path = tmp_path / "page.png"
    Image.new("L", (800, 600), 200).save(path)
    out = io.BytesIO()
    write_pdf(str(path), [one_line_record(path, status="error", error="engine error")], out)
    document = pdfium.PdfDocument(out.getvalue())
    assert len(document) == 1 and page_text(document[0]) == ""
    assert document[0].render(scale=1).to_pil().convert("L").getextrema() == (200, 200)
    out = io.BytesIO()
    write_pdf(str(path), [one_line_record(path)], out)
    assert page_text(pdfium.PdfDocument(out.getvalue())[0]) == "Hello world"


def test_an_input_changed_since_it_was_read_is_refused(tmp_path):
    path = tmp_path / "page.png"
    Image.new("L", (800, 600), 255).save(path)
    record = one_line_record(path)
    Image.new("L", (600, 800), 255).save(path)  # replaced by another page
    with pytest.raises(InputChanged):
        write_pdf(str(path), [record], io.BytesIO())


def test_a_line_of_words_is_one_run_with_their_spaces(tmp_path):
    """The two words of one line are one glyph run, baseline on the line's
    bottom edge; extraction gives them with one space."""
    path = tmp_path / "page.png"
    Image.new("L", (800, 600), 255).save(path)
    [run] = line_runs(one_line_record(path))
    assert run.matrix[4:] == (100.0, 150.0)  # the first word's left, the line's bottom
    assert [w.text for w in run.words] == ["Hello", "world"]
    assert run.tj_array().count("<0020>") == 1


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", [3, 5, 6, 8])
def test_an_exif_orientation_shows_as_decoded(tmp_path, fmt, orientation):
    """The page shows the image as batchocr decoded it (EXIF orientation
    applied, the bytes kept), and the words sit where the record, made in
    those decoded pixels, says."""
    stored = Image.new("L", (600, 400), 255)
    stored.paste(0, (50, 40, 250, 90))  # a dark bar: where the page's top-left corner is
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    path = tmp_path / f"page.{fmt.lower()}"
    stored.save(path, format=fmt, exif=exif.tobytes(), dpi=(72, 72), **({"quality": 95} if fmt == "JPEG" else {}))
    decoded = decode_page(str(path), 1, 10**8).image
    record = one_line_record(path, width=decoded.width, height=decoded.height)
    out = io.BytesIO()
    write_pdf(str(path), [record], out)
    page = pdfium.PdfDocument(out.getvalue())[0]
    rendered = page.render(scale=1, grayscale=True).to_pil().convert("L")
    assert rendered.size == decoded.size
    assert mean_difference(rendered, decoded) < 2
    start, count = find_word(page, "world")
    boxes = device_boxes(page, decoded.size, start, count)
    union = (boxes[0][0], min(b[1] for b in boxes), boxes[-1][2], max(b[3] for b in boxes))
    assert overlap(union, record["lines"][0]["words"][1]["bbox"]) > 0.8, union


def test_the_shipped_font_is_what_its_script_builds():
    pytest.importorskip("fontTools")
    spec = importlib.util.spec_from_file_location("make_font", REPO / "scripts" / "make_glyphless_font.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.build() == (REPO / "batchocr" / "outputs" / "glyphless.ttf").read_bytes()
