"""Build ``batchocr/outputs/glyphless.ttf``: the font of the searchable PDF's
invisible text layer.

    .venv/bin/python scripts/make_glyphless_font.py

One glyph with a fixed advance of half an em whose only contour has no
area (so it paints nothing), plus the ``.notdef`` every TrueType font must
have.  The PDF maps every character
code to that glyph (CIDToGIDMap), so a word of n characters is n half-ems
wide and the text layer scales it to the word's box; nothing is ever drawn
(text render mode 3 as well).  The text itself reaches viewers through the
ToUnicode map, not through the font.  fontTools builds it (it comes with
matplotlib in the dev extra); the output is deterministic and committed, so
batchocr needs fontTools only to rebuild it.
"""

from __future__ import annotations

from pathlib import Path

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

UNITS_PER_EM = 1000
ADVANCE = 500  # batchocr/outputs/pdf_text.py assumes the same
FIXED_TIMESTAMP = 0  # head.created/modified: the same bytes on every build
OUT = Path(__file__).resolve().parent.parent / "batchocr" / "outputs" / "glyphless.ttf"


def build() -> bytes:
    names = [".notdef", "glyph"]
    builder = FontBuilder(UNITS_PER_EM, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({})
    builder.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "glyph": _zero_area_glyph()})
    builder.setupHorizontalMetrics({name: (ADVANCE, 0) for name in names})
    builder.setupHorizontalHeader(ascent=UNITS_PER_EM, descent=0)
    builder.setupNameTable({"familyName": "BatchocrGlyphless", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=UNITS_PER_EM, sTypoDescender=0, usWinAscent=UNITS_PER_EM, usWinDescent=0)
    builder.setupPost()
    builder.updateHead(created=FIXED_TIMESTAMP, modified=FIXED_TIMESTAMP, yMax=UNITS_PER_EM, xMax=ADVANCE)
    from io import BytesIO

    out = BytesIO()
    builder.save(out)
    return out.getvalue()


def _zero_area_glyph():
    """A contour along the em box's diagonal: no area, so nothing is drawn
    even by a viewer that ignored render mode 3, but the glyph's bounding box
    is the whole em box.  PDFium's text extraction skips a one-glyph word
    whose glyph has an empty box, and measures character boxes by it."""
    pen = TTGlyphPen(None)
    pen.moveTo((0, 0))
    pen.lineTo((ADVANCE, UNITS_PER_EM))
    pen.closePath()
    return pen.glyph()


if __name__ == "__main__":
    OUT.write_bytes(build())
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
