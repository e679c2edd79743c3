"""Pool overhead: how many items per second the supervisor and workers move.

    .venv/bin/python benchmarks/pool_overhead.py [--items 2000] [--workers 2] [--repeat 3] [--json FILE]
    .venv/bin/python benchmarks/pool_overhead.py --quick      # smoke run: 200 items, once

Runs ``batchocr run`` on tiny images (50x50 px PNG) with the no-op test
engine (``benchmarks/noop_engine.py``: ``--engine noop_engine:NoopBenchmarkEngine``,
PYTHONPATH=benchmarks), so everything measured is batchocr's own cost per
item: the supervisor handing the page over, the worker decoding it (Pillow)
and measuring RSS, the record coming back and being written to JSONL.

Figures (median of --repeat runs):

- ``items_per_second``: items / processing time, where processing time runs
  from the first worker ready to the last worker finished (memory.jsonl),
  so interpreter start-up, discovery and worker spawning are left out;
- ``overhead_ms_per_item``: workers x processing time / items, the worker
  time each item costs beyond the engine.  This is what it adds to every
  real page (~1,400 ms for a tesseract page).  Target: under 5 ms;
- ``wall_seconds``: the whole command, start-up included, for reference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from batchocr.report import load_outputs, summarize  # noqa: E402

ENGINE = "noop_engine:NoopBenchmarkEngine"
TARGET_MS = 5.0
IMAGE_SIZE = (50, 50)


def make_images(directory: Path, count: int) -> Path:
    """``count`` distinct 50x50 grey PNGs (a different shade each: no caching anywhere)."""
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("L", IMAGE_SIZE, i % 256).save(directory / f"tiny-{i:05d}.png")
    return directory


def run_once(images: Path, workers: int) -> dict:
    """One ``batchocr run`` into a fresh output directory; its figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHOCR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH), str(REPO)])
    with tempfile.TemporaryDirectory(prefix="pool-overhead-") as out:
        cmd = [
            sys.executable,
            "-m",
            "batchocr",
            "run",
            str(images),
            "-o",
            out,
            "--workers",
            str(workers),
            "--engine",
            ENGINE,
            "--recycle-every",
            "0",
            "--quiet",
        ]
        started = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"batchocr run failed ({proc.returncode}):\n{proc.stderr}")
        outputs = load_outputs(out)
        summary = summarize(outputs)
    items = summary["pages"]["ok"]
    processing = processing_seconds(outputs.memory)
    decode = [r["decode_ms"] for r in outputs.results if r.get("decode_ms") is not None]
    return {
        "items": items,
        "wall_seconds": round(wall, 3),
        "run_seconds": summary["latest_run"]["seconds"],
        "processing_seconds": round(processing, 3),
        "items_per_second": round(items / processing, 1),
        "overhead_ms_per_item": round(workers * processing / items * 1000, 3),
        "decode_ms_median": statistics.median(decode) if decode else None,
    }


def processing_seconds(memory: list[dict]) -> float:
    """From the first worker ready (``start``) to the last worker done (``exit``)."""
    starts = [e["t"] for e in memory if e["event"] == "start"]
    exits = [e["t"] for e in memory if e["event"] == "exit"]
    return max(exits) - min(starts)


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 items, once")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.items, args.repeat = 200, 1

    with tempfile.TemporaryDirectory(prefix="pool-overhead-images-") as tmp:
        images = make_images(Path(tmp), args.items)
        runs = []
        for i in range(args.repeat):
            runs.append(run_once(images, args.workers))
            print(f"  run {i + 1}: {runs[-1]}", file=sys.stderr)

    keys = ("items_per_second", "overhead_ms_per_item", "wall_seconds", "processing_seconds")
    median = {key: statistics.median(r[key] for r in runs) for key in keys}
    figures = {
        "benchmark": "pool_overhead",
        "engine": ENGINE,
        "items": args.items,
        "image_size_px": list(IMAGE_SIZE),
        "workers": args.workers,
        "repeat": args.repeat,
        "quick": args.quick,
        "machine": machine(),
        "median": median,
        "target_ms_per_item": TARGET_MS,
        "meets_target": median["overhead_ms_per_item"] < TARGET_MS,
        "runs": runs,
    }
    print(
        f"{args.items} items of {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} px, {args.workers} workers, no-op engine, "
        f"median of {args.repeat} run(s)"
    )
    print(f"  items per second (first worker ready -> last done): {median['items_per_second']:.0f}")
    print(
        f"  overhead per item (workers x time / items):         {median['overhead_ms_per_item']:.2f} ms "
        f"(target < {TARGET_MS:g} ms: {'met' if figures['meets_target'] else 'NOT met'})"
    )
    print(f"  whole command, start-up included:                   {median['wall_seconds']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
