"""Plain text: every page's text, pages separated by a form feed (as the
tesseract CLI separates them).  Supervisor side (the assembly thread).

``content.split("\\f")`` gives back the pages' texts exactly as their records
hold them; a failed page is an empty string between two form feeds.
"""

from __future__ import annotations

from typing import BinaryIO

from batchocr.outputs import FileDocument, page_text, write_parts

FORM_FEED = "\f"


class TextFormat:
    name = "txt"
    ext = "txt"

    def write(self, doc: FileDocument, dest: BinaryIO) -> None:
        write_parts(
            dest, ((FORM_FEED if index else "") + page_text(record) for index, record in enumerate(doc.pages()))
        )
