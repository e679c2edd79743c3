"""What a worker does with pages: decode, recognise, measure, recycle.

Worker side: ``PageWorker`` runs inside a worker process (local pool) or a
Ray actor, and ``WorkerSession`` answers the supervisor's commands with it
(``protocol``); neither knows how it is started or fed.  A worker owns
exactly one engine instance and rebuilds it when the supervisor says
``Recycle``, which it asks for with a page's result:

- every ``recycle_every`` images (jittered per worker, so workers do not all
  pause at once, as gunicorn does with ``max_requests``); by default
  ("auto") only once the engine has worked ``AUTO_RECYCLE_COST_FACTOR``
  times as long as its last rebuild took, so recycling never costs more than
  a few percent however small the pages;
- after any image that leaves the process above ``max_worker_rss`` MB;
- after the engine raised (its native state is suspect).

The page's record is sent before recycling starts, so a recycle that fails
or hangs costs the worker, never a page.  Recycling calls
``free_resources()``, drops the engine and builds a new one.  When freeing
in-process does not bring RSS back under the restart threshold, or the new
engine cannot be built, the worker says so and exits, and the supervisor
starts a fresh process: in-process freeing does not always give memory
back, process replacement always does.
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

from batchocr import protocol
from batchocr.config import Settings
from batchocr.decoding import DecodeError, decode_page
from batchocr.engines import engine_class
from batchocr.engines.base import Engine, Recognition, release_heap
from batchocr.records import CRASH, ERROR, FINISHED, OK, WorkItem, memory_event, page_record

MB = 1024 * 1024

# After an in-process recycle RSS must fall below this share of max_worker_rss,
# otherwise the process is replaced (hysteresis: no recycle on every page).
RESTART_BELOW_SHARE = 0.75
# Default ("auto") recycling waits until the engine has worked this many
# times as long as a rebuild takes: then rebuilds cost at most ~1/50 = 2%.
AUTO_RECYCLE_COST_FACTOR = 50
# The page count "auto" starts from (then waits for the cost rule above).
AUTO_RECYCLE_EVERY = 200


@dataclass
class PageOutcome:
    record: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)  # memory.jsonl lines
    recycle: str | None = None  # the reason a recycle is due now


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
        self._engine: Engine | None = None
        self._process = psutil.Process()
        self._random = random.Random(f"{worker_id}-{self.pid}")
        self._recycle_at = self._next_recycle_threshold()
        self._last_sample = 0.0
        self._engine_seconds = 0.0  # time in the engine since the last (re)build
        self._build_seconds = 0.0  # what the last (re)build cost

    # --- lifecycle -----------------------------------------------------------
    def start(self) -> list[dict[str, Any]]:
        """Load the engine; returns the ``start`` memory event."""
        started = time.perf_counter()
        self._engine = self._engine_cls(self.settings)
        self._build_seconds = time.perf_counter() - started
        self._last_sample = time.monotonic()
        return [self._event("start", self._rss_mb())]

    def close(self) -> list[dict[str, Any]]:
        """Free the engine; returns the ``exit`` memory event."""
        rss = self._rss_mb()
        self._free_engine()
        return [self._event("exit", rss, cause="finished", kind=FINISHED)]

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
        outcome.recycle = self._recycle_reason(rss, engine_failed=record.get("error_kind") == "engine")
        return outcome

    def _recognise(self, item: WorkItem, attempt: int) -> dict[str, Any]:
        common: dict[str, Any] = dict(
            engine=self._engine_cls.name, worker=self.worker_id, pid=self.pid, attempt=attempt
        )
        started = time.perf_counter()
        try:
            page = decode_page(
                item.path,
                item.page,
                self.settings.max_image_pixels,
                pdf_dpi=self.settings.pdf_dpi,
                pdf_text=not self.settings.force_ocr,
            )
        except DecodeError as exc:
            return page_record(item, status=ERROR, error=str(exc), error_kind="decode", **common)
        decode_ms = round((time.perf_counter() - started) * 1000, 1)
        width, height = page.image.size
        if page.text_layer is not None:  # exact, and no engine needed
            page.close()
            return page_record(
                item,
                status=OK,
                text=page.text_layer,
                source="pdf-text",
                ms=0.0,
                decode_ms=decode_ms,
                width=width,
                height=height,
                lines=[line.as_record() for line in page.text_lines],
                **common,
            )
        engine_started = time.perf_counter()
        try:
            assert self._engine is not None, "recognise called before start"
            result = self._engine.recognize(page)
            fields = _recognition_fields(result)
        except Exception as exc:  # the engine's own errors: record and go on
            message = f"{type(exc).__name__}: {exc}".strip()
            return page_record(
                item,
                status=ERROR,
                error=f"engine error: {message}",
                error_kind="engine",
                traceback=traceback.format_exc(limit=5),
                decode_ms=decode_ms,
                **common,
            )
        finally:
            self._engine_seconds += time.perf_counter() - engine_started
            page.close()
        ms = round((time.perf_counter() - engine_started) * 1000, 1)
        # An inked page read as (almost) nothing is an error the next run retries.
        if result.suspect:
            fields.update(error=result.suspect, error_kind="suspect", suspect=result.suspect)
        return page_record(
            item,
            status=ERROR if result.suspect else OK,
            source="ocr",
            ms=ms,
            decode_ms=decode_ms,
            width=width,
            height=height,
            **fields,
            **common,
        )

    # --- recycling -----------------------------------------------------------
    def _recycle_reason(self, rss_mb: float, engine_failed: bool) -> str | None:
        limit = self.settings.max_worker_rss
        if limit and rss_mb > limit:
            return "rss"
        if self._count_due():
            return "count"
        if engine_failed:
            return "error"
        return None

    def _count_due(self) -> bool:
        every = self.settings.recycle_every
        if every == 0 or self.since_recycle < self._recycle_at:
            return False
        if every is None:  # auto: only once the engine has earned its rebuild
            return self._engine_seconds >= AUTO_RECYCLE_COST_FACTOR * self._build_seconds
        return True

    def recycle(self, reason: str) -> tuple[list[dict[str, Any]], bool]:
        """Free the engine and build a new one: (memory events, restart).

        ``restart`` means this process must be replaced: freeing did not give
        memory back, or the new engine cannot be built here."""
        started = time.perf_counter()
        rss_before = self._rss_mb()
        failure = self._try(self._free_engine)
        rss_after = self._rss_mb()
        limit = self.settings.max_worker_rss or 0  # 0: off
        restart = failure is not None or (limit > 0 and rss_after > limit * RESTART_BELOW_SHARE)
        if not restart:
            failure = self._try(self._build_engine)
            restart = failure is not None
            rss_after = self._rss_mb()
        self.since_recycle = 0
        self._engine_seconds = 0.0
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
        events = [event]
        if failure is not None:  # this process ends: say why in its exit event
            events.append(self._event("exit", rss_after, cause=f"recycle failed: {failure}", kind=CRASH))
        return events, restart

    def _build_engine(self) -> None:
        started = time.perf_counter()
        self._engine = self._engine_cls(self.settings)
        self._build_seconds = time.perf_counter() - started

    def _free_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.free_resources()
        del engine
        gc.collect()
        release_heap()

    @staticmethod
    def _try(step) -> str | None:
        """Run one recycling step; its failure as one line, or None."""
        try:
            step()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}".strip()
        return None

    def _next_recycle_threshold(self) -> int:
        every = self.settings.recycle_every
        every = AUTO_RECYCLE_EVERY if every is None else every
        jitter = self.settings.recycle_jitter
        return max(1, round(every * (1 + self._random.uniform(-jitter, jitter))))

    # --- measurements --------------------------------------------------------
    def _rss_mb(self) -> float:
        return self._process.memory_info().rss / MB

    def _event(self, event: str, rss_mb: float, **fields: Any) -> dict[str, Any]:
        return memory_event(
            event,
            worker=self.worker_id,
            pid=self.pid,
            images=self.images,
            rss_mb=rss_mb,
            run_started=self.run_started,
            **fields,
        )


def _recognition_fields(result: Recognition) -> dict[str, Any]:
    """The record fields an engine's result fills.  Its ``extra`` fields may
    add to a record, never replace one batchocr sets (page, status, ...)."""
    fields = {
        "text": result.text,
        "confidence": result.confidence,
        "lines": [line.as_record() for line in result.lines],
    }
    clash = sorted(set(result.extra) & RESERVED_FIELDS)
    if clash:
        raise ValueError(f"engine returned fields that batchocr sets itself: {', '.join(clash)}")
    return {**fields, **result.extra}


# Fields of a page record that batchocr owns (page_record's, the worker's and the sink's).
RESERVED_FIELDS = frozenset(
    {"path", "page", "pages", "status", "text", "confidence", "engine", "worker", "pid", "ms", "error"}
    | {"error_kind", "attempt", "size", "mtime_ns", "decode_ms", "width", "height", "lines", "traceback"}
    | {"t", "run", "source", "suspect"}
)


class WorkerSession:
    """Answers the supervisor's commands (``protocol``) with one ``PageWorker``.

    Worker side, shared by every transport: the local pool calls ``handle``
    for each command read from its pipe, a Ray actor for each actor call."""

    def __init__(self, settings: Settings, worker_id: int, run_started: float) -> None:
        self._args = (settings, worker_id, run_started)
        self._worker: PageWorker | None = None

    def handle(self, command: protocol.Command) -> protocol.Reply:
        if isinstance(command, protocol.Start):
            return self._start()
        worker = self._worker
        assert worker is not None, f"{type(command).__name__} before Start"
        if isinstance(command, protocol.Page):
            outcome = worker.process(command.item, command.attempt)
            return protocol.PageDone(outcome.record, outcome.events, outcome.recycle)
        if isinstance(command, protocol.Recycle):
            events, restart = worker.recycle(command.reason)
            return protocol.Recycled(events, restart)
        return protocol.Stopped(worker.close())

    def _start(self) -> protocol.Reply:
        try:
            self._worker = PageWorker(*self._args)
            return protocol.Ready(os.getpid(), self._worker.start())
        except Exception as exc:  # the engine cannot load: tell the supervisor why
            return protocol.StartFailed(os.getpid(), f"{type(exc).__name__}: {exc}")
