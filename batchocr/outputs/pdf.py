"""The ``pdf`` output format: one searchable PDF per input file.  Runs where
the outputs are written (supervisor side).

- image files (PNG, JPEG, TIFF, ...): every page's image, unchanged (a JPEG
  keeps its bytes), at the size its resolution says, under an invisible
  text layer (``pdf_images``, ``pdf_text``);
- PDF files: the original pages, with the text layer added to the pages
  batchocr OCR'd (``pdf_graft``).

A failed page is the bare image (or the original PDF page).
"""

from __future__ import annotations

from typing import Any, BinaryIO

from batchocr.outputs.pdf_graft import graft_text_layers
from batchocr.outputs.pdf_images import write_image_pdf
from batchocr.pdf import is_pdf


def write_pdf(path: str, records: list[dict[str, Any]], dest: BinaryIO) -> None:
    """The searchable PDF of the input file ``path`` from its page records (in page order)."""
    if is_pdf(path):
        graft_text_layers(path, records, dest)
    else:
        write_image_pdf(path, records, dest)
