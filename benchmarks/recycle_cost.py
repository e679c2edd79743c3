"""What default recycling costs: pages/s with the defaults vs ``--recycle-every 0``.

    .venv/bin/python benchmarks/recycle_cost.py [--small 1500] [--full 40] [--repeat 3] [--json FILE]

Two page sets, the real tesseract engine, 2 workers:

- ``small``: one line of text per image (1000x60 px), ~16 ms of engine time
  each, where an engine rebuild every 200 pages used to cost 15% of the run;
- ``full``: full generated pages (as ``peers.py`` makes them), ~1 s each.

Runs alternate (default, off, default, off, ...) so both see the same
machine; pages/s is pages / processing time (first worker ready to last
worker done, from memory.jsonl).  Prints the medians and their ratio
(default / off; 1.0 = recycling is free).  Target: >= 0.97 on small pages.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "samples"))
sys.path.insert(0, str(BENCH))

from peers import generated_pages  # noqa: E402
from pool_overhead import machine, processing_seconds  # noqa: E402

TARGET_SMALL = 0.97
WORDS = ["invoice", "total", "amount", "paid", "received", "shipped", "order", "account", "balance", "due"]


def small_pages(directory: Path, count: int) -> Path:
    """``count`` one-line images, each a different line of words."""
    from PIL import Image, ImageDraw, ImageFont

    directory.mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=28)
    for i in range(count):
        image = Image.new("L", (1000, 60), 255)
        words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(5)]
        ImageDraw.Draw(image).text((20, 12), f"{i:05d} " + " ".join(words), font=font, fill=0)
        image.save(directory / f"line-{i:05d}.png")
    return directory


def full_pages(directory: Path, count: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    _, files = generated_pages(count)
    for i, path in enumerate(files):
        os.symlink(path, directory / f"{i:03d}-{path.name}")
    return directory


def run_once(images: Path, recycle: list[str]) -> tuple[float, float]:
    """One ``batchocr run``: pages/s over its processing time, and the share of
    the workers' time spent recycling (from the recycle events' own timings:
    unlike pages/s, it does not depend on what else the machine is doing)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHOCR_")}
    with tempfile.TemporaryDirectory(prefix="recycle-cost-") as out:
        cmd = [sys.executable, "-m", "batchocr", "run", str(images), "-o", out, "--workers", "2", "--quiet", *recycle]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            sys.exit(f"batchocr run failed ({proc.returncode}):\n{proc.stderr}")
        memory = [json.loads(line) for line in (Path(out) / "memory.jsonl").read_text().splitlines()]
        pages = len((Path(out) / "results.jsonl").read_bytes().splitlines())
        recycles = [e for e in memory if e["event"] == "recycle"]
    seconds = processing_seconds(memory)
    share = sum(e["recycle_ms"] for e in recycles) / 1000 / (2 * seconds)
    print(
        f"    {' '.join(recycle) or 'default'}: {pages / seconds:.2f} pages/s, "
        f"{len(recycles)} recycles, {share:.2%} of worker time recycling",
        file=sys.stderr,
    )
    return pages / seconds, share


def compare(images: Path, repeat: int) -> dict:
    default, off, shares = [], [], []
    for _ in range(repeat):  # alternating: both see the same machine
        rate, share = run_once(images, [])
        default.append(rate)
        shares.append(share)
        off.append(run_once(images, ["--recycle-every", "0"])[0])
    median_default, median_off = statistics.median(default), statistics.median(off)
    return {
        "recycling_share_of_worker_time": round(statistics.median(shares), 4),
        "pages_per_second_default": round(median_default, 3),
        "pages_per_second_off": round(median_off, 3),
        "ratio": round(median_default / median_off, 3),
        "runs_default": [round(x, 3) for x in default],
        "runs_off": [round(x, 3) for x in off],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1500, help="one-line images")
    parser.add_argument("--full", type=int, default=40, help="full pages")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict = {"benchmark": "recycle_cost", "repeat": args.repeat, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="recycle-cost-pages-") as tmp:
        for name, make, count in (("small", small_pages, args.small), ("full", full_pages, args.full)):
            print(f"  {name}: {count} pages", file=sys.stderr)
            figures[name] = {"pages": count, **compare(make(Path(tmp) / name, count), args.repeat)}
    for name in ("small", "full"):
        f = figures[name]
        print(
            f"{name:>5} ({f['pages']} pages): default {f['pages_per_second_default']:.2f} pages/s, "
            f"recycling off {f['pages_per_second_off']:.2f} pages/s, ratio {f['ratio']:.3f}; "
            f"recycling took {f['recycling_share_of_worker_time']:.2%} of worker time"
        )
    met = figures["small"]["ratio"] >= TARGET_SMALL
    print(f"target: ratio >= {TARGET_SMALL} on small pages: {'met' if met else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
