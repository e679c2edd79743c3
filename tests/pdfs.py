"""Small PDFs for tests, written by hand: a page with a real text layer, and
scanned pages (images only, through Pillow).  Test helpers, not product code."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

# Where the first line starts for text turned by 0/90/180/270 degrees
# counter-clockwise on a 612 x 792 page, so that all of it stays on the page.
TEXT_ORIGINS = {0: (72, 720), 90: (72, 72), 180: (540, 72), 270: (540, 720)}


def text_pdf(
    path: Path, pages: list[list[str]], size=(612, 792), rotate: int = 0, angle: int = 0, crop_box=None
) -> Path:
    """A PDF whose pages carry ``lines`` as real text (Helvetica, 14 pt, 18 pt
    apart, the first at y 702): typed turned ``angle`` degrees
    counter-clockwise in the page's own space, on pages turned ``rotate``
    degrees clockwise by /Rotate when shown, cut to ``crop_box`` if given."""
    crop = f" /CropBox [{' '.join(map(str, crop_box))}]" if crop_box else ""
    entries = f"/Rotate {rotate} /MediaBox [0 0 {size[0]} {size[1]}]{crop}"
    return _pdf(path, [(text_block(lines, angle), entries) for lines in pages])


def text_block(lines: list[str], angle: int = 0, origin=None, font_size: int = 14) -> str:
    """Content that types ``lines`` turned ``angle`` degrees from ``origin``
    (by default where a 612 x 792 page holds them, TEXT_ORIGINS)."""
    cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[angle]
    x, y = origin or TEXT_ORIGINS[angle]
    start = f"BT /F1 {font_size} Tf {cos} {sin} {-sin} {cos} {x} {y} Tm {font_size + 4} TL "
    return start + " ".join(f"({_escape(line)}) '" for line in lines) + " ET"


def blocks_pdf(path: Path, blocks: list[str]) -> Path:
    """A one-page PDF (612 x 792) of these ``text_block`` contents, in this order."""
    return _pdf(path, [(" ".join(blocks), "/MediaBox [0 0 612 792]")])


def _pdf(path: Path, pages: list[tuple[str, str]]) -> Path:
    """A PDF of pages given as (content, page dictionary entries), Helvetica as /F1."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for body, entries in pages:
        objects.append(f"<< /Length {len(body)} >>\nstream\n{body}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R {entries} "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {len(objects)} 0 R >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


def scanned_pdf(path: Path, images: list[Image.Image], dpi: int = 300) -> Path:
    """A PDF of page images only, as a scanner writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    first, *rest = [image.convert("RGB") for image in images]
    first.save(path, save_all=True, append_images=rest, resolution=dpi)
    return path


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
