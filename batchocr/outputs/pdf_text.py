"""The invisible text layer of a searchable PDF page, from one page record.
Runs where the outputs are written (supervisor side), never in a worker.

Each recognised word becomes a run of glyphs of the glyphless font
(``glyphless.ttf``: every glyph an empty box half an em wide), drawn with
text render mode 3 (neither filled nor stroked), so nothing shows but a
viewer can search, select and copy it.  A word's text matrix stretches its n
glyphs over the word's box and puts their baseline on the line's bottom
edge, so the selection highlight covers the line's height over the word's
width; words of a line share one baseline, so text extraction keeps them on
one line.  Between two words a space glyph spans the gap, so copied text has
its spaces.

Geometry: a record's boxes are upright boxes in the stored image's pixels
(origin top left).  A page turned by ``rotation`` and ``skew`` degrees
(counter-clockwise, to read it) has its words running at that angle on the
stored image, so each box is taken back into the *reading frame* (the page
turned upright), where a word is a plain rectangle, and the glyph run is
placed there, then turned back.  The layer is written in pixel units behind
one ``cm`` that maps pixels to the page's points; the caller gives that
matrix (it differs for an image page and for an original PDF page).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

FONT_NAME = "BatchocrGlyphless"
GLYPH_ADVANCE = 0.5  # em: the glyph's advance in glyphless.ttf (scripts/make_glyphless_font.py)
SPACE = " "
MIN_SPACE_SHARE = 0.2  # a space between touching words: this share of the line height
# Beyond this share of cos(2a) the box-to-rectangle solve is ill-conditioned
# (a page turned near 45 degrees); the box is then taken as it stands.
MIN_CONDITION = 0.3

Matrix = tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class GlyphRun:
    """Text drawn with one text matrix (pixel units, y down)."""

    text: str
    matrix: Matrix


def text_layer(record: dict[str, Any], pixels_to_points: Matrix, font: str) -> bytes:
    """The page content that draws ``record``'s words invisibly; b"" when it has none.

    ``font`` is the resource name the glyphless Type0 font has on the page."""
    runs = list(glyph_runs(record))
    if not runs:
        return b""
    out = [f"q {pdf_matrix(pixels_to_points)} cm BT 3 Tr /{font} 1 Tf"]
    for run in runs:
        out.append(f"{pdf_matrix(run.matrix)} Tm <{run.text.encode('utf-16-be').hex()}> Tj")
    out.append("ET Q")
    return "\n".join(out).encode("ascii") + b"\n"


def glyph_runs(record: dict[str, Any]) -> Iterator[GlyphRun]:
    """The page's words and the spaces between them, in reading order."""
    frame = ReadingFrame(float(record.get("rotation") or 0) + float(record.get("skew") or 0))
    for line in record.get("lines") or []:
        if not line.get("bbox"):
            continue
        _, line_y, _, line_height = frame.rectangle(line["bbox"])
        baseline = line_y + line_height / 2  # the line's bottom edge (y down)
        words = [w for w in (line.get("words") or [line]) if w.get("bbox") and (w.get("text") or "").strip()]
        placed = [(word["text"].strip(), frame.rectangle(word["bbox"])) for word in words]
        for index, (text, (x, _, width, _)) in enumerate(placed):
            left = x - width / 2
            yield frame.run(text, left, baseline, width, line_height)
            if index + 1 < len(placed):
                next_x, _, next_width, _ = placed[index + 1][1]
                gap = next_x - next_width / 2 - (left + width)
                space = gap if gap > 0 else MIN_SPACE_SHARE * line_height
                yield frame.run(SPACE, left + width, baseline, space, line_height)


