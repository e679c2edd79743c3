"""Worker memory growth with its uncertainty: pure statistics for ``batchocr report`` (supervisor side, after a run).

Two figures answer two questions, and the report always says which is which:

- **within segments**: how fast RSS grows during one engine's life (from an
  engine (re)load to the next recycle or exit).  A leak that recycling
  contains shows here as a saw-tooth's slope.
- **across the run**: the trend of every RSS reading against the pages the
  worker slot has done, recycles included.  Flat when recycling contains a
  leak; a staircase (a leak recycling does not fix) shows here.

Both are one least-squares slope shared by several groups of points, each
group with its own level (segments for the first, worker slots for the
second): ``sum(Sxy) / sum(Sxx)``.  Its 95% interval comes from the
regression's standard error, widened for the residuals' lag-1
autocorrelation (RSS readings next to each other are not independent: the
effective sample size is ``n (1 - r) / (1 + r)``, as for trends in climate
series, Santer et al. 2000).  When the interval includes 0 the noise
exceeds the growth and the report says "no measurable growth".  An engine
whose RSS swings by hundreds of MB with the page (Aspose) gets a wide
interval instead of a confident wrong number.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Points = Sequence[tuple[float, float]]  # (pages done, RSS MB)

CONFIDENCE = 0.95
# Per 1,000 pages: the unit of every growth figure.
PER = 1000
# Fewer readings than parameters + this: no interval (the figure is then no finding); the
# effective degrees of freedom of an interval never go below it.
MIN_FREEDOM = 3


@dataclass
class Growth:
    """RSS growth in MB per 1,000 pages with its 95% interval (``low``..``high``).

    ``mb_per_1000_pages`` None: no usable points; ``low``/``high`` None: too
    few independent readings for an interval (then the figure is no finding).
    """

    mb_per_1000_pages: float | None
    low: float | None = None
    high: float | None = None
    groups_used: int = 0
    groups_too_short: int = 0
    pages_covered: float = 0  # pages spanned by the groups used
    readings: int = 0

    @property
    def measurable(self) -> bool:
        """True when the 95% interval excludes 0: growth (or shrinkage) the noise cannot explain."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def pooled_slope(groups: Iterable[Points], min_span: float = 0) -> Growth:
    """One slope shared by every group (each with its own intercept), with its 95% interval.

    Groups spanning fewer than ``min_span`` pages (on x) are left out and
    counted in ``groups_too_short``."""
    fitted, short = [], 0
    for points in groups:
        span = (points[-1][0] - points[0][0]) if points else 0
        if len(points) < 2 or span < max(min_span, 1e-9):
            short += bool(points)
            continue
        fitted.append(_centred(points))
    sxx = sum(g.sxx for g in fitted)
    if not sxx:
        return Growth(None, groups_too_short=short)
    slope = sum(g.sxy for g in fitted) / sxx
    residuals = [[dy - slope * dx for dx, dy in g.deltas] for g in fitted]
    low, high = _interval(slope, residuals, sxx, parameters=len(fitted) + 1)
    return Growth(
        mb_per_1000_pages=round(slope * PER, 1),
        low=None if low is None else round(low * PER, 1),
        high=None if high is None else round(high * PER, 1),
        groups_used=len(fitted),
        groups_too_short=short,
        pages_covered=round(sum(g.span for g in fitted), 1),
        readings=sum(len(r) for r in residuals),
    )


@dataclass
class _Centred:
    deltas: list[tuple[float, float]]  # (x - mean x, y - mean y), in order
    sxx: float
    sxy: float
    span: float


def _centred(points: Points) -> _Centred:
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    deltas = [(x - mean_x, y - mean_y) for x, y in points]
    return _Centred(
        deltas,
        sxx=sum(dx * dx for dx, _ in deltas),
        sxy=sum(dx * dy for dx, dy in deltas),
        span=points[-1][0] - points[0][0],
    )


def _interval(slope: float, residuals: list[list[float]], sxx: float, parameters: int):
    """(low, high) of the slope's 95% interval, widened for autocorrelated residuals; (None, None) when
    fewer than MIN_FREEDOM readings are left over the parameters."""
    ssr = sum(e * e for group in residuals for e in group)
    n = sum(len(group) for group in residuals)
    if ssr == 0:  # a perfect line (a synthetic test, or a single reading per group)
        return (slope, slope) if n > parameters else (None, None)
    lag1 = sum(a * b for group in residuals for a, b in zip(group, group[1:], strict=False)) / ssr
    r = min(max(lag1, 0.0), 0.99)  # negative correlation would narrow the interval: not trusted
    if n - parameters < MIN_FREEDOM:
        return None, None
    # Strongly correlated residuals can leave fewer effective readings than
    # parameters; the interval is then as wide as MIN_FREEDOM independent
    # readings would make it (tiny residuals around a steep leak still give
    # a tight interval: a reading off by 0.1 MB must not hide 40 MB a page).
    freedom = max(n * (1 - r) / (1 + r) - parameters, MIN_FREEDOM)
    half = t_quantile(freedom) * math.sqrt(ssr / freedom / sxx)
    return slope - half, slope + half


def t_quantile(freedom: float, confidence: float = CONFIDENCE) -> float:
    """Two-sided Student-t quantile (the standard library has none): a Cornish-Fisher expansion around the
    normal, within 1% of the exact value from 3 degrees of freedom up."""
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    v = freedom
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )
