"""Text accuracy metrics for OCR tests: whitespace normalisation and CER.

``cer(reference, hypothesis)`` is the character error rate: the Levenshtein
edit distance (insertions, deletions and substitutions all cost 1) between the
two texts after whitespace normalisation, divided by the length of the
normalised reference.

Pure Python, no dependencies.  The edit distance uses the bit-parallel
algorithm of Myers (1999) in Hyyro's formulation for global edit distance,
with Python's arbitrary-size integers as the bit vectors, so a pair of pages
of a few thousand characters takes milliseconds rather than the seconds an
O(n*m) table would need in pure Python.
"""

from __future__ import annotations

import re

__all__ = ["normalise_whitespace", "levenshtein", "cer"]

_WS = re.compile(r"\s+")


def normalise_whitespace(s: str) -> str:
    """Collapse every run of whitespace (spaces, tabs, newlines, form feeds,
    ...) to one space and strip both ends."""
    return _WS.sub(" ", s).strip()


def levenshtein(a: str, b: str) -> int:
    """Levenshtein edit distance between ``a`` and ``b`` (unit costs)."""
    if a == b:
        return 0
    # Common prefix and suffix never change the distance; drop them.
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a = a[start:end_a]
    b = b[start:end_b]
    if len(a) < len(b):
        a, b = b, a  # b (the shorter) becomes the bit-vector "pattern"
    m = len(b)
    if m == 0:
        return len(a)

    peq: dict[str, int] = {}
    for i, ch in enumerate(b):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    mask = (1 << m) - 1
    high = 1 << (m - 1)
    pv = mask  # vertical +1 deltas (column 0 of the table is 0..m)
    mv = 0  # vertical -1 deltas
    score = m
    get = peq.get
    for ch in a:
        eq = get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & mask)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & mask  # row 0 grows by 1 per column: shift in +1
        mh = (mh << 1) & mask
        pv = mh | (~(xv | ph) & mask)
        mv = ph & xv
    return score


def cer(reference: str, hypothesis: str, *, normalise: bool = True) -> float:
    """Character error rate of ``hypothesis`` against ``reference``.

    Both texts are whitespace-normalised first (unless ``normalise=False``).
    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise.
    The result can exceed 1.0 when the hypothesis is much longer than the
    reference.
    """
    if normalise:
        reference = normalise_whitespace(reference)
        hypothesis = normalise_whitespace(hypothesis)
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return levenshtein(reference, hypothesis) / len(reference)


# Sample kinds by the group issue 12 measures (tests and benchmarks/accuracy.py).
GROUPS = {
    "clean": "upright",
    "two-column": "upright",
    "turned": "rotated",
    "rotated": "skewed",
    "skewed": "skewed",
    "noisy": "degraded",
    "degraded": "degraded",
}
