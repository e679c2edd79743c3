"""Counting in messages people read: ``1 page``, ``2 pages``.  Anywhere."""

from __future__ import annotations


def count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1 (nouns that add an s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
