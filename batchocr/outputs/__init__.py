"""Per-file outputs (``--formats``): the seam every format plugs into.

Supervisor side (run by ``batchocr.assembly`` in its own thread, never in a
worker).  A format is one module here with one class that satisfies
``OutputFormat``, registered by name in ``REGISTERED``::

    class OutputFormat(Protocol):
        name: str   # as in --formats, e.g. "hocr"
        ext: str    # file extension, e.g. "hocr"
        def write(self, doc: FileDocument, dest: BinaryIO) -> None: ...

``write`` gets one input file (``FileDocument``: its absolute path, its
path relative to the input directory, its page count, and ``pages()``, its
final page records in page order, read back from results.jsonl one at a
time) and writes the whole output file to ``dest``.  Failed pages are in
``pages()`` too (``status`` is not ``ok``, ``text`` may be null): a format
shows them as an empty page.  The caller makes the write atomic and
exactly-once (temporary file, fsync, rename; see ``assembly``): a writer
only writes bytes and raises on failure.

Output layout: ``OUT/<name>/<relative path of the input>.<ext>``, e.g.
``OUT/txt/2019/letter.png.txt`` (``output_path``).

Coordinates: every ``bbox`` in a record (line and word) is
``[x0, y0, x1, y1]`` in the stored image's pixels, origin top left; for a
PDF page, in the pixels of the page as rendered (``width`` x ``height``
in the record).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol
from xml.sax.saxutils import escape

# name -> "module:Class"; modules are imported only when the format is used.
# A new format is one module here and one line in this table.
REGISTERED = {
    "txt": "batchocr.outputs.txt:TextFormat",
    "hocr": "batchocr.outputs.hocr:HocrFormat",
    "alto": "batchocr.outputs.alto:AltoFormat",
    "tsv": "batchocr.outputs.tsv:TsvFormat",
    "pdf": "batchocr.outputs.pdf:PdfFormat",
}


@dataclass(frozen=True)
class FileDocument:
    """One input file and its final page records."""

    path: str  # absolute path of the input file
    rel: str  # relative to the input directory
    page_count: int
    read_pages: Callable[[], Iterator[dict[str, Any]]]  # the records, page 1 first

    def pages(self) -> Iterator[dict[str, Any]]:
        """The page records in page order, read lazily: a 1,000-page file's
        records are never all in memory at once."""
        return self.read_pages()


class OutputFormat(Protocol):
    name: str
    ext: str

    def write(self, doc: FileDocument, dest: BinaryIO) -> None: ...


def format_names() -> tuple[str, ...]:
    return tuple(REGISTERED)


def parse_formats(value: str) -> tuple[str, ...]:
    """``"txt, hocr"`` -> ("txt", "hocr"): names in the order given, once
    each.  Raises ValueError naming an unknown one."""
    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in REGISTERED]
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(unknown)} (known: {', '.join(REGISTERED)})")
    return tuple(dict.fromkeys(names))


def get_format(name: str) -> OutputFormat:
    module_name, _, class_name = REGISTERED[name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls()


def output_path(out_dir: str | os.PathLike[str], fmt: OutputFormat, rel: str) -> str:
    """``OUT/<format>/<rel>.<ext>``: the extension is appended, so
    ``a.png`` and ``a.jpg`` stay apart."""
    return os.path.join(os.fspath(out_dir), fmt.name, f"{rel}.{fmt.ext}")


# --- helpers the formats share ---------------------------------------------------
def page_text(record: dict[str, Any]) -> str:
    """A page's text, "" for a failed page (its text is not kept in outputs,
    even when the record has some: a suspect page is retried)."""
    if record.get("status") != "ok":
        return ""
    return record.get("text") or ""


def page_lines(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A page's lines, each with ``words``; [] for a failed page.  A page
    whose record has text but no lines (a PDF page's own text layer) gets
    one line per text line, without boxes."""
    if record.get("status") != "ok":
        return []
    lines = record.get("lines") or []
    if lines:
        return [{**line, "words": line.get("words") or _words_of(line)} for line in lines]
    return [
        {"text": text, "confidence": None, "bbox": None, "words": _words_of({"text": text})}
        for text in (raw.strip() for raw in (record.get("text") or "").splitlines())
        if text
    ]


def _words_of(line: dict[str, Any]) -> list[dict[str, Any]]:
    """Words of a line recorded without them (records from before words existed)."""
    return [{"text": word, "confidence": None, "bbox": None} for word in (line.get("text") or "").split()]


def union_box(items: list[dict[str, Any]]) -> tuple[int, int, int, int] | None:
    """The box holding the boxes of ``items`` (lines or words), or None."""
    boxes = [item["bbox"] for item in items if item.get("bbox")]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def page_size(record: dict[str, Any]) -> tuple[int, int]:
    """(width, height) in pixels; (0, 0) when unknown (a page that could not be decoded)."""
    return int(record.get("width") or 0), int(record.get("height") or 0)


# XML 1.0 allows no control characters but tab, newline and carriage return;
# lone surrogates (an undecodable file name) cannot be written as UTF-8.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` escaped for XML content, characters XML cannot hold dropped
    (OCR can produce them; one would make the whole file unparseable)."""
    return escape(_NOT_XML.sub("", text))


def xml_attr(text: str) -> str:
    """``text`` escaped for a double-quoted XML attribute."""
    return escape(_NOT_XML.sub("", text), {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def write_parts(dest: BinaryIO, parts: Iterable[str]) -> None:
    """Write text parts as UTF-8 as they are made: a format yields its head,
    one part per page and its tail, so only one page is in memory at a time.
    Characters UTF-8 cannot hold (lone surrogates) become ``?``."""
    for part in parts:
        dest.write(part.encode("utf-8", "replace"))


def software() -> str:
    import batchocr

    return f"batchocr {batchocr.__version__}"
