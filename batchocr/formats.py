"""What a file is: pages batchocr reads, or a reason to skip it.  Supervisor side.

Formats are recognised by content, with Pillow's own format checks (the
same prefix tests ``Image.open`` runs first, pure Python, no decoding), plus
the PDF signature; so every format the installed Pillow decodes is read
(JPEG 2000, PNM, TGA, ...), and a scan saved as ``page.dat`` is found.  A
file whose name says it is an image but whose content does not is still
read, so that it gets an ``error`` record instead of vanishing.  Anything
else is skipped, with a reason that says what it looks like.
"""

from __future__ import annotations

import os

from PIL import Image

from batchocr.pdf import HEADER_BYTES, PDF_SIGNATURE

PREFIX_BYTES = 16  # what Pillow's own format checks look at
# Formats Pillow identifies but cannot decode here (stubs, or an external program).
UNDECODABLE = {
    "BUFR": "a BUFR weather file",
    "GRIB": "a GRIB weather file",
    "HDF5": "an HDF5 data file",
    "MPEG": "an MPEG video",
    "WMF": "a Windows metafile",
    "EPS": "PostScript (needs Ghostscript)",
}
# Formats whose frames are pages (others' frames are layers, views or sizes).
PAGED = {"TIFF", "GIF", "WEBP", "DCX", "FLI"}
# Signatures of common things that are not pages, to say what was skipped.
NOT_PAGES = [
    (b"PK\x03\x04", "a zip archive (.docx, .xlsx, .odt and .zip are zips)"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document"),
    (b"{\\rtf", "an RTF document"),
    (b"%!PS", "PostScript"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program"),
]


def identify(path: str) -> str | None:
    """The file's format as batchocr reads it (``PDF`` or a Pillow format
    name), or None when it is not one."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER_BYTES)
    except OSError:
        return None
    if PDF_SIGNATURE in head:
        return "PDF"
    Image.init()
    for name in Image.ID:
        if name not in UNDECODABLE and _accepts(name, head):
            return name
    return None


def _accepts(name: str, head: bytes) -> bool:
    """Pillow's own check for format ``name`` (some raise on a short file)."""
    accept = Image.OPEN.get(name, (None, None))[1]
    try:
        return bool(accept is not None and accept(head[:PREFIX_BYTES]))
    except Exception:
        return False


def named_like_a_page(name: str) -> bool:
    """An extension Pillow reads (or .pdf): such a file is listed even when its
    content is not readable, so it gets an error record."""
    extension = os.path.splitext(name)[1].lower()
    readable = {ext for ext, fmt in Image.registered_extensions().items() if fmt not in UNDECODABLE}
    return extension == ".pdf" or extension in readable


def why_not_pages(path: str) -> str:
    """What a skipped file looks like, for the skip list."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER_BYTES)
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if not head:
        return "an empty file"
    Image.init()
    for name, what in UNDECODABLE.items():
        if _accepts(name, head):
            return f"unsupported format ({what})"
    for signature, what in NOT_PAGES:
        if head.startswith(signature):
            return f"unsupported format ({what})"
    if _looks_like_text(head):
        return "unsupported format (text)"
    return "unsupported format (not an image or PDF)"


def _looks_like_text(head: bytes) -> bool:
    text = head.decode("utf-8", "replace")
    plain = sum(c.isprintable() or c.isspace() for c in text)
    return b"\x00" not in head and plain >= 0.95 * len(text)
