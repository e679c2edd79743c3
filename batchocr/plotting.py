"""Charts for ``batchocr report --plot/--html``: worker memory and throughput over time.

matplotlib is the optional extra ``batchocr[plot]``: imported here only, when
a chart is asked for, with the Agg backend (files only, no display needed).
The data comes ready from ``batchocr.report.chart_data``; this module only
draws.

What one look should tell:

- top: RSS of every worker process over time.  One colour per worker slot;
  a line ends when its process ends.  Recycles are marked where RSS drops:
  ▼ in-process (engine rebuilt), ■ restart (process replaced); ✕ a crash or
  kill.  Flat lines between recycles = no leak; a saw-tooth = a leak that
  recycling contains; a staircase = a leak recycling does not fix.
- bottom: pages per second, all workers (thick) and each worker (thin),
  rolling window; dips show where throughput dropped.
Resumed runs follow one another on the time axis, split by dashed lines.
"""

from __future__ import annotations

import base64
import html as html_lib
import io
from pathlib import Path
from typing import Any

from batchocr.errors import ConfigError, pip_hint
from batchocr.report import RunSeries

INSTALL_HINT = pip_hint("matplotlib>=3.7", "plot")
FIGURE_SIZE = (11, 8)  # inches
DPI = 100  # FIGURE_SIZE x DPI = 1100 x 800 px
RESTART_COLOUR = "black"


def _pyplot():
    """matplotlib.pyplot on the Agg backend, or a ConfigError saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(f"charts need matplotlib, which is not installed: {INSTALL_HINT}") from None
    matplotlib.use("Agg")  # files only: works without a display, in CI, over ssh
    import matplotlib.pyplot as plt

    return plt


def render(charts: list[RunSeries], summary: dict[str, Any]) -> bytes:
    """The two-panel chart as PNG bytes."""
    plt = _pyplot()
    fig, (rss_ax, rate_ax) = plt.subplots(2, 1, figsize=FIGURE_SIZE, dpi=DPI, sharex=True)
    try:
        colours = _worker_colours(charts, plt)
        _draw_rss(rss_ax, charts, colours)
        _draw_throughput(rate_ax, charts, colours)
        for ax in (rss_ax, rate_ax):
            _mark_runs(ax, charts)
            ax.grid(alpha=0.3)
        fig.suptitle(_title(summary), fontsize=10)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def write_png(charts: list[RunSeries], summary: dict[str, Any], path: str | Path) -> None:
    Path(path).write_bytes(render(charts, summary))


def write_html(charts: list[RunSeries], summary: dict[str, Any], text: str, path: str | Path) -> None:
    """One self-contained page: the chart embedded as a data URI, then the text report."""
    png = base64.b64encode(render(charts, summary)).decode("ascii")
    title = html_lib.escape(f"batchocr report: {summary['output_dir']}")
    page = (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body>\n<h1>{title}</h1>\n"
        f"<img alt='worker memory and throughput over time' src='data:image/png;base64,{png}'>\n"
        f"<pre>{html_lib.escape(text)}</pre>\n</body></html>\n"
    )
    Path(path).write_text(page, encoding="utf-8")


# --- panels ------------------------------------------------------------------------


def _worker_colours(charts: list[RunSeries], plt) -> dict[int, Any]:
    workers = sorted(
        {w for run in charts for w in run.rss} | {w for run in charts for w in run.worker_throughput},
        key=lambda w: (w is None, w),
    )
    palette = plt.get_cmap("tab10")
    return {w: palette(i % 10) for i, w in enumerate(workers)}


def _draw_rss(ax, charts: list[RunSeries], colours: dict[int, Any]) -> None:
    labelled: set[Any] = set()
    for run in charts:
        for worker, processes in sorted(run.rss.items(), key=lambda item: (item[0] is None, item[0])):
            for points in processes.values():
                label = None if worker in labelled else f"worker {worker}"
                labelled.add(worker)
                ax.plot(*zip(*points), color=colours[worker], linewidth=1.2, label=label)
        _draw_recycles(ax, run, colours)
        _draw_crashes(ax, run)
    limit = max((run.rss_limit_mb or 0) for run in charts) if charts else 0
    top = max((v for run in charts for p in run.rss.values() for pts in p.values() for _, v in pts), default=0)
    if limit and top > limit / 2:  # only when it is in sight; else it flattens the lines
        ax.axhline(limit, color="red", linestyle=":", linewidth=1, label=f"max worker RSS {limit:g} MB")
    _legend_markers(ax)
    ax.set_ylabel("worker RSS (MB)")
    ax.set_ylim(bottom=0)
    # lower right: the lines sit high (the axis starts at 0), recycles mark tops
    ax.legend(loc="lower right", fontsize=8, ncol=3, framealpha=0.9)


def _draw_recycles(ax, run: RunSeries, colours: dict[int, Any]) -> None:
    for e in run.recycles:
        restart = e.get("mode") == "restart"
        ax.plot(
            [e["t"]],
            [e.get("rss_before_mb", e.get("rss_mb"))],
            marker="s" if restart else "v",
            markersize=7 if restart else 6,
            color=RESTART_COLOUR if restart else colours.get(e.get("worker")),
            markeredgecolor="black",
            linestyle="none",
        )


def _draw_crashes(ax, run: RunSeries) -> None:
    for mark in run.crashes:
        ax.plot(
            [mark["t"]],
            [mark["rss_mb"] or 0],
            marker="X",
            markersize=9,
            color="red",
            markeredgecolor="black",
            linestyle="none",
        )


def _legend_markers(ax) -> None:
    """Legend entries for the marker shapes (drawn off-data, label only)."""
    common = dict(linestyle="none", markeredgecolor="black")
    ax.plot([], [], marker="v", color="grey", label="recycle in-process", **common)
    ax.plot([], [], marker="s", color=RESTART_COLOUR, label="recycle: process restarted", **common)
    ax.plot([], [], marker="X", color="red", label="crash / kill", **common)


def _draw_throughput(ax, charts: list[RunSeries], colours: dict[int, Any]) -> None:
    total_labelled = False
    for run in charts:
        for worker, series in run.worker_throughput.items():
            if series:
                ax.plot(*zip(*series), color=colours.get(worker), linewidth=0.8, alpha=0.6)
        if run.throughput:
            ax.plot(*zip(*run.throughput), color="black", linewidth=2, label=None if total_labelled else "all workers")
            total_labelled = True
    ax.plot([], [], color="grey", linewidth=0.8, label="each worker")
    ax.set_ylabel("pages/s (rolling window)")
    ax.set_xlabel("seconds since the run started" + (" (runs one after another)" if len(charts) > 1 else ""))
    ax.set_ylim(bottom=0)
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


def _title(summary: dict[str, Any]) -> str:
    pages = summary["pages"]
    leak = summary["leak"]["mb_per_1000_pages"]
    leak_text = "n/a (segments too short)" if leak is None else f"{leak:+.1f} MB per 1,000 pages"
    recycles = [(w["recycles_in_process"], w["recycles_restart"]) for r in summary["runs"] for w in r["worker_stats"]]
    in_process, restart = (sum(x) for x in zip(*recycles)) if recycles else (0, 0)
    return (
        f"{summary['output_dir']}\n{pages['ok']} ok, {pages['error']} error, {pages['timeout']} timeout; "
        f"recycles {in_process} in-process, {restart} restart; RSS growth between recycles {leak_text}"
    )
