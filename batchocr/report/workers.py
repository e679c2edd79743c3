"""What each worker slot did in a run: its memory (growth within and across
recycle segments), how its processes ended, what restarts cost.  Report
side (``batchocr report``); pure functions over memory events.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from batchocr.records import CRASH, FINISHED, INTERRUPT_KILL, INTERRUPTED, PAGE_TIMEOUT, PAGE_TIMEOUT_KILL
from batchocr.report.growth import Growth, pooled_slope
from batchocr.report.runs import RecordTally

# Leak fitting: points within the first WARMUP_IMAGES pages after an engine
# (re)load are skipped (allocator arenas and engine caches are still
# growing; that is warm-up, not a leak), and a segment must then span at
# least MIN_SEGMENT_IMAGES pages to be used (a short stretch cannot tell
# growth from page-to-page noise).
WARMUP_IMAGES = 3
MIN_SEGMENT_IMAGES = 10


# --- memory: growth ------------------------------------------------------------


def recycle_segments(process_events: list[dict[str, Any]]) -> list[list[tuple[int, float]]]:
    """(images, rss_mb) points of one worker process, cut at each recycle.

    A segment runs from an engine (re)load to the next recycle or the exit.
    Its points: ``sample`` events, the recycle's ``rss_before_mb`` and a
    measured ``exit``.  The fresh-engine points (``start``, ``rss_after_mb``)
    are no part of a segment: before any page they sit far below the
    working level and would read as growth.  Points within WARMUP_IMAGES
    pages of the (re)load are dropped too.  One point per ``images`` value
    (the last): a sample and a recycle after the same page are one reading.
    """
    segments: list[dict[int, float]] = [{}]
    starts = [0]  # images at each segment's engine load
    for event in process_events:
        kind = event.get("event")
        if kind == "sample" or (kind == "exit" and event.get("rss_mb") is not None):
            if event.get("images") is not None:
                segments[-1][event["images"]] = event["rss_mb"]
        elif kind == "recycle":
            segments[-1][event["images"]] = event.get("rss_before_mb", event["rss_mb"])
            segments.append({})
            starts.append(event["images"])
    return [
        [(images, rss) for images, rss in sorted(points.items()) if images - start > WARMUP_IMAGES]
        for points, start in zip(segments, starts, strict=True)
    ]


def within_segment_growth(events: list[dict[str, Any]]) -> Growth:
    """RSS growth during one engine's life (between recycles), all segments sharing one slope.

    A recycle resets RSS, so segments are fitted with their own level (a fit
    across recycles would average the saw-tooth away).  Segments spanning
    fewer than MIN_SEGMENT_IMAGES pages are left out."""
    return pooled_slope(run_segments(events), min_span=MIN_SEGMENT_IMAGES)


def across_run_growth(events: list[dict[str, Any]]) -> Growth:
    """The trend of every RSS reading against the pages its worker slot has
    done, recycles and restarts included: the envelope of the saw-tooth.
    Each worker slot (in each run) has its own level."""
    return pooled_slope(worker_pages_points(events).values(), min_span=MIN_SEGMENT_IMAGES)


def worker_pages_points(events: list[dict[str, Any]]) -> dict[Any, list[tuple[int, float]]]:
    """Per worker slot: (pages done by the slot, rss_mb), warm-ups dropped;
    a restarted process continues its slot's page count."""
    points: dict[Any, list[tuple[int, float]]] = defaultdict(list)
    done: Counter = Counter()  # pages by the slot's earlier processes
    for process in events_by_process(events).values():
        worker = process[0].get("worker")
        for segment in recycle_segments(process):
            points[worker] += [(done[worker] + images, rss) for images, rss in segment]
        done[worker] += max((e.get("images") or 0 for e in process), default=0)
    return dict(points)


def growth_json(growth: Growth) -> dict[str, Any]:
    return {**asdict(growth), "measurable": growth.measurable}


def events_by_process(events: Iterable[dict[str, Any]]) -> dict[int | None, list[dict[str, Any]]]:
    """Memory events grouped by pid (None: lines without one), in file order (one worker's pipe is FIFO)."""
    processes: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        processes[event.get("pid")].append(event)
    return dict(processes)


def run_segments(events: list[dict[str, Any]]) -> list[list[tuple[int, float]]]:
    return [seg for process in events_by_process(events).values() for seg in recycle_segments(process)]


# --- how workers ended, and what restarts cost ------------------------------


