"""Find the pages under the input directory.  Runs in the supervisor.

- Recursive, in a deterministic order (names sorted at every level).
- Images are recognised by content (magic bytes), so a scan saved as
  ``page.dat`` is found.  A file with an image extension whose content is
  not an image (empty, truncated, a renamed text file) is still listed, so it
  gets an ``error`` record instead of vanishing silently.
- Every page of a multi-page TIFF is its own work item.
- Hidden files and directories, and the output directory, are skipped.
- Symlinked directories are followed once: a symlink loop cannot hang it.
- Problems that are not pages (an unreadable directory, a loop) are
  returned as ``problems`` for the summary.
"""

from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass, field

from batchocr.page_counter import PdfPageCounter
from batchocr.pdf import is_pdf
from batchocr.records import WorkItem

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".pdf"}

# (offset, magic bytes, format); WebP is RIFF....WEBP.
MAGIC = [
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"II+\x00", "tiff"),  # BigTIFF
    (0, b"MM\x00+", "tiff"),
    (0, b"BM", "bmp"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (8, b"WEBP", "webp"),
]

# A TIFF claiming more pages than this is read as this many (IFD chains can loop).
MAX_TIFF_PAGES = 100_000


@dataclass
class Discovery:
    items: list[WorkItem] = field(default_factory=list)
    files: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (relative path, message)
    pdf_pages: PdfPageCounter = field(default_factory=PdfPageCounter)  # counts in a subprocess


def discover(input_dir: str, exclude: list[str] = ()) -> Discovery:
    root = os.path.abspath(input_dir)
    excluded = {_identity(p) for p in exclude if os.path.exists(p)}
    found = Discovery()
    try:
        _walk(root, root, excluded, set(), found)
    finally:
        found.pdf_pages.close()
    return found


def _walk(root: str, directory: str, excluded: set, visited: set, found: Discovery) -> None:
    identity = _identity(directory)
    if identity in visited:
        found.problems.append((_rel(root, directory), "directory visited before (symlink loop); skipped"))
        return
    visited.add(identity)
    try:
        entries = sorted(os.scandir(directory), key=lambda e: os.fsencode(e.name))
    except OSError as exc:
        found.problems.append((_rel(root, directory), f"cannot list directory: {exc.strerror or exc}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()  # follows symlinks
        except OSError:
            is_dir = False
        if is_dir:
            if _identity(entry.path) not in excluded:
                _walk(root, entry.path, excluded, visited, found)
            continue
        _add_file(root, entry, found)


def _add_file(root: str, entry: os.DirEntry, found: Discovery) -> None:
    by_extension = os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS
    try:
        info = entry.stat()  # follows symlinks; fails for a broken one
    except OSError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        return  # fifos, sockets, devices: never open them
    kind = sniff(entry.path) if info is not None else None
    if kind is None and not by_extension:
        return
    pages = count_tiff_pages(entry.path) if kind == "tiff" else 1
    if kind == "pdf":  # a PDF that cannot be counted is one page: its worker says why
        pages = found.pdf_pages.count(entry.path)[0] or 1
    found.files += 1
    rel = _rel(root, entry.path)
    for page in range(1, pages + 1):
        found.items.append(
            WorkItem(
                path=entry.path,
                rel=rel,
                page=page,
                pages=pages,
                size=info.st_size if info else -1,
                mtime_ns=info.st_mtime_ns if info else -1,
            )
        )


def sniff(path: str) -> str | None:
    """The image format by magic bytes, or None (also when unreadable)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    for offset, magic, kind in MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if is_pdf(path):
        return "pdf"
    return None


def count_tiff_pages(path: str) -> int:
    """Pages of a TIFF, reading only its directory chain (no pixel data).

    A TIFF too broken to count is one page: the worker then reports why it
    cannot be decoded."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                return max(1, min(getattr(img, "n_frames", 1), MAX_TIFF_PAGES))
    except Exception:  # any parse error: let the worker report it per page
        return 1


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _rel(root: str, path: str) -> str:
    return os.path.relpath(path, root)
