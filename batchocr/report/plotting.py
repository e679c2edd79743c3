"""The PNG chart of ``batchocr report --plot`` (supervisor side, after or during a run).

matplotlib is the optional extra ``batchocr[plot]``: imported here only, when
a chart is asked for, with the Agg backend (files only, no display needed).
The data comes ready from ``chart_data``; this module only
draws.  (The interactive HTML report is ``html_page``.)

What one look should tell:

- title: input -> output directory, pages ok/failed, recycles, and the RSS
  verdict in words with its 95% interval (across the run, and within recycle
  segments), so the headline never disagrees with the lines below it.
- top: RSS of every worker process over time.  One colour per worker slot;
  a line ends when its process ends.  Recycles are thin ticks along the
  bottom (taller and black: the process was restarted): hundreds stay
  readable.  ✕ a crash (red), a page-timeout kill (orange), a kill at an
  interrupt (grey).  Flat lines between recycles = no leak; a saw-tooth = a
  leak that recycling contains; a staircase = a leak recycling does not fix.
- bottom: pages per second, all workers (thick) and each worker (thin),
  over a rolling window at least a few pages long; dips show where
  throughput dropped.
The legend lists only what occurred.  Resumed runs follow one another on the
time axis, split by dashed lines.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from batchocr.errors import ConfigError, pip_hint
from batchocr.report.chart_data import RunSeries
from batchocr.report.text import format_mb

INSTALL_HINT = pip_hint("matplotlib>=3.7", "plot")
FIGURE_SIZE = (11, 8)  # inches
DPI = 100  # FIGURE_SIZE x DPI = 1100 x 800 px
RESTART_COLOUR = "black"
RECYCLE_TICK, RESTART_TICK = 0.05, 0.09  # tick heights, as a share of the RSS panel


def _pyplot():
    """matplotlib.pyplot on the Agg backend, or a ConfigError saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(f"charts need matplotlib, which is not installed: {INSTALL_HINT}") from None
    matplotlib.use("Agg")  # files only: works without a display, in CI, over ssh
    import matplotlib.pyplot as plt

    return plt


def figure(charts: list[RunSeries], summary: dict[str, Any]):
    """The two-panel chart as a matplotlib figure (close it with ``plt.close``)."""
    plt = _pyplot()
    fig, (rss_ax, rate_ax) = plt.subplots(2, 1, figsize=FIGURE_SIZE, dpi=DPI, sharex=True)
    colours = _worker_colours(charts, plt)
    _draw_rss(rss_ax, charts, colours)
    _draw_throughput(rate_ax, charts, colours)
    for ax in (rss_ax, rate_ax):
        _mark_runs(ax, charts)
        ax.grid(alpha=0.3)
    fig.suptitle(title(summary), fontsize=9)
    fig.tight_layout()
    return fig


def render(charts: list[RunSeries], summary: dict[str, Any]) -> bytes:
    """The two-panel chart as PNG bytes."""
    plt = _pyplot()
    fig = figure(charts, summary)
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def write_png(charts: list[RunSeries], summary: dict[str, Any], path: str | Path) -> None:
    Path(path).write_bytes(render(charts, summary))


# --- panels ------------------------------------------------------------------------


def _worker_colours(charts: list[RunSeries], plt) -> dict[int | None, Any]:
    workers = sorted(
        {w for run in charts for w in run.rss} | {w for run in charts for w in run.worker_throughput},
        key=lambda w: (w is None, w),
    )
    palette = plt.get_cmap("tab10")
    return {w: palette(i % 10) for i, w in enumerate(workers)}


def _draw_rss(ax, charts: list[RunSeries], colours: dict[int | None, Any]) -> None:
    labelled: set[Any] = set()
    for run in charts:
        for worker, processes in sorted(run.rss.items(), key=lambda item: (item[0] is None, item[0])):
            for points in processes.values():
                label = None if worker in labelled else f"worker {worker}"
                labelled.add(worker)
                ax.plot(
                    [p[0] for p in points], [p[1] for p in points], color=colours[worker], linewidth=1.2, label=label
                )
    _draw_recycles(ax, charts, colours)
    _draw_exits(ax, charts)
    limit = max((run.rss_limit_mb or 0) for run in charts) if charts else 0
    top = max((p[1] for run in charts for ps in run.rss.values() for pts in ps.values() for p in pts), default=0)
    if limit and top > limit / 2:  # only when it is in sight; else it flattens the lines
        ax.axhline(limit, color="red", linestyle=":", linewidth=1, label=f"max worker RSS {limit:g} MB")
    ax.set_ylabel("worker RSS (MB)")
    ax.set_ylim(0, max(top, limit if limit and top > limit / 2 else 0) * 1.08 or 1)  # headroom for the marks
    # lower right: the lines sit high (the axis starts at 0); the recycle ticks are below them
    ax.legend(loc="lower right", fontsize=8, ncol=3, framealpha=0.9)


