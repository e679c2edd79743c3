"""Which run each memory event and record belongs to, and what run.json
says about each run.  Report side (``batchocr report``).

A run resumed into an output directory appends to ``memory.jsonl`` (its
``t`` restarts at 0, its workers send fresh ``start`` events) and adds its
records to ``results.jsonl`` (which resume compacts to one final record per
page).  Memory events are split where their ``run`` tag changes or where a
``start`` event shows the run clock restarted (``_RunSplitter``: this also
covers lines written before the tag existed, and two runs started within
one second, whose tags collide).  Records go to the run their worker's
``pid`` worked in, else by their tag; they are tallied as they stream past
(``RecordTally``), never kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# A ``start`` event this many seconds before the latest ``t`` seen opens a new
# run, whatever its tag says.  Events of one run reach the file
# slightly out of ``t`` order (a worker stamps an event, then recycles, then
# sends it), but a worker's ``start`` is sent as soon as it is stamped.
RUN_CLOCK_RESTART_SLACK = 0.5


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
        latest = self.latest_t
        new = latest is None or event.get("run") != self.tag
        if latest is not None and not new and event.get("event") == "start":
            went_back = t < latest
            new = t < latest - RUN_CLOCK_RESTART_SLACK or (went_back and not self.alive)
        if new:
            self.tag, self.latest_t, self.alive = event.get("run"), t, set()
        self._track(event, t)
        return new

    def _track(self, event: dict[str, Any], t: float) -> None:
        self.latest_t = t if self.latest_t is None else max(self.latest_t, t)
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
