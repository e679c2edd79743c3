"""Page geometry before and after recognition: ink, skew, turning, box mapping.

Runs in a **worker**, engine-independent, Pillow only.  Everything here
works on a small "ink mask" of the page (about 50 dpi, ink white on black),
so it costs a few tens of milliseconds next to a second of recognition:

- ``InkMask.of(image, dpi)``: the page shrunk and thresholded against its own
  background, so a blank scan with sensor noise has (almost) no ink.
- ``estimate_skew(mask)``: the projection-profile angle.  Text lines make the
  row sums of the mask spiky when they run level; the angle whose rotation
  makes the profile spikiest is the skew.  (Measured against tesseract's own
  textline angle in benchmarks/RESULTS.md: as accurate, 5-10x cheaper, and
  it still answers when tesseract's layout analysis finds no lines at all.)
- ``Straighten``: one rotation (a quarter-turn count plus the skew) applied to
  the page, and the inverse that maps boxes back into the stored image's
  pixels, so records describe the file the user has.
- ``uncovered_ink(mask, boxes)``: the share of ink no recognised word
  explains, the signal that layout analysis dropped a block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw

MASK_DPI = 50  # resolution of the ink mask: text lines stay a few pixels tall
ASSUMED_DPI = 300  # when a scan does not say (typical archive scans)
MAX_SKEW = 8.0  # degrees searched either way; beyond it a page is not "skewed"
MIN_SKEW = 0.3  # below this a rotation costs more (resampling blur) than it helps
# Search: half degrees (a line ~8 px tall across a ~400 px mask blurs a
# quarter of a degree off level, so a half-degree grid always has a point
# near the peak), then tenths around the best.
COARSE_STEP = 0.5


@dataclass(frozen=True)
class InkMask:
    """The page at ~50 dpi, ink 255 and paper 0, plus what it took to get there."""

    mask: Image.Image  # mode "L", values 0 or 255
    scale: float  # mask pixels per page pixel
    background: int  # grey level of the paper (0-255)

    @classmethod
    def of(cls, image: Image.Image, dpi: int | None) -> InkMask:
        factor = max(1, round((dpi or ASSUMED_DPI) / MASK_DPI))
        # reduce() averages factor x factor blocks (a fast box filter): speckle
        # noise melts into the paper, strokes stay dark.
        small = image.convert("L").reduce(factor)
        scale = small.width / image.width
        background, darkest = _levels(small)
        # Ink must be clearly darker than the paper: a share of the page's own
        # contrast, and never less than 40 levels (a blank grey scan has no
        # contrast, and its noise must not count as ink).
        threshold = background - max(40, 0.4 * (background - darkest))
        mask = small.point(lambda v: 255 if v < threshold else 0)
        return cls(mask=mask, scale=scale, background=background)

    def ink_pixels(self) -> int:
        return self.mask.histogram()[255]

    def ink_share(self) -> float:
        """Share of the mask's pixels that are ink (0-1)."""
        return self.ink_pixels() / max(1, self.mask.width * self.mask.height)


def _levels(image: Image.Image) -> tuple[int, int]:
    """(paper, darkest ink): the 75th and the 0.5th percentile grey levels.
    Text covers well under a quarter of a page, so the 75th is paper."""
    histogram = image.histogram()
    total = sum(histogram)
    return _percentile(histogram, total, 0.75), _percentile(histogram, total, 0.005)


def _percentile(histogram: list[int], total: int, share: float) -> int:
    seen = 0
    for level, count in enumerate(histogram):
        seen += count
        if seen >= share * total:
            return level
    return 255


def estimate_skew(ink: InkMask) -> float:
    """Degrees to rotate the page counter-clockwise (Pillow's sense) to level
    its text lines; 0.0 when the page has too little ink or no clear lines.

    Coarse search over +-MAX_SKEW in COARSE_STEP steps, then finer steps
    around the best.  Ties go to the angle nearest zero, so an upright page stays put.
    """
    if ink.ink_share() < 0.001:
        return 0.0
    score = _ProfileScore(ink.mask)
    steps = round(MAX_SKEW / COARSE_STEP)
    best = _best_angle(score, [i * COARSE_STEP for i in range(-steps, steps + 1)])
    best = _best_angle(score, [round(best + i / 10, 1) for i in range(-4, 5)])
    # A level page scores best at 0; anything tiny is left alone.
    return best if abs(best) >= MIN_SKEW else 0.0


def _best_angle(score: _ProfileScore, angles: list[float]) -> float:
    return max(angles, key=lambda a: (score(a), -abs(a)))


