"""Aspose's layout modes (``--aspose-areas``) on one sample page: reading order as CER.

    .venv/bin/python benchmarks/aspose_areas.py [--sample samples/two-column.png ...] [--mode M ...]
        [--chars 250] [--option=--aspose-auto-skew ...]

For each ``detect_areas_mode`` (or each ``--mode``) and each sample it runs
``batchocr run --engine aspose --aspose-areas MODE`` (one worker) and compares the first
``--chars`` characters of the text with the sample's ground truth (.txt next
to it), whitespace normalised; a text cut shorter by trial mode (it cuts each
page at its own point, at most 300 characters) is compared with as much of
the truth, and the characters that came back are reported.  A page read straight across two
columns interleaves them: its CER is high although every word is right.
Modes whose resource file is missing end with exit 3; the table names it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from textmetrics import cer, normalise_whitespace  # noqa: E402

from batchocr.engines.aspose import AREA_MODES  # noqa: E402  (no runtime: names only)


def run_mode(mode: str, sample: Path, chars: int, options: list[str]) -> dict:
    truth = normalise_whitespace(sample.with_suffix(".txt").read_text())[:chars]
    with tempfile.TemporaryDirectory(prefix=f"areas-{mode}-") as work:
        pages = Path(work, "in")
        pages.mkdir()
        (pages / sample.name).symlink_to(sample.resolve())
        cmd = [sys.executable, "-m", "batchocr", "run", str(pages), "-o", str(Path(work, "out")), "--quiet"]
        cmd += ["--engine", "aspose", "--workers", "1", "--aspose-areas", mode, *options]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
        if proc.returncode == 3:
            return {"mode": mode, "runs": False, "needs": AREA_MODES[mode], "error": proc.stderr.strip()[-300:]}
        if proc.returncode != 0:
            sys.exit(f"{mode}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
        record = json.loads(Path(work, "out", "results.jsonl").read_text().splitlines()[0])
    text = normalise_whitespace(record["text"])[:chars]
    # Trial mode cuts each page at its own point (often well under 300
    # characters): compare what came back with as much of the truth, and
    # report how much came back.
    truth = truth[: len(text)]
    return {
        "mode": mode,
        "sample": sample.name,
        "runs": True,
        "cer": round(cer(truth, text), 3),
        "chars": len(text),
        "ms": record["ms"],
        "start": text[:60],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, action="append")
    parser.add_argument("--mode", action="append", choices=list(AREA_MODES))
    parser.add_argument("--chars", type=int, default=250)
    parser.add_argument("--option", action="append", default=[], help="extra batchocr run option")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for sample in args.sample or [REPO / "samples" / "two-column.png"]:
        for mode in args.mode or list(AREA_MODES):
            print(f"{sample.name}, {mode} ...", file=sys.stderr)
            rows.append(run_mode(mode, sample, args.chars, args.option))
            if not rows[-1]["runs"]:
                print(f"{mode:<16} exit 3: needs {rows[-1]['needs']}")
                continue
            row = rows[-1]
            print(
                f"{mode:<16} {sample.name:<22} CER {row['cer']:6.1%} over {row['chars']:>3} chars, "
                f"{row['ms']:>8.0f} ms: {row['start']!r}",
                flush=True,
            )
    measured = [row for row in rows if row["runs"]]
    if measured:
        mean = sum(row["cer"] for row in measured) / len(measured)
        total_ms = sum(row["ms"] for row in measured)
        print(f"mean CER {mean:.1%} over {len(measured)} recognitions; engine time {total_ms / 1000:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
