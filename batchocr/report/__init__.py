"""``batchocr report``: read an output directory and summarise it.  No engine, no workers.

Data flow, one module per step::

    results.jsonl ─┐ (streamed)
    memory.jsonl ──┼─> reading ─> runs (split by run, tallied) ─> summary ─> text / JSON
    run.json ──────┤                  workers (memory, exits)  ─┘   │
    ledger.sqlite ─┘ ─> pages (final statuses, failures)            └─> chart_data ─> plotting (PNG),
                                                                                      html_page (HTML)

``growth`` holds the statistics of memory growth.  Memory stays bounded at
any size: records are streamed past per-run tallies, never held; each
page's final status comes from the ledger.  Only the charts keep one number
per page (its completion time).  ``runs``, ``workers`` and most of
``pages`` are pure functions over dicts, so tests can feed them lines
directly; ``pages`` reads the ledger and ``summary`` tests the lock.
"""

from __future__ import annotations

import json

from batchocr.report.reading import load_outputs
from batchocr.report.summary import summarize
from batchocr.report.text import format_text


def main(out_dir: str, as_json: bool = False, plot: str | None = None, html: str | None = None) -> str:
    """``batchocr report``: the text (or JSON) to print; writes the charts if asked."""
    outputs = load_outputs(out_dir)
    summary = summarize(outputs)
    if plot or html:
        from batchocr.report import plotting  # matplotlib is optional: only now
        from batchocr.report.chart_data import chart_data

        charts = chart_data(outputs)
        if plot:
            plotting.write_png(charts, summary, plot)
            summary["plot"] = str(plot)
        if html:
            from batchocr.report import html_page  # plotly is optional too

            html_page.write_html(charts, summary, format_text(summary), html)
            summary["html"] = str(html)
    if as_json:
        return json.dumps(summary, indent=2)
    text = format_text(summary)
    written = [f"wrote {path}" for path in (plot, html) if path]
    return "\n".join([text, *written])