class _ProfileScore:
    """Spikiness of the row profile of the mask turned by an angle: the sum of
    squared differences between neighbouring row sums (sharp rises and falls
    at every line edge when the lines are level, smeared when not).

    A vertical shear stands in for the rotation: it levels lines of that
    slope just the same for the row profile, and costs a third less."""

    def __init__(self, mask: Image.Image) -> None:
        self._mask = mask
        self._cache: dict[float, float] = {}

    def __call__(self, angle: float) -> float:
        if angle not in self._cache:
            # Output (x, y) samples the mask at y + (x - centre) * tan(angle):
            # the right half goes up for a positive (counter-clockwise) angle,
            # as Image.rotate(angle) would move it.
            slope = math.tan(math.radians(angle))
            centre = self._mask.width / 2
            turned = self._mask.transform(
                self._mask.size,
                Image.Transform.AFFINE,
                (1, 0, 0, slope, 1, -centre * slope),
                resample=Image.Resampling.NEAREST,
            )
            # Squeezing to one column with BOX averages each row: the profile.
            rows = turned.resize((1, turned.height), Image.Resampling.BOX).tobytes()
            self._cache[angle] = float(sum((b - a) ** 2 for a, b in zip(rows, rows[1:])))
        return self._cache[angle]


@dataclass(frozen=True)
class Straighten:
    """One rotation of the page: ``turn`` (0/90/180/270, from orientation
    detection) plus ``skew`` degrees, counter-clockwise in Pillow's sense,
    about the page centre, the canvas grown to hold the whole page."""

    size: tuple[int, int]  # the stored image's width and height
    turn: int = 0
    skew: float = 0.0

    @property
    def angle(self) -> float:
        return (self.turn + self.skew) % 360

    def is_identity(self) -> bool:
        return self.angle == 0

    def apply(self, image: Image.Image, fill: int = 255) -> Image.Image:
        if self.is_identity():
            return image
        # Quarter turns are exact (Pillow transposes); a skew resamples once,
        # bilinear: in half bicubic's time (113 vs 243 ms a 300-dpi page), and
        # it read no worse (benchmarks/RESULTS.md, accuracy.py).
        return image.rotate(self.angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=fill)

    def turned_size(self) -> tuple[int, int]:
        width, height = self.size
        radians = math.radians(self.angle)
        cos, sin = abs(math.cos(radians)), abs(math.sin(radians))
        # Pillow's expand rounds the rotated corners' extent the same way.
        return (math.ceil(round(width * cos + height * sin, 6)), math.ceil(round(width * sin + height * cos, 6)))

    def box_to_stored(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A box (x0, y0, x1, y1) in the straightened image -> the smallest
        box holding it in the stored image, clipped to the image."""
        if self.is_identity():
            return box
        x0, y0, x1, y1 = box
        corners = [self._point_to_stored(x, y) for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))]
        width, height = self.size
        xs = [x for x, _ in corners]
        ys = [y for _, y in corners]
        return (
            max(0, math.floor(min(xs))),
            max(0, math.floor(min(ys))),
            min(width, math.ceil(max(xs))),
            min(height, math.ceil(max(ys))),
        )

    def _point_to_stored(self, x: float, y: float) -> tuple[float, float]:
        # The forward map (y down, counter-clockwise by a) about the centres is
        # x' = x cos a + y sin a, y' = -x sin a + y cos a; this is its inverse.
        turned_w, turned_h = self.turned_size()
        width, height = self.size
        radians = math.radians(self.angle)
        cos, sin = math.cos(radians), math.sin(radians)
        dx, dy = x - turned_w / 2, y - turned_h / 2
        return dx * cos - dy * sin + width / 2, dx * sin + dy * cos + height / 2


def uncovered_ink(ink: InkMask, boxes: list[tuple[int, int, int, int]], margin: int = 2) -> float:
    """Share of the ink (0-1) outside every box; boxes in page pixels.  Each
    box grows by ``margin`` mask pixels so stroke edges at its border count as
    covered.  1.0 for a page with ink and no boxes, 0.0 without ink."""
    total = ink.ink_pixels()
    if not total:
        return 0.0
    cover = Image.new("L", ink.mask.size, 255)
    draw = ImageDraw.Draw(cover)
    for x0, y0, x1, y1 in boxes:
        s = ink.scale
        draw.rectangle((x0 * s - margin, y0 * s - margin, x1 * s + margin, y1 * s + margin), fill=0)
    # Ink (255) survives only where the cover is still 255 (no box).
    left = ImageChops.multiply(ink.mask, cover)
    return left.histogram()[255] / total
