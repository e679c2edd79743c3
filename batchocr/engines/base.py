"""The engine interface: what every OCR engine provides.

An engine is one module with one ``Engine`` subclass.  Two sides use it:

- the **supervisor** (coordinator) calls only the classmethods ``version``,
  ``inventory`` and ``preflight``.  They must not load the native engine:
  the supervisor never holds OCR state, and some engines (Aspose's .NET
  runtime) break the processes forked after they are loaded.
- a **worker** constructs exactly one instance, calls ``recognize`` per page
  and ``free_resources`` when it recycles; after ``free_resources`` the
  instance is dead and the worker builds a new one.

Instances run single-threaded: N workers use N cores.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from batchocr.config import Settings
    from batchocr.decoding import DecodedPage


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in the stored image's pixels, origin top left


@dataclass(frozen=True)
class TextWord:
    text: str
    confidence: float | None  # 0-100
    bbox: Box | None


@dataclass(frozen=True)
class TextLine:
    text: str
    confidence: float | None  # 0-100
    bbox: Box | None
    # The line's words in reading order; the output formats (hOCR, ALTO,
    # the PDF text layer) place text by them.
    words: tuple[TextWord, ...] = ()

    def as_record(self) -> dict[str, Any]:
        """The line as it goes into a page record's ``lines``."""
        return {
            "text": self.text,
            "confidence": self.confidence,
            "bbox": self.bbox,
            "words": [{"text": w.text, "confidence": w.confidence, "bbox": w.bbox} for w in self.words],
        }


def words_by_characters(text: str, confidence: float | None, bbox: Box | None) -> tuple[TextWord, ...]:
    """Estimated word boxes for an engine that gives only line boxes: the
    line box split across its characters in proportion to their count
    (spaces included), each word taking the span of its own characters and
    the line's height and confidence.  Exact for monospaced text; close
    enough on proportional fonts to place a search hit on the right word."""
    spans = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", text)]
    if bbox is None:
        return tuple(TextWord(word, confidence, None) for _, _, word in spans)
    x0, y0, x1, y1 = bbox
    per_char = (x1 - x0) / max(len(text), 1)
    return tuple(
        TextWord(word, confidence, (x0 + round(start * per_char), y0, x0 + round(end * per_char), y1))
        for start, end, word in spans
    )


@dataclass
class Recognition:
    """What an engine returns for one page."""

    text: str
    confidence: float | None  # mean word confidence 0-100, None when unknown
    lines: list[TextLine] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # engine-specific record fields
    # Set when the page must not count as done although the engine answered
    # (e.g. "no text on an inked page"): the record becomes an error with
    # error_kind "suspect", the text is kept, and the next run retries it.
    suspect: str | None = None


@dataclass(frozen=True)
class ModelFile:
    name: str  # file name as the engine knows it, e.g. "eng.traineddata"
    path: str  # absolute path
    size_bytes: int
    kind: str = "model"  # e.g. "tessdata", "llm", "ocr-resource"


@dataclass(frozen=True)
class ModelInventory:
    """The models an engine has on disk and the ones a run needs."""

    engine: str
    directory: str  # absolute; where required models are looked for
    models: tuple[ModelFile, ...]
    required: tuple[str, ...]  # names of ModelFile the run needs
    extra_directories: tuple[str, ...] = ()  # other scanned roots (absolute)
    # Files on disk the engine itself does not list (e.g. Aspose unlicensed):
    # shown, never counted as present, never pruned; ``note`` says why.
    unlisted: tuple[ModelFile, ...] = ()
    note: str | None = None

    def directories(self) -> tuple[str, ...]:
        """Every directory models go in, the main one first."""
        return (self.directory, *self.extra_directories)

    def missing(self) -> list[str]:
        present = {m.name for m in self.models}
        return [name for name in self.required if name not in present]

    def is_needed(self, model: ModelFile) -> bool:
        return model.name in self.required

    def to_json(self, old_prefix: str | None = None) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "directory": self.directory,
            "extra_directories": list(self.extra_directories),
            "required": list(self.required),
            "missing": self.missing(),
            "models": [
                {
                    **asdict(m),
                    "needed": self.is_needed(m),
                    "status": model_status(m, old_prefix),
                }
                for m in self.models
            ],
            "unlisted": [{**asdict(m), "status": "UNLISTED"} for m in self.unlisted],
            "note": self.note,
        }


def model_status(model: ModelFile, old_prefix: str | None) -> str:
    """``OLD`` models are the prunable ones: named with the configured prefix."""
    if old_prefix and model.name.startswith(old_prefix):
        return "OLD"
    return "CURRENT"


def scan_model_files(directory: str, suffixes: tuple[str, ...], kind: str) -> list[ModelFile]:
    """Regular files directly in ``directory`` whose names end with a suffix.

    A symlink to a file is listed as the link (its path and the link's own
    size): nothing outside the directory is ever named.  A missing directory is an empty inventory, not an error: the model check
    then names what is missing and where it looked.
    """
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    found = []
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(suffixes):
            continue
        if not entry.is_file():  # follows links: skips directories and broken links
            continue
        found.append(
            ModelFile(
                name=entry.name,
                path=os.path.abspath(entry.path),
                size_bytes=entry.stat(follow_symlinks=False).st_size,
                kind=kind,
            )
        )
    return found


def release_heap() -> None:
    """Hand freed heap back to the OS: glibc keeps it mapped otherwise, and
    RSS would not show what ``free_resources`` released."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, or None elsewhere (looked up once: find_library
    runs a subprocess)."""
    libc = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(libc).malloc_trim if libc else None
    except (OSError, AttributeError):
        return None


class Engine(ABC):
    name: ClassVar[str]
    # Memory defaults (``config.resolve_engine_defaults``): the RSS to plan
    # per worker (it also caps the default worker count by available
    # memory), and the ``max_worker_rss`` used when the user sets none.
    typical_worker_rss_mb: ClassVar[int] = 150
    default_max_worker_rss_mb: ClassVar[int] = 2048

    # --- supervisor side: never loads the native engine ---------------------
    @classmethod
    @abstractmethod
    def version(cls) -> str:
        """Engine name and version for run.json and the fingerprint, e.g. 'tesserocr 2.13.0'."""

    @classmethod
    def library_version(cls) -> str | None:
        """The native library's own version for run.json, when the package
        bundles one (e.g. 'tesseract 5.5.4, leptonica-1.87.0'); None if unknown."""
        return None

    @classmethod
    @abstractmethod
    def inventory(cls, settings: Settings) -> ModelInventory:
        """The models on disk and the ones this run needs."""

    @classmethod
    def install_hint(cls, missing: list[str], inventory: ModelInventory) -> str:
        """How to provide missing models (shown by the model check)."""
        return f"put them in {inventory.directory}"

    @classmethod
    def run_warnings(cls, settings: Settings) -> list[str]:
        """Things the user must hear once before the run (e.g. trial mode)."""
        return []

    @classmethod
    def preflight(cls, settings: Settings) -> None:
        """Check the environment before any worker starts; raise ConfigError
        (exit 2) with a message saying what is missing and how to fix it."""

    # --- worker side ---------------------------------------------------------
    @abstractmethod
    def __init__(self, settings: Settings) -> None:
        """Load models, single-threaded.  Runs in a worker."""

    @abstractmethod
    def recognize(self, page: DecodedPage) -> Recognition:
        """Recognise one decoded page.  Raise on failure; the worker records it."""

    @abstractmethod
    def free_resources(self) -> None:
        """Release native memory.  The instance is not used afterwards."""
