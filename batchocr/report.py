"""``batchocr report``: read an output directory and summarise it.  No engine, no workers.

Data flow::

    results.jsonl ─┐ (streamed)
    memory.jsonl ──┼─> load_outputs ─> split into runs ─> summarize ─> format_text / JSON
    run.json ──────┤                         │
    ledger.sqlite ─┘ (final pages)           └─> chart_data ─> plotting (PNG), report_html (HTML)

Memory stays bounded at any size: records are streamed past per-run tallies
(``RecordTally``), never held; each page's final status comes from the
ledger (or, for an output dir made before the ledger, from one small entry
per page).  Only the charts keep one number per page (its completion time).
memory.jsonl is read whole: it grows with run time, not with pages.

Everything below ``load_outputs`` is a pure function over dicts, so tests
can feed it lines directly.

Several runs in one directory: a run resumed into an output directory
appends to ``memory.jsonl`` (its ``t`` restarts at 0, its workers send fresh
``start`` events) and adds its records to ``results.jsonl`` (which resume
compacts to one final record per page).  Memory events are split where
their ``run`` tag changes or where a ``start`` event shows the run clock
restarted (``_RunSplitter``: this also covers lines written before the tag
existed, and two runs started within one second, whose tags collide).
Records go to the run their worker's ``pid`` worked in, else by their tag.
"""

from __future__ import annotations

import heapq
import json
import os
import re
import sqlite3
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from batchocr.errors import ConfigError
from batchocr.growth import Growth, pooled_slope
from batchocr.ledger import LEDGER
from batchocr.output import MEMORY, RESULTS, RUN_INFO, OutputLock
from batchocr.records import ERROR, INTERRUPT_KILL, OK, PAGE_TIMEOUT_KILL, TIMEOUT
from batchocr.results import complete_lines
from batchocr.resume import read_records

# A ``start`` event this many seconds before the latest ``t`` seen opens a new
# run, whatever its tag says.  Events of one run reach the file
# slightly out of ``t`` order (a worker stamps an event, then recycles, then
# sends it), but a worker's ``start`` is sent as soon as it is stamped.
RUN_CLOCK_RESTART_SLACK = 0.5

# Leak fitting: points within the first WARMUP_IMAGES pages after an engine
# (re)load are skipped (allocator arenas and engine caches are still
# growing; that is warm-up, not a leak), and a segment must then span at
# least MIN_SEGMENT_IMAGES pages to be used (a short stretch cannot tell
# growth from page-to-page noise).
WARMUP_IMAGES = 3
MIN_SEGMENT_IMAGES = 10

TOP_FAILURE_CAUSES = 10
SHOWN_LOW_CONFIDENCE = 20  # in the text report
# Failed and low-confidence pages listed in --json and the HTML tables (a
# million-page run may have thousands: the rest are counted, not listed).
LISTED_PAGES = 1000

# The record fields the report uses: the rest (text, lines, traceback) is
# dropped as each line streams past.
REPORT_FIELDS = (
    "path",
    "page",
    "status",
    "run",
    "pid",
    "worker",
    "t",
    "ms",
    "decode_ms",
    "error",
    "error_kind",
    "confidence",
    "low_confidence",
)


# --- reading -----------------------------------------------------------------


