"""PDF pages: their own text when they have a usable text layer, else
rendered for the engine.  Worker side.

PDFium (through the ``pypdfium2`` wheel) parses the file, in the worker,
never in the supervisor: a malicious PDF can crash only the worker that
holds it, and the pool's crash handling takes it from there.

A text layer is *usable* when it holds at least ``MIN_TEXT_CHARS`` letters
or digits and at least ``MIN_WORDLIKE_SHARE`` of its visible characters are
letters, digits or ordinary punctuation.  That keeps born-digital pages and
pages an earlier OCR pass already did (exact, and ~100x faster than OCR),
and rejects what is not text: an empty layer, a few stray glyphs a scanner
left, or fonts without a Unicode map, whose text comes out as replacement
or private-use characters.  ``--force-ocr`` OCRs every page anyway.

PDFium draws an image it cannot decode as nothing, so a page whose scanned
image is damaged would come out blank and "ok"; a page that renders blank
is checked for images PDFium cannot decode, and those make it an error.  A
page PDFium cannot load at all is an error too; either way the other pages
of the PDF are read as usual.
"""

from __future__ import annotations

import ctypes
import math
import os
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from batchocr.engines.base import TextLine, TextWord

PDF_SIGNATURE = b"%PDF-"
HEADER_BYTES = 1024  # the signature may follow some junk (the PDF spec allows it)
MIN_TEXT_CHARS = 20
MIN_WORDLIKE_SHARE = 0.6
POINTS_PER_INCH = 72
LINE_END_HYPHEN = "\x02"  # PDFium's code for a hyphen that ends a line (the lines it joins)


class PdfPageError(Exception):
    """The page cannot be read; the message is for the user."""


@dataclass
class PdfPage:
    image: Image.Image | None  # None when the text layer was used
    text: str | None  # the usable text layer, or None
    width: int  # pixels at the rendering resolution, in either case
    height: int
    lines: list[TextLine] = field(default_factory=list)  # the text layer's lines and words, boxed


