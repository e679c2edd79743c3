"""What writing each per-file output format costs per page (issue 13).

    .venv/bin/python benchmarks/formats.py [--pages-dir samples] [--repeat 5] [--json FILE] [--quick]
    .venv/bin/python benchmarks/formats.py --records OUT_DIR   # records of an earlier run

First a real batchocr run (tesseract, 2 workers) over the pages directory
makes the records (skipped with ``--records``).  Then, in this process,
for every format and every input file, ``repeat`` rounds (the order of the
formats rotates each round):

- ``render``: the writer alone, into memory (records read back from
  results.jsonl by their ledger offsets, as the assembly thread does);
- ``write``: what the assembly thread does per file: render into a
  temporary file beside the output, fsync, rename (``assembly.write_output``).

It prints milliseconds per page (median over the rounds of total time /
pages) and bytes per page.

``--end-to-end N`` then runs batchocr N times each without and with
``--formats`` (all formats), alternating, into fresh output directories,
and prints pages/s (run.json) of each and the ratio of the medians: what
the assembly costs a whole run.  Against OCR at ~1,400 ms per page on one core
these are what the supervisor's assembly thread spends; the workers do not
wait for it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from batchocr.assembly import read_records, write_output  # noqa: E402
from batchocr.ledger import Ledger, decode_rel  # noqa: E402
from batchocr.outputs import FileDocument, format_names, get_format  # noqa: E402


def make_records(pages_dir: Path, out: Path) -> None:
    command = [sys.executable, "-m", "batchocr", "run", str(pages_dir), "-o", str(out), "--workers", "2", "--quiet"]
    subprocess.run(command, check=False, cwd=REPO, capture_output=True)
    if not (out / "results.jsonl").exists():
        raise SystemExit(f"the batchocr run made no records in {out}")


def documents(out: Path, input_dir: str, results_fd: int):
    """A FileDocument for every file with a record of every page."""
    ledger = Ledger(out)
    files = []
    after = b""
    while True:
        rows = ledger.files_after(after, 500)
        if not rows:
            break
        after = rows[-1][0]
        files += [decode_rel(row[0]) for row in rows if row[1] == row[2] == row[4]]
    spans = {rel: tuple(ledger.file_spans(rel)) for rel in files}
    ledger.close()
    return [
        FileDocument(
            path=os.path.join(input_dir, rel),
            rel=rel,
            page_count=len(spans[rel]),
            read_pages=lambda s=spans[rel]: read_records(results_fd, s),
        )
        for rel in files
    ]


def measure(docs, names, repeat: int, scratch: Path) -> dict:
    pages = sum(doc.page_count for doc in docs)
    timings: dict[str, dict[str, list[float]]] = {n: {"render": [], "write": []} for n in names}
    sizes: dict[str, int] = {}
    for round_index in range(repeat):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            fmt = get_format(name)
            started = time.perf_counter()
            size = 0
            for doc in docs:
                buffer = io.BytesIO()
                fmt.write(doc, buffer)
                size += buffer.tell()
            timings[name]["render"].append(time.perf_counter() - started)
            sizes[name] = size
            started = time.perf_counter()
            for doc in docs:
                write_output(fmt, doc, scratch)
            timings[name]["write"].append(time.perf_counter() - started)
    return {
        "files": len(docs),
        "pages": pages,
        "repeat": repeat,
        "formats": {
            name: {
                "render_ms_per_page": round(1000 * statistics.median(timings[name]["render"]) / pages, 3),
                "write_ms_per_page": round(1000 * statistics.median(timings[name]["write"]) / pages, 3),
                "write_ms_per_page_runs": [round(1000 * t / pages, 3) for t in timings[name]["write"]],
                "bytes_per_page": round(sizes[name] / pages),
            }
            for name in names
        },
    }


def end_to_end(pages_dir: Path, runs: int, scratch: Path) -> dict:
    """pages/s without and with every format, alternating which goes first."""
    rates: dict[str, list[float]] = {"without": [], "with": []}
    for index in range(runs):
        order = ["without", "with"] if index % 2 == 0 else ["with", "without"]
        for kind in order:
            out = scratch / f"e2e-{index}-{kind}"
            extra = ["--formats", ",".join(format_names())] if kind == "with" else []
            command = [sys.executable, "-m", "batchocr", "run", str(pages_dir), "-o", str(out), "--workers", "2"]
            subprocess.run([*command, "--quiet", *extra], check=False, cwd=REPO, capture_output=True)
            rates[kind].append(json.loads((out / "run.json").read_text())["pages_per_second"])
    medians = {kind: statistics.median(values) for kind, values in rates.items()}
    return {
        "runs": rates,
        "median_pages_per_second": medians,
        "ratio_with_to_without": medians["with"] / medians["without"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages-dir", type=Path, default=REPO / "samples")
    parser.add_argument("--records", type=Path, help="an output directory of an earlier run (its input: --pages-dir)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="2 rounds")
    parser.add_argument("--end-to-end", type=int, default=0, metavar="N", help="N whole runs without and with")
    args = parser.parse_args()
    repeat = 2 if args.quick else args.repeat
    with tempfile.TemporaryDirectory(prefix="batchocr-formats-") as tmp:
        out = args.records or Path(tmp) / "out"
        if args.records is None:
            make_records(args.pages_dir, out)
        with open(out / "results.jsonl", "rb") as results:
            docs = documents(out, str(args.pages_dir.resolve()), results.fileno())
            result = measure(docs, list(format_names()), repeat, Path(tmp) / "written")
        if args.end_to_end:
            result["end_to_end"] = end_to_end(args.pages_dir, args.end_to_end, Path(tmp))
    result["loadavg"] = os.getloadavg()
    print(f"{result['files']} files, {result['pages']} pages, median of {repeat} rounds")
    print(f"{'format':8} {'render ms/page':>15} {'write ms/page':>14} {'bytes/page':>11}")
    for name, figures in result["formats"].items():
        print(
            f"{name:8} {figures['render_ms_per_page']:>15.3f} {figures['write_ms_per_page']:>14.3f} "
            f"{figures['bytes_per_page']:>11,}"
        )
    if "end_to_end" in result:
        e2e = result["end_to_end"]
        print(
            f"whole runs, pages/s (median of {args.end_to_end}): without formats "
            f"{e2e['median_pages_per_second']['without']:.3f}, with all formats "
            f"{e2e['median_pages_per_second']['with']:.3f}; ratio {e2e['ratio_with_to_without']:.3f}"
        )
    print(f"load average: {' '.join(f'{x:.2f}' for x in result['loadavg'])}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
