"""Plain text: every page's text, pages separated by a form feed (as the
tesseract CLI separates them).  Supervisor side (the assembly thread).

``content.split("\\f")`` gives back the pages' texts exactly as their records
hold them; a failed page is an empty string between two form feeds.
"""

from __future__ import annotations

from typing import BinaryIO

from batchocr.outputs import FileDocument, page_text

FORM_FEED = "\f"


class TextFormat:
    name = "txt"
    ext = "txt"

    def write(self, doc: FileDocument, dest: BinaryIO) -> None:
        for index, record in enumerate(doc.pages()):
            if index:
                dest.write(FORM_FEED.encode())
            dest.write(page_text(record).encode("utf-8", "replace"))