def is_pdf(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return PDF_SIGNATURE in fh.read(HEADER_BYTES)
    except OSError:
        return False


def usable_text(text: str) -> bool:
    visible = [c for c in text if not c.isspace()]
    wordlike = sum(c.isalnum() or unicodedata.category(c).startswith("P") for c in visible)
    letters = sum(c.isalnum() for c in visible)
    return letters >= MIN_TEXT_CHARS and wordlike >= MIN_WORDLIKE_SHARE * len(visible)


class PdfReader:
    """The PDF a worker read last, kept open: its pages usually come one
    after another to the same worker, and opening a large PDF costs."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._document = None

    def page(self, path: str, number: int, *, dpi: int, max_pixels: int, use_text: bool) -> PdfPage:
        import pypdfium2 as pdfium

        try:
            document = self._open(path, pdfium)
            if not 1 <= number <= len(document):
                raise PdfPageError(f"page {number} does not exist in this PDF ({len(document)} pages)")
            try:
                page = document[number - 1]
            except pdfium.PdfiumError:  # the page's own objects are unreadable; the others may be fine
                raise PdfPageError(
                    f"damaged page: PDFium cannot load page {number} of this PDF; its other pages are read as usual"
                ) from None
            try:
                return _read(page, dpi, max_pixels, use_text)
            finally:
                page.close()
        except pdfium.PdfiumError as exc:
            self.close()
            raise PdfPageError(_explain(exc)) from None

    def _open(self, path: str, pdfium):
        info = os.stat(path)
        key = (path, info.st_size, info.st_mtime_ns)
        if key != self._key or self._document is None:
            self.close()
            self._document, self._key = pdfium.PdfDocument(path), key
        return self._document

    def close(self) -> None:
        if self._document is not None:
            self._document.close()
        self._document, self._key = None, None


def _read(page, dpi: int, max_pixels: int, use_text: bool) -> PdfPage:
    width_pt, height_pt = page.get_size()
    scale = dpi / POINTS_PER_INCH
    pixels = width_pt * scale * height_pt * scale
    if pixels > max_pixels:  # a poster-sized page: render it smaller, within the budget
        scale *= (max_pixels / pixels) ** 0.5 * 0.995  # PDFium rounds the size up
    width, height = round(width_pt * scale), round(height_pt * scale)
    if use_text:
        layer = _text_layer(page, width, height)
        if layer is not None:
            return PdfPage(image=None, text=layer[0], width=width, height=height, lines=layer[1])
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        image = bitmap.to_pil().convert("L")
    finally:
        bitmap.close()
    low, high = image.getextrema()
    if low == high and _undecodable_images(page):  # PDFium draws nothing for an image it cannot decode
        raise PdfPageError(
            "damaged image: PDFium cannot decode the scanned image on this page, which would come out blank"
        )
    image.info["dpi"] = (round(scale * POINTS_PER_INCH),) * 2  # engines use it for text size
    return PdfPage(image=image, text=None, width=image.width, height=image.height)


def _text_layer(page, width: int, height: int) -> tuple[str, list[TextLine]] | None:
    """The page's text and its lines, when the text is usable (else None).
    The text is the lines', one per line, so the two always agree.

    PDFium orders a page's text as the page is shown: text that is not
    upright as shown (a /Rotate 90 page typed upright in its own space, as
    a landscape page in a portrait document often is) comes out with its
    lines out of order.  So the text is read with the page turned the way
    its text stands upright, found from the characters' angles; the page's
    own rotation is put back before anything else reads it.  The boxes are
    mapped with that rotation: they are in the pixels of the page as
    rendered."""
    import pypdfium2.raw as raw

    to_pixels = _page_to_pixels(raw, page, width, height)
    rotation = page.get_rotation()
    try:
        page.set_rotation(0)
        textpage = page.get_textpage()
        upright = _upright_rotation(raw, textpage)
        if upright:
            textpage.close()
            page.set_rotation(upright)
            textpage = page.get_textpage()
        try:
            if not usable_text(textpage.get_text_bounded()):
                return None
            lines = text_lines(textpage, to_pixels)
            return "\n".join(line.text for line in lines), lines
        finally:
            textpage.close()
    finally:
        page.set_rotation(rotation)


def _upright_rotation(raw, textpage) -> int:
    """The /Rotate under which most of the page's text stands upright, from
    the angles of all its visible characters (PDFium measures them
    clockwise, in the page's own space).  All: a long sideways margin note
    typed first must not outvote the body (~7 ms for 5,000 characters)."""
    turns: Counter[int] = Counter()
    for index in range(textpage.count_chars()):
        if not chr(raw.FPDFText_GetUnicode(textpage.raw, index) or 32).isspace():
            angle = raw.FPDFText_GetCharAngle(textpage.raw, index)
            if angle >= 0:  # -1: PDFium could not tell
                turns[round(math.degrees(angle) / 90) % 4] += 1
    return (-turns.most_common(1)[0][0]) % 4 * 90 if turns else 0


def _undecodable_images(page) -> int:
    """How many of the page's images PDFium cannot decode.  Asked only of a
    page that rendered blank: decoding costs as much as rendering."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    failed = 0
    for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
        try:
            image.get_bitmap()
        except pdfium.PdfiumError:
            failed += 1
    return failed


def text_lines(textpage, to_pixels: Callable[[list[float]], tuple[int, int, int, int]]) -> list[TextLine]:
    """The text layer's lines and words, with boxes in the pixels of the page
    as rendered (origin top left, as OCR boxes are).

    Words are the runs of characters between spaces, lines end at the line
    breaks PDFium reports, and at a hyphen that ends a line (PDFium reports
    it as U+0002 and joins the lines; it is kept as printed, ``-`` and a
    line break).  A character outside the page as shown (cut off by the
    CropBox, or off the page) is left out, as a viewer shows it.  A word's
    box is the union of its characters' boxes in page space, mapped to
    pixels by ``to_pixels`` (see ``_page_to_pixels``).  No confidence: the
    text is exact."""
    import pypdfium2.raw as raw

    lines: list[TextLine] = []
    words: list[TextWord] = []
    chars: list[str] = []
    box = [math.inf, math.inf, -math.inf, -math.inf]  # left, bottom, right, top in page space

    def end_word() -> None:
        if chars:
            words.append(TextWord("".join(chars), None, to_pixels(box)))
            chars.clear()
            box[:] = [math.inf, math.inf, -math.inf, -math.inf]

    def end_line() -> None:
        end_word()
        if words:
            boxes = [w.bbox for w in words if w.bbox is not None]
            line_box = (
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            )
            lines.append(TextLine(" ".join(w.text for w in words), None, line_box, tuple(words)))
            words.clear()

    for index in range(textpage.count_chars()):
        char = chr(raw.FPDFText_GetUnicode(textpage.raw, index) or 32)
        if char in "\r\n":
            end_line()
        elif char != LINE_END_HYPHEN and (char.isspace() or unicodedata.category(char) == "Cc"):
            end_word()
        else:
            left, bottom, right, top = textpage.get_charbox(index)
            x0, y0, x1, y1 = to_pixels([left, bottom, right, top])
            if x0 < x1 and y0 < y1:  # shown on the page
                box[:] = [min(box[0], left), min(box[1], bottom), max(box[2], right), max(box[3], top)]
                chars.append("-" if char == LINE_END_HYPHEN else char)
            if char == LINE_END_HYPHEN:
                end_line()
    end_line()
    return lines


def _page_to_pixels(raw, page, width: int, height: int):
    """box in page space (points) -> box in pixels of the rendered page,
    clipped.  PDFium's page-to-device map (the page's crop box and rotation
    included) is affine; it is read once, now, from three points far apart
    (FPDF_PageToDevice rounds to whole pixels)."""
    span = 10_000.0

    def device(x: float, y: float) -> tuple[int, int]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        raw.FPDF_PageToDevice(page.raw, 0, 0, width, height, 0, x, y, ctypes.byref(dx), ctypes.byref(dy))
        return dx.value, dy.value

    (ox, oy), (ax, ay), (bx, by) = device(0.0, 0.0), device(span, 0.0), device(0.0, span)
    xx, xy, yx, yy = (ax - ox) / span, (ay - oy) / span, (bx - ox) / span, (by - oy) / span

    def to_pixels(box: list[float]) -> tuple[int, int, int, int]:
        xs, ys = [], []
        for x, y in ((box[0], box[1]), (box[2], box[3])):
            xs.append(ox + x * xx + y * yx)
            ys.append(oy + x * xy + y * yy)
        return (
            max(0, math.floor(min(xs))),
            max(0, math.floor(min(ys))),
            min(width, math.ceil(max(xs))),
            min(height, math.ceil(max(ys))),
        )

    return to_pixels


def _explain(exc: Exception) -> str:
    text = str(exc)
    if "password" in text.lower():
        return "encrypted PDF: it needs a password, which batchocr does not have"
    return f"cannot read PDF: {text}"
