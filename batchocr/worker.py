"""What a worker does with pages: decode, recognise, measure, recycle.

``PageWorker`` runs inside a worker process (local pool) or a Ray actor; it
knows nothing about how it is started or fed.  It owns exactly one engine
instance and rebuilds it:

- every ``recycle_every`` images (jittered per worker, so workers do not all
  pause at once, as gunicorn does with ``max_requests``);
- after any image that leaves the process above ``max_worker_rss`` MB;
- after the engine raised (its native state is suspect).

Recycling calls ``free_resources()``, drops the engine and builds a new one.
When freeing in-process does not bring RSS back under the restart threshold,
the worker asks its executor to replace the whole process: in-process freeing
does not always give memory back, process replacement always does.
"""

from __future__ import annotations

import gc
import os
import random
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import psutil

from batchocr.config import Settings
from batchocr.decoding import DecodeError, decode_page
from batchocr.engines import engine_class
from batchocr.engines.base import release_heap
from batchocr.records import ERROR, OK, WorkItem, memory_event, page_record

MB = 1024 * 1024

# After an in-process recycle RSS must fall below this share of max_worker_rss,
# otherwise the process is replaced (hysteresis: no recycle on every page).
RESTART_BELOW_SHARE = 0.75


@dataclass
class PageOutcome:
    record: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)  # memory.jsonl lines
    restart: bool = False  # the executor must replace this worker process


class PageWorker:
    """One engine, its recycling and its memory measurements.  Worker side."""

    def __init__(self, settings: Settings, worker_id: int, run_started: float) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.run_started = run_started
        self.pid = os.getpid()
        self.images = 0  # pages this process has handled
        self.since_recycle = 0
        self._engine_cls = engine_class(settings.engine)
        self._engine = None
        self._process = psutil.Process()
        self._random = random.Random(f"{worker_id}-{self.pid}")
        self._recycle_at = self._next_recycle_threshold()
        self._last_sample = 0.0

    # --- lifecycle -----------------------------------------------------------
    def start(self) -> list[dict[str, Any]]:
        """Load the engine; returns the ``start`` memory event."""
        self._engine = self._engine_cls(self.settings)
        self._last_sample = time.monotonic()
        return [self._event("start", self._rss_mb())]

    def close(self) -> list[dict[str, Any]]:
        """Free the engine; returns the ``exit`` memory event."""
        rss = self._rss_mb()
        self._free_engine()
        return [self._event("exit", rss, cause="finished")]

    # --- one page ------------------------------------------------------------
    def process(self, item: WorkItem, attempt: int = 1) -> PageOutcome:
        record = self._recognise(item, attempt)
        self.images += 1
        self.since_recycle += 1
        outcome = PageOutcome(record)
        rss = self._rss_mb()
        now = time.monotonic()
        if now - self._last_sample >= self.settings.memory_sample_seconds:
            outcome.events.append(self._event("sample", rss))
            self._last_sample = now
        reason = self._recycle_reason(rss, engine_failed=record.get("error_kind") == "engine")
        if reason:
            event, restart = self._recycle(reason, rss)
            outcome.events.append(event)
            outcome.restart = restart
        return outcome

    def _recognise(self, item: WorkItem, attempt: int) -> dict[str, Any]:
        common = dict(engine=self._engine_cls.name, worker=self.worker_id, pid=self.pid, attempt=attempt)
        started = time.perf_counter()
        try:
            page = decode_page(item.path, item.page, self.settings.max_image_pixels)
        except DecodeError as exc:
            return page_record(item, status=ERROR, error=str(exc), error_kind="decode", **common)
        decode_ms = round((time.perf_counter() - started) * 1000, 1)
        try:
            if self._engine is None:  # a recycle whose rebuild failed
                self._engine = self._engine_cls(self.settings)
            engine_started = time.perf_counter()
            result = self._engine.recognize(page)
            ms = round((time.perf_counter() - engine_started) * 1000, 1)
        except Exception as exc:  # the engine's own errors: record and go on
            message = f"{type(exc).__name__}: {exc}".strip()
            return page_record(
                item, status=ERROR, error=f"engine error: {message}", error_kind="engine",
                traceback=traceback.format_exc(limit=5), decode_ms=decode_ms, **common,
            )  # fmt: skip
        finally:
            width, height = page.image.size
            page.close()
        # An inked page read as (almost) nothing is an error the next run retries.
        suspect = dict(error=result.suspect, error_kind="suspect", suspect=result.suspect) if result.suspect else {}
        return page_record(
            item,
            status=ERROR if result.suspect else OK,
            text=result.text,
            confidence=result.confidence,
            ms=ms,
            decode_ms=decode_ms,
            width=width,
            height=height,
            lines=[{"text": ln.text, "confidence": ln.confidence, "bbox": ln.bbox} for ln in result.lines],
            **result.extra,
            **suspect,
            **common,
        )

    # --- recycling -----------------------------------------------------------
    def _recycle_reason(self, rss_mb: float, engine_failed: bool) -> str | None:
        limit = self.settings.max_worker_rss
        if limit and rss_mb > limit:
            return "rss"
        if self.settings.recycle_every and self.since_recycle >= self._recycle_at:
            return "count"
        if engine_failed:
            return "error"
        return None

    def _recycle(self, reason: str, rss_before: float) -> tuple[dict[str, Any], bool]:
        started = time.perf_counter()
        self._free_engine()
        rss_after = self._rss_mb()
        limit = self.settings.max_worker_rss
        restart = bool(limit) and rss_after > limit * RESTART_BELOW_SHARE
        if not restart:
            self._engine = self._engine_cls(self.settings)
            rss_after = self._rss_mb()
        self.since_recycle = 0
        self._recycle_at = self._next_recycle_threshold()
        event = self._event(
            "recycle",
            rss_after,
            rss_before_mb=round(rss_before, 1),
            rss_after_mb=round(rss_after, 1),
            reason=reason,
            mode="restart" if restart else "in-process",
            recycle_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return event, restart

    def _free_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.free_resources()
        del engine
        gc.collect()
        release_heap()

    def _next_recycle_threshold(self) -> int:
        every = self.settings.recycle_every
        jitter = self.settings.recycle_jitter
        return max(1, round(every * (1 + self._random.uniform(-jitter, jitter))))

    # --- measurements --------------------------------------------------------
    def _rss_mb(self) -> float:
        return self._process.memory_info().rss / MB

    def _event(self, event: str, rss_mb: float, **fields: Any) -> dict[str, Any]:
        return memory_event(
            event, worker=self.worker_id, pid=self.pid, images=self.images,
            rss_mb=rss_mb, run_started=self.run_started, **fields,
        )  # fmt: skip

