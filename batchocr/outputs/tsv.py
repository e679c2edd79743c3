"""TSV in the tesseract CLI's layout: one row per page, line and word with
its box and confidence.  Supervisor side (the assembly thread).

Columns: level (1 page, 4 line, 5 word), page_num, block_num, par_num,
line_num, word_num, left, top, width, height, conf (the word's 0-100, -1 for
a page or line, as tesseract writes), text (words only).  Blocks and
paragraphs are numbered 1 (engines do not all report them).  A failed page
is its page row alone; a box that is unknown is written as -1s.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, BinaryIO

from batchocr.outputs import FileDocument, page_lines, page_size, write_parts

COLUMNS = (
    *("level", "page_num", "block_num", "par_num", "line_num", "word_num"),
    *("left", "top", "width", "height", "conf", "text"),
)


class TsvFormat:
    name = "tsv"
    ext = "tsv"

    def write(self, doc: FileDocument, dest: BinaryIO) -> None:
        header = "\t".join(COLUMNS) + "\n"
        write_parts(dest, chain([header], ("".join(page_rows(record)) for record in doc.pages())))


def page_rows(record: dict[str, Any]):
    page = record["page"]
    width, height = page_size(record)
    yield _row(1, page, 0, 0, 0, 0, (0, 0, width, height), -1, "")
    for line_num, line in enumerate(page_lines(record), 1):
        yield _row(4, page, 1, 1, line_num, 0, line.get("bbox"), -1, "")
        for word_num, word in enumerate(line["words"], 1):
            confidence = word.get("confidence")
            conf = -1 if confidence is None else round(confidence, 2)
            yield _row(5, page, 1, 1, line_num, word_num, word.get("bbox"), conf, _clean(word["text"]))


def _row(level, page, block, par, line, word, bbox, conf, text) -> str:
    x0, y0, x1, y1 = bbox if bbox else (-1, -1, -1, -1)
    width, height = (x1 - x0, y1 - y0) if bbox else (-1, -1)
    return f"{level}\t{page}\t{block}\t{par}\t{line}\t{word}\t{x0}\t{y0}\t{width}\t{height}\t{conf}\t{text}\n"


def _clean(text: str) -> str:
    """A word never holds a tab or newline in the TSV (it would shift columns)."""
    return " ".join(text.split())
