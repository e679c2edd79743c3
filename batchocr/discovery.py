"""Find the pages under the input directory.  Runs in the supervisor.

- Recursive, in a deterministic order (names sorted at every level).
- Images are recognised by content (magic bytes), so a scan saved as
  ``page.dat`` is found.  A file with an image extension whose content is
  not an image (empty, truncated, a renamed text file) is still listed, so it
  gets an ``error`` record instead of vanishing silently.
- Every page of a multi-page TIFF is its own work item, counted frame by
  frame: a damaged page directory is a page too (it gets an ``error``
  record), and the summary says the pages after it could not be read.
- It streams (``walk``): a million files are never listed in memory at once.
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
from typing import Iterator, NamedTuple

from batchocr.records import WorkItem

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".tif", ".tiff", ".bmp", ".gif", ".webp"}

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


@dataclass(frozen=True)
class Problem:
    """Something under the input directory that is not a page (for the summary)."""

    rel: str
    message: str


@dataclass
class Discovery:
    items: list[WorkItem] = field(default_factory=list)
    files: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (relative path, message)


def discover(input_dir: str, exclude: list[str] = ()) -> Discovery:
    """Everything at once (small inputs, tests); runs stream ``walk`` instead."""
    found = Discovery()
    for entry in walk(input_dir, exclude):
        if isinstance(entry, Problem):
            found.problems.append((entry.rel, entry.message))
        else:
            found.files += 1
            found.items.extend(entry.items())
    return found


def walk(input_dir: str, exclude: list[str] = ()) -> Iterator[FoundFile | Problem]:
    """Files with pages and problems, one at a time, in a deterministic order."""
    root = os.path.abspath(input_dir)
    excluded = {_identity(p) for p in exclude if os.path.exists(p)}
    yield from _walk(root, "", excluded, set())


def _walk(directory: str, rel_dir: str, excluded: set, visited: set) -> Iterator[FoundFile | Problem]:
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
        yield Problem(rel_dir.rstrip(os.sep) or ".", f"cannot list directory: {exc.strerror or exc}")
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
                yield from _walk(entry.path, rel_dir + entry.name + os.sep, excluded, visited)
            continue
        found = _file(rel_dir + entry.name, entry)
        if found is not None:
            yield found
        if found is not None and found.damaged:
            yield Problem(found.rel, f"page {found.pages}: damaged page directory; the pages after it cannot be read")


def _file(rel: str, entry: os.DirEntry) -> FoundFile | None:
    by_extension = os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS
    try:
        info = entry.stat()  # follows symlinks; fails for a broken one
    except OSError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        return None  # fifos, sockets, devices: never open them
    kind = sniff(entry.path) if info is not None else None
    if kind is None and not by_extension:
        return None
    pages, damaged = count_tiff_pages(entry.path) if kind == "tiff" else (1, False)
    return FoundFile(
        path=entry.path, rel=rel, size=info.st_size if info else -1,
        mtime_ns=info.st_mtime_ns if info else -1, pages=pages, damaged=damaged,
    )  # fmt: skip


def sniff(path: str) -> str | None:
    """The image format by magic bytes, or None (also when unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # unbuffered: this runs per file
    except OSError:
        return None
    try:
        head = os.read(fd, 16)
    except OSError:
        return None
    finally:
        os.close(fd)
    for offset, magic, kind in MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def count_tiff_pages(path: str) -> tuple[int, bool]:
    """Pages of a TIFF, frame by frame, reading only its directory chain.

    Returns (pages, damaged).  A page directory that cannot be read ends the
    count there: that page is still listed, so its worker records why it
    cannot be decoded, and ``damaged`` says the pages after it are lost.  A
    TIFF that cannot be opened at all is one page (the worker says why)."""
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