def _draw_recycles(ax, charts: list[RunSeries], colours: dict[int | None, Any]) -> None:
    """Recycles as thin ticks along the bottom of the panel: hundreds stay
    readable (markers on the lines would merge into a band).  Restarts are
    taller and black."""
    spots = ax.get_xaxis_transform()  # x in data, y in axes fractions
    for mode, height, label in (
        ("in-process", RECYCLE_TICK, "recycle in-process (tick)"),
        ("restart", RESTART_TICK, "recycle: process restarted (tick)"),
    ):
        marks = [e for run in charts for e in run.recycles if (e.get("mode") == "restart") == (mode == "restart")]
        if not marks:
            continue  # the legend lists only what occurred
        colour = [RESTART_COLOUR if mode == "restart" else colours.get(e.get("worker"), "grey") for e in marks]
        ax.vlines([e["t"] for e in marks], 0, height, transform=spots, colors=colour, linewidth=0.9)
        ax.plot(
            [],
            [],
            marker="|",
            markersize=9,
            linestyle="none",
            color=colour[0] if mode == "restart" else "grey",
            label=label,
        )


EXIT_MARKS = {  # kind -> marker, colour, legend label
    "crash": ("X", "red", "crash"),
    "timeout": ("X", "orange", "killed: page timeout"),
    "interrupted": ("x", "grey", "killed at the interrupt"),
}


def _draw_exits(ax, charts: list[RunSeries]) -> None:
    for kind, (marker, colour, label) in EXIT_MARKS.items():
        marks = [m for run in charts for m in run.exits if m["kind"] == kind]
        if marks:
            ax.plot(
                [m["t"] for m in marks],
                [m["rss_mb"] or 0 for m in marks],
                marker=marker,
                markersize=9,
                color=colour,
                markeredgecolor="black",
                linestyle="none",
                label=f"{label} ({len(marks)})",
            )


def _draw_throughput(ax, charts: list[RunSeries], colours: dict[int | None, Any]) -> None:
    total_labelled = False
    for run in charts:
        for worker, series in run.worker_throughput.items():
            if series:
                ax.plot(*zip(*series), color=colours.get(worker), linewidth=0.8, alpha=0.6)
        if run.throughput:
            ax.plot(*zip(*run.throughput), color="black", linewidth=2, label=None if total_labelled else "all workers")
            total_labelled = True
    if any(run.worker_throughput for run in charts):
        ax.plot([], [], color="grey", linewidth=0.8, label="each worker")
    windows = sorted({round(run.window) for run in charts if run.window})
    window = f"{windows[0]:g} s" if len(windows) == 1 else "per run" if windows else ""
    ax.set_ylabel(f"pages/s (rolling {window} window)" if window else "pages/s")
    ax.set_xlabel("seconds since the run started" + (" (runs one after another)" if len(charts) > 1 else ""))
    ax.set_ylim(bottom=0)
    if total_labelled:
        ax.legend(loc="upper left", fontsize=8, framealpha=0.9)


def _mark_runs(ax, charts: list[RunSeries]) -> None:
    if len(charts) < 2:
        return
    for run in charts[1:]:
        ax.axvline(run.offset, color="grey", linestyle="--", linewidth=1)
        ax.annotate(
            f"resumed: {run.run}",
            (run.offset, 1),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            rotation=90,
            va="top",
            ha="right",
            color="grey",
        )


def title(summary: dict[str, Any]) -> str:
    """Where from and to, what came out, and the memory verdict (with its uncertainty) in words."""
    pages = summary["pages"]
    recycles = [(w["recycles_in_process"], w["recycles_restart"]) for r in summary["runs"] for w in r["worker_stats"]]
    in_process, restart = (sum(x) for x in zip(*recycles)) if recycles else (0, 0)
    state = (summary.get("latest_run") or {}).get("state")
    live = " [LIVE: figures so far]" if state == "live" else " [run died before its end]" if state == "died" else ""
    growth = summary["growth"]
    return (
        f"{summary.get('input_dir') or '(input unknown)'} -> {summary['output_dir']}{live}\n"
        f"{pages['ok']} ok, {pages['error']} error, {pages['timeout']} timeout; "
        f"recycles {in_process} in-process, {restart} restart\n" + memory_line(growth)
    )


def memory_line(growth: dict[str, Any]) -> str:
    """Both growth figures, or one when no recycle split the run (then they are the same fit)."""
    across, within = growth["across_run"], growth["within_segments"]
    if across == within:
        return f"RSS over the run (no recycles: one engine's life): {verdict(across)}"
    return f"RSS across the run: {verdict(across)}\nRSS within recycle segments: {verdict(within)}"


def verdict(growth: dict[str, Any]) -> str:
    """A growth figure short enough for a title, never without its interval."""
    rate, low, high = growth["mb_per_1000_pages"], growth["low"], growth["high"]
    if rate is None:
        return "n/a (too few pages)"
    if low is None:
        return "too few readings to tell"
    band = f"{format_mb(low)} to {format_mb(high)} MB"
    if not growth["measurable"]:
        return f"no measurable growth (95%: {band} per 1,000 pages)"
    return f"{format_mb(rate)} MB per 1,000 pages (95%: {band})"
