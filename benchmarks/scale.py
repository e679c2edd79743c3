"""Scale: a million pages through the real supervisor, and what it costs.

    .venv/bin/python benchmarks/scale.py [--pages 1000000] [--workers 2] [--dir DIR] [--json FILE]
    .venv/bin/python benchmarks/scale.py --quick        # smoke run: 5,000 pages

The input is ``--pages`` real files: hard links to a few tiny PNGs (16x16
px; one per 50,000 links), 1,000 per directory, so a million of them cost seconds and no disk, and
discovery still lists, stats and sniffs every one.  The engine is the
``TextBenchmarkEngine`` (``benchmarks/noop_engine.py``): no OCR, ~5 KB of
text per page, so each record has the size of a dense page's.

Phases, each a real ``batchocr`` command, timed start to exit, with the
supervisor's RSS (that process only, not its workers) sampled every 0.1 s:

1. ``run`` into a fresh output dir: discovery time (run.json), time to the
   first record in results.jsonl, supervisor peak RSS, pages per second;
2. ``run`` again (resume with nothing to do): time and peak RSS;
3. ``report``: time and peak RSS.

Targets: supervisor peak RSS <= 300 MB throughout; resume with nothing to do
<= 60 s; first page within 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
ENGINE = "noop_engine:TextBenchmarkEngine"
PER_DIR = 1000
LINKS_PER_FILE = 50_000
TARGETS = {"peak_rss_mb": 300, "resume_seconds": 60, "first_page_seconds": 10}


def make_input(root: Path, pages: int) -> Path:
    """``pages`` hard links to tiny PNGs, PER_DIR per directory (a new
    original every LINKS_PER_FILE: ext4 allows 65,000 links to one file)."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    for i in range(pages):
        if i % LINKS_PER_FILE == 0:  # hidden: discovery skips it, it is not a page
            original = root / f".original-{i // LINKS_PER_FILE:03d}.png"
            Image.new("L", (16, 16), (i // LINKS_PER_FILE) % 256).save(original)
        directory = root / f"d{i // PER_DIR:05d}"
        if i % PER_DIR == 0:
            directory.mkdir(exist_ok=True)
        os.link(original, directory / f"p{i:07d}.png")
    return root


def measured(cmd: list[str], env: dict[str, str], first_record: Path | None = None) -> dict:
    """Run ``cmd``; its wall time, the peak RSS of that process, and when
    ``first_record`` (results.jsonl) first held a whole line."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    process = psutil.Process(proc.pid)
    peak, first = 0, None
    while proc.poll() is None:
        try:
            peak = max(peak, process.memory_info().rss)
        except psutil.Error:
            pass
        if first is None and first_record is not None and _has_line(first_record):
            first = time.perf_counter() - started
        time.sleep(0.1)
    stderr = proc.stderr.read()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return {
        "seconds": round(wall, 2),
        "peak_rss_mb": round(peak / 2**20, 1),
        "first_page_seconds": round(first, 2) if first is not None else None,
        "stderr_tail": stderr[-600:],
    }


def _has_line(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return b"\n" in fh.read(65536)
    except FileNotFoundError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one, removed after)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000 pages")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--report-only", action="store_true", help="only phase 3, on --dir's existing outputs")
    args = parser.parse_args()
    if args.report_only:
        report = measured([sys.executable, "-m", "batchocr", "report", str(args.dir / "out")], _env())
        print(json.dumps({"report": {"seconds": report["seconds"], "peak_rss_mb": report["peak_rss_mb"]}}))
        return
    if args.quick:
        args.pages = 5000
    work = args.dir or Path(tempfile.mkdtemp(prefix="batchocr-scale-"))
    try:
        figures = run(work, args.pages, args.workers, _env())
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHOCR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH), str(REPO)])
    return env


def run(work: Path, pages: int, workers: int, env: dict[str, str]) -> dict:
    in_dir, out_dir = work / "in", work / "out"
    started = time.perf_counter()
    if not in_dir.exists():
        make_input(in_dir, pages)
    print(f"input: {pages} files in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    shutil.rmtree(out_dir, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "batchocr",
        "run",
        str(in_dir),
        "-o",
        str(out_dir),
        "--engine",
        ENGINE,
        "--workers",
        str(workers),
        "--recycle-every",
        "0",
        "--quiet",
    ]
    first = measured(cmd, env, first_record=out_dir / "results.jsonl")
    info = json.loads((out_dir / "run.json").read_text())
    print(f"run: {first}", file=sys.stderr)
    resume = measured(cmd, env)
    resumed = json.loads((out_dir / "run.json").read_text())
    print(f"resume: {resume}", file=sys.stderr)
    report = measured([sys.executable, "-m", "batchocr", "report", str(out_dir)], env)
    print(f"report: {report}", file=sys.stderr)
    return {
        "benchmark": "scale",
        "pages": pages,
        "workers": workers,
        "engine": ENGINE,
        "results_jsonl_mb": round((out_dir / "results.jsonl").stat().st_size / 2**20, 1),
        "ledger_mb": round((out_dir / "ledger.sqlite").stat().st_size / 2**20, 1),
        "run": {
            "seconds": first["seconds"],
            "discovery_seconds": info.get("discovery_seconds"),
            "first_page_seconds": first["first_page_seconds"],
            "supervisor_peak_rss_mb": first["peak_rss_mb"],
            "pages_per_second": info.get("pages_per_second"),
            "counts": info.get("counts"),
        },
        "resume_nothing_to_do": {
            "seconds": resume["seconds"],
            "supervisor_peak_rss_mb": resume["peak_rss_mb"],
            "skipped_already_ok": resumed["counts"]["skipped_already_ok"],
        },
        "report": {"seconds": report["seconds"], "peak_rss_mb": report["peak_rss_mb"]},
        "targets": TARGETS,
        "machine": {"nproc": os.cpu_count(), "load_average_at_end": os.getloadavg()},
    }


if __name__ == "__main__":
    main()
