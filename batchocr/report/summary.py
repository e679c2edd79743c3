"""Everything ``batchocr report`` shows, as one JSON-ready dict: per run
(pages, rate, where the workers' time went, restarts, memory growth, per
worker), per page (final statuses, failures, low confidence) and the
directory's state (live, died, finished).  Report side.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from batchocr.output import OutputLock
from batchocr.records import ERROR, OK, TIMEOUT
from batchocr.report.growth import pooled_slope
from batchocr.report.pages import final_pages, low_confidence_pages
from batchocr.report.reading import Outputs
from batchocr.report.runs import RecordTally, run_history, split_memory_by_run, tally_results_by_run
from batchocr.report.workers import (
    MIN_SEGMENT_IMAGES,
    RestartCost,
    WorkerStats,
    across_run_growth,
    growth_json,
    rate_per_second,
    restart_cost,
    run_segments,
    within_segment_growth,
    worker_pages_points,
    worker_stats,
)

# --- per run ------------------------------------------------------------


@dataclass
class RunSummary:
    run: str
    seconds: float | None
    workers: int
    pages: int  # pages this run did (run.json's count, else its records in results.jsonl)
    pages_final: int  # this run's records still final in results.jsonl (later runs may redo pages)
    pages_per_second: float | None
    already_done: int  # pages earlier runs had done, skipped by this one
    time: dict[str, float]  # worker-seconds: capacity, engine, decode, recycle, restart, other
    restarts: dict[str, Any]
    growth_within: dict[str, Any]
    growth_across: dict[str, Any]
    worker_stats: list[WorkerStats] = field(default_factory=list)
    status: str | None = None  # from run.json, when known; "live" while the run holds its lock


def run_seconds(run_id: str, events: list[dict], tally: RecordTally, history: dict[str, dict]) -> float | None:
    """The run's wall time: run.json's figure, else the latest ``t`` it wrote."""
    known = history.get(run_id, {}).get("seconds")
    if known:
        return known
    times = [e["t"] for e in events if e.get("t") is not None] + ([tally.max_t] if tally.max_t is not None else [])
    return max(times) if times else None


def time_split(
    tally: RecordTally, events: list[dict], workers: int, seconds: float | None, restarts: RestartCost
) -> dict[str, float]:
    """Where the workers' time went, in worker-seconds.

    Capacity is workers x wall time.  ``restart`` is the respawn gaps and the
    replacement processes' first-page penalty (taken out of ``engine``);
    ``other`` is what is left: worker start-up, handing pages over, writing,
    and idle workers at the end of the run."""
    engine = max(0.0, tally.engine_seconds - restarts.first_page_seconds)
    decode = tally.decode_seconds
    recycle = sum(e.get("recycle_ms") or 0 for e in events if e.get("event") == "recycle") / 1000
    capacity = workers * seconds if seconds else 0.0
    split = {"capacity": capacity, "engine": engine, "decode": decode, "recycle": recycle, "restart": restarts.seconds}
    split["other"] = max(0.0, capacity - engine - decode - recycle - restarts.seconds) if capacity else 0.0
    return {k: round(v, 3) for k, v in split.items()}


def summarize_run(run_id: str, events: list[dict], tally: RecordTally, history: dict[str, dict]) -> RunSummary:
    seconds = run_seconds(run_id, events, tally, history)
    known = history.get(run_id, {})
    worker_ids = sorted(
        {e["worker"] for e in events if e.get("worker") is not None} | {w for w in tally.by_worker if w is not None}
    )
    workers = known.get("workers") or len(worker_ids)
    counts = known.get("counts") or {}
    pages = counts.get("done_this_run")
    pages = tally.pages if pages is None else pages
    stats = [
        worker_stats(w, [e for e in events if e.get("worker") == w], tally.by_worker[w], seconds) for w in worker_ids
    ]
    restarts = restart_cost(events, tally)
    return RunSummary(
        run=run_id,
        seconds=seconds,
        workers=workers,
        pages=pages,
        pages_final=tally.pages,
        pages_per_second=rate_per_second(pages, seconds),
        already_done=counts.get("skipped_already_ok") or 0,
        time=time_split(tally, events, workers, seconds, restarts),
        restarts={**asdict(restarts), "seconds": round(restarts.seconds, 3)},
        growth_within=growth_json(within_segment_growth(events)),
        growth_across=growth_json(across_run_growth(events)),
        worker_stats=stats,
        status=known.get("status"),
    )


# --- the whole directory --------------------------------------------------


def summarize(outputs: Outputs) -> dict[str, Any]:
    """Everything ``batchocr report`` shows, as a JSON-ready dict."""
    memory_runs = split_memory_by_run(outputs.memory)
    tallies = tally_results_by_run(outputs.results, memory_runs)
    order = list(dict.fromkeys([*memory_runs, *tallies]))
    history = run_history(outputs.run_info, order)
    runs = [summarize_run(r, memory_runs.get(r, []), tallies.get(r, RecordTally()), history) for r in order]
    state = run_state(outputs.out_dir, outputs.run_info)
    if runs and state in ("live", "died"):
        runs[-1].status = state
    final = final_pages(outputs)
    statuses = final.statuses
    resume = outputs.run_info.get("resume") or {}
    low_confidence = low_confidence_pages(outputs.results)
    return {
        "output_dir": str(outputs.out_dir),
        "input_dir": outputs.run_info.get("input_dir"),
        "pages": {
            "recorded": sum(statuses.values()),
            OK: statuses[OK],
            ERROR: statuses[ERROR],
            TIMEOUT: statuses[TIMEOUT],
        },
        "gone": {
            "pages": resume.get("gone_pages") or 0,
            "files": resume.get("gone_files") or [],
            "dropped": bool(resume.get("gone_dropped")),
        },
        "latest_run": {**_latest_run_info(outputs.run_info), "state": state},
        "runs": [asdict(run) for run in runs],
        "growth": {
            "within_segments": growth_json(
                pooled_slope((s for r in order for s in run_segments(memory_runs.get(r, []))), MIN_SEGMENT_IMAGES)
            ),
            "across_run": growth_json(
                pooled_slope(
                    (p for r in order for p in worker_pages_points(memory_runs.get(r, [])).values()), MIN_SEGMENT_IMAGES
                )
            ),
        },
        "failures": final.failures,
        "failed_pages": final.failed_pages,
        "unreadable_lines": outputs.unreadable_lines + getattr(outputs.results, "unreadable", 0),
        "low_confidence": low_confidence.pages,  # the least confident LISTED_PAGES
        "low_confidence_count": low_confidence.count,
    }


def run_state(out_dir: Path, run_info: dict[str, Any]) -> str | None:
    """``live`` while a run holds the directory's lock; ``died`` for a run
    that never wrote its end (killed, or the machine went down); else
    run.json's status (None without run.json)."""
    if not run_info:
        return None
    if run_info.get("ended") and run_info.get("status") != "running":
        return run_info.get("status")
    return "live" if lock_held(out_dir) else "died"


def lock_held(out_dir: Path) -> bool:
    """Whether a live run holds OUT/.batchocr.lock (a shared flock test: never created, never kept)."""
    import fcntl

    try:
        fd = os.open(OutputLock(out_dir).path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops our shared lock
    return False


def _latest_run_info(run_info: dict[str, Any]) -> dict[str, Any]:
    keys = ("run", "status", "exit_code", "seconds", "pages_per_second", "workers", "counts", "started", "ended")
    info = {k: run_info.get(k) for k in keys}
    info["settings"] = {k: run_info.get("settings", {}).get(k) for k in ("recycle_every", "max_worker_rss", "engine")}
    return info