class RecordStream:
    """results.jsonl as an iterable of slim records (``REPORT_FIELDS``),
    read anew on each pass: never all in memory.  Counts the lines that are
    not records (``unreadable``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.unreadable = 0

    def __iter__(self):
        if not self.path.exists():
            return
        self.unreadable = 0
        try:
            for _, raw in complete_lines(self.path):
                try:
                    record = json.loads(raw)
                except ValueError:
                    record = None
                if not isinstance(record, dict):
                    self.unreadable += 1
                    continue
                yield {k: record[k] for k in REPORT_FIELDS if k in record}
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc.strerror or exc}") from None


@dataclass
class Outputs:
    """One output directory: memory.jsonl and run.json read, results.jsonl streamed."""

    out_dir: Path
    results: Any  # an iterable of records: a RecordStream, or a list in tests
    memory: list[dict[str, Any]]
    run_info: dict[str, Any]
    unreadable_lines: int = 0  # torn or corrupt memory.jsonl lines skipped


def load_outputs(out_dir: str | Path) -> Outputs:
    """Open results.jsonl, read memory.jsonl and run.json (any may be missing, not all)."""
    out = Path(out_dir)
    paths = [out / RESULTS, out / MEMORY, out / RUN_INFO]
    if not any(p.exists() for p in paths):
        raise ConfigError(f"{out} holds no batchocr outputs ({RESULTS}, {MEMORY}, {RUN_INFO})")
    memory, bad_memory = _read_jsonl(out / MEMORY)
    return Outputs(out, RecordStream(out / RESULTS), memory, _read_run_info(out / RUN_INFO), bad_memory)


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    if not path.exists():
        return [], 0
    try:
        return read_records(path)  # skips a torn tail: the run may be live
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_run_info(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


# --- runs ----------------------------------------------------------------------


class _RunSplitter:
    """Tells where one run's memory events end and the next run's begin.

    A new run begins where the ``run`` tag changes, or where a ``start``
    event shows the run clock restarted: its ``t`` is more than
    RUN_CLOCK_RESTART_SLACK below the latest ``t`` so far, or below it at
    all while no worker process is alive (within a run, a worker that
    starts when none is alive was spawned after every event so far was
    stamped).  The clock test also separates runs whose tags collide
    (tags have one-second resolution)."""

    def __init__(self) -> None:
        self.tag: str | None = None
        self.latest_t: float | None = None
        self.alive: set[Any] = set()  # pids started and not yet gone

    def starts_new_run(self, event: dict[str, Any]) -> bool:
        t = event.get("t") or 0.0
        new = self.latest_t is None or event.get("run") != self.tag
        if not new and event.get("event") == "start":
            went_back = t < self.latest_t
            new = t < self.latest_t - RUN_CLOCK_RESTART_SLACK or (went_back and not self.alive)
        if new:
            self.tag, self.latest_t, self.alive = event.get("run"), t, set()
        self._track(event, t)
        return new

    def _track(self, event: dict[str, Any], t: float) -> None:
        self.latest_t = max(self.latest_t, t)
        kind = event.get("event")
        if kind == "start":
            self.alive.add(event.get("pid"))
        elif kind == "exit" or (kind == "recycle" and event.get("mode") == "restart"):
            self.alive.discard(event.get("pid"))


def split_memory_by_run(events: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Memory events grouped by run, in file order (see ``_RunSplitter``).

    A run is named by its tag; untagged runs ``untagged-1``, ``untagged-2``...;
    a tag seen again for a later run gets ``#2``, ``#3``...
    """
    runs: dict[str, list[dict[str, Any]]] = {}
    splitter = _RunSplitter()
    current = ""
    for event in events:
        if splitter.starts_new_run(event):
            current = _unique_name(event.get("run") or f"untagged-{len(runs) + 1}", runs)
            runs[current] = []
        runs[current].append(event)
    return runs


def _unique_name(name: str, taken: dict[str, Any]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}#{n}"
    return candidate


def run_tag(run_name: str) -> str | None:
    """The ``run`` tag a run's lines carry (None for untagged runs)."""
    return None if run_name.startswith("untagged-") else run_name.split("#")[0]


@dataclass
class RecordTally:
    """One run's records, summed as they stream past (none is kept)."""

    pages: int = 0
    engine_seconds: float = 0.0
    decode_seconds: float = 0.0
    max_t: float | None = None
    by_worker: Counter = field(default_factory=Counter)
    times: dict[Any, list[float]] | None = None  # per worker completion times: only for charts
    untimed: int = 0  # records without ``t`` (written before it existed)
    # pid -> (t, engine seconds) of its first page: a restarted process's
    # first page pays for cold caches (one entry per process, not per page)
    first_page: dict[Any, tuple[float, float]] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        self.pages += 1
        seconds = (record.get("ms") or 0) / 1000
        self.engine_seconds += seconds
        self.decode_seconds += (record.get("decode_ms") or 0) / 1000
        self.by_worker[record.get("worker")] += 1
        t = record.get("t")
        if t is None:
            self.untimed += 1
            return
        pid = record.get("pid")
        if pid is not None and (pid not in self.first_page or t < self.first_page[pid][0]):
            self.first_page[pid] = (t, seconds)
        self.max_t = t if self.max_t is None else max(self.max_t, t)
        if self.times is not None:
            self.times.setdefault(record.get("worker"), []).append(t)


