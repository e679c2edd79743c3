"""Aspose vs tesseract on the same pages: pages/s and worker memory.

    .venv/bin/python benchmarks/engines.py [--pages 20] [--recycle-every 5] [--json FILE]

Runs ``batchocr run --engine E --workers 2 --recycle-every N`` for each
engine over the same generated pages and reads memory.jsonl:

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


def run_engine(engine: str, pages_dir: Path, recycle_every: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"engines-{engine}-") as out:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "batchocr", "run", str(pages_dir), "-o", out, "--engine", engine,
             "--workers", "2", "--recycle-every", str(recycle_every), "--quiet"],
            env=bench_env(), capture_output=True, text=True, cwd=out,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"{engine} run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        results = [json.loads(x) for x in Path(out, "results.jsonl").read_text().splitlines()]
        memory = [json.loads(x) for x in Path(out, "memory.jsonl").read_text().splitlines()]
    events = lambda kind: [e for e in memory if e["event"] == kind]  # noqa: E731
    recycles = [e for e in events("recycle") if e["mode"] == "in-process"]
    return {
        "pages": len(results),
        "seconds": round(seconds, 1),
        "pages_per_second": round(len(results) / seconds, 3),
        "median_engine_ms": statistics.median(r["ms"] for r in results if r["ms"]),
        "rss_start_mb": statistics.median(e["rss_mb"] for e in events("start")),
        "rss_steady_mb": statistics.median(e["rss_mb"] for e in events("sample")),
        "rss_max_mb": max(e["rss_mb"] for e in memory if e.get("rss_mb")),
        "rss_before_recycle_mb": statistics.median(e["rss_before_mb"] for e in recycles) if recycles else None,
        "rss_after_recycle_mb": statistics.median(e["rss_after_mb"] for e in recycles) if recycles else None,
        "recycles": len(recycles),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--recycle-every", type=int, default=5)
    parser.add_argument("--engines", default="tesseract,aspose")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pages_dir, files = generated_pages(args.pages)
    figures = {}
    for engine in args.engines.split(","):
        print(f"running {engine} over {args.pages} pages ...", file=sys.stderr)
        figures[engine] = run_engine(engine, pages_dir, args.recycle_every)
    columns = list(next(iter(figures.values())))
    print(f"{'':<24}" + "".join(f"{e:>14}" for e in figures))
    for column in columns:
        print(f"{column:<24}" + "".join(f"{str(f[column]):>14}" for f in figures.values()))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