def exit_kind(event: dict[str, Any]) -> str:
    """An exit event's ``kind`` (see ``batchocr.records``): ``finished``,
    ``interrupted``, ``timeout`` or ``crash``.  Events written before the
    field (schema 1) are told by their cause's words."""
    if event.get("kind"):
        return event["kind"]
    cause = event.get("cause") or ""
    if cause == "finished":
        return FINISHED
    if cause.startswith(INTERRUPT_KILL):
        return INTERRUPTED
    if cause.startswith(PAGE_TIMEOUT_KILL):
        return PAGE_TIMEOUT
    return CRASH


@dataclass
class RestartCost:
    """Worker time lost to new processes (restart recycles and crashes), in worker-seconds."""

    restarts: int = 0  # processes started to replace one (not the run's first per slot)
    respawn_seconds: float = 0.0  # from the old process's end to the new one's engine being ready
    first_page_seconds: float = 0.0  # the new processes' first pages, beyond an average page

    @property
    def seconds(self) -> float:
        return self.respawn_seconds + self.first_page_seconds


def restart_cost(events: list[dict[str, Any]], tally: RecordTally) -> RestartCost:
    """Respawn gaps (an old process's restart recycle or unplanned exit, then
    its slot's next ``start``) and the first-page penalty of each replacement
    process (its first page's engine time minus the run's mean)."""
    cost, replacements = RestartCost(), []
    gone_at: dict[Any, float] = {}  # worker -> when its last process ended
    started: set[Any] = set()
    for e in sorted((e for e in events if e.get("t") is not None), key=lambda e: e["t"]):
        worker, kind = e.get("worker"), e.get("event")
        if kind == "start":
            if worker in started:
                cost.restarts += 1
                replacements.append(e.get("pid"))
                if worker in gone_at:
                    cost.respawn_seconds += e["t"] - gone_at.pop(worker)
            started.add(worker)
        elif (kind == "recycle" and e.get("mode") == "restart") or (kind == "exit" and exit_kind(e) == CRASH):
            gone_at.setdefault(worker, e["t"])
    mean = tally.engine_seconds / tally.pages if tally.pages else 0.0
    penalty = sum(tally.first_page[pid][1] - mean for pid in replacements if pid in tally.first_page)
    cost.first_page_seconds = max(0.0, penalty)
    return cost


# --- per worker ------------------------------------------------------------


@dataclass
class WorkerStats:
    worker: int
    pages: int
    pages_per_second: float | None
    processes: int  # pids this worker slot had (1 + restarts + crashes)
    recycles_in_process: int
    recycles_restart: int
    recycle_reasons: dict[str, int]
    crashes: int  # unplanned exits: signals, failed rebuilds (not interrupts, not page timeouts)
    timeouts: int  # processes killed over a page that took too long
    interrupted: int  # processes killed when an interrupt's grace period ran out
    rss_start_mb: float | None
    rss_median_mb: float | None
    rss_max_mb: float | None
    growth_within: dict[str, Any]
    growth_across: dict[str, Any]


def rss_readings(events: Iterable[dict[str, Any]]) -> list[float]:
    """Every RSS measurement in these events (a recycle holds two)."""
    values = []
    for event in events:
        for key in ("rss_before_mb", "rss_mb"):
            if event.get(key) is not None:
                values.append(event[key])
    return values


def worker_stats(worker: int, events: list[dict[str, Any]], pages: int, seconds: float | None) -> WorkerStats:
    """One worker slot in one run: its events and the number of records it produced."""
    recycles = [e for e in events if e.get("event") == "recycle"]
    starts = [e for e in events if e.get("event") == "start"]
    exits = Counter(exit_kind(e) for e in events if e.get("event") == "exit")
    readings = rss_readings(events)
    return WorkerStats(
        worker=worker,
        pages=pages,
        pages_per_second=rate_per_second(pages, seconds),
        processes=len({e.get("pid") for e in events}),
        recycles_in_process=sum(e.get("mode") == "in-process" for e in recycles),
        recycles_restart=sum(e.get("mode") == "restart" for e in recycles),
        recycle_reasons=dict(Counter(e.get("reason") or "unknown" for e in recycles)),
        crashes=exits[CRASH],
        timeouts=exits[PAGE_TIMEOUT],
        interrupted=exits[INTERRUPTED],
        rss_start_mb=starts[0]["rss_mb"] if starts else None,
        rss_median_mb=round(statistics.median(readings), 1) if readings else None,
        rss_max_mb=max(readings) if readings else None,
        growth_within=growth_json(within_segment_growth(events)),
        growth_across=growth_json(across_run_growth(events)),
    )


def rate_per_second(count: int | None, seconds: float | None) -> float | None:
    return round(count / seconds, 3) if seconds and count is not None else None
