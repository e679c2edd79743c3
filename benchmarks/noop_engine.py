"""A no-op OCR engine for measuring the pool itself.  A TEST ENGINE: never a default.

Used by ``benchmarks/pool_overhead.py`` as
``--engine noop_engine:NoopBenchmarkEngine`` with ``PYTHONPATH=benchmarks``.
It needs no models and recognises nothing: every page comes back with empty
text at once, so a run's time is all decoding, hand-over and writing.
"""

from __future__ import annotations

from batchocr.engines.base import Engine, ModelInventory, Recognition


class NoopBenchmarkEngine(Engine):
    name = "noop-benchmark"

    @classmethod
    def version(cls) -> str:
        return "noop 0 (benchmark test engine, recognises nothing)"

    @classmethod
    def inventory(cls, settings) -> ModelInventory:
        return ModelInventory(engine=cls.name, directory="/nonexistent-noop-models", models=(), required=())

    def __init__(self, settings) -> None:
        pass

    def recognize(self, page) -> Recognition:
        return Recognition(text="", confidence=None)

    def free_resources(self) -> None:
        pass


class TextBenchmarkEngine(NoopBenchmarkEngine):
    """Like the no-op engine, but every page comes back with ~5 KB of text:
    the size of a dense scanned page's record (``benchmarks/scale.py``)."""

    name = "text-benchmark"
    TEXT = ("The quick brown fox jumps over the lazy dog 0123456789. " * 90)[:5000]

    def recognize(self, page) -> Recognition:
        return Recognition(text=self.TEXT, confidence=90.0)