def tally_results_by_run(
    records: Iterable[dict[str, Any]], memory_runs: dict[str, list[dict[str, Any]]], with_times: bool = False
) -> dict[str, RecordTally]:
    """Records tallied by run: the run their worker's pid worked in (if its
    tag agrees), else their ``run`` tag, else the last run."""
    pid_run = {e.get("pid"): name for name, events in memory_runs.items() for e in events}
    fallback = next(reversed(memory_runs), "untagged-1")
    runs = {name: RecordTally(times={} if with_times else None) for name in memory_runs}
    for record in records:
        by_pid = pid_run.get(record.get("pid"))
        if by_pid and record.get("run") in (None, run_tag(by_pid)):
            name = by_pid
        else:
            name = record.get("run") or fallback
        if name not in runs:
            runs[name] = RecordTally(times={} if with_times else None)
        runs[name].add(record)
    return runs


def final_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (path, page): the last one, as resume keeps it."""
    return list({(r.get("path"), r.get("page")): r for r in records}.values())


def run_history(run_info: dict[str, Any], run_names: list[str]) -> dict[str, dict[str, Any]]:
    """What run.json says about each run: ``previous_runs`` then the latest
    run, matched in order to the runs with the same tag (so colliding tags
    still pair up right); a run.json without tags describes the last run."""
    entries = [*run_info.get("previous_runs", []), run_info] if run_info else []
    unmatched = list(run_names)
    history: dict[str, dict[str, Any]] = {}
    for entry in entries:
        tag = entry.get("run")
        match = next((name for name in unmatched if run_tag(name) == tag), None) if tag else None
        if match is None and entry is run_info and unmatched:
            match = unmatched[-1]
        if match is not None:
            history[match] = entry
            unmatched = unmatched[unmatched.index(match) + 1 :]
    return history


# --- memory: growth ------------------------------------------------------------------


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


def events_by_process(events: Iterable[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Memory events grouped by pid, in file order (one worker's pipe is FIFO)."""
    processes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        processes[event.get("pid")].append(event)
    return dict(processes)


def run_segments(events: list[dict[str, Any]]) -> list[list[tuple[int, float]]]:
    return [seg for process in events_by_process(events).values() for seg in recycle_segments(process)]


# --- how workers ended, and what restarts cost ----------------------------------------


def exit_kind(cause: str | None) -> str:
    """``finished``, ``interrupted`` (killed when an interrupt's grace period
    ran out: the user stopped the run), ``timeout`` (killed over a slow page)
    or ``crash`` (anything else unplanned)."""
    if cause == "finished":
        return "finished"
    if cause and cause.startswith(INTERRUPT_KILL):
        return "interrupted"
    if cause and cause.startswith(PAGE_TIMEOUT_KILL):
        return "timeout"
    return "crash"


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
        elif (kind == "recycle" and e.get("mode") == "restart") or (
            kind == "exit" and exit_kind(e.get("cause")) == "crash"
        ):
            gone_at.setdefault(worker, e["t"])
    mean = tally.engine_seconds / tally.pages if tally.pages else 0.0
    penalty = sum(tally.first_page[pid][1] - mean for pid in replacements if pid in tally.first_page)
    cost.first_page_seconds = max(0.0, penalty)
    return cost


