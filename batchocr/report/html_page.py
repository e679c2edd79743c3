"""The HTML report of ``batchocr report --html`` (supervisor side, after or during a run).

One self-contained file, readable offline and mailable: a styled summary,
interactive charts (plotly, with plotly.js embedded: zoom by dragging,
double-click to reset, hover for worker, process, pages done and RSS), and
tables of the runs, the workers, the failure causes, the failed pages and
the low-confidence pages, each page a link to its file.

plotly is in the optional extra ``batchocr[plot]`` (with matplotlib for the
PNG) and is imported only here.  Sizes stay bounded for a million-page run:
each process's RSS line is thinned to a point budget keeping every peak and
trough (``thin``), marks are capped, and the tables list at most
``report.LISTED_PAGES`` pages with a count of the rest.  plotly.js itself is
~4.8 MB of the file.
"""

from __future__ import annotations

import html
from collections.abc import Collection
from pathlib import Path
from typing import Any

from batchocr.errors import ConfigError, pip_hint
from batchocr.report.chart_data import RunSeries
from batchocr.report.plotting import EXIT_MARKS, verdict
from batchocr.report.text import format_latest_run

INSTALL_HINT = pip_hint("plotly>=5", "plot")
RSS_POINT_BUDGET = 40_000  # RSS points in the whole chart, shared by the process lines
MIN_POINTS_PER_LINE = 200
MARK_BUDGET = 5_000  # recycle marks (a million pages recycled every 200: 5,000)
SHOWN_TABLE_ROWS = 200  # rows per table in the page; the JSON (--json) has up to LISTED_PAGES
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]


def write_html(charts: list[RunSeries], summary: dict[str, Any], text: str, path: str | Path) -> None:
    """Write the report page (``text`` is the plain-text report, folded in at the end)."""
    figure = chart_figure(charts, summary)
    chart = figure.to_html(
        full_html=False,
        include_plotlyjs=True,  # embedded: the page needs no network
        config={"displaylogo": False, "scrollZoom": True, "responsive": True},
        default_width="100%",
        default_height="820px",
    )
    Path(path).write_text(page(summary, chart, text), encoding="utf-8")


def _plotly():
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise ConfigError(f"the HTML report needs plotly, which is not installed: {INSTALL_HINT}") from None
    return go, make_subplots


# --- the chart ----------------------------------------------------------------------


def chart_figure(charts: list[RunSeries], summary: dict[str, Any]):
    """RSS per worker process (top) and pages/s (bottom), sharing the time axis."""
    go, make_subplots = _plotly()
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.64, 0.36],
        vertical_spacing=0.06,
        subplot_titles=("worker RSS (MB)", "pages per second"),
    )
    colours = _colours(charts)
    _rss_traces(fig, go, charts, colours)
    _recycle_traces(fig, go, charts, colours)
    _exit_traces(fig, go, charts)
    _throughput_traces(fig, go, charts, colours)
    _run_boundaries(fig, charts)
    fig.update_layout(
        hovermode="closest",
        dragmode="zoom",
        margin={"t": 40, "l": 60, "r": 20, "b": 50},
        legend={"orientation": "h", "y": -0.08},
        template="plotly_white",
    )
    fig.update_yaxes(rangemode="tozero")
    fig.update_xaxes(
        title_text="seconds since the run started" + (" (runs one after another)" if len(charts) > 1 else ""), row=2
    )
    return fig


def _colours(charts: list[RunSeries]) -> dict[Any, str]:
    workers = sorted({w for run in charts for w in [*run.rss, *run.worker_throughput]}, key=lambda w: (w is None, w))
    return {w: PALETTE[i % len(PALETTE)] for i, w in enumerate(workers)}


