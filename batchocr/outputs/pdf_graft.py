"""The searchable PDF of a PDF file: the original pages with a text layer
added.  Runs where the outputs are written (supervisor side).

pikepdf (qpdf) opens the original and writes it back with, on each page
batchocr OCR'd, one more content stream: the invisible words of
``pdf_text``.  Everything else stays as it was: the page's own content
(wrapped in ``q``/``Q`` so a graphics state it leaves behind cannot move the
words), its size, boxes and rotation, and every stream's bytes (copied, not
re-encoded).  Pages read from their own text layer, and failed pages, are
left untouched.

The records' pixels are those of the page as PDFium rendered it: the
visible area (CropBox, clipped to the MediaBox) turned by the page's
/Rotate, scaled to ``width`` x ``height``.  ``pixels_to_user_space`` undoes
exactly that, so the words land on the page whatever its rotation, offset
or render scale.
"""

from __future__ import annotations

import functools
import io
import zlib
from collections.abc import Iterable
from typing import Any, BinaryIO

import pikepdf

from batchocr.outputs.pdf_images import PdfObjectWriter, write_font
from batchocr.outputs.pdf_text import Matrix, text_layer

FONT_PREFIX = "BatchocrF"


def graft_text_layers(path: str, records: Iterable[dict[str, Any]], dest: BinaryIO) -> None:
    """Copy the PDF at ``path`` to ``dest`` with each OCR'd page's text layer added."""
    # the font's source stays open until the save: qpdf copies stream data lazily
    with pikepdf.open(path) as pdf, pikepdf.open(io.BytesIO(_font_pdf_bytes())) as font_source:
        font = None
        for record in records:
            if record.get("status") != "ok" or record.get("source") == "pdf-text":
                continue
            number = int(record["page"])
            if not 1 <= number <= len(pdf.pages) or not record.get("width") or not record.get("height"):
                continue
            page = pdf.pages[number - 1]
            matrix = pixels_to_user_space(page, record["width"], record["height"])
            font = font if font is not None else pdf.copy_foreign(font_source.Root.Font)
            name = _add_font(page, font)
            layer = text_layer(record, matrix, name)
            if layer:
                _append_content(pdf, page, layer)
        # stream data is copied as it is: no second encoding of the images
        pdf.save(dest, stream_decode_level=pikepdf.StreamDecodeLevel.none)


def pixels_to_user_space(page: pikepdf.Page, width: int, height: int) -> Matrix:
    """The matrix from the rendered page's pixels (origin top left) to the
    page's default user space."""
    x0, y0, box_w, box_h = _visible_box(page)
    rotate = int(_inherited(page.obj, "/Rotate") or 0) % 360
    shown_w, shown_h = (box_h, box_w) if rotate in (90, 270) else (box_w, box_h)

    def to_user(x: float, y: float) -> tuple[float, float]:
        # pixels -> the page as shown, in points, y up
        sx, sy = x * shown_w / width, shown_h - y * shown_h / height
        # the page as shown -> user space: undo /Rotate (clockwise), then the box's origin
        u, v = {
            0: (sx, sy),
            90: (box_w - sy, sx),
            180: (box_w - sx, box_h - sy),
            270: (sy, box_h - sx),
        }[rotate]
        return u + x0, v + y0

    origin, right, down = to_user(0, 0), to_user(1, 0), to_user(0, 1)
    return (right[0] - origin[0], right[1] - origin[1], down[0] - origin[0], down[1] - origin[1], *origin)


def _visible_box(page: pikepdf.Page) -> tuple[float, float, float, float]:
    """(x0, y0, width, height) of the CropBox clipped to the MediaBox, as PDFium shows it."""
    media = _box(_inherited(page.obj, "/MediaBox")) or (0.0, 0.0, 612.0, 792.0)
    crop = _box(_inherited(page.obj, "/CropBox")) or media
    x0, y0 = max(crop[0], media[0]), max(crop[1], media[1])
    x1, y1 = min(crop[2], media[2]), min(crop[3], media[3])
    if x1 <= x0 or y1 <= y0:  # a CropBox outside the MediaBox: PDFium falls back to the MediaBox
        x0, y0, x1, y1 = media
    return x0, y0, x1 - x0, y1 - y0


def _box(value) -> tuple[float, float, float, float] | None:
    try:
        a, b, c, d = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return min(a, c), min(b, d), max(a, c), max(b, d)


def _inherited(obj: pikepdf.Object, key: str):
    """A page attribute, looked up through its /Parent chain as the PDF spec says."""
    node: pikepdf.Object | None = obj
    seen = 0
    while node is not None and seen < 64:  # a cycle in /Parent must not hang us
        if key in node:
            return node[key]
        node = node.get("/Parent")
        seen += 1
    return None


def _add_font(page: pikepdf.Page, font: pikepdf.Object) -> str:
    """Put the font in the page's resources under a name the page does not use."""
    if "/Resources" not in page.obj:  # inherited: give the page its own copy, or the new
        inherited = _inherited(page.obj, "/Resources")  # dictionary would hide the parent's
        page.obj.Resources = pikepdf.Dictionary(inherited) if inherited is not None else pikepdf.Dictionary()
    resources = page.obj.Resources
    if "/Font" not in resources:
        resources.Font = pikepdf.Dictionary()
    fonts = resources.Font
    for name, existing in fonts.items():
        if existing.is_indirect and font.is_indirect and existing.objgen == font.objgen:
            return name.lstrip("/")
    index = 0
    while f"/{FONT_PREFIX}{index}" in fonts:
        index += 1
    fonts[f"/{FONT_PREFIX}{index}"] = font
    return f"{FONT_PREFIX}{index}"


def _append_content(pdf: pikepdf.Pdf, page: pikepdf.Page, layer: bytes) -> None:
    page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
    stream = pikepdf.Stream(pdf, zlib.compress(b"Q\n" + layer))
    stream.Filter = pikepdf.Name.FlateDecode
    page.contents_add(stream)


@functools.cache
def _font_pdf_bytes() -> bytes:
    """A one-page PDF holding the glyphless font (written by the same code
    as image PDFs'), from which each grafted PDF copies it."""
    out = io.BytesIO()
    writer = PdfObjectWriter(out)
    catalog, pages = writer.reserve(), writer.reserve()
    font = write_font(writer)
    page = writer.add(
        f"<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F0 {font} 0 R >> >> >>"
    )
    writer.add(f"<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>", pages)
    writer.add(f"<< /Type /Catalog /Pages {pages} 0 R /Font {font} 0 R >>", catalog)
    writer.finish(catalog)
    return out.getvalue()