# --- per worker, per run ---------------------------------------------------------


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
    exits = Counter(exit_kind(e.get("cause")) for e in events if e.get("event") == "exit")
    readings = rss_readings(events)
    return WorkerStats(
        worker=worker,
        pages=pages,
        pages_per_second=_rate(pages, seconds),
        processes=len({e.get("pid") for e in events}),
        recycles_in_process=sum(e.get("mode") == "in-process" for e in recycles),
        recycles_restart=sum(e.get("mode") == "restart" for e in recycles),
        recycle_reasons=dict(Counter(e.get("reason") for e in recycles)),
        crashes=exits["crash"],
        timeouts=exits["timeout"],
        interrupted=exits["interrupted"],
        rss_start_mb=starts[0]["rss_mb"] if starts else None,
        rss_median_mb=round(statistics.median(readings), 1) if readings else None,
        rss_max_mb=max(readings) if readings else None,
        growth_within=growth_json(within_segment_growth(events)),
        growth_across=growth_json(across_run_growth(events)),
    )


def _rate(count: int | None, seconds: float | None) -> float | None:
    return round(count / seconds, 3) if seconds and count is not None else None


# --- per run ---------------------------------------------------------------------


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
        pages_per_second=_rate(pages, seconds),
        already_done=counts.get("skipped_already_ok") or 0,
        time=time_split(tally, events, workers, seconds, restarts),
        restarts={**asdict(restarts), "seconds": round(restarts.seconds, 3)},
        growth_within=growth_json(within_segment_growth(events)),
        growth_across=growth_json(across_run_growth(events)),
        worker_stats=stats,
        status=known.get("status"),
    )


# --- failures --------------------------------------------------------------------

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_PATH = re.compile(r"(?<![\w.])/[^\s:,;)]+")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_BIG_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_TRIES = re.compile(r"\s*\(tried \d+ times\)$")


def failure_cause(record: dict[str, Any]) -> str:
    """An error message with its particulars (file names, paths, sizes,
    addresses, retry counts) masked, so pages failing for one reason group
    together.  Signal names stay: SIGKILL and SIGSEGV are different causes."""
    message = _TRIES.sub("", record.get("error") or "(no message)")
    message = _QUOTED.sub("'…'", message)
    message = _PATH.sub("<path>", message)
    message = _HEX.sub("<addr>", message)
    message = _BIG_NUMBER.sub(lambda m: m.group(0) if len(m.group(0)) <= 2 else "<n>", message)
    kind = record.get("error_kind") or record.get("status")
    return f"{kind}: {message}"


def top_failures(records: Iterable[dict[str, Any]], limit: int = TOP_FAILURE_CAUSES) -> list[dict[str, Any]]:
    """The most frequent failure causes: cause, count, one example page
    (streams: one count and one example per cause are kept)."""
    counts: Counter[str] = Counter()
    examples: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("status") != OK:
            cause = failure_cause(record)
            counts[cause] += 1
            examples.setdefault(cause, {k: record.get(k) for k in ("path", "page", "error")})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        {
            "cause": cause,
            "count": count,
            "example": f"{examples[cause]['path']} page {examples[cause]['page']}",
            "example_error": examples[cause]["error"],
        }
        for cause, count in ranked
    ]


# --- each page's final record ---------------------------------------------------------


@dataclass
class FinalPages:
    statuses: Counter
    failures: list[dict[str, Any]]  # the top causes
    failed_pages: list[dict[str, Any]]  # the first LISTED_PAGES failed pages (their count is in statuses)


def final_pages(outputs: Outputs) -> FinalPages:
    """The status of each page's final record, and the failure causes among them."""
    ledger = outputs.out_dir / LEDGER
    if ledger.exists() and isinstance(outputs.results, RecordStream):
        return _final_pages_from_ledger(ledger, outputs.out_dir / RESULTS, _present_from(outputs.run_info))
    final = final_records(outputs.results)  # made before the ledger: one entry per page
    listed: list[dict[str, Any]] = []
    failures = top_failures(_listing_failed(final, listed))
    return FinalPages(Counter(r.get("status") for r in final), failures, listed)


