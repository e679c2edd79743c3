"""Accuracy and cost of orientation, deskew and the second look (issue 12).

    .venv/bin/python benchmarks/accuracy.py [--pages-dir samples] [--repeat 3] [--json FILE] [--quick]
    .venv/bin/python benchmarks/accuracy.py --compare-deskew

Reads the pages of a samples directory (``manifest.json``, ground truth
beside each page) and runs the real tesseract engine in this process, one
thread, on every page with two settings, alternating which goes first:

- ``defaults``: deskew, orientation check and second look on;
- ``off``: ``rotate_pages``, ``deskew`` and ``second_look`` off (what
  batchocr did before issue 12, plus the ink mask the suspect check needs).

It prints the character error rate (CER, tests/textmetrics.py) per group:
upright (clean, two-column), rotated (turned 90/180/270), skewed, degraded
(noisy, degraded), pages/s per group (engine time only: decoding is the
same for both), the false-turn count on upright pages, and the CER of the
turned and skewed pages' upright twins (the same page rendered upright by
samples/generate.py), which the turned and skewed pages must come within
0.01 of.

``--compare-deskew`` compares two skew estimators on every upright page
whose angle is known exactly (clean, two-column, rotated, skewed): the projection profile batchocr uses
(``batchocr.preprocess.estimate_skew``) and tesseract's own textline angle
(``AnalyseLayout().Orientation()``, a full layout analysis), on error
against the generator's angle and on milliseconds per page.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["OMP_THREAD_LIMIT"] = "1"  # one thread, as in a worker

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "samples"))
sys.path.insert(0, str(REPO))

import generate  # noqa: E402
from textmetrics import GROUPS, cer  # noqa: E402

from batchocr.config import Settings  # noqa: E402
from batchocr.decoding import decode_page  # noqa: E402
from batchocr.engines.tesseract import TesseractEngine, _dpi  # noqa: E402
from batchocr.preprocess import InkMask, estimate_skew  # noqa: E402

CONFIGS = {
    "defaults": Settings(),
    "off": Settings(rotate_pages=False, deskew=False, second_look=False),
}


@dataclasses.dataclass
class Page:
    file: str
    page: int
    kind: str
    truth: str
    angle: float

    @property
    def group(self) -> str:
        return GROUPS[self.kind]


def load_pages(pages_dir: Path) -> list[Page]:
    manifest = json.loads((pages_dir / "manifest.json").read_text())
    pages = []
    for entry in manifest:
        if entry["format"] == "pdf":  # the same pages as shipped images (scanned), or no OCR (text layer)
            continue
        truths = (pages_dir / entry["ground_truth"]).read_text().split("\f")
        for number, truth in enumerate(truths, start=1):
            pages.append(Page(entry["file"], number, entry["kind"], truth, entry.get("angle", 0.0)))
    return pages


def run_configs(pages_dir: Path, pages: list[Page], repeat: int) -> dict[str, list[dict]]:
    """Every page with every config, ``repeat`` times, alternating the order."""
    engines = {name: TesseractEngine(settings) for name, settings in CONFIGS.items()}
    rows: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for round_ in range(repeat):
        for i, page in enumerate(pages):
            names = list(CONFIGS) if (i + round_) % 2 == 0 else list(reversed(CONFIGS))
            for name in names:
                decoded = decode_page(str(pages_dir / page.file), page.page, 10**9)
                started = time.perf_counter()
                result = engines[name].recognize(decoded)
                seconds = time.perf_counter() - started
                decoded.close()
                rows[name].append(
                    {
                        "page": page,
                        "seconds": seconds,
                        "cer": cer(page.truth, result.text),
                        "rotation": result.extra.get("rotation", 0),
                        "passes": result.extra.get("passes", 1),
                        "round": round_,
                    }
                )
    return rows


def summarize(rows: list[dict]) -> dict[str, dict]:
    by_group: dict[str, list[dict]] = {}
    for row in rows:
        by_group.setdefault(row["page"].group, []).append(row)
    first_round = lambda group_rows: [r for r in group_rows if r["round"] == 0]  # noqa: E731
    return {
        group: {
            "pages": len(first_round(group_rows)),
            "cer_mean": statistics.mean(r["cer"] for r in first_round(group_rows)),
            "cer_max": max(r["cer"] for r in first_round(group_rows)),
            "pages_per_second": len(group_rows) / sum(r["seconds"] for r in group_rows),
            "second_passes": sum(r["passes"] == 2 for r in first_round(group_rows)),
            "false_turns": sum(r["rotation"] != 0 for r in first_round(group_rows)) if group == "upright" else None,
        }
        for group, group_rows in sorted(by_group.items())
    }


def twin_cer() -> dict[str, float]:
    """CER (defaults) of the turned and skewed shipped pages rendered upright."""
    specs = [s for s in generate.SHIPPED if s.kind in ("turned", "skewed", "rotated")]
    engine = TesseractEngine(Settings())
    twins: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="accuracy-twins-") as out:
        for spec in specs:
            twin = dataclasses.replace(spec, kind="clean", file=spec.file.replace("/", "-"), angle=0.0)
            path, truth, _ = generate.build_page(twin, Path(out))
            result = engine.recognize(decode_page(str(path), 1, 10**9))
            twins.setdefault(GROUPS[spec.kind], []).append(cer(truth, result.text))
    return {group: statistics.mean(rates) for group, rates in twins.items()}


def compare_deskew(pages_dir: Path, pages: list[Page]) -> dict[str, dict]:
    """Projection profile vs tesseract's textline angle on pages of known skew."""
    import tesserocr

    api = tesserocr.PyTessBaseAPI(path=TesseractEngine.model_dir(Settings()) + os.sep, lang="eng")
    found: dict[str, list[tuple[float | None, float, float]]] = {"projection profile": [], "tesseract textline": []}
    for page in pages:
        if page.kind in ("turned", "noisy", "degraded"):
            continue  # turned: skew is measured on upright text; noisy/degraded: add a random skew
        decoded = decode_page(str(pages_dir / page.file), page.page, 10**9)
        image, dpi = decoded.image.convert("L"), _dpi(decoded)
        true = -page.angle if page.kind in ("skewed", "rotated") else 0.0  # the correction
        started = time.perf_counter()
        angle = estimate_skew(InkMask.of(image, dpi))
        found["projection profile"].append((angle, true, time.perf_counter() - started))
        started = time.perf_counter()
        api.SetImage(image)
        if dpi:
            api.SetSourceResolution(dpi)
        layout = api.AnalyseLayout()
        # Orientation()[3] is the angle (radians) to rotate by to level the lines.
        angle = math.degrees(layout.Orientation()[3]) if layout else None
        found["tesseract textline"].append((angle, true, time.perf_counter() - started))
        decoded.close()
    api.End()
    return {
        method: {
            "pages": len(rows),
            "no_answer": sum(angle is None for angle, _, _ in rows),
            "mean_abs_error_deg": statistics.mean(abs(a - t) for a, t, _ in rows if a is not None),
            "max_abs_error_deg": max(abs(a - t) for a, t, _ in rows if a is not None),
            "median_ms": statistics.median(s for _, _, s in rows) * 1000,
        }
        for method, rows in found.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages-dir", type=Path, default=REPO / "samples")
    parser.add_argument("--repeat", type=int, default=1, help="times every page is read per config (timing)")
    parser.add_argument("--compare-deskew", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke test: one page per group, no twins")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pages = load_pages(args.pages_dir)
    if args.quick:
        pages = list({page.group: page for page in pages}.values())
    if args.compare_deskew:
        result = compare_deskew(args.pages_dir, pages)
        print(f"{'method':<20} {'pages':>5} {'no answer':>9} {'mean |err|':>10} {'max |err|':>9} {'median ms':>9}")
        for method, r in result.items():
            print(
                f"{method:<20} {r['pages']:>5} {r['no_answer']:>9} {r['mean_abs_error_deg']:>9.2f}° "
                f"{r['max_abs_error_deg']:>8.2f}° {r['median_ms']:>9.0f}"
            )
    else:
        rows = run_configs(args.pages_dir, pages, args.repeat)
        result = {name: summarize(config_rows) for name, config_rows in rows.items()}
        shipped = args.pages_dir.resolve() == (REPO / "samples").resolve() and not args.quick
        result["upright twins (defaults)"] = twin_cer() if shipped else {}
        print(
            f"{'group':<10} {'pages':>5} | {'CER defaults':>12} {'off':>7} | {'pages/s defaults':>16} {'off':>6}"
            f" {'cost':>6} | {'2nd passes':>10} | {'false turns':>11} | {'upright twin CER':>16}"
        )
        for group, d in result["defaults"].items():
            o = result["off"][group]
            twin = result["upright twins (defaults)"].get(group)
            print(
                f"{group:<10} {d['pages']:>5} | {d['cer_mean']:>12.2%} {o['cer_mean']:>7.2%} | "
                f"{d['pages_per_second']:>16.3f} {o['pages_per_second']:>6.3f} "
                f"{1 - d['pages_per_second'] / o['pages_per_second']:>6.1%} | {d['second_passes']:>10} | "
                f"{'' if d['false_turns'] is None else d['false_turns']:>11} | "
                f"{'' if twin is None else format(twin, '.2%'):>16}"
            )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
