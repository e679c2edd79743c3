"""When a page's first reading looks incomplete, and which reading to keep.

Runs in a **worker**, engine-independent: an engine hands in what a pass
read (``Reading``) and the page's ``InkMask``; this module says whether a
second pass is worth its cost, which of two readings to keep, and whether
the page must be retried (ink but no text).

The signals, each cheap next to a pass:

- ``no text on an inked page``: the page has ink but the pass read (almost)
  nothing (a memory-starved engine, a turned or very dark page);
- ``low confidence``: mean word confidence under ``SECOND_LOOK_BELOW``
  (a page turned 90/180 degrees reads as confident-looking garbage at ~35-40,
  clean pages read at 90+);
- ``ink without text``: more than ``MAX_UNCOVERED_INK`` of the ink lies
  outside every text line read (layout analysis dropped a block).

Keep-the-better rule: a reading's score is its characters weighted by their
line confidence (sum of ``len(line) * confidence / 100``).  The second
reading replaces the first only when its score is more than
``SECOND_WINS_BY`` higher: a turned page read upright or a recovered block
wins by far; on a tie the first (layout-aware) reading stays, so a
multi-column page keeps its reading order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from batchocr.engines.base import TextLine
from batchocr.preprocess import InkMask, Straighten, uncovered_ink

SECOND_LOOK_BELOW = 70.0  # mean word confidence that asks for a second look
MAX_UNCOVERED_INK = 0.25  # share of ink outside every line read
MIN_INK = 0.001  # share of the page (at ~50 dpi) that is ink: below it, a blank page
MIN_CHARS = 5  # fewer non-space characters than this may be "no text" ...
INK_PER_CHARACTER = 10  # ... when they explain under a fifth of the ink: a
# character of body text inks ~10 pixels of the ~50 dpi mask, so "odd" alone
# on a page is a short page, and "a" on a page of ink is no reading at all.
SECOND_WINS_BY = 1.05  # the second reading must score this many times the first

NO_TEXT = "no text on an inked page"


@dataclass
class Reading:
    """One pass over the page.  ``lines`` are in the stored image's pixels."""

    text: str
    confidence: float | None  # mean word confidence 0-100
    lines: list[TextLine] = field(default_factory=list)
    straighten: Straighten = field(default_factory=lambda: Straighten((0, 0)))  # none: as stored
    psm: int | None = None  # the page segmentation mode the pass used

    def characters(self) -> int:
        return sum(1 for ch in self.text if not ch.isspace())

    def score(self) -> float:
        return sum(
            sum(1 for ch in line.text if not ch.isspace()) * (line.confidence or 0.0) / 100 for line in self.lines
        )


def has_ink(ink: InkMask) -> bool:
    return ink.ink_share() >= MIN_INK


def second_look_reason(first: Reading, ink: InkMask) -> str | None:
    """Why the first reading looks incomplete, or None when it looks whole."""
    if not has_ink(ink):
        return None  # a blank page: nothing to find
    if _no_text(first, ink):
        return NO_TEXT
    if first.confidence is not None and first.confidence < SECOND_LOOK_BELOW:
        return "low confidence"
    boxes = [line.bbox for line in first.lines if line.bbox]
    if uncovered_ink(ink, boxes) > MAX_UNCOVERED_INK:
        return "ink without text"
    return None


def better(first: Reading, second: Reading) -> Reading:
    """The keep-the-better rule (module docstring)."""
    return second if second.score() > first.score() * SECOND_WINS_BY else first


def suspect(reading: Reading, ink: InkMask) -> str | None:
    """Why the page must not count as done: ink, yet no text after every pass."""
    if has_ink(ink) and _no_text(reading, ink):
        return NO_TEXT
    return None


def _no_text(reading: Reading, ink: InkMask) -> bool:
    characters = reading.characters()
    return characters < MIN_CHARS and characters * INK_PER_CHARACTER < 0.2 * ink.ink_pixels()
