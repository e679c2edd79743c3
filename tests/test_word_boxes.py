"""Word boxes estimated from a line box (engines that report only lines)."""

from __future__ import annotations

from batchocr.engines.base import TextLine, TextWord, words_by_characters


def test_words_split_the_line_box_by_characters():
    words = words_by_characters("ab  cdef", 90.0, (100, 10, 180, 30))  # 8 characters, 10 px each
    assert words == (
        TextWord("ab", 90.0, (100, 10, 120, 30)),
        TextWord("cdef", 90.0, (140, 10, 180, 30)),
    )


def test_words_without_a_line_box_have_none():
    assert words_by_characters("one two", None, None) == (TextWord("one", None, None), TextWord("two", None, None))


def test_a_line_goes_into_a_record_with_its_words():
    line = TextLine("hi there", 80.0, (0, 0, 80, 10), words=words_by_characters("hi there", 80.0, (0, 0, 80, 10)))
    assert line.as_record() == {
        "text": "hi there",
        "confidence": 80.0,
        "bbox": (0, 0, 80, 10),
        "words": [
            {"text": "hi", "confidence": 80.0, "bbox": (0, 0, 20, 10)},
            {"text": "there", "confidence": 80.0, "bbox": (30, 0, 80, 10)},
        ],
    }
