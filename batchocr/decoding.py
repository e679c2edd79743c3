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

from PIL import Image, ImageOps

# Our own pixel budget replaces Pillow's global one (checked before decoding).
Image.MAX_IMAGE_PIXELS = None


class DecodeError(Exception):
    """The file is not a decodable image page; the message is for the user."""


@dataclass
class DecodedPage:
    image: Image.Image  # mode "L" or "RGB", EXIF orientation applied
    path: str
    page: int  # 1-based
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


def decode_page(path: str, page: int, max_pixels: int) -> DecodedPage:
    """Open ``path``, select ``page`` (1-based), check the pixel budget, decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's EXIF/TIFF-tag warnings
            with Image.open(path) as img:
                _seek(img, page)
                width, height = img.size
                if width * height > max_pixels:
                    raise DecodeError(
                        f"image is {width}x{height} = {width * height / 1e6:.0f} Mpx, above the "
                        f"pixel budget of {max_pixels / 1e6:.0f} Mpx (--max-image-pixels)"
                    )
                img.load()
                image = ImageOps.exif_transpose(img)
                image = _normalise_mode(image)
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


def _seek(img: Image.Image, page: int) -> None:
    if page == 1:
        return
    try:
        img.seek(page - 1)
    except EOFError:
        raise DecodeError(f"page {page} does not exist in this file") from None


def _normalise_mode(image: Image.Image) -> Image.Image:
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
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return image.point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


def _size_or_none(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None
