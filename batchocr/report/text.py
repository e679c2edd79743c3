"""The text ``batchocr report`` prints: one block per run, memory growth
with its uncertainty, failure causes, low-confidence pages.  Report side.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from batchocr import plural
from batchocr.output import RESULTS
from batchocr.records import ERROR, OK, TIMEOUT
from batchocr.report.workers import MIN_SEGMENT_IMAGES, WARMUP_IMAGES

SHOWN_LOW_CONFIDENCE = 20  # in the text report


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
        f"{_num(run['pages_per_second'], '.2f')} pages/s, {plural.count(run['workers'], 'worker')}" + _pages_note(run)
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
