"""Find the pages under the input directory.  Runs in the supervisor.

- Recursive, in a deterministic order (names sorted at every level).
- Pages are recognised by content (``formats``: every format Pillow
  decodes, and PDF).  A file with such an extension whose content is not
  one (empty, truncated, a renamed text file) is still listed, so it gets an
  ``error`` record instead of vanishing silently.
- Every page of a multi-page TIFF, GIF, WebP or PDF is its own work item;
  a PDF's pages are counted in a subprocess (``page_counter``).
- Every other file is skipped with a reason (``skipped``), never in silence:
  hidden files and directories, other formats, FIFOs and devices (never
  opened).  The output directory is left out.
- Symlinked directories are followed once: a symlink loop cannot hang it.
- Problems that are not pages (an unreadable directory, a loop) are
  returned as ``problems`` for the summary.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections import Counter
from dataclasses import dataclass, field

from batchocr.formats import PAGED, identify, named_like_a_page, why_not_pages
from batchocr.page_counter import PdfPageCounter
from batchocr.records import WorkItem

# A TIFF claiming more pages than this is read as this many (IFD chains can loop).
MAX_TIFF_PAGES = 100_000


# Skipped files listed one by one in run.json; beyond this, only counted.
MAX_SKIPPED_LISTED = 1000


@dataclass
class Discovery:
    items: list[WorkItem] = field(default_factory=list)
    files: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (relative path, message)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason), the first ones
    skipped_by_kind: Counter[str] = field(default_factory=Counter)  # every skipped file, by extension
    pdf_pages: PdfPageCounter = field(default_factory=PdfPageCounter)  # counts in a subprocess

    def skip(self, rel: str, reason: str) -> None:
        """Nothing under the input is skipped in silence."""
        self.skipped_by_kind[os.path.splitext(rel)[1].lower() or "(no extension)"] += 1
        if len(self.skipped) < MAX_SKIPPED_LISTED:
            self.skipped.append((rel, reason))


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
            found.skip(_rel(root, entry.path), "hidden")
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
    rel = _rel(root, entry.path)
    try:
        info = entry.stat()  # follows symlinks; fails for a broken one
    except OSError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        found.skip(rel, f"not a regular file ({_special_kind(info.st_mode)})")  # never opened: a FIFO would block
        return
    kind = identify(entry.path) if info is not None else None
    if kind is None and not named_like_a_page(entry.name):
        found.skip(rel, why_not_pages(entry.path))
        return
    pages = _count_pages(entry.path, kind, found)
    found.files += 1
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


def _count_pages(path: str, kind: str | None, found: Discovery) -> int:
    """Pages in the file; one when they cannot be counted (its worker then says why)."""
    if kind == "PDF":
        return found.pdf_pages.count(path)[0] or 1
    if kind in PAGED:
        return count_frames(path)
    return 1


def _special_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device")):
        if test(mode):
            return name
    return "a device" if stat.S_ISBLK(mode) else "special"


def count_frames(path: str) -> int:
    """Pages of a multi-page image, reading only its frame headers (no pixel data).

    A file too broken to count is one page: the worker then reports why it
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
