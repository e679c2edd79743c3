"""The ``pdf`` output format: one searchable PDF per input file.  Supervisor
side (the assembly thread).

- image files (PNG, JPEG, TIFF, ...): every page's image, unchanged (a JPEG
  keeps its bytes), at the size its resolution says, under an invisible
  text layer (``pdf_images``, ``pdf_text``);
- PDF files: the original pages, with the text layer added to the pages
  batchocr OCR'd (``pdf_graft``).

A failed page is the bare image (or the original PDF page, untouched).
Unlike the text formats, this one reads the input file again; a file that
changed since its pages were read is refused (its boxes would no longer fit
its pixels): the next run reads it anew.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from batchocr.outputs import FileDocument
from batchocr.outputs.pdf_graft import graft_text_layers
from batchocr.outputs.pdf_images import write_image_pdf
from batchocr.pdf import is_pdf


class InputChanged(Exception):
    """The input file is not the one the records were made from."""


class PdfFormat:
    name = "pdf"
    ext = "pdf"

    def write(self, doc: FileDocument, dest: BinaryIO) -> None:
        write_pdf(doc.path, doc.pages(), dest)


def write_pdf(path: str, records: Iterable[dict[str, Any]], dest: BinaryIO) -> None:
    """The searchable PDF of the input file ``path`` from its page records (in page order)."""
    records = _unchanged(path, records)
    if is_pdf(path):
        graft_text_layers(path, records, dest)
    else:
        write_image_pdf(path, records, dest)


def _unchanged(path: str, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The records, checked against the file as it is now (size and mtime, as discovery saw them)."""
    info = os.stat(path)
    for record in records:
        size, mtime_ns = record.get("size"), record.get("mtime_ns")
        if (size is not None and size != info.st_size) or (mtime_ns is not None and mtime_ns != info.st_mtime_ns):
            raise InputChanged(f"{path} changed since page {record.get('page')} was read; the next run reads it anew")
        yield record
