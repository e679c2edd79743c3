from __future__ import annotations

import os

import pytest
from PIL import Image

from batchocr.decoding import DecodeError, decode_page


def test_pixel_budget_is_checked_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("1", (4000, 3000)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a valid header; pixel data that cannot be decoded
    # refused by size, from the header alone: decoding would have failed differently
    with pytest.raises(DecodeError, match="pixel budget"):
        decode_page(str(path), 1, max_pixels=10_000_000)
    with pytest.raises(DecodeError, match="cannot decode"):
        decode_page(str(path), 1, max_pixels=12_000_000)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to show
    stored = Image.new("L", (200, 100), 255)
    stored.paste(0, (0, 0, 40, 40))  # a dark mark in the stored top-left corner
    stored.save(path, exif=exif, quality=95)
    shown = decode_page(str(path), 1, 10**8).image
    assert shown.size == (100, 200)
    assert shown.getpixel((90, 10)) < 50  # the mark is now top-right
    assert shown.getpixel((10, 10)) > 200 and shown.getpixel((10, 190)) > 200


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"hello, I am text", "not a recognised image"),
    ],
)
def test_garbage_gives_clear_messages(tmp_path, content, message):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(DecodeError, match=message):
        decode_page(str(path), 1, 10**8)


def test_truncated_png(tmp_path):
    path = tmp_path / "t.png"
    Image.effect_noise((300, 300), 50).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="cannot decode"):
        decode_page(str(path), 1, 10**8)


def test_modes_are_normalised_with_their_pixels(tmp_path):
    """Engines get 8-bit grey or RGB, with the same picture: white stays white,
    ink stays ink, transparency becomes white paper."""
    cases = {
        "1": (1, 0, 255, 0),
        "P": (None, None, None, None),  # filled below: palette index -> colour
        "RGBA": ((0, 0, 0, 0), (0, 0, 0, 255), (255, 255, 255), (0, 0, 0)),
        "CMYK": ((0, 0, 0, 0), (0, 0, 0, 255), (255, 255, 255), (0, 0, 0)),
        "I;16": (65535, 0, 255, 0),
    }
    for mode, (paper, ink, want_paper, want_ink) in cases.items():
        image = Image.new(mode, (10, 10))
        if mode == "P":
            image.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
            paper, ink, want_paper, want_ink = 0, 1, (255, 255, 255), (0, 0, 0)
        image.paste(paper, (0, 0, 10, 10))
        image.putpixel((5, 5), ink)
        path = tmp_path / f"m{mode.replace(';', '')}.{'png' if mode == 'RGBA' else 'tif'}"
        image.save(path)
        decoded = decode_page(str(path), 1, 10**8).image
        assert decoded.mode in ("L", "RGB"), mode
        assert (decoded.getpixel((0, 0)), decoded.getpixel((5, 5))) == (want_paper, want_ink), mode


def test_missing_page_of_tiff(tmp_path):
    path = tmp_path / "one.tif"
    Image.new("L", (10, 10)).save(path)
    with pytest.raises(DecodeError, match="page 2 does not exist"):
        decode_page(str(path), 2, 10**8)


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError, match="file not found"):
        decode_page(str(tmp_path / "nope.png"), 1, 10**8)


def test_file_only_engines_get_a_reencoded_copy_that_is_cleaned_up(tmp_path):
    path = tmp_path / "scan.jpg"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    page = decode_page(str(path), 1, 10**8)
    copy = page.as_file(".png")
    assert copy != str(path)
    with Image.open(copy) as reencoded:
        assert reencoded.format == "PNG" and reencoded.size == (40, 30)
    page.close()
    assert not os.path.exists(copy)
