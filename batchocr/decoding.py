"""Decode one page with Pillow.  Runs in workers.

Every engine gets pixels decoded here, so there is one decoder (current
codecs, one set of error messages) and the engines' own bundled image
parsers never see user files.  An engine that can only read files asks the
page for a re-encoded copy (``DecodedPage.as_file``).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field

from PIL import Image

from batchocr.engines.base import TextLine
from batchocr.pdf import PdfPageError, PdfReader, is_pdf

# Our own pixel budget replaces Pillow's global one (checked before decoding).
Image.MAX_IMAGE_PIXELS = None


class DecodeError(Exception):
    """The file is not a decodable image page; the message is for the user."""


@dataclass
class DecodedPage:
    image: Image.Image  # mode "L" or "RGB", EXIF orientation applied; blank with a text layer
    path: str
    page: int  # 1-based
    text_layer: str | None = None  # a PDF page's own usable text: then no OCR is needed
    text_lines: list[TextLine] = field(default_factory=list)  # ... and its lines and words, boxed
    _files: list[str] = field(default_factory=list, repr=False)

    def as_file(self, suffix: str = ".png") -> str:
        """A temporary re-encoded copy for engines that only read files.

        The worker deletes it after the page (``close``)."""
        fd, path = tempfile.mkstemp(prefix="batchocr-page-", suffix=suffix)
        os.close(fd)
        self.image.save(path)
        self._files.append(path)
        return path

    def close(self) -> None:
        for path in self._files:
            try:
                os.unlink(path)
            except OSError:
                pass
        self._files.clear()
        self.image.close()


def decode_page(path: str, page: int, max_pixels: int, pdf_dpi: int = 300, pdf_text: bool = True) -> DecodedPage:
    """Open ``path``, select ``page`` (1-based), check the pixel budget, decode.

    A PDF page is rendered at ``pdf_dpi`` (less if that would exceed the
    budget), or, with ``pdf_text``, comes with its own text layer when that
    is usable (``pdf.usable_text``)."""
    if is_pdf(path):
        return _pdf_page(path, page, max_pixels, pdf_dpi, pdf_text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's EXIF/TIFF-tag warnings
            if page == 1:
                with Image.open(path) as img:
                    image = _decode(img, page, max_pixels)
            else:
                image = _OPEN_FILE.decode(path, page, max_pixels)
    except DecodeError:
        raise
    except FileNotFoundError:
        raise DecodeError("file not found (deleted, moved or a broken symlink)") from None
    except PermissionError:
        raise DecodeError("permission denied: cannot read the file") from None
    except IsADirectoryError:
        raise DecodeError("is a directory, not an image") from None
    except Image.UnidentifiedImageError:
        size = _size_or_none(path)
        if size == 0:
            raise DecodeError("empty file (0 bytes)") from None
        raise DecodeError("not a recognised image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise DecodeError(f"cannot decode image: {exc}") from None
    return DecodedPage(image=image, path=path, page=page)


def _pdf_page(path: str, page: int, max_pixels: int, dpi: int, use_text: bool) -> DecodedPage:
    try:
        found = _PDF.page(path, page, dpi=dpi, max_pixels=max_pixels, use_text=use_text)
    except PdfPageError as exc:
        raise DecodeError(str(exc)) from None
    except FileNotFoundError:
        raise DecodeError("file not found (deleted, moved or a broken symlink)") from None
    except OSError as exc:
        raise DecodeError(f"cannot read PDF: {exc.strerror or exc}") from None
    # a page read from its text layer is never shown to an engine: a 1-bit
    # blank of its size (a few hundred kB at most) stands in for the pixels
    image = found.image if found.image is not None else Image.new("1", (found.width, found.height), 1)
    return DecodedPage(image=image, path=path, page=page, text_layer=found.text, text_lines=found.lines)


_PDF = PdfReader()


def _decode(img: Image.Image, page: int, max_pixels: int) -> Image.Image:
    seek_page(img, page)
    width, height = img.size
    if width * height > max_pixels:
        raise DecodeError(
            f"image is {width}x{height} = {width * height / 1e6:.0f} Mpx, above the "
            f"pixel budget of {max_pixels / 1e6:.0f} Mpx (--max-image-pixels)"
        )
    return normalise_mode(load_upright(img))


def seek_page(img: Image.Image, page: int) -> None:
    if page == 1:
        return
    try:
        img.seek(page - 1)
    except EOFError:
        raise DecodeError(f"page {page} does not exist in this file") from None
    except Exception as exc:  # Pillow raises TypeError, struct.error... on a damaged page directory
        raise DecodeError(
            f"page {page}: damaged page directory ({type(exc).__name__}: {exc}); the pages after it cannot be read"
        ) from None


class _OpenFile:
    """The multi-page file a worker read last, kept open.  Worker side.

    Pillow finds page N by walking the file's page directories from the
    first; opening the file anew for every page makes a 10,000-page TIFF
    quadratic (page 10,000 took 914 ms to reach).  Kept open, the next page
    is one step on from the last."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._image: Image.Image | None = None

    def decode(self, path: str, page: int, max_pixels: int) -> Image.Image:
        info = os.stat(path)
        key = (path, info.st_size, info.st_mtime_ns)  # a replaced file is opened anew
        if key != self._key or self._image is None:
            self.close()
            self._image, self._key = Image.open(path), key
        try:
            image = _decode(self._image, page, max_pixels)
        except BaseException:
            self.close()  # its state is unknown now
            raise
        return image.copy() if image is self._image else image  # the open file moves on

    def close(self) -> None:
        if self._image is not None:
            self._image.close()
        self._image, self._key = None, None


_OPEN_FILE = _OpenFile()

# EXIF orientation -> the turn that shows the page upright.
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
ORIENTATION = 0x0112


def load_upright(img: Image.Image) -> Image.Image:
    """Decode the pixels as stored, then turn them upright exactly once.

    Pillow 11+ turns TIFFs itself while loading, and gets uncompressed ones
    with orientations 5-8 wrong (scrambled pixels); JPEGs it leaves as
    stored.  So the orientation is taken out before loading and applied here,
    the same way for every format."""
    exif = img.getexif()
    orientation = exif.get(ORIENTATION, 1)
    if orientation != 1:
        del exif[ORIENTATION]
        tags = getattr(img, "tag_v2", None)
        if tags is not None:
            tags.pop(ORIENTATION, None)
        if getattr(img, "_tile_size", None):  # Pillow 11+ swapped a TIFF's size for 5-8
            img._size = img._tile_size  # type: ignore[attr-defined]
    img.load()
    turn = UPRIGHT.get(orientation)
    return img.transpose(turn) if turn is not None else img


def normalise_mode(image: Image.Image) -> Image.Image:
    """Engines get 8-bit grey or RGB; alpha is flattened onto white."""
    if image.mode in ("L", "RGB"):
        return image
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):  # 16-bit: keep the high byte
        return image.convert("I").point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


def _size_or_none(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None
