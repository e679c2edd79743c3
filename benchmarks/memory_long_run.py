"""Worker memory over a long run: recycling off, by count, by RSS.

    .venv/bin/python benchmarks/memory_long_run.py [--pages 2000] [--workers 2] [--json FILE]
    .venv/bin/python benchmarks/memory_long_run.py --quick     # smoke run: 60 pages

Three runs of ``batchocr run`` (tesseract, default engine) over the same pages:

- ``off``:   ``--recycle-every 0 --max-worker-rss 0`` (one engine per worker for the whole run);
- ``count``: ``--recycle-every 200 --max-worker-rss 0``;
- ``rss``:   ``--recycle-every 0 --max-worker-rss LIMIT``, LIMIT a bit above the
  steady RSS of the ``off`` run (its median RSS x RSS_LIMIT_FACTOR, rounded
  up; or ``--rss-limit MB``).

Pages: 2,000 would take hours at full size, so the benchmark uses SMALLER
pages, and says so in its output: ``--source-pages`` generated scans
(``samples/generate.py``), each page rescaled to ``--dpi`` (150) and cropped
to its top half (``--full-pages`` keeps the whole page), then cycled through
with symlinks up to ``--pages``.  Tesseract's memory depends on page size,
so absolute RSS is lower than on full pages; the growth per page is what
this measures.

For each run it prints worker RSS over time (from memory.jsonl), the RSS
growth per 1,000 pages across the run and within recycle segments, each
with its 95% interval (``batchocr.report``),
recycles and their time, and pages/s; then the cost of recycling (pages/s
lost against ``off``), and writes each run's chart with
``batchocr report OUT --plot``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from peers import bench_env, generated_pages, machine  # noqa: E402  (benchmarks/ is on sys.path)

from batchocr.report.reading import load_outputs  # noqa: E402
from batchocr.report.summary import summarize  # noqa: E402
from batchocr.report.text import format_growth  # noqa: E402
from batchocr.report.workers import rss_readings  # noqa: E402

RSS_LIMIT_FACTOR = 1.1  # the rss run's limit: 10% above the steady RSS of the off run
RECYCLE_EVERY = 200
TIME_POINTS = 11  # RSS shown at 0%, 10%, ... 100% of each run


# --- pages ---------------------------------------------------------------------------


def small_pages(source_count: int, dpi: int, half: bool) -> list[Path]:
    """Each page of the generated scans rescaled to ``dpi`` (and cropped to its
    top half), as PNG; made once into the system temp directory."""
    from PIL import Image, ImageSequence

    source_dir, files = generated_pages(source_count)
    target = source_dir.parent / f"small-{source_count}-{dpi}dpi-{'half' if half else 'full'}"
    done = target / ".complete"
    if not done.exists():
        target.mkdir(parents=True, exist_ok=True)
        for path in files:
            with Image.open(path) as image:
                for number, frame in enumerate(ImageSequence.Iterator(image), 1):
                    _small_page(frame, dpi, half).save(target / f"{path.stem}-p{number}.png", dpi=(dpi, dpi))
        done.touch()
    return sorted(target.glob("*.png"))


def _small_page(frame, dpi: int, half: bool):
    source_dpi = round(frame.info.get("dpi", (300, 300))[0]) or 300
    scale = dpi / source_dpi
    page = frame.convert("L").resize((round(frame.width * scale), round(frame.height * scale)))
    return page.crop((0, 0, page.width, page.height // 2)) if half else page


def cycled_links(pages: list[Path], count: int, directory: Path) -> Path:
    """``count`` symlinks to ``pages``, cycling: a long run without the disk space."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    for i in range(count):
        os.symlink(pages[i % len(pages)], directory / f"page-{i:05d}.png")
    return directory


# --- runs ----------------------------------------------------------------------------


def run_batchocr(pages: Path, out: Path, workers: int, recycle: list[str]) -> float:
    """One fresh ``batchocr run``; returns its wall seconds."""
    if out.exists():
        for name in ("results.jsonl", "memory.jsonl", "run.json"):
            (out / name).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "batchocr", "run", str(pages), "-o", str(out), "--quiet"]
    cmd += ["--workers", str(workers), *recycle]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=bench_env(), capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"batchocr run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - started


def describe_run(name: str, out: Path, recycle: list[str]) -> dict:
    """The figures of one run, from its outputs (through batchocr.report)."""
    outputs = load_outputs(out)
    summary = summarize(outputs)
    run = summary["runs"][-1]
    events = outputs.memory
    return {
        "mode": name,
        "options": recycle,
        "pages_ok": summary["pages"]["ok"],
        "pages_failed": summary["pages"]["error"] + summary["pages"]["timeout"],
        "seconds": run["seconds"],
        "pages_per_second": summary["latest_run"]["pages_per_second"],
        "growth": summary["growth"],  # across the run and within recycle segments, each with its 95% interval
        "recycles_in_process": sum(w["recycles_in_process"] for w in run["worker_stats"]),
        "recycles_restart": sum(w["recycles_restart"] for w in run["worker_stats"]),
        "recycle_seconds": run["time"]["recycle"],
        "rss_median_mb": _median(rss_readings(e for e in events if e.get("event") == "sample")),
        "rss_max_mb": max(rss_readings(events), default=None),
        "workers": {
            w["worker"]: {k: w[k] for k in ("pages", "rss_start_mb", "rss_median_mb", "rss_max_mb")}
            for w in run["worker_stats"]
        },
        "rss_over_time": rss_over_time(events, run["seconds"] or 0),
    }


