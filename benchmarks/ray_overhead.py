"""Ray overhead: the same pages with ``--executor local`` and ``--executor ray``.

    .venv/bin/python benchmarks/ray_overhead.py [--pages-dir samples] [--workers 2] [--repeat 3] [--json FILE]

Runs ``batchocr run PAGES_DIR --workers N`` with each executor, ``--repeat``
times, interleaved (local, ray, local, ray, ...) so that drift on a shared
machine hits both alike.  Each run is a fresh process into a fresh output
directory; without ``--ray-address`` the Ray runs start (and stop) their own
local Ray instance, as a user's run does.

Figures (median of the repeats):

- ``wall pages/s``: pages / the whole command, start-up included (for Ray:
  starting the local instance, ~4-7 s here);
- ``work pages/s``: pages / processing time, from the first worker ready to
  the last one finished (memory.jsonl ``start`` and ``exit`` events), i.e. the
  cost per page once workers run;
- ``startup s``: from the run's start to the first worker ready;
- the ratios ray / local of both rates.

The machines are shared and noisy: quote medians, and the figures of one
run (``--repeat 1``) only as a smoke test.
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
EXECUTORS = ("local", "ray")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_once(pages_dir: Path, executor: str, workers: int, ray_address: str | None) -> dict:
    """One ``batchocr run`` in a fresh process; its figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHOCR_")}
    extra = ["--ray-address", ray_address] if executor == "ray" and ray_address else []
    with tempfile.TemporaryDirectory(prefix=f"ray-overhead-{executor}-") as out:
        cmd = [sys.executable, "-m", "batchocr", "run", str(pages_dir), "-o", out, "--quiet"]
        cmd += ["--workers", str(workers), "--executor", executor, *extra]
        started = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{executor} run failed ({proc.returncode}):\n{proc.stderr}")
        info = json.loads((Path(out) / "run.json").read_text())
        memory = read_jsonl(Path(out) / "memory.jsonl")
    pages = info["counts"]["done_this_run"]
    first_ready = min(e["t"] for e in memory if e["event"] == "start")
    last_exit = max(e["t"] for e in memory if e["event"] == "exit")
    return {
        "pages": pages,
        "wall_seconds": round(wall, 3),
        "work_seconds": round(last_exit - first_ready, 3),
        "startup_seconds": round(first_ready, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages-dir", type=Path, default=REPO / "samples")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ray-address", help="join this cluster instead of starting a local Ray each run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    runs: dict[str, list[dict]] = {name: [] for name in EXECUTORS}
    for round_ in range(args.repeat):  # interleaved, so drift hits both alike
        for name in EXECUTORS:
            result = run_once(args.pages_dir, name, args.workers, args.ray_address)
            runs[name].append(result)
            print(
                f"  round {round_ + 1}: {name}: {result['pages']} pages, {result['wall_seconds']:.1f} s wall, "
                f"{result['work_seconds']:.1f} s work, {result['startup_seconds']:.1f} s to first worker",
                file=sys.stderr,
            )

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    pages = runs["local"][0]["pages"]
    rates = {
        name: {
            "wall_pages_per_second": round(pages / median(name, "wall_seconds"), 3),
            "work_pages_per_second": round(pages / median(name, "work_seconds"), 3),
            "startup_seconds": round(median(name, "startup_seconds"), 2),
        }
        for name in EXECUTORS
    }
    ratio = {
        key: round(rates["ray"][key] / rates["local"][key], 3)
        for key in ("wall_pages_per_second", "work_pages_per_second")
    }
    figures = {
        "pages": pages,
        "pages_dir": str(args.pages_dir),
        "workers": args.workers,
        "repeat": args.repeat,
        "ray_address": args.ray_address,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "host": platform.node()},
        "median": rates,
        "ray_over_local": ratio,
        "runs": runs,
    }
    print(f"{pages} pages, {args.workers} workers, median of {args.repeat} runs, {os.cpu_count()} CPUs")
    print(f"  {'executor':<9} {'wall pages/s':>12} {'work pages/s':>12} {'startup s':>10}")
    for name in EXECUTORS:
        r = rates[name]
        print(
            f"  {name:<9} {r['wall_pages_per_second']:>12.3f} {r['work_pages_per_second']:>12.3f} "
            f"{r['startup_seconds']:>10.2f}"
        )
    print(f"  ray / local: wall {ratio['wall_pages_per_second']:.3f}, work {ratio['work_pages_per_second']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
