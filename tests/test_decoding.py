from __future__ import annotations

import os

import pytest
from PIL import Image

from batchocr.decoding import DecodeError, decode_page


def test_pixel_budget_is_checked_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("1", (4000, 3000)).save(path)
    with pytest.raises(DecodeError, match="pixel budget"):
        decode_page(str(path), 1, max_pixels=10_000_000)
    assert decode_page(str(path), 1, max_pixels=12_000_000).image.size == (4000, 3000)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW when shown
    Image.new("L", (200, 100), 255).save(path, exif=exif)
    assert decode_page(str(path), 1, 10**8).image.size == (100, 200)


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


def test_modes_are_normalised(tmp_path):
    for mode in ("1", "P", "RGBA", "CMYK", "I;16"):
        path = tmp_path / f"m{mode.replace(';', '')}.tif"
        Image.new(mode, (10, 10)).save(path)
        assert decode_page(str(path), 1, 10**8).image.mode in ("L", "RGB")


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
