"""Time series for the charts of ``batchocr report --plot/--html`` (supervisor side, after or during a run).

Per run: RSS lines per worker process, recycle marks, unplanned exits, and
pages per second over a rolling window, laid one run after another on one
time axis.  Drawn by ``plotting`` (PNG) and ``html_page`` (HTML).
Keeps one number per page (its completion time) while it builds the
throughput: the only per-page state of the report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from batchocr.records import FINISHED
from batchocr.report.reading import Outputs
from batchocr.report.runs import (
    RecordTally,
    run_history,
    split_memory_by_run,
    tally_results_by_run,
)
from batchocr.report.summary import run_seconds
from batchocr.report.workers import events_by_process, exit_kind

# The throughput's rolling window holds at least this many pages of one worker.
PAGES_PER_WINDOW = 3


@dataclass
class RunSeries:
    """One run's time series, on a shared time axis (``offset`` added)."""

    run: str
    offset: float  # seconds on the shared axis where this run starts
    rss: dict[
        int | None, dict[int | None, list[tuple[float, float, int | None]]]
    ]  # worker -> pid -> [(t, rss_mb, images)]
    recycles: list[dict[str, Any]]  # t, worker, pid, images, rss_before_mb, rss_after_mb, mode, reason
    exits: list[dict[str, Any]]  # unplanned: t, worker, pid, rss_mb (last known), cause, kind (see exit_kind)
    throughput: list[tuple[float, float]]  # (t, pages/s), all workers
    worker_throughput: dict[int, list[tuple[float, float]]]
    rss_limit_mb: float | None = None
    window: float = 0.0  # the throughput's rolling window, seconds


def completion_times(tally: RecordTally, events: list[dict]) -> dict[int, list[float]]:
    """When each page finished, per worker.

    From the records' ``t`` when they all have it; otherwise spread over the
    memory events: a worker whose ``images`` went from 10 at t=4 to 13 at
    t=7 finished 3 pages in (4, 7], placed evenly."""
    if tally.pages and not tally.untimed and tally.times is not None:
        return {w: sorted(ts) for w, ts in tally.times.items()}
    return _completion_times_from_memory(events)


def _completion_times_from_memory(events: list[dict]) -> dict[int, list[float]]:
    times: dict[int, list[float]] = defaultdict(list)
    for process in events_by_process(events).values():
        last_t, last_images = None, 0
        for e in process:
            if e.get("images") is None or e.get("t") is None:
                continue
            done = e["images"] - last_images
            if done > 0 and last_t is not None:
                step = (e["t"] - last_t) / done
                times[e["worker"]].extend(last_t + step * (i + 1) for i in range(done))
            last_t, last_images = e["t"], e["images"]
    return {w: sorted(ts) for w, ts in times.items()}


def rolling_rate(times: list[float], end: float, window: float, points: int = 200) -> list[tuple[float, float]]:
    """Pages per second over the trailing ``window`` seconds, at ``points`` instants up to ``end``."""
    if end <= 0 or window <= 0:
        return []
    ordered = sorted(times)
    series, low, high = [], 0, 0
    for i in range(points + 1):
        t = end * i / points
        while high < len(ordered) and ordered[high] <= t:
            high += 1
        while low < high and ordered[low] <= t - window:
            low += 1
        span = min(window, t) or window  # at the start, average over the time elapsed
        series.append((t, (high - low) / span if t > 0 else 0.0))
    return series


def throughput_window(seconds: float, pages: int = 0, workers: int = 1) -> float:
    """Rolling window: a 30th of the run, within 5 s and 120 s (short enough
    to show a dip, long enough to smooth single pages), but at least
    PAGES_PER_WINDOW pages of one worker (a window shorter than a page drops
    to 0 while every worker is busy on it), and at most the run."""
    window = min(120.0, max(5.0, seconds / 30))
    if pages:
        window = max(window, PAGES_PER_WINDOW * seconds * max(1, workers) / pages)
    return min(window, seconds) if seconds > 0 else window


def _rss_by_process(
    events: list[dict], offset: float
) -> dict[int | None, dict[int | None, list[tuple[float, float, int | None]]]]:
    rss: dict[int | None, dict[int | None, list[tuple[float, float, int | None]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for e in events:
        if e.get("t") is None:
            continue
        line = rss[e.get("worker")][e.get("pid")]
        if e.get("rss_before_mb") is not None:  # a recycle: the drop is vertical
            line.append((e["t"] + offset, e["rss_before_mb"], e.get("images")))
        if e.get("rss_mb") is not None:
            line.append((e["t"] + offset, e["rss_mb"], e.get("images")))
    return {w: dict(p) for w, p in rss.items()}


def _exit_marks(events: list[dict], offset: float) -> list[dict[str, Any]]:
    """Every process that did not finish as planned, with its last known RSS."""
    last_rss: dict[Any, float] = {}
    marks = []
    for e in events:
        if e.get("rss_mb") is not None:
            last_rss[e.get("pid")] = e["rss_mb"]
        if e.get("event") == "exit" and exit_kind(e) != FINISHED and e.get("t") is not None:
            marks.append(
                {
                    "t": e["t"] + offset,
                    "worker": e.get("worker"),
                    "pid": e.get("pid"),
                    "images": e.get("images"),
                    "rss_mb": last_rss.get(e.get("pid")),
                    "cause": e.get("cause"),
                    "kind": exit_kind(e),
                }
            )
    return marks


def _shifted(series: list[tuple[float, float]], offset: float) -> list[tuple[float, float]]:
    return [(t + offset, value) for t, value in series]


def chart_data(outputs: Outputs) -> list[RunSeries]:
    """Per run: RSS lines per worker process, recycle and crash marks, and
    rolling throughput, laid one run after another on one time axis."""
    memory_runs = split_memory_by_run(outputs.memory)
    tallies = tally_results_by_run(outputs.results, memory_runs, with_times=True)
    history = run_history(outputs.run_info, list(memory_runs))
    series, offset = [], 0.0
    for run_id, events in memory_runs.items():
        tally = tallies.get(run_id, RecordTally(times={}))
        seconds = run_seconds(run_id, events, tally, history) or 0.0
        per_worker = completion_times(tally, events)
        pages = sum(len(ts) for ts in per_worker.values())
        workers = history.get(run_id, {}).get("workers") or len(per_worker)
        window = throughput_window(seconds, pages, workers)
        limit = history.get(run_id, {}).get("settings", {}).get("max_worker_rss")
        series.append(
            RunSeries(
                run=run_id,
                offset=offset,
                rss=_rss_by_process(events, offset),
                recycles=[{**e, "t": e["t"] + offset} for e in events if e.get("event") == "recycle"],
                exits=_exit_marks(events, offset),
                throughput=_shifted(
                    rolling_rate([t for ts in per_worker.values() for t in ts], seconds, window), offset
                ),
                worker_throughput={
                    w: _shifted(rolling_rate(ts, seconds, window), offset) for w, ts in per_worker.items()
                },
                rss_limit_mb=limit or None,
                window=window,
            )
        )
        offset += seconds
    return series
