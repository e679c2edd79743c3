"""The invisible text layer of a searchable PDF page, from one page record.
Runs where the outputs are written (supervisor side), never in a worker.

Each text line becomes one run of glyphs of the glyphless font
(``glyphless.ttf``: every glyph half an em wide, painting nothing) drawn
with text render mode 3 (neither filled nor stroked): nothing shows, but a
viewer can search, select and copy it.  One ``TJ`` per line, its baseline
on the line's bottom edge and its glyphs as tall as the line, with each
word's glyphs spread evenly over the word's box by ``TJ`` position
adjustments and a space glyph between words; so the selection highlight
covers the words, copied text has its spaces, and the line stays one line
for text extraction even when it is skewed (PDFium breaks a skewed line up
and reorders it when each word is a text object of its own).

Geometry: a record's boxes are upright boxes in the stored image's pixels
(origin top left).  A page turned by ``rotation`` and ``skew`` degrees
(counter-clockwise, to read it) has its words running at that angle on the
stored image, so each box is taken back into the *reading frame* (the page
turned upright), where a word is a plain rectangle, and the line is placed
there, then turned back.  A line whose words run another way in the reading
frame (tesseract reads a column of vertical text on an upright page without
saying so) gets its own quarter turn, from the order of its words.  The
layer is written in pixel units behind one ``cm`` that maps pixels to the
page's points; the caller gives that matrix (it differs for an image page
and for an original PDF page).
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from typing import Any

FONT_NAME = "BatchocrGlyphless"
GLYPH_ADVANCE = 0.5  # em: the glyph's advance in glyphless.ttf (scripts/make_glyphless_font.py)
SPACE = " "
# Beyond this share of cos(2a) the box-to-rectangle solve is ill-conditioned
# (a page turned near 45 degrees); the box is then taken as it stands.
MIN_CONDITION = 0.3
# A one-word line this many times taller than wide (in the reading frame) runs vertically.
TALL = 1.5

Matrix = tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class Word:
    text: str
    left: float  # reading frame of its line, pixels
    width: float


@dataclass(frozen=True)
class LineRun:
    """One line's glyphs: ``matrix`` maps text space (x along the line, in
    units of ``unit`` pixels; y up, one unit = the line's height) to pixels."""

    matrix: Matrix
    unit: float
    words: tuple[Word, ...]  # left measured from the matrix's origin

    def tj_array(self) -> str:
        """The ``TJ`` operand: every glyph preceded by the shift (thousandths
        of a text unit, positive = back) that puts it where its word says."""
        parts: list[str] = []
        cursor = 0.0
        for index, word in enumerate(self.words):
            glyphs = _utf16_units(word.text)
            pitch = word.width / len(glyphs) / self.unit
            start = word.left / self.unit
            for number, glyph in enumerate(glyphs):
                cursor = _place(parts, cursor, start + number * pitch, glyph)
            if index + 1 < len(self.words):
                cursor = _place(parts, cursor, start + len(glyphs) * pitch, SPACE.encode("utf-16-be"))
        return "[" + " ".join(parts) + "]"


def _utf16_units(text: str) -> list[bytes]:
    data = text.encode("utf-16-be")
    return [data[i : i + 2] for i in range(0, len(data), 2)]


def _place(parts: list[str], cursor: float, target: float, glyph: bytes) -> float:
    shift = round((cursor - target) * 1000, 1)
    if shift:
        parts.append(pdf_number(shift))
    parts.append(f"<{glyph.hex()}>")
    return target + GLYPH_ADVANCE


def text_layer(record: dict[str, Any], pixels_to_points: Matrix, font: str) -> bytes:
    """The page content that draws ``record``'s words invisibly; b"" when it has none.

    ``font`` is the resource name the glyphless Type0 font has on the page."""
    runs = list(line_runs(record))
    if not runs:
        return b""
    out = [f"q {pdf_matrix(pixels_to_points)} cm BT 3 Tr /{font} 1 Tf"]
    for run in runs:
        out.append(f"{pdf_matrix(run.matrix)} Tm {run.tj_array()} TJ")
    out.append("ET Q")
    return "\n".join(out).encode("ascii") + b"\n"


