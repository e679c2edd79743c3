"""Engines and their recycling policies on the same pages: pages/s and worker memory.

    .venv/bin/python benchmarks/engines.py [--pages 20] [--recycle-every 5] [--json FILE]
    .venv/bin/python benchmarks/engines.py --engines aspose --policies [--rounds 2] [--policy NAME ...]
        [--big-page 3]

Runs ``batchocr run --engine E --workers 2 --recycle-every N`` for each
engine over the same generated pages.  With ``--policies`` it runs one engine
under each recycling policy in ``POLICIES`` instead, alternating the policies
``--rounds`` times (pages/s: the median over rounds; memory: from the last
round).  ``--big-page F`` adds one page scaled up F times (a stray
oversized scan: what a memory limit is for).  From memory.jsonl:

- RSS at start: the ``start`` events (engine loaded, no page yet);
- steady RSS: the median of the ``sample`` events;
- RSS after recycle: the median ``rss_after_mb`` of in-process recycles.

Aspose runs unlicensed here (trial mode: text cut to 300 characters, which
does not change the work it does).  Needs ``pip install 'batchocr[aspose]'``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "samples"))

from peers import bench_env, generated_pages  # noqa: E402

# Recycling policies compared by --policies: name -> batchocr run options.
POLICIES = {
    "count 200, rss 2048 (before)": ["--recycle-every", "200", "--max-worker-rss", "2048"],
    "never": ["--recycle-every", "0", "--max-worker-rss", "0"],
    "count 10": ["--recycle-every", "10", "--max-worker-rss", "0"],
    "rss 1536": ["--recycle-every", "0", "--max-worker-rss", "1536"],
    "rss 900": ["--recycle-every", "0", "--max-worker-rss", "900"],
}


def run_engine(engine: str, pages_dir: Path, options: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"engines-{engine}-") as out:
        started = time.perf_counter()
        cmd = [sys.executable, "-m", "batchocr", "run", str(pages_dir), "-o", out, "--quiet"]
        cmd += ["--engine", engine, "--workers", "2", *options]
        proc = subprocess.run(cmd, env=bench_env(), capture_output=True, text=True, cwd=out)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"{engine} run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        results = [json.loads(x) for x in Path(out, "results.jsonl").read_text().splitlines()]
        memory = [json.loads(x) for x in Path(out, "memory.jsonl").read_text().splitlines()]
    events = lambda kind: [e for e in memory if e["event"] == kind]  # noqa: E731
    recycles = [e for e in events("recycle") if e["mode"] == "in-process"]
    restarts = [e for e in events("recycle") if e["mode"] == "restart"]
    return {
        "pages": len(results),
        "seconds": round(seconds, 1),
        "pages_per_second": round(len(results) / seconds, 3),
        "median_engine_ms": statistics.median(r["ms"] for r in results if r["ms"]),
        "rss_start_mb": statistics.median(e["rss_mb"] for e in events("start")),
        "rss_steady_mb": statistics.median(e["rss_mb"] for e in events("sample")),
        "rss_max_mb": max(e["rss_mb"] for e in memory if e.get("rss_mb")),
        "rss_end_mb": max(last_rss_by_worker(memory).values()),  # what the run left held
        "rss_before_recycle_mb": statistics.median(e["rss_before_mb"] for e in recycles) if recycles else None,
        "rss_after_recycle_mb": statistics.median(e["rss_after_mb"] for e in recycles) if recycles else None,
        "recycles": len(recycles),
        "restarts": len(restarts),
    }


def with_big_page(pages_dir: Path, scale: float) -> Path:
    """The pages plus one of them scaled up by ``scale`` (what a stray
    oversized scan does to a worker's memory), in a directory of its own."""
    from PIL import Image

    directory = pages_dir.parent / f"{pages_dir.name}-big{scale:g}"
    if not (directory / "big-page.png").exists():
        directory.mkdir(exist_ok=True)
        for page in pages_dir.iterdir():
            if not (directory / page.name).exists():
                (directory / page.name).symlink_to(page)
        first = next(p for p in sorted(pages_dir.iterdir()) if p.suffix == ".png")
        with Image.open(first) as image:
            size = (round(image.width * scale), round(image.height * scale))
            image.resize(size, Image.Resampling.BICUBIC).save(directory / ".big-page.png")
        (directory / ".big-page.png").rename(directory / "big-page.png")
    return directory


def last_rss_by_worker(memory: list[dict]) -> dict[int, float]:
    """Each worker's last RSS measurement in the run."""
    return {e["worker"]: e["rss_mb"] for e in memory if e.get("rss_mb") and "worker" in e}


def compare_policies(engine: str, pages_dir: Path, rounds: int, names: list[str]) -> dict:
    """Each policy once per round, in turn (alternating: drift in the
    machine's load spreads over all of them); pages/s is the median."""
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for round_number in range(rounds):
        for name in names:
            options = POLICIES[name]
            print(f"round {round_number + 1}: {engine}, {name} ...", file=sys.stderr)
            runs[name].append(run_engine(engine, pages_dir, options))
    figures = {}
    for name, results in runs.items():
        figures[name] = dict(results[-1])
        figures[name]["pages_per_second"] = statistics.median(r["pages_per_second"] for r in results)
        figures[name]["pages_per_second_runs"] = [r["pages_per_second"] for r in results]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--recycle-every", type=int, default=5)
    parser.add_argument("--engines", default="tesseract,aspose")
    parser.add_argument("--policies", action="store_true", help="compare POLICIES for the first engine")
    parser.add_argument("--rounds", type=int, default=2, help="with --policies: alternating rounds")
    parser.add_argument("--policy", action="append", choices=list(POLICIES), help="with --policies: only these")
    parser.add_argument("--big-page", type=float, help="add one page scaled up by this factor")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pages_dir, files = generated_pages(args.pages)
    if args.big_page:
        pages_dir = with_big_page(pages_dir, args.big_page)
    engines = args.engines.split(",")
    if args.policies:
        figures = compare_policies(engines[0], pages_dir, args.rounds, args.policy or list(POLICIES))
    else:
        figures = {}
        for engine in engines:
            print(f"running {engine} over {args.pages} pages ...", file=sys.stderr)
            figures[engine] = run_engine(engine, pages_dir, ["--recycle-every", str(args.recycle_every)])
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def print_table(figures: dict[str, dict]) -> None:
    width = max(14, *(len(name) + 2 for name in figures))
    print(f"{'':<24}" + "".join(f"{name:>{width}}" for name in figures))
    for column in next(iter(figures.values())):
        print(f"{column:<24}" + "".join(f"{str(f[column]):>{width}}" for f in figures.values()))


if __name__ == "__main__":
    main()