def _listing_failed(records: Iterable[dict[str, Any]], into: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """The records, passed on; the first LISTED_PAGES failed ones copied ``into`` a list on the way."""
    for record in records:
        if record.get("status") != OK and len(into) < LISTED_PAGES:
            into.append({k: record.get(k) for k in ("path", "page", "status", "error_kind", "error")})
        yield record


def _present_from(run_info: dict[str, Any]) -> int:
    """Pages seen by this generation or later are present (0: all)."""
    return int((run_info.get("resume") or {}).get("present_generation") or 0)


def _final_pages_from_ledger(ledger: Path, results: Path, present: int) -> FinalPages:
    db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        statuses = Counter(
            dict(
                db.execute(
                    "SELECT status, count(*) FROM pages WHERE offset IS NOT NULL AND seen >= ? GROUP BY status",
                    (present,),
                ).fetchall()
            )
        )
        spans = db.execute(
            "SELECT offset, length FROM pages WHERE offset IS NOT NULL AND status != ? AND seen >= ? ORDER BY offset",
            (OK, present),
        )
        listed: list[dict[str, Any]] = []
        failures = top_failures(_listing_failed(_records_at(results, spans), listed))
    finally:
        db.close()
    return FinalPages(statuses, failures, listed)


def _records_at(results: Path, spans) -> Iterable[dict[str, Any]]:
    try:
        fd = os.open(results, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        for offset, length in spans:
            try:
                record = json.loads(os.pread(fd, length, offset))
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record
    finally:
        os.close(fd)


@dataclass
class FlaggedPages:
    count: int  # every flagged page
    pages: list[dict[str, Any]]  # the LISTED_PAGES least confident, least confident first


def low_confidence_pages(records: Iterable[dict[str, Any]], keep: int = LISTED_PAGES) -> FlaggedPages:
    """Pages read but flagged ``low_confidence`` (worth a look by a person):
    how many, and the least confident ``keep`` (streams: a bounded heap)."""
    heap: list[tuple[float, int, dict[str, Any]]] = []  # the most confident kept page on top (negated)
    count = 0
    for r in records:
        if not r.get("low_confidence"):
            continue
        count += 1
        entry = (-(r.get("confidence") or 0.0), count, {k: r.get(k) for k in ("path", "page", "confidence")})
        if len(heap) < keep:
            heapq.heappush(heap, entry)
        elif entry[0] > heap[0][0]:
            heapq.heapreplace(heap, entry)
    pages = [page for _, _, page in heap]
    pages.sort(key=lambda p: (p["confidence"] or 0.0, str(p["path"]), p["page"] or 0))
    return FlaggedPages(count, pages)


# --- the whole directory ---------------------------------------------------------


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


# --- text ----------------------------------------------------------------------------


def format_text(summary: dict[str, Any]) -> str:
    """The human-readable report."""
    pages = summary["pages"]
    lines = [
        f"batchocr report: {summary.get('input_dir') or '(input unknown)'} -> {summary['output_dir']}",
        f"pages: {pages['recorded']} recorded in {RESULTS}: {pages[OK]} ok, {pages[ERROR]} error, "
        f"{pages[TIMEOUT]} timeout",
    ]
    gone = summary.get("gone") or {}
    if gone.get("pages") and not gone.get("dropped"):
        lines.append(
            f"{gone['pages']} pages of files no longer present (not counted above; "
            f"'batchocr run --drop-missing' drops them): {', '.join(gone['files'])}"
        )
    lines.append(format_latest_run(summary["latest_run"]))
    for run in summary["runs"]:
        lines += ["", *_format_run(run)]
    growth = summary["growth"]
    lines += [
        "",
        "worker RSS, all runs:",
        f"  trend across the run (every reading vs pages done, recycles included): "
        f"{format_growth(growth['across_run'])}",
        f"  growth within recycle segments (one engine's life): {format_growth(growth['within_segments'])}",
    ]
    lines += ["", *_format_failures(summary["failures"])]
    lines += ["", *_format_low_confidence(summary["low_confidence"], summary["low_confidence_count"])]
    if summary["unreadable_lines"]:
        lines.append(
            f"({summary['unreadable_lines']} unreadable JSONL lines skipped: torn tail of a live or killed run)"
        )
    return "\n".join(lines)


def format_latest_run(latest: dict[str, Any]) -> str:
    """One line on the latest run: live, died, or how it ended."""
    state = latest.get("state")
    if state is None:
        return "latest run: unknown (no run.json)"
    name = f"latest run {latest.get('run') or ''}".rstrip()
    if state == "live":
        return f"{name}: LIVE (running since {latest.get('started')}; figures so far)"
    if state == "died":
        return f"{name}: ended without writing its end (killed, or the machine went down); figures so far"
    return (
        f"{name}: {state}, exit code {latest.get('exit_code')}, "
        f"{_num(latest.get('pages_per_second'), '.2f')} pages/s over {_num(latest.get('seconds'), '.1f')} s "
        f"({_recycling(latest['settings'])})"
    )


def _recycling(settings: dict[str, Any]) -> str:
    every, limit = settings.get("recycle_every"), settings.get("max_worker_rss")
    parts = [
        "recycle every: auto" if every is None else f"recycle every {every} pages" if every else "",
        f"max worker RSS {limit} MB" if limit else "",
    ]
    return ", ".join(p for p in parts if p) or "recycling off"


def _format_run(run: dict[str, Any]) -> list[str]:
    title = f"run {run['run']}" + (f" ({run['status']})" if run.get("status") else "")
    lines = [
        f"{title}: {run['pages']} pages done in {_num(run['seconds'], '.1f')} s = "
        f"{_num(run['pages_per_second'], '.2f')} pages/s, {run['workers']} workers" + _pages_note(run)
    ]
    lines.append("  " + _format_time(run["time"], run["restarts"]))
    lines.append(
        f"  {'worker':>6} {'pages':>6} {'pages/s':>8} {'procs':>5} {'recycles':>9} {'crashes':>7}"
        f" {'RSS MB: start':>13} {'median':>7} {'max':>7}  RSS MB/1000 pages: across run; within segments"
    )
    for w in run["worker_stats"]:
        recycles = f"{w['recycles_in_process']}+{w['recycles_restart']}r"
        lines.append(
            f"  {w['worker']:>6} {w['pages']:>6} {_num(w['pages_per_second'], '.3f'):>8} {w['processes']:>5}"
            f" {recycles:>9} {w['crashes']:>7} {_num(w['rss_start_mb'], '.1f'):>13}"
            f" {_num(w['rss_median_mb'], '.1f'):>7} {_num(w['rss_max_mb'], '.1f'):>7}"
            f"  {format_growth(w['growth_across'], short=True)}; {format_growth(w['growth_within'], short=True)}"
        )
    lines.append(f"  recycles: in-process+restart(r); reasons: {_reasons(run)}{_kills(run)}")
    lines.append(f"  RSS trend across this run: {format_growth(run['growth_across'])}")
    lines.append(f"  RSS growth within recycle segments: {format_growth(run['growth_within'])}")
    return lines


def _pages_note(run: dict[str, Any]) -> str:
    notes = []
    if run["already_done"]:
        notes.append(f"resumed: {run['already_done']} pages were done by earlier runs")
    redone = run["pages"] - run["pages_final"]
    if redone > 0:
        notes.append(f"{redone} of its pages since redone by a later run")
    return f" ({'; '.join(notes)})" if notes else ""


def _kills(run: dict[str, Any]) -> str:
    """Processes killed on purpose: not crashes."""
    timeouts = sum(w["timeouts"] for w in run["worker_stats"])
    interrupted = sum(w["interrupted"] for w in run["worker_stats"])
    parts = [f"{timeouts} killed over a page timeout"] if timeouts else []
    parts += [f"{interrupted} killed at the interrupt (not crashes)"] if interrupted else []
    return "; " + ", ".join(parts) if parts else ""


def _format_time(time: dict[str, float], restarts: dict[str, Any]) -> str:
    capacity = time["capacity"]
    if not capacity:
        return f"engine {time['engine']:.1f} s, decode {time['decode']:.1f} s (run time unknown)"
    parts = [
        f"{name} {time[name]:.1f} s ({time[name] / capacity:.0%})"
        for name in ("engine", "decode", "recycle", "restart", "other")
    ]
    restart = (
        f"; restart: {restarts['restarts']} new process{'es' if restarts['restarts'] > 1 else ''}, respawn {restarts['respawn_seconds']:.1f} s"
        f" + first pages {restarts['first_page_seconds']:.1f} s slower than average"
        if restarts["restarts"]
        else ""
    )
    return f"worker time {capacity:.1f} s: " + ", ".join(parts) + f" (other: start-up, hand-over, idle{restart})"


def _reasons(run: dict[str, Any]) -> str:
    total: Counter[str] = Counter()
    for w in run["worker_stats"]:
        total.update(w["recycle_reasons"])
    return ", ".join(f"{reason} {count}" for reason, count in sorted(total.items())) or "none"


def format_growth(growth: dict[str, Any], short: bool = False) -> str:
    """A growth figure with its 95% interval; "no measurable growth" when the interval includes 0."""
    rate, low, high = growth["mb_per_1000_pages"], growth["low"], growth["high"]
    if rate is None:
        if short:
            return "n/a"
        return (
            f"n/a (no stretch spans {MIN_SEGMENT_IMAGES}+ pages after a {WARMUP_IMAGES}-page "
            "warm-up; RSS is sampled at most once per memory_sample_seconds)"
        )
    if low is None:
        return "?" if short else f"too few independent readings to tell ({growth['readings']} readings)"
    interval = f"95% interval {format_mb(low)} to {format_mb(high)}"
    if short:
        return (
            f"~0 ({format_mb(low)}..{format_mb(high)})"
            if not growth["measurable"]
            else f"{format_mb(rate)} ({format_mb(low)}..{format_mb(high)})"
        )
    detail = f"{growth['groups_used']} stretches, {growth['pages_covered']:,.0f} pages, {growth['readings']} readings"
    if not growth["measurable"]:
        return f"no measurable growth ({format_mb(rate)} MB per 1,000 pages, {interval}; {detail})"
    return f"{format_mb(rate)} MB per 1,000 pages ({interval}; {detail})"


def format_mb(value: float) -> str:
    return f"{value:+,.1f}" if abs(value) < 100 else f"{value:+,.0f}"


def _format_failures(failures: list[dict[str, Any]]) -> list[str]:
    if not failures:
        return ["failures: none"]
    lines = ["top failure causes:"]
    for f in failures:
        lines.append(f"  {f['count']:>5} x {f['cause']}")
        lines.append(f"          e.g. {f['example']}")
    return lines


def _format_low_confidence(pages: list[dict[str, Any]], count: int) -> list[str]:
    if not pages:
        return ["low-confidence pages: none"]
    lines = [f"low-confidence pages: {count} (least confident first)"]
    lines += [f"  {_num(p['confidence'], '5.1f')}  {p['path']} page {p['page']}" for p in pages[:SHOWN_LOW_CONFIDENCE]]
    if count > SHOWN_LOW_CONFIDENCE:
        lines.append(f"  ... and {count - SHOWN_LOW_CONFIDENCE} more (--json lists the {len(pages)} least confident)")
    return lines


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


# --- the command ------------------------------------------------------------------------


def main(out_dir: str, as_json: bool = False, plot: str | None = None, html: str | None = None) -> str:
    """``batchocr report``: the text (or JSON) to print; writes the charts if asked."""
    outputs = load_outputs(out_dir)
    summary = summarize(outputs)
    if plot or html:
        from batchocr import plotting  # matplotlib is optional: only now
        from batchocr.chart_data import chart_data

        charts = chart_data(outputs)
        if plot:
            plotting.write_png(charts, summary, plot)
            summary["plot"] = str(plot)
        if html:
            from batchocr import report_html  # plotly is optional too

            report_html.write_html(charts, summary, format_text(summary), html)
            summary["html"] = str(html)
    if as_json:
        return json.dumps(summary, indent=2)
    text = format_text(summary)
    written = [f"wrote {path}" for path in (plot, html) if path]
    return "\n".join([text, *written])
