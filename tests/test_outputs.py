"""Per-file outputs (--formats) from a real tesseract run: txt, hOCR, ALTO, TSV.

One run over a single-page PNG, a 3-page TIFF sample and a 3-page TIFF whose
last page is cut off (a failed page), every format at once; the outputs are
checked against the records and parsed with real parsers (lxml; ALTO
against the ALTO 4.4 schema in tests/schemas/; hOCR with the hocr-spec
validator too).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, TESTS_DIR, RunResult, batchocr_env, text_page
from hocr_spec import HocrValidator
from lxml import etree
from pdfs import scanned_pdf, text_pdf
from PIL import Image

FORMATS = "txt,hocr,alto,tsv"
XHTML = "{http://www.w3.org/1999/xhtml}"
ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"


def cut_tiff(path: Path) -> Path:
    """Three text pages in one TIFF, the last one's pixels cut off: pages 1
    and 2 read, page 3 fails to decode."""
    page = Image.open(text_page(path.with_suffix(".png"), ["A page of the cut file", "second line here"]))
    frames = [page.convert("L") for _ in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.9)])
    path.with_suffix(".png").unlink()
    return path


def run(input_dir: Path, out: Path, *args: str) -> RunResult:
    proc = subprocess.run(
        [sys.executable, "-m", "batchocr", "run", str(input_dir), "-o", str(out), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=batchocr_env(out.parent),
        cwd=out.parent,
    )
    return RunResult(proc.returncode, proc.stdout, proc.stderr, out)


@pytest.fixture(scope="module")
def formats_run(tmp_path_factory) -> RunResult:
    tmp = tmp_path_factory.mktemp("formats")
    source = tmp / "in"
    (source / "scans").mkdir(parents=True)
    shutil.copy(SAMPLES / "letter.png", source / "letter.png")
    shutil.copy(SAMPLES / "report.tiff", source / "scans" / "report.tiff")
    cut_tiff(source / "scans" / "cut.tif")
    shutil.copy(SAMPLES / "memo.png", source / "scans" / "memo.png")  # and the same page in a PDF:
    pages = [Image.open(SAMPLES / name) for name in ("memo.png", "notice.jpg")]
    scanned_pdf(source / "scans" / "scanned.pdf", pages, dpi=200)
    text_pdf(source / "born-digital.pdf", [["A page typed into its PDF", "with a second line of text"]])
    return run(source, tmp / "out", "--workers", "2", "--formats", FORMATS)


def records_of(result: RunResult, rel: str) -> list[dict]:
    pages = sorted((r for r in result.results() if r["path"] == rel), key=lambda r: r["page"])
    assert [r["page"] for r in pages] == list(range(1, pages[0]["pages"] + 1))
    return pages


def words_of(record: dict) -> list[str]:
    return [w["text"] for w in boxed_words(record)]


def boxed_words(record: dict) -> list[dict]:
    """The recorded words, whose boxes an output must carry; none for a failed page."""
    if record["status"] != "ok":
        return []
    return [w for line in record["lines"] for w in line["words"]]


FILES = ["letter.png", "scans/report.tiff", "scans/cut.tif", "scans/memo.png", "scans/scanned.pdf", "born-digital.pdf"]


def test_the_run_records_the_failed_page(formats_run):
    assert formats_run.returncode == 1, formats_run.stderr  # a page failed
    cut = records_of(formats_run, "scans/cut.tif")
    assert [r["status"] for r in cut] == ["ok", "ok", "error"]
    assert len(records_of(formats_run, "scans/report.tiff")) == 3
    scanned = records_of(formats_run, "scans/scanned.pdf")
    assert [(r["status"], r["source"]) for r in scanned] == [("ok", "ocr")] * 2
    typed = records_of(formats_run, "born-digital.pdf")[0]
    assert typed["source"] == "pdf-text" and words_of(typed) == typed["text"].split()


def test_a_scanned_pdfs_word_boxes_are_in_the_pixels_of_its_rendered_pages(formats_run):
    """A 200-dpi scan rendered at pdf_dpi 300: the record's size is 1.5 times
    the image's, and its words sit where the image's words are, scaled."""
    memo = Image.open(SAMPLES / "memo.png")
    record = records_of(formats_run, "scans/scanned.pdf")[0]
    assert abs(record["width"] - memo.width * 1.5) <= 1 and abs(record["height"] - memo.height * 1.5) <= 1
    hocr = etree.parse(str(formats_run.out_dir / "hocr" / "scans/scanned.pdf.hocr")).getroot()
    page = hocr.findall(f".//{XHTML}div[@class='ocr_page']")[0]
    assert f"bbox 0 0 {record['width']} {record['height']}" in page.get("title")
    in_pdf = {w["text"]: w["bbox"] for w in boxed_words(record)}
    in_png = {w["text"]: w["bbox"] for w in boxed_words(records_of(formats_run, "scans/memo.png")[0])}
    same = [text for text in in_png if text in in_pdf and len(text) > 3]
    assert len(same) > 20
    for text in same:
        assert all(abs(a - 1.5 * b) <= 8 for a, b in zip(in_pdf[text], in_png[text])), text


def test_one_output_per_file_and_format_at_the_documented_place(formats_run):
    out = formats_run.out_dir
    for fmt, ext in (("txt", "txt"), ("hocr", "hocr"), ("alto", "xml"), ("tsv", "tsv")):
        found = sorted(str(p.relative_to(out / fmt)) for p in (out / fmt).rglob("*") if p.is_file())
        assert found == sorted(f"{rel}.{ext}" for rel in FILES), fmt  # no temporary file left either


@pytest.mark.parametrize("rel", FILES)
def test_txt_is_the_records_text_with_form_feeds_between_pages(formats_run, rel):
    records = records_of(formats_run, rel)
    text = (formats_run.out_dir / "txt" / f"{rel}.txt").read_bytes().decode()  # "\r\n" kept as it is
    assert text.split("\f") == [r["text"] if r["status"] == "ok" else "" for r in records]
    assert "Maintenance" in (formats_run.out_dir / "txt" / "scans/report.tiff.txt").read_text()


@pytest.mark.parametrize("rel", FILES)
def test_hocr_parses_with_a_page_per_page_and_the_words_boxed(formats_run, rel):
    records = records_of(formats_run, rel)
    root = etree.parse(str(formats_run.out_dir / "hocr" / f"{rel}.hocr")).getroot()
    pages = root.findall(f".//{XHTML}div[@class='ocr_page']")
    assert len(pages) == len(records)
    for record, page in zip(records, pages):
        props = dict(p.strip().split(" ", 1) for p in page.get("title").split(";"))
        assert props["ppageno"] == str(record["page"] - 1)
        if record["status"] == "ok":
            assert props["bbox"] == f"0 0 {record['width']} {record['height']}"
        words = page.findall(f".//{XHTML}span[@class='ocrx_word']")
        assert [w.text for w in words] == words_of(record)
        lines = page.findall(f".//{XHTML}span[@class='ocr_line']")
        assert len(lines) == (len(record["lines"]) if record["status"] == "ok" else 0)
        for word, expected in zip(words, boxed_words(record)):
            title = word.get("title")
            assert f"bbox {' '.join(map(str, expected['bbox']))}" in title
            if expected["confidence"] is not None:  # a PDF's own text has none
                assert f"x_wconf {round(expected['confidence'])}" in title
    if rel == "scans/cut.tif":
        assert len(pages[2]) == 0  # the failed page: an empty ocr_page


@pytest.mark.parametrize("rel", FILES)
def test_hocr_passes_the_hocr_spec_validator(formats_run, rel):
    """hocr-spec (kba's validator of the hOCR 1.2 spec: classes, properties,
    metadata), parsing strictly."""
    report = HocrValidator("standard").validate(str(formats_run.out_dir / "hocr" / f"{rel}.hocr"), parse_strict=True)
    assert report.is_valid(), report.format("text")


def test_the_hocr_spec_validator_can_fail(formats_run, tmp_path):
    broken = tmp_path / "broken.hocr"
    text = (formats_run.out_dir / "hocr" / "letter.png.hocr").read_text()
    broken.write_text(text.replace("; x_wconf ", "; x_wconf x", 1))
    assert not HocrValidator("standard").validate(str(broken), parse_strict=True).is_valid()


@pytest.fixture(scope="module")
def alto_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(TESTS_DIR / "schemas" / "alto-4-4.xsd")))


@pytest.mark.parametrize("rel", FILES)
def test_alto_validates_against_the_alto_4_schema(formats_run, alto_schema, rel):
    records = records_of(formats_run, rel)
    doc = etree.parse(str(formats_run.out_dir / "alto" / f"{rel}.xml"))
    assert alto_schema.validate(doc), alto_schema.error_log
    pages = doc.getroot().findall(f".//{ALTO}Page")
    assert [p.get("PHYSICAL_IMG_NR") for p in pages] == [str(r["page"]) for r in records]
    for record, page in zip(records, pages):
        strings = page.findall(f".//{ALTO}String")
        assert [s.get("CONTENT") for s in strings] == words_of(record)
        for string, expected in zip(strings, boxed_words(record)):
            x0, y0, x1, y1 = expected["bbox"]
            assert (string.get("HPOS"), string.get("VPOS")) == (str(x0), str(y0))
            assert (string.get("WIDTH"), string.get("HEIGHT")) == (str(x1 - x0), str(y1 - y0))
            if expected["confidence"] is not None:
                assert float(string.get("WC")) == pytest.approx(expected["confidence"] / 100, abs=0.006)


def test_an_alto_file_missing_a_required_attribute_does_not_validate(formats_run, alto_schema):
    """The schema check can fail: a Page without PHYSICAL_IMG_NR is refused."""
    doc = etree.parse(str(formats_run.out_dir / "alto" / "letter.png.xml"))
    del doc.getroot().find(f".//{ALTO}Page").attrib["PHYSICAL_IMG_NR"]
    assert not alto_schema.validate(doc)


@pytest.mark.parametrize("rel", FILES)
def test_tsv_has_a_row_per_word_with_its_box(formats_run, rel):
    records = records_of(formats_run, rel)
    rows = list(
        csv.DictReader(
            io.StringIO((formats_run.out_dir / "tsv" / f"{rel}.tsv").read_text()),
            dialect="excel-tab",
            quoting=csv.QUOTE_NONE,
        )
    )
    assert [int(r["page_num"]) for r in rows if r["level"] == "1"] == [r["page"] for r in records]
    for record in records:
        words = [r for r in rows if r["level"] == "5" and int(r["page_num"]) == record["page"]]
        assert [w["text"] for w in words] == words_of(record)


def test_the_summary_names_the_file_with_failed_pages(formats_run):
    assert "1 file with failed pages" in formats_run.stderr, formats_run.stderr
    line = next(line for line in formats_run.stderr.splitlines() if "with failed pages" in line)
    assert "scans/cut.tif" in line and "report.tiff" not in line
    outputs = formats_run.run_info()["outputs"]
    assert outputs["files"] == 6 and outputs["written"] == {"txt": 6, "hocr": 6, "alto": 6, "tsv": 6}
    assert outputs["failed_files"] == ["scans/cut.tif"]
    assert set(outputs["ms_per_page"]) == {"txt", "hocr", "alto", "tsv"}