def _median(values: list[float]) -> float | None:
    import statistics

    return round(statistics.median(values), 1) if values else None


def rss_over_time(events: list[dict], seconds: float) -> dict[int, list[float | None]]:
    """Per worker: its RSS (latest reading) at 0%, 10%, ... 100% of the run."""
    series: dict[int, list[float | None]] = {}
    for worker in sorted({e["worker"] for e in events}):
        readings = [(e["t"], e["rss_mb"]) for e in events if e["worker"] == worker and e.get("rss_mb") is not None]
        series[worker] = [_latest_before(readings, seconds * i / (TIME_POINTS - 1)) for i in range(TIME_POINTS)]
    return series


def _latest_before(readings: list[tuple[float, float]], t: float) -> float | None:
    before = [rss for when, rss in readings if when <= t]
    return before[-1] if before else None


def write_plot(out: Path, png: Path) -> None:
    """The chart, made the way a user makes it: ``batchocr report OUT --plot``."""
    cmd = [sys.executable, "-m", "batchocr", "report", str(out), "--plot", str(png)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  (no chart: {proc.stderr.strip()})", file=sys.stderr)


# --- output --------------------------------------------------------------------------


def print_run(figures: dict) -> None:
    print(
        f"\n{figures['mode']} ({' '.join(figures['options'])}): {figures['pages_ok']} ok, "
        f"{figures['pages_failed']} failed, {figures['pages_per_second']:.3f} pages/s"
    )
    print(f"  RSS trend across the run: {format_growth(figures['growth']['across_run'])}")
    print(f"  RSS growth within recycle segments: {format_growth(figures['growth']['within_segments'])}")
    print(
        f"  recycles: {figures['recycles_in_process']} in-process, {figures['recycles_restart']} restart, "
        f"{figures['recycle_seconds']:.1f} s in total; RSS median {figures['rss_median_mb']} MB, "
        f"max {figures['rss_max_mb']} MB"
    )
    header = " ".join(f"{p * 10:>5}%" for p in range(TIME_POINTS))
    print(f"  RSS MB over the run  {header}")
    for worker, values in figures["rss_over_time"].items():
        cells = " ".join(f"{'-' if v is None else f'{v:.0f}':>6}" for v in values)
        print(f"    worker {worker:<11} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source-pages", type=int, default=40, help="generated scans to cycle through")
    parser.add_argument("--dpi", type=int, default=150, help="rescale the pages to this resolution")
    parser.add_argument("--full-pages", action="store_true", help="keep whole pages (default: top halves)")
    parser.add_argument("--recycle-every", type=int, default=RECYCLE_EVERY, help="for the count run")
    parser.add_argument("--rss-limit", type=int, help="MB for the rss run (default: from the off run)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "batchocr-bench" / "memory-long-run")
    parser.add_argument("--quick", action="store_true", help="smoke run: 60 pages from 6, recycle every 20")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.pages, args.source_pages, args.recycle_every = 60, 6, 20

    pages = small_pages(args.source_pages, args.dpi, half=not args.full_pages)
    links = cycled_links(pages, args.pages, args.out / "input")
    shape = "whole pages" if args.full_pages else "top halves of pages"
    print(
        f"{args.pages} pages: {len(pages)} distinct {shape} rescaled to {args.dpi} dpi (smaller than real scans, "
        f"to keep the run time sane), cycled via symlinks; {args.workers} workers; tesseract"
    )

    runs = []
    modes = [
        ("off", ["--recycle-every", "0", "--max-worker-rss", "0"]),
        ("count", ["--recycle-every", str(args.recycle_every), "--max-worker-rss", "0"]),
    ]
    for name, options in modes:
        runs.append(measure(name, options, links, args))
    limit = args.rss_limit or math.ceil((runs[0]["rss_median_mb"] or 0) * RSS_LIMIT_FACTOR)
    runs.append(measure("rss", ["--recycle-every", "0", "--max-worker-rss", str(limit)], links, args))

    off_rate = runs[0]["pages_per_second"]
    for figures in runs:
        figures["pages_per_second_lost_vs_off"] = round(1 - figures["pages_per_second"] / off_rate, 4)
    print("\ncost of recycling (pages/s lost against off):")
    for figures in runs[1:]:
        print(
            f"  {figures['mode']:<6} {figures['pages_per_second_lost_vs_off']:+.1%}  "
            f"({figures['recycles_in_process'] + figures['recycles_restart']} recycles, "
            f"{figures['recycle_seconds']:.1f} s of worker time)"
        )
    if args.json:
        result = {
            "benchmark": "memory_long_run",
            "pages": args.pages,
            "distinct_pages": len(pages),
            "page_shape": f"{shape} at {args.dpi} dpi",
            "workers": args.workers,
            "quick": args.quick,
            "rss_limit_mb": limit,
            "machine": machine(),
            "runs": runs,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def measure(name: str, options: list[str], links: Path, args) -> dict:
    out = args.out / name
    seconds = run_batchocr(links, out, args.workers, options)
    figures = describe_run(name, out, options)
    figures["wall_seconds"] = round(seconds, 2)
    figures["plot"] = str(args.out / f"memory-{name}.png")
    write_plot(out, Path(figures["plot"]))
    print_run(figures)
    print(f"  chart: {figures['plot']}")
    return figures


if __name__ == "__main__":
    main()