def line_runs(record: dict[str, Any]) -> list[LineRun]:
    """The page's lines, in the record's order."""
    angle, lines, turns, page_turn = _lines_and_turns(record)
    runs = []
    for (line, words), turn in zip(lines, turns):
        if turn is None:  # one word: tall ones run as the page's other lines do, if those run vertically
            turn = _one_word_turn(ReadingFrame(angle), words[0], page_turn)
        runs.append(_line_run(ReadingFrame(angle + turn), line, words))
    return runs


def text_turn(record: dict[str, Any]) -> int:
    """The quarter turn (counter-clockwise, 0/90/180/270) that sets the
    page's text upright: the record's ``rotation``, plus the turn most of its
    lines run at when the engine read turned text without turning the page."""
    angle, _, _, page_turn = _lines_and_turns(record)
    rotation = round(float(record.get("rotation") or 0) / 90) * 90
    return int(rotation + page_turn) % 360


def _lines_and_turns(record: dict[str, Any]):
    """(frame angle, [(line, words)], each line's quarter turn or None, the
    most common turn) for the record's lines that have boxes."""
    angle = float(record.get("rotation") or 0) + float(record.get("skew") or 0)
    frame = ReadingFrame(angle)
    lines = []
    for line in record.get("lines") or []:
        words = [w for w in (line.get("words") or [line]) if w.get("bbox") and (w.get("text") or "").strip()]
        if line.get("bbox") and words:
            lines.append((line, words))
    turns = [_quarter_turn(frame, words) for _, words in lines]
    usual = Counter(t for t in turns if t is not None).most_common(1)
    return angle, lines, turns, (usual[0][0] if usual else 0)


def _quarter_turn(frame: ReadingFrame, words: list[dict[str, Any]]) -> int | None:
    """The quarter turn (0/90/180/270) the line's words run at in ``frame``,
    from the way its first and last words' centres go; None for one word."""
    if len(words) < 2:
        return None
    first_x, first_y, _, _ = frame.rectangle(words[0]["bbox"])
    last_x, last_y, _, _ = frame.rectangle(words[-1]["bbox"])
    dx, dy = last_x - first_x, last_y - first_y
    if abs(dx) >= abs(dy):
        return 0 if dx >= 0 else 180
    return 90 if dy > 0 else 270  # y down: a line running down the page is turned +90


def _one_word_turn(frame: ReadingFrame, word: dict[str, Any], page_turn: int) -> int:
    _, _, width, height = frame.rectangle(word["bbox"])
    tall = height > TALL * width and len(word["text"].strip()) > 1
    if tall:
        return page_turn if page_turn in (90, 270) else 90
    return page_turn if page_turn in (0, 180) else 0


def _line_run(frame: ReadingFrame, line: dict[str, Any], words: list[dict[str, Any]]) -> LineRun:
    _, line_y, _, line_height = frame.rectangle(line["bbox"])
    baseline = line_y + line_height / 2  # the line's bottom edge (y down)
    placed = []
    for word in words:
        x, _, width, _ = frame.rectangle(word["bbox"])
        placed.append((word["text"].strip(), x - width / 2, width))
    origin_x = placed[0][1]
    # one glyph advance = the line's widest character pitch: glyphs of a word
    # then touch or overlap, never leave a gap (PDFium reads a gap as a space)
    pitch = max(width / len(_utf16_units(text)) for text, _, width in placed)
    unit = max(pitch / GLYPH_ADVANCE, 1e-3)
    origin = frame.to_stored(origin_x, baseline)
    along = frame.to_stored(unit, 0.0)
    up = frame.to_stored(0.0, -line_height)  # text space y runs up, i.e. -y in the reading frame
    return LineRun(
        matrix=(along[0], along[1], up[0], up[1], origin[0], origin[1]),
        unit=unit,
        words=tuple(Word(text, left - origin_x, width) for text, left, width in placed),
    )


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
