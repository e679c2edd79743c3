"""The searchable PDF of an image file (PNG, JPEG, TIFF, ...), written page by
page as it goes.  Runs where the outputs are written (supervisor side).

Each page shows its image unchanged at the size its resolution says, with
the text layer of ``pdf_text`` over it:

- a JPEG goes in as the same bytes (``DCTDecode``): no second lossy pass, no
  decoding; its EXIF orientation becomes the drawing matrix, so the page
  shows what every other reader of the file shows;
- a PNG (grey, RGB or palette, up to 8 bits, not interlaced, no
  transparency) as its compressed data, unchanged: PDF's Flate with PNG
  predictors reads it as it is;
- a 1-bit page (a fax or archival TIFF, a bilevel BMP, ...) as CCITT
  Group 4, the lossless code such scans are kept in: about half the bytes
  of Flate, pixel for pixel the same;
- anything else (TIFF frames, BMP, WebP, other PNGs, ...) as its decoded
  pixels, Flate-compressed (lossless).

A page whose text is turned is shown upright (``PageLayout``).
Page size: the image's own resolution (DPI metadata) when it has a
plausible one, else ``preprocess.ASSUMED_DPI`` (300).  A page whose image
cannot be read again is a blank page of the same size, so page numbers keep
matching the input.

The objects are written to the destination one after another and only
their offsets are kept, so memory holds one page image, whatever the
number of pages (a library that builds the document in memory first would
hold every page until it saves).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from PIL import Image, TiffImagePlugin

from batchocr.decoding import ORIENTATION, load_upright, normalise_mode, seek_page
from batchocr.outputs.pdf_text import FontObjects, Matrix, font_objects, pdf_matrix, pdf_number, text_layer, text_turn
from batchocr.preprocess import ASSUMED_DPI

POINTS_PER_INCH = 72
PLAUSIBLE_DPI = (70, 2400)  # outside it a file's resolution is taken as unset (as tesseract does)
LETTER = (612.0, 792.0)  # points: a page nothing is known about
FLATE_LEVEL = 3  # half the time of zlib's default 6 for ~15% more bytes, on scans
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_NAME = "Im0"
FONT_RESOURCE = "F0"
ROWS_PER_STRIP, STRIP_OFFSETS, STRIP_BYTE_COUNTS = 278, 273, 279  # TIFF tags
COLOUR_SPACES = {"1": ("DeviceGray", 1), "L": ("DeviceGray", 8), "RGB": ("DeviceRGB", 8), "CMYK": ("DeviceCMYK", 8)}

# EXIF orientation -> where a stored pixel (u, v) lands on the upright page,
# both as shares of width and height, y down.
EXIF_PLACEMENT = {
    1: lambda u, v: (u, v),
    2: lambda u, v: (1 - u, v),
    3: lambda u, v: (1 - u, 1 - v),
    4: lambda u, v: (u, 1 - v),
    5: lambda u, v: (v, u),
    6: lambda u, v: (1 - v, u),
    7: lambda u, v: (1 - v, 1 - u),
    8: lambda u, v: (v, 1 - u),
}


class PdfObjectWriter:
    """Numbered PDF objects written straight to ``dest``; the cross-reference
    table (offsets) at the end."""

    def __init__(self, dest: BinaryIO) -> None:
        self._dest = dest
        self._position = 0
        self._offsets: dict[int, int] = {}
        self._next = 1
        self._write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")  # binary marker: transfer tools keep it binary

    def reserve(self) -> int:
        number, self._next = self._next, self._next + 1
        return number

    def add(self, body: str, number: int | None = None) -> int:
        number = self.reserve() if number is None else number
        self._start(number)
        self._write(f"{body}\nendobj\n".encode("latin-1"))
        return number

    def add_stream(self, entries: str, data: bytes, number: int | None = None) -> int:
        """A stream object; ``entries`` are its dictionary's entries but /Length."""
        number = self.reserve() if number is None else number
        self._start(number)
        self._write(f"<< {entries} /Length {len(data)} >>\nstream\n".encode("latin-1"))
        self._write(data)
        self._write(b"\nendstream\nendobj\n")
        return number

    def finish(self, root: int) -> None:
        xref = self._position
        size = self._next
        rows = [b"0000000000 65535 f \n"]
        for number in range(1, size):
            offset = self._offsets.get(number)
            rows.append(f"{offset:010d} 00000 n \n".encode() if offset is not None else b"0000000000 65535 f \n")
        self._write(f"xref\n0 {size}\n".encode() + b"".join(rows))
        self._write(f"trailer\n<< /Size {size} /Root {root} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())

    def _start(self, number: int) -> None:
        if number in self._offsets:
            raise ValueError(f"PDF object {number} written twice")
        self._offsets[number] = self._position
        self._write(f"{number} 0 obj\n".encode())

    def _write(self, data: bytes) -> None:
        self._dest.write(data)
        self._position += len(data)


def write_font(writer: PdfObjectWriter, font: FontObjects | None = None) -> int:
    """The glyphless Type0 font's objects; returns the font's object number."""
    font = font or font_objects()
    numbers = {
        "font_file": writer.add_stream("/Filter /FlateDecode", font.font_file),
        "cid_to_gid": writer.add_stream("/Filter /FlateDecode", font.cid_to_gid),
        "to_unicode": writer.add_stream("/Filter /FlateDecode", font.to_unicode),
    }
    numbers["descriptor"] = writer.add(font.descriptor.format(**numbers))
    numbers["cid_font"] = writer.add(font.cid_font.format(**numbers))
    return writer.add(font.type0.format(**numbers))


def write_image_pdf(path: str, records: Iterable[dict[str, Any]], dest: BinaryIO) -> None:
    """One page per record (in the order given) from the image file ``path``."""
    writer = PdfObjectWriter(dest)
    catalog, pages = writer.reserve(), writer.reserve()
    font = write_font(writer)
    kids = []
    try:
        source: Image.Image | None = Image.open(path)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        source = None  # every page was an error already; they stay blank
    try:
        for record in records:
            image = _page_image(source, path, record)
            kids.append(_write_page(writer, image, record, pages, font))
    finally:
        if source is not None:
            source.close()
    writer.add(f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>", pages)
    writer.add(f"<< /Type /Catalog /Pages {pages} 0 R >>", catalog)
    writer.finish(catalog)


@dataclass
class PageImage:
    """One page's image as a PDF image XObject, and where it goes on the page."""

    entries: str  # the XObject dictionary's entries but /Length
    data: bytes
    upright: tuple[int, int]  # pixels as shown (after the EXIF orientation)
    orientation: int  # EXIF 1-8
    dpi: tuple[float, float]  # of the upright image


def _page_image(source: Image.Image | None, path: str, record: dict[str, Any]) -> PageImage | None:
    """The page's image, or None when it cannot be read (a decode error)."""
    if source is None or (record.get("status") != "ok" and record.get("error_kind") == "decode"):
        return None
    try:
        seek_page(source, int(record["page"]))
        dpi = _dpi(source.info.get("dpi"))
        if source.format == "PNG":
            png = _png(path, dpi)
            if png is not None:
                return png
        orientation = source.getexif().get(ORIENTATION, 1)  # a PNG's: after its pixels, so it decodes them
        orientation = orientation if orientation in EXIF_PLACEMENT else 1
        if orientation >= 5:  # turned a quarter: the axes swap
            dpi = (dpi[1], dpi[0])
        if source.format == "JPEG" and source.mode in ("L", "RGB") and int(record["page"]) == 1:
            return _jpeg(source, path, orientation, dpi)
        return _pixels(source, dpi)
    except Exception:  # Pillow raises many kinds on a damaged frame; the page stays blank
        return None


def _jpeg(source: Image.Image, path: str, orientation: int, dpi: tuple[float, float]) -> PageImage:
    with open(path, "rb") as fh:
        data = fh.read()
    space, bits = COLOUR_SPACES[source.mode]
    width, height = source.size
    upright = (height, width) if orientation >= 5 else (width, height)
    entries = (
        f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
        f"/ColorSpace /{space} /BitsPerComponent {bits} /Filter /DCTDecode"
    )
    return PageImage(entries, data, upright, orientation, dpi)


def _png(path: str, dpi: tuple[float, float]) -> PageImage | None:
    """A PNG's compressed pixel data as it is (PDF's Flate with PNG
    predictors reads it): no decoding, no compressing.  None for what PDF
    cannot take that way: interlaced, 16-bit, alpha or transparency."""
    with open(path, "rb") as fh:
        data = fh.read()
    chunks = _png_chunks(data)
    if chunks is None or b"IHDR" not in chunks or b"tRNS" in chunks:
        return None
    width, height, bits, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"][0][:13])
    spaces = {0: ("/DeviceGray", 1), 2: ("/DeviceRGB", 3)}
    if interlace or bits > 8:
        return None
    if colour == 3 and b"PLTE" in chunks:
        palette = chunks[b"PLTE"][0]
        space, colours = f"[/Indexed /DeviceRGB {len(palette) // 3 - 1} <{palette.hex()}>]", 1
    elif colour in spaces and (colour == 0 or bits == 8):
        space, colours = spaces[colour]
    else:
        return None
    entries = (
        f"/Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace {space} "
        f"/BitsPerComponent {bits} /Filter /FlateDecode "
        f"/DecodeParms << /Predictor 15 /Colors {colours} /BitsPerComponent {bits} /Columns {width} >>"
    )
    orientation = _png_orientation(chunks)
    if orientation >= 5:  # turned a quarter: the axes swap
        upright, dpi = (height, width), (dpi[1], dpi[0])
    else:
        upright = (width, height)
    return PageImage(entries, b"".join(chunks[b"IDAT"]), upright, orientation, dpi)


def _png_chunks(data: bytes) -> dict[bytes, list[bytes]] | None:
    """A PNG's chunks by type, in file order; None if it is not a whole PNG."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    chunks: dict[bytes, list[bytes]] = {}
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if len(body) != length:
            return None  # truncated
        chunks.setdefault(kind, []).append(body)
        position += 12 + length  # length, type, body, CRC
        if kind == b"IEND":
            return chunks if b"IDAT" in chunks else None
    return None


def _png_orientation(chunks: dict[bytes, list[bytes]]) -> int:
    """The EXIF orientation in a PNG's eXIf chunk (1 without one)."""
    if b"eXIf" not in chunks:
        return 1
    exif = Image.Exif()
    exif.load(b"Exif\x00\x00" + chunks[b"eXIf"][0])
    orientation = exif.get(ORIENTATION, 1)
    return orientation if orientation in EXIF_PLACEMENT else 1


def _pixels(source: Image.Image, dpi: tuple[float, float]) -> PageImage:
    frame = load_upright(source)
    if frame.mode not in COLOUR_SPACES:
        frame = normalise_mode(frame)  # palette, alpha (onto white), 16-bit ... -> grey or RGB
    space, bits = COLOUR_SPACES[frame.mode]
    entries = (
        f"/Type /XObject /Subtype /Image /Width {frame.width} /Height {frame.height} "
        f"/ColorSpace /{space} /BitsPerComponent {bits} "
    )
    if frame.mode == "1":
        try:
            code = _group4(frame)
        except (OSError, ValueError, KeyError):  # no libtiff, or a Pillow that wrote strips after all
            code = None
        if code is not None:
            # Pillow's 1 is white; the Group 4 coder codes 1s as black runs, so
            # /BlackIs1 has them come back as 1s, which DeviceGray shows white.
            parameters = f"/K -1 /Columns {frame.width} /Rows {frame.height} /BlackIs1 true"
            entries += f"/Filter /CCITTFaxDecode /DecodeParms << {parameters} >>"
            return PageImage(entries, code, frame.size, 1, dpi)
    entries += "/Filter /FlateDecode"
    return PageImage(entries, zlib.compress(frame.tobytes(), FLATE_LEVEL), frame.size, 1, dpi)


def _group4(frame: Image.Image) -> bytes:
    """A 1-bit image coded CCITT Group 4 (T.6) by libtiff, through Pillow:
    written as a one-strip TIFF in memory, whose strip is the code."""
    tiff = io.BytesIO()
    # A copy: saving a TIFF frame itself carries its tags over, and a source's
    # FillOrder 2 (bits in reverse, as some fax software writes) would make
    # libtiff reverse the code, which PDF reads in the usual order.
    frame.copy().save(tiff, "TIFF", compression="group4", tiffinfo={ROWS_PER_STRIP: frame.height})
    tiff.seek(0)
    with TiffImagePlugin.TiffImageFile(tiff) as written:
        (offset,), (length,) = written.tag_v2[STRIP_OFFSETS], written.tag_v2[STRIP_BYTE_COUNTS]
    return tiff.getvalue()[offset : offset + length]


def _dpi(value) -> tuple[float, float]:
    try:
        x, y = float(value[0]), float(value[1])
    except (TypeError, ValueError, IndexError):
        return (ASSUMED_DPI, ASSUMED_DPI)
    low, high = PLAUSIBLE_DPI
    if low <= x <= high and low <= y <= high:
        return (x, y)
    return (ASSUMED_DPI, ASSUMED_DPI)


def _write_page(
    writer: PdfObjectWriter, image: PageImage | None, record: dict[str, Any], parent: int, font: int
) -> int:
    if image is None:
        width_pt, height_pt = _blank_size(record)
        content, xobject = b"", ""
    else:
        layout = PageLayout.of(image, record)
        width_pt, height_pt = layout.width_pt, layout.height_pt
        number = writer.add_stream(image.entries, image.data)
        xobject = f"/XObject << /{IMAGE_NAME} {number} 0 R >> "
        content = f"q {pdf_matrix(layout.image_matrix())} cm /{IMAGE_NAME} Do Q\n".encode("ascii")
        if record.get("status") == "ok":
            content += text_layer(record, layout.pixels_matrix(), FONT_RESOURCE)
    contents = writer.add_stream("/Filter /FlateDecode", zlib.compress(content))
    return writer.add(
        f"<< /Type /Page /Parent {parent} 0 R /MediaBox [0 0 {pdf_number(width_pt)} {pdf_number(height_pt)}] "
        f"/Resources << {xobject}/Font << /{FONT_RESOURCE} {font} 0 R >> >> "
        f"/Contents {contents} 0 R >>"
    )


@dataclass
class PageLayout:
    """Where a page's image and words go.

    A page whose text is turned (``pdf_text.text_turn``: the engine turned
    the page to read it, or read turned lines as they stand) is shown
    upright: its image is drawn turned (the bytes stay as they are), so a
    person reads it without turning their head, and its words run left to
    right on the page, the direction every viewer's text extraction orders
    words in (PDFium, for one, orders an upside-down line's words backwards).
    The skew stays: straightening it would mean resampling the image; the
    lines' own matrices follow it instead.  ``turn`` is that quarter turn."""

    image: PageImage
    pixels: tuple[float, float]  # the record's pixel size: the image as shown upright by EXIF
    turn: int
    scale: tuple[float, float]  # points per pixel, in user space (upright) axes
    width_pt: float
    height_pt: float

    @classmethod
    def of(cls, image: PageImage, record: dict[str, Any]) -> PageLayout:
        turn = text_turn(record) if record.get("status") == "ok" else 0
        width, height = image.upright
        dpi_x, dpi_y = image.dpi if turn in (0, 180) else (image.dpi[1], image.dpi[0])
        shown = (width, height) if turn in (0, 180) else (height, width)
        scale = (POINTS_PER_INCH / dpi_x, POINTS_PER_INCH / dpi_y)
        pixels = (float(record.get("width") or width), float(record.get("height") or height))
        return cls(image, pixels, turn, scale, shown[0] * scale[0], shown[1] * scale[1])

    def to_user(self, x: float, y: float) -> tuple[float, float]:
        """A pixel of the record's (stored) image -> user space (upright page, y up)."""
        width, height = self.image.upright
        # the record's pixels may be counted at another size than the image's
        x, y = x * width / self.pixels[0], y * height / self.pixels[1]
        upright_x, upright_y = {
            0: (x, y),
            90: (y, width - x),  # turned counter-clockwise, as Pillow's ROTATE_90
            180: (width - x, height - y),
            270: (height - y, x),
        }[self.turn]
        return upright_x * self.scale[0], self.height_pt - upright_y * self.scale[1]

    def pixels_matrix(self) -> Matrix:
        return _affine(lambda x, y: self.to_user(x, y))

    def image_matrix(self) -> Matrix:
        """The ``cm`` matrix that draws the stored image (PDF's unit square,
        y up) as the file shows it (EXIF orientation), turned upright."""
        place = EXIF_PLACEMENT[self.image.orientation]
        width, height = self.pixels

        def unit_to_user(a: float, b: float) -> tuple[float, float]:
            shown_x, shown_y = place(a, 1 - b)  # unit square (y up) -> stored shares (y down) -> shown shares
            return self.to_user(shown_x * width, shown_y * height)

        return _affine(unit_to_user)


def _affine(point) -> Matrix:
    """The PDF matrix [a b c d e f] of an affine map given as a function."""
    origin, right, up = point(0.0, 0.0), point(1.0, 0.0), point(0.0, 1.0)
    return (right[0] - origin[0], right[1] - origin[1], up[0] - origin[0], up[1] - origin[1], *origin)


def _blank_size(record: dict[str, Any]) -> tuple[float, float]:
    width, height = record.get("width"), record.get("height")
    if width and height:
        return (width * POINTS_PER_INCH / ASSUMED_DPI, height * POINTS_PER_INCH / ASSUMED_DPI)
    return LETTER
