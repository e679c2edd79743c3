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


MARKED = Image.new("L", (200, 100), 255)
MARKED.paste(0, (0, 0, 40, 40))
MARKED.paste(128, (150, 60, 200, 100))
TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("saved_as", ["tiff-uncompressed", "tiff-lzw", "png"])
def test_every_orientation_gives_the_upright_pixels(tmp_path, orientation, saved_as):
    """Uncompressed TIFFs with orientation 5-8 came out scrambled (Pillow 11+)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.{saved_as.split('-')[0]}"
    options = {"compression": "tiff_lzw"} if saved_as == "tiff-lzw" else {}
    MARKED.save(path, exif=exif, **options)
    want = MARKED.transpose(TURNS[orientation]) if orientation in TURNS else MARKED
    got = decode_page(str(path), 1, 10**8).image
    assert got.size == want.size and got.tobytes() == want.tobytes()


@pytest.mark.parametrize("mode, dtype", [("I;16B", ">u2"), ("I;16", "<u2")])
def test_16_bit_grey_tiffs_of_either_byte_order_keep_their_pixels(tmp_path, mode, dtype):
    values = [0, 255, 256 * 100, 65535]  # high bytes 0, 0, 100, 255
    raw = b"".join(v.to_bytes(2, "big" if dtype[0] == ">" else "little") for v in values)
    path = tmp_path / "grey16.tif"
    Image.frombytes(mode, (4, 1), raw).save(path)
    got = decode_page(str(path), 1, 10**8).image
    assert [got.getpixel((x, 0)) for x in range(4)] == [0, 0, 100, 255]


def test_later_pages_of_a_multipage_file_keep_it_open(tmp_path, monkeypatch):
    """Reaching page N must not walk pages 1..N-1 again for every page."""
    path = tmp_path / "many.tif"
    frames = [Image.new("L", (20, 20), i) for i in range(30)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda p, *a, **k: opened.append(p) or real_open(p, *a, **k))
    for page in range(2, 31):
        assert decode_page(str(path), page, 10**8).image.getpixel((0, 0)) == page - 1
    assert len(opened) == 1
    path.write_bytes(path.read_bytes())  # replaced (new mtime): opened anew
    os.utime(path, ns=(1, 1))
    assert decode_page(str(path), 3, 10**8).image.getpixel((0, 0)) == 2
    assert len(opened) == 2