def _rss_traces(fig, go, charts: list[RunSeries], colours: dict[Any, str]) -> None:
    lines = sum(len(processes) for run in charts for processes in run.rss.values()) or 1
    budget = max(MIN_POINTS_PER_LINE, RSS_POINT_BUDGET // lines)
    for worker in colours:
        xs: list[Any] = []
        ys: list[Any] = []
        extra: list[Any] = []
        for run in charts:
            for pid, points in run.rss.get(worker, {}).items():
                for t, rss, images in thin(points, budget):
                    xs.append(round(t, 2))
                    ys.append(rss)
                    extra.append([pid, images, run.run])
                xs.append(None)  # a gap: a new process is a new line
                ys.append(None)
                extra.append([None, None, None])
        if xs:
            fig.add_trace(
                go.Scattergl(
                    x=xs,
                    y=ys,
                    customdata=extra,
                    mode="lines",
                    line={"color": colours[worker], "width": 1.4},
                    name=f"worker {worker}",
                    legendgroup=f"w{worker}",
                    hovertemplate=f"worker {worker}<br>pid %{{customdata[0]}}<br>pages done by this process "
                    "%{customdata[1]}<br>RSS %{y:.1f} MB<br>t %{x:.1f} s<br>run %{customdata[2]}<extra></extra>",
                ),
                row=1,
                col=1,
            )
    limit = max((run.rss_limit_mb or 0) for run in charts) if charts else 0
    top = max((p[1] for run in charts for ps in run.rss.values() for pts in ps.values() for p in pts), default=0)
    if limit and top > limit / 2:  # only when it is in sight; else it flattens the lines
        fig.add_hline(y=limit, line={"color": "red", "dash": "dot", "width": 1}, row=1, col=1)


def thin(points: list[tuple], budget: int) -> list[tuple]:
    """At most about ``budget`` points of a line, keeping each stretch's lowest and
    highest reading (a spike or a drop survives thinning), in time order."""
    if len(points) <= budget:
        return points
    per = max(1, (2 * len(points)) // budget)
    kept = []
    for start in range(0, len(points), per):
        chunk = points[start : start + per]
        low = min(chunk, key=lambda p: p[1])
        high = max(chunk, key=lambda p: p[1])
        kept += sorted({low, high}, key=lambda p: p[0])
    if kept[-1] != points[-1]:
        kept.append(points[-1])
    return kept


def _recycle_traces(fig, go, charts: list[RunSeries], colours: dict[Any, str]) -> None:
    """Recycles as thin vertical ticks at the top of the drop: readable by the hundred."""
    for restart in (False, True):
        marks = [e for run in charts for e in run.recycles if (e.get("mode") == "restart") == restart]
        if not marks:
            continue  # the legend lists only what occurred
        step = max(1, -(-len(marks) // MARK_BUDGET))
        shown = marks[::step]
        fig.add_trace(
            go.Scattergl(
                x=[e["t"] for e in shown],
                y=[e.get("rss_before_mb", e.get("rss_mb")) for e in shown],
                customdata=[
                    [e.get("worker"), e.get("pid"), e.get("images"), e.get("rss_after_mb"), e.get("reason")]
                    for e in shown
                ],
                mode="markers",
                marker={
                    "symbol": "line-ns-open",
                    "size": 12 if restart else 9,
                    "line": {"width": 2 if restart else 1.2},
                    "color": "black" if restart else [colours.get(e.get("worker"), "grey") for e in shown],
                },
                name=("recycle: process restarted" if restart else "recycle in-process")
                + (f" ({len(marks)}{', every ' + str(step) + 'th shown' if step > 1 else ''})"),
                hovertemplate=("restart" if restart else "in-process recycle")
                + " (%{customdata[4]})<br>worker %{customdata[0]}, pid %{customdata[1]}<br>after %{customdata[2]} "
                "pages<br>RSS %{y:.1f} -> %{customdata[3]:.1f} MB<br>t %{x:.1f} s<extra></extra>",
            ),
            row=1,
            col=1,
        )


PLOTLY_SYMBOL = {"X": "x", "x": "x-thin-open"}


def _exit_traces(fig, go, charts: list[RunSeries]) -> None:
    for kind, (marker, colour, label) in EXIT_MARKS.items():
        marks = [m for run in charts for m in run.exits if m["kind"] == kind][:MARK_BUDGET]
        if not marks:
            continue
        fig.add_trace(
            go.Scatter(
                x=[m["t"] for m in marks],
                y=[m["rss_mb"] or 0 for m in marks],
                customdata=[[m["worker"], m["pid"], m["images"], html.escape(str(m["cause"]))] for m in marks],
                mode="markers",
                marker={"symbol": PLOTLY_SYMBOL[marker], "size": 11, "color": colour, "line": {"width": 1.5}},
                name=f"{label} ({len(marks)})",
                hovertemplate=f"{label}<br>worker %{{customdata[0]}}, pid %{{customdata[1]}}<br>after "
                "%{customdata[2]} pages<br>%{customdata[3]}<br>t %{x:.1f} s<extra></extra>",
            ),
            row=1,
            col=1,
        )


def _throughput_traces(fig, go, charts: list[RunSeries], colours: dict[Any, str]) -> None:
    for n, run in enumerate(charts):
        window = f"rolling {run.window:.0f} s window"
        for worker, series in sorted(run.worker_throughput.items(), key=lambda item: (item[0] is None, item[0])):
            if series:
                fig.add_trace(
                    go.Scatter(
                        x=[round(t, 2) for t, _ in series],
                        y=[round(v, 4) for _, v in series],
                        mode="lines",
                        line={"color": colours.get(worker, "grey"), "width": 0.9},
                        opacity=0.7,
                        name=f"worker {worker} pages/s",
                        legendgroup=f"w{worker}",
                        showlegend=False,
                        hovertemplate=f"worker {worker}<br>%{{y:.2f}} pages/s ({window})<br>t %{{x:.1f}} s<extra></extra>",
                    ),
                    row=2,
                    col=1,
                )
        if run.throughput:
            fig.add_trace(
                go.Scatter(
                    x=[round(t, 2) for t, _ in run.throughput],
                    y=[round(v, 4) for _, v in run.throughput],
                    mode="lines",
                    line={"color": "black", "width": 2.2},
                    name=f"all workers, pages/s ({window})",
                    legendgroup="all",
                    showlegend=n == 0,
                    hovertemplate=f"all workers<br>%{{y:.2f}} pages/s ({window})<br>t %{{x:.1f}} s<extra></extra>",
                ),
                row=2,
                col=1,
            )


def _run_boundaries(fig, charts: list[RunSeries]) -> None:
    for run in charts[1:]:
        fig.add_vline(x=run.offset, line={"color": "grey", "dash": "dash", "width": 1})
        fig.add_annotation(
            x=run.offset, y=1, yref="paper", text=f"resumed: {html.escape(run.run)}", showarrow=False, xanchor="left"
        )


# --- the page -------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
header { background: #1d2330; color: #fff; padding: 14px 28px; }
header h1 { font-size: 20px; margin: 0 0 4px; } header .dirs { font-family: ui-monospace, monospace; font-size: 13px; opacity: .85; }
main { padding: 18px 28px; max-width: 1500px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 16px; }
.card { background: #fff; border-radius: 8px; padding: 10px 16px; box-shadow: 0 1px 3px #0002; min-width: 120px; }
.card .n { font-size: 24px; font-weight: 600; } .card .l { font-size: 12px; color: #667; text-transform: uppercase; }
.card.bad .n { color: #c0392b; } .card.warn .n { color: #b9770e; } .card.good .n { color: #1e8449; }
.state { display: inline-block; padding: 2px 10px; border-radius: 10px; font-weight: 600; font-size: 13px; }
.state.live { background: #f39c12; color: #fff; } .state.died { background: #c0392b; color: #fff; }
.state.ok { background: #1e8449; color: #fff; } .state.other { background: #7f8c8d; color: #fff; }
section { background: #fff; border-radius: 8px; padding: 12px 18px; margin-bottom: 16px; box-shadow: 0 1px 3px #0002; }
h2 { font-size: 16px; margin: 4px 0 10px; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e5ea; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.memory p { margin: 4px 0; } .verdict { font-weight: 600; } .muted { color: #667; font-size: 13px; }
pre { font-size: 12px; overflow-x: auto; }
"""


def page(summary: dict[str, Any], chart: str, text: str) -> str:
    name = html.escape(summary["output_dir"])
    return "\n".join(
        [
            "<!doctype html>",
            "<html lang='en'><head><meta charset='utf-8'>",
            f"<title>batchocr report: {name}</title>",
            f"<style>{STYLE}</style></head><body>",
            _header(summary),
            "<main>",
            _cards(summary),
            _memory(summary),
            f"<section><h2>Memory and throughput over time</h2>{chart}"
            "<p class='muted'>Drag to zoom, double-click to reset; hover a line for its worker, process, pages and "
            "RSS; click a legend entry to hide it.</p></section>",
            _runs_table(summary),
            _workers_table(summary),
            _failures(summary),
            _low_confidence(summary),
            f"<section><details><summary>The text report</summary><pre>{html.escape(text)}</pre></details></section>",
            "</main></body></html>",
        ]
    )


def _header(summary: dict[str, Any]) -> str:
    latest = summary.get("latest_run") or {}
    state = latest.get("state")
    badge = {"live": "live", "died": "died", "finished": "ok"}.get(state or "", "other")
    label = {"live": "LIVE", "died": "died before its end"}.get(state or "", state or "no run.json")
    return (
        "<header><h1>batchocr report "
        f"<span class='state {badge}'>{html.escape(label)}</span></h1>"
        f"<div class='dirs'>input: {html.escape(summary.get('input_dir') or '(unknown)')}<br>"
        f"output: {html.escape(summary['output_dir'])}</div>"
        f"<div class='dirs'>{html.escape(format_latest_run(latest))}</div></header>"
    )


def _cards(summary: dict[str, Any]) -> str:
    pages = summary["pages"]
    runs = summary["runs"]
    last = runs[-1] if runs else {}
    cards = [
        (pages["ok"], "pages ok", "good"),
        (pages["error"], "pages failed", "bad" if pages["error"] else ""),
        (pages["timeout"], "pages timed out", "bad" if pages["timeout"] else ""),
        (summary["low_confidence_count"], "low confidence", "warn" if summary["low_confidence_count"] else ""),
        (_fmt(last.get("pages_per_second"), ".2f"), "pages/s, last run", ""),
        (last.get("workers", "-"), "workers", ""),
        (len(runs), "runs in this directory", ""),
    ]
    body = "".join(
        f"<div class='card {kind}'><div class='n'>{html.escape(str(n))}</div><div class='l'>{label}</div></div>"
        for n, label, kind in cards
    )
    return f"<div class='cards'>{body}</div>"


def _memory(summary: dict[str, Any]) -> str:
    growth = summary["growth"]
    if growth["across_run"] == growth["within_segments"]:  # no recycles: one fit
        figures = (
            "<p>Over the run (no recycles, so across the run and within one engine's life are one figure): "
            f"<span class='verdict'>{html.escape(verdict(growth['across_run']))}</span></p>"
        )
    else:
        figures = (
            f"<p>Across the run (every reading against the pages its worker slot has done, recycles included): "
            f"<span class='verdict'>{html.escape(verdict(growth['across_run']))}</span></p>"
            f"<p>Within recycle segments (one engine's life, from a (re)load to the next recycle): "
            f"<span class='verdict'>{html.escape(verdict(growth['within_segments']))}</span></p>"
        )
    return (
        "<section class='memory'><h2>Worker memory (RSS), all runs</h2>"
        + figures
        + "<p class='muted'>Each figure is a least-squares slope with its 95% interval, widened for readings that "
        "follow one another; when the interval includes 0, page-to-page noise exceeds any growth. Growth within "
        "segments that does not show across the run is a leak recycling contains; growth across the run is one it "
        "does not.</p></section>"
    )


def _table(headers: list[str], rows: list[list[str]], numeric: Collection[int] = frozenset()) -> str:
    head = "".join(f"<th class='{'num' if i in numeric else ''}'>{h}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td class='{'num' if i in numeric else ''}'>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _runs_table(summary: dict[str, Any]) -> str:
    rows = []
    for run in summary["runs"]:
        time, restarts = run["time"], run["restarts"]
        exits = _exit_counts(run)
        notes = []
        if run["already_done"]:
            notes.append(f"resumed: {run['already_done']} pages done by earlier runs")
        if run["pages"] > run["pages_final"]:
            notes.append(f"{run['pages'] - run['pages_final']} pages since redone by a later run")
        split = ", ".join(
            f"{k} {time[k] / time['capacity']:.0%}"
            for k in ("engine", "decode", "recycle", "restart", "other")
            if time["capacity"]
        )
        rows.append(
            [
                html.escape(run["run"]),
                html.escape(run.get("status") or "-"),
                str(run["pages"]),
                _fmt(run["seconds"], ".1f"),
                _fmt(run["pages_per_second"], ".2f"),
                str(run["workers"]),
                f"{restarts['restarts']} (respawn {restarts['respawn_seconds']:.1f} s, first pages "
                f"+{restarts['first_page_seconds']:.1f} s)",
                f"{exits['crashes']} crashes, {exits['timeouts']} timeout kills, {exits['interrupted']} interrupt kills",
                html.escape(split),
                html.escape("; ".join(notes)),
            ]
        )
    headers = [
        "run",
        "status",
        "pages done",
        "seconds",
        "pages/s",
        "workers",
        "restarts",
        "exits",
        "worker time",
        "notes",
    ]
    return f"<section><h2>Runs</h2>{_table(headers, rows, {2, 3, 4, 5})}</section>"


def _exit_counts(run: dict[str, Any]) -> dict[str, int]:
    return {k: sum(w[k] for w in run["worker_stats"]) for k in ("crashes", "timeouts", "interrupted")}


def _workers_table(summary: dict[str, Any]) -> str:
    rows = []
    for run in summary["runs"]:
        for w in run["worker_stats"]:
            rows.append(
                [
                    html.escape(run["run"]),
                    str(w["worker"]),
                    str(w["pages"]),
                    _fmt(w["pages_per_second"], ".3f"),
                    str(w["processes"]),
                    f"{w['recycles_in_process']} + {w['recycles_restart']} restart",
                    str(w["crashes"]),
                    _fmt(w["rss_start_mb"], ".0f"),
                    _fmt(w["rss_median_mb"], ".0f"),
                    _fmt(w["rss_max_mb"], ".0f"),
                    html.escape(verdict(w["growth_across"])),
                    html.escape(verdict(w["growth_within"])),
                ]
            )
    headers = ["run", "worker", "pages", "pages/s", "processes", "recycles", "crashes", "RSS start MB", "median", "max"]
    headers += ["RSS across the run", "within segments"]
    return f"<section><h2>Workers</h2>{_table(headers, rows, {1, 2, 3, 4, 6, 7, 8, 9})}</section>"


def _failures(summary: dict[str, Any]) -> str:
    failed_count = summary["pages"]["error"] + summary["pages"]["timeout"]
    if not failed_count:
        return "<section><h2>Failed pages</h2><p>none</p></section>"
    causes = _table(
        ["pages", "cause", "e.g."],
        [[str(f["count"]), html.escape(f["cause"]), html.escape(f["example"])] for f in summary["failures"]],
        {0},
    )
    listed = summary["failed_pages"][:SHOWN_TABLE_ROWS]
    rows = [
        [
            _link(summary, p),
            str(p.get("page")),
            html.escape(str(p.get("status"))),
            html.escape(str(p.get("error_kind"))),
            html.escape(str(p.get("error"))),
        ]
        for p in listed
    ]
    return (
        f"<section><h2>Failed pages: {failed_count}</h2><h3>Top causes</h3>{causes}"
        f"<h3>Pages</h3>{_table(['file', 'page', 'status', 'kind', 'error'], rows, {1})}"
        f"{_more(failed_count, len(listed))}</section>"
    )


def _low_confidence(summary: dict[str, Any]) -> str:
    count = summary["low_confidence_count"]
    if not count:
        return "<section><h2>Low-confidence pages</h2><p>none</p></section>"
    listed = summary["low_confidence"][:SHOWN_TABLE_ROWS]
    rows = [[_fmt(p.get("confidence"), ".1f"), _link(summary, p), str(p.get("page"))] for p in listed]
    return (
        f"<section><h2>Low-confidence pages: {count} (least confident first; worth a person's look)</h2>"
        f"{_table(['confidence', 'file', 'page'], rows, {0, 2})}{_more(count, len(listed))}</section>"
    )


def _more(total: int, shown: int) -> str:
    if total <= shown:
        return ""
    return f"<p class='muted'>... and {total - shown} more (<code>batchocr report --json</code> lists more; results.jsonl has all)</p>"


def _link(summary: dict[str, Any], record: dict[str, Any]) -> str:
    """The page's file as a link: file:// under the input directory (PDF viewers open ``#page=N``)."""
    path = str(record.get("path"))
    root = summary.get("input_dir")
    target = Path(root, path) if root else Path(path)
    href = target.as_uri() if target.is_absolute() else path
    if path.lower().endswith(".pdf") and record.get("page"):
        href += f"#page={record['page']}"
    return f"<a href='{html.escape(href, quote=True)}'>{html.escape(path)}</a>"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