class ReadingFrame:
    """The page turned upright: stored pixels <-> reading-frame coordinates.

    A page read after turning it counter-clockwise by ``angle`` degrees has
    its text running at ``angle`` clockwise on the stored image; in pixel
    coordinates (y down) that is the rotation matrix R(angle)."""

    def __init__(self, angle: float) -> None:
        radians = math.radians(angle % 360)
        self.cos, self.sin = math.cos(radians), math.sin(radians)

    def to_reading(self, x: float, y: float) -> tuple[float, float]:
        return x * self.cos + y * self.sin, -x * self.sin + y * self.cos

    def to_stored(self, x: float, y: float) -> tuple[float, float]:
        return x * self.cos - y * self.sin, x * self.sin + y * self.cos

    def rectangle(self, bbox) -> tuple[float, float, float, float]:
        """(centre x, centre y, width, height) in the reading frame of the
        rectangle whose upright bounding box on the stored image is ``bbox``."""
        x0, y0, x1, y1 = (float(v) for v in bbox)
        box_w, box_h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        cos, sin = abs(self.cos), abs(self.sin)
        condition = cos * cos - sin * sin  # cos(2a)
        if abs(condition) < MIN_CONDITION:
            width, height = box_w, box_h
        else:
            # the box of a w x h rectangle turned by a is (w cos + h sin, w sin + h cos)
            width = (box_w * cos - box_h * sin) / condition
            height = (box_h * cos - box_w * sin) / condition
        centre = self.to_reading((x0 + x1) / 2, (y0 + y1) / 2)
        return centre[0], centre[1], max(width, 1.0), max(height, 1.0)

    def run(self, text: str, left: float, baseline: float, width: float, height: float) -> GlyphRun:
        """``text`` stretched over ``width`` from (left, baseline), ``height`` tall."""
        glyphs = len(text.encode("utf-16-be")) // 2
        stretch = width / (glyphs * GLYPH_ADVANCE)
        origin = self.to_stored(left, baseline)
        # text space x runs along the line; text space y runs up, i.e. -y in the reading frame
        along = (self.cos * stretch, self.sin * stretch)
        up = self.to_stored(0.0, -height)
        return GlyphRun(text, (along[0], along[1], up[0], up[1], origin[0], origin[1]))


def pdf_matrix(values) -> str:
    return " ".join(pdf_number(v) for v in values)


def pdf_number(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# --- the glyphless font as PDF objects ---------------------------------------


@dataclass(frozen=True)
class FontObjects:
    """The objects of the Type0 font, as PDF syntax; ``{name}`` placeholders
    are the object numbers of the others (see ``font_objects``)."""

    type0: str
    cid_font: str
    descriptor: str
    font_file: bytes  # TrueType program, Flate-compressed
    cid_to_gid: bytes  # every CID -> glyph 1, Flate-compressed
    to_unicode: bytes  # every 2-byte code -> that UTF-16 code unit, Flate-compressed


def font_objects() -> FontObjects:
    ttf = resources.files("batchocr.outputs").joinpath("glyphless.ttf").read_bytes()
    return FontObjects(
        type0=(
            f"<< /Type /Font /Subtype /Type0 /BaseFont /{FONT_NAME} /Encoding /Identity-H "
            "/DescendantFonts [{cid_font} 0 R] /ToUnicode {to_unicode} 0 R >>"
        ),
        cid_font=(
            f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{FONT_NAME} "
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
            f"/FontDescriptor {{descriptor}} 0 R /DW {round(GLYPH_ADVANCE * 1000)} "
            "/CIDToGIDMap {cid_to_gid} 0 R >>"
        ),
        descriptor=(
            f"<< /Type /FontDescriptor /FontName /{FONT_NAME} /Flags 5 "
            f"/FontBBox [0 0 {round(GLYPH_ADVANCE * 1000)} 1000] /ItalicAngle 0 /Ascent 1000 /Descent 0 "
            "/CapHeight 1000 /StemV 80 /FontFile2 {font_file} 0 R >>"
        ),
        font_file=zlib.compress(ttf),
        cid_to_gid=zlib.compress(b"\x00\x01" * 65536),
        to_unicode=zlib.compress(_identity_cmap()),
    )


def _identity_cmap() -> bytes:
    """A ToUnicode CMap mapping each 2-byte code to the same UTF-16 code unit."""
    ranges = [f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256)]
    blocks = []
    for start in range(0, len(ranges), 100):  # at most 100 entries per block
        chunk = ranges[start : start + 100]
        blocks.append(f"{len(chunk)} beginbfrange\n" + "\n".join(chunk) + "\nendbfrange")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")
