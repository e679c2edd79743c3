"""Find the pages under the input directory.  Runs in the supervisor.

- Recursive, in a deterministic order (names sorted at every level).
- Pages are recognised by content (``formats``: every format Pillow
  decodes, and PDF).  A file with such an extension whose content is not
  one (empty, truncated, a renamed text file) is still listed, so it gets an
  ``error`` record instead of vanishing silently.
- Every page of a multi-page TIFF, GIF, WebP or PDF is its own work item;
  a PDF's pages are counted in a subprocess (``page_counter``).  Frames are
  counted one by one: a damaged frame directory is a page too (it gets an
  ``error`` record), and a problem says the pages after it cannot be read.
- It streams (``walk``): a million files are never listed in memory at once.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from batchocr.formats import PAGED, identify, named_like_a_page, why_not_pages
from batchocr.page_counter import PdfPageCounter
from batchocr.records import WorkItem

# A TIFF claiming more pages than this is read as this many (IFD chains can loop).
MAX_TIFF_PAGES = 100_000


# Skipped files listed one by one in run.json; beyond this, only counted.
MAX_SKIPPED_LISTED = 1000


class FoundFile(NamedTuple):  # a tuple: cheap to make a million of
    """One file with pages, as discovery found it."""

    path: str  # absolute
    rel: str  # relative to the input directory
    size: int  # -1 when it cannot be stat'ed
    mtime_ns: int
    pages: int
    damaged: bool = False  # its last page's directory is damaged: pages after it cannot be read

    def items(self) -> list[WorkItem]:
        return [
            WorkItem(path=self.path, rel=self.rel, page=page, pages=self.pages, size=self.size, mtime_ns=self.mtime_ns)
            for page in range(1, self.pages + 1)
        ]


class Problem(NamedTuple):
    """Something under the input directory that is not a page (for the summary)."""

    rel: str
    message: str
    unseen: bool = False  # files may be there that discovery could not see (a folder it could not list)


class Skipped(NamedTuple):
    """A file that is not pages, and why (nothing is skipped in silence)."""

    rel: str
    reason: str


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


def discover(input_dir: str, exclude: Sequence[str] = ()) -> Discovery:
    """Everything at once (small inputs, tests); runs stream ``walk`` instead."""
    found = Discovery()
    for entry in walk(input_dir, exclude):
        if isinstance(entry, FoundFile):
            found.files += 1
            found.items.extend(entry.items())
        elif isinstance(entry, Skipped):
            found.skip(entry.rel, entry.reason)
        else:
            found.problems.append((entry.rel, entry.message))
    return found


# known(rel) -> (size, mtime_ns, pages) of a file as last recorded, or None.
Known = Callable[[str], "tuple[int, int, int] | None"]


def walk(
    input_dir: str, exclude: Sequence[str] = (), known: Known | None = None
) -> Iterator[FoundFile | Problem | Skipped]:
    """Files with pages, problems and skipped files, one at a time, in a deterministic order.

    ``known``: a file whose size and mtime are as recorded keeps its recorded
    page count without being opened (a resume over a million unchanged files
    reads no file, and counts no PDF again)."""
    root = os.path.abspath(input_dir)
    excluded = {_identity(p) for p in exclude if os.path.exists(p)}
    pdf_pages = PdfPageCounter()
    try:
        yield from _walk(root, "", excluded, set(), (pdf_pages, known))
    finally:
        pdf_pages.close()


def _walk(
    directory: str, rel_dir: str, excluded: set, visited: set, counting: tuple[PdfPageCounter, Known | None]
) -> Iterator[FoundFile | Problem | Skipped]:
    """``rel_dir``: ``directory`` relative to the root, "" or ending in a separator
    (built as we go: os.path.relpath per file costs more than the stat)."""
    identity = _identity(directory)
    if identity in visited:
        yield Problem(rel_dir.rstrip(os.sep) or ".", "directory visited before (symlink loop); skipped")
        return
    visited.add(identity)
    try:
        entries = sorted(os.scandir(directory), key=lambda e: os.fsencode(e.name))
    except OSError as exc:
        yield Problem(rel_dir.rstrip(os.sep) or ".", f"cannot list directory: {exc.strerror or exc}", unseen=True)
        return
    for entry in entries:
        if entry.name.startswith("."):
            yield Skipped(rel_dir + entry.name, "hidden")
            continue
        try:
            is_dir = entry.is_dir()  # follows symlinks
        except OSError:
            is_dir = False
        if is_dir:
            if _identity(entry.path) not in excluded:
                yield from _walk(entry.path, rel_dir + entry.name + os.sep, excluded, visited, counting)
            continue
        found = _file(rel_dir + entry.name, entry, counting)
        yield found
        if isinstance(found, FoundFile) and found.damaged:
            yield Problem(found.rel, f"page {found.pages}: damaged page directory; the pages after it cannot be read")


def _file(rel: str, entry: os.DirEntry, counting: tuple[PdfPageCounter, Known | None]) -> FoundFile | Skipped:
    pdf_pages, known = counting
    try:
        info = entry.stat()  # follows symlinks; fails for a broken one
    except OSError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        return Skipped(rel, f"not a regular file ({_special_kind(info.st_mode)})")  # never opened: a FIFO would block
    recorded = known(rel) if known is not None and info is not None else None
    if recorded is not None and info is not None and recorded[:2] == (info.st_size, info.st_mtime_ns):
        return FoundFile(path=entry.path, rel=rel, size=info.st_size, mtime_ns=info.st_mtime_ns, pages=recorded[2])
    kind = identify(entry.path) if info is not None else None
    if kind is None and not named_like_a_page(entry.name):
        return Skipped(rel, why_not_pages(entry.path))
    pages, damaged = _count_pages(entry.path, kind, pdf_pages)
    return FoundFile(
        path=entry.path,
        rel=rel,
        size=info.st_size if info else -1,
        mtime_ns=info.st_mtime_ns if info else -1,
        pages=pages,
        damaged=damaged,
    )


def _count_pages(path: str, kind: str | None, pdf_pages: PdfPageCounter) -> tuple[int, bool]:
    """(pages in the file, whether a damaged page directory ended the count);
    one page when they cannot be counted (its worker then says why)."""
    if kind == "PDF":
        return pdf_pages.count(path)[0] or 1, False
    if kind in PAGED:
        return count_frames(path)
    return 1, False


def _special_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device")):
        if test(mode):
            return name
    return "a device" if stat.S_ISBLK(mode) else "special"


def count_frames(path: str) -> tuple[int, bool]:
    """Pages of a multi-page image, frame by frame, reading only its frame
    headers (no pixel data).

    Returns (pages, damaged).  A frame directory that cannot be read ends the
    count there: that page is still listed, so its worker records why it
    cannot be decoded, and ``damaged`` says the pages after it are lost.  A
    file that cannot be opened at all is one page (the worker says why)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = Image.open(path)
        except Exception:
            return 1, False
        with img:
            for index in range(1, MAX_TIFF_PAGES):
                try:
                    img.seek(index)
                except EOFError:  # the chain's normal end
                    return index, False
                except Exception:  # damaged directory: Pillow raises TypeError, struct.error, ...
                    return index + 1, True
    return MAX_TIFF_PAGES, False


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)
