"""The aspose engine: runtime set-up, recognition, recycling, preflight, inventory.

The pytest process never imports ``aspose.ocr``: its .NET runtime reads its
environment once and breaks forked processes, exactly what the supervisor
must avoid.  Everything that needs the runtime runs in a subprocess
(``run_worker``), as a batchocr worker would.  Recognition costs seconds
per page, so only three small pages are recognised in this file (plus the
six sample pages of the end-to-end run).
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

try:
    importlib.metadata.version("aspose-ocr-python-net")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("aspose-ocr-python-net is not installed", allow_module_level=True)

from batchocr.config import Settings
from batchocr.engines import aspose_compat
from batchocr.engines.aspose import DEFAULT_AI_MODEL, AsposeEngine, aspose_language
from batchocr.errors import ConfigError

from conftest import batchocr_env
from textmetrics import cer, normalise_whitespace

pytestmark = pytest.mark.aspose

REPO = Path(__file__).resolve().parent.parent
TESTS_DIR = Path(__file__).resolve().parent
ASPOSE_LEFTOVERS = ("Aspose.OCR.log.txt", "Aspose", "aspose_data", "Aspose.AI.LLM")
GROUND_TRUTH = [
    "The quick brown fox jumps over the lazy dog.",
    "Batch processing of scanned pages keeps",
    "every core busy and memory flat.",
    "Workers recycle their engines after a",
    "fixed number of images, so native memory",
    "is returned to the system.",
    "Each record says whether it came from",
    "a trial license, and the banner is gone.",
    "Trial mode cuts every page to its first",
    "three hundred characters, so this page",
    "is long enough to show where the cut is",
    "made and that nothing after it survives.",
]


# --- helpers -------------------------------------------------------------------
def render_page(path: Path, lines: list[str], size=(1400, 950)) -> Path:
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    for i, line in enumerate(lines):
        draw.text((60, 50 + i * 70), line, font=font, fill=0)
    image.save(path)
    return path


def worker_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    """The test environment, with a private compat-library cache."""
    return batchocr_env(cache_dir.parent, BATCHOCR_CACHE_DIR=str(cache_dir), **extra)


def run_worker(code: str, cwd: Path, env: dict[str, str], timeout=300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, as a worker process would."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def last_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def leftovers(directory: Path) -> list[str]:
    return [name for name in ASPOSE_LEFTOVERS if (directory / name).exists()]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """A private compat-library cache, also for preflight in this process."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("BATCHOCR_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def user_cwd(tmp_path) -> Path:
    """The directory the user runs from: nothing of Aspose's may appear in it."""
    directory = tmp_path / "cwd"
    directory.mkdir()
    return directory


# --- supervisor side: no runtime in this process --------------------------------
def test_supervisor_side_does_not_load_the_runtime(tmp_path):
    settings = Settings(engine="aspose", model_dir=str(tmp_path / "models"))
    assert AsposeEngine.version().startswith("aspose-ocr-python-net ")
    AsposeEngine.inventory(settings)
    assert AsposeEngine.run_warnings(settings)
    assert "aspose.ocr" not in sys.modules


@pytest.mark.parametrize(
    "lang, expected",
    [
        ("eng", ("ENG", None)),
        ("eng+deu+fra", ("LATIN", None)),
        ("rus+ukr", ("CYRILLIC", "aspose-ocr-cyrillic-v1.ocr")),
        ("hin", ("HIN", "aspose-ocr-hindi-v2.ocr")),
        ("chi_sim", ("CHINESE", "aspose-ocr-chinese-v2.ocr")),
        ("auto", ("AUTO", "aspose-ocr-language-classification-v1.ocr")),
    ],
)
def test_language_and_its_resource(lang, expected):
    assert aspose_language(Settings(lang=lang)) == expected


@pytest.mark.parametrize("lang", ["klingon", "eng+rus"])
def test_unusable_language_is_a_config_error(lang):
    with pytest.raises(ConfigError):
        aspose_language(Settings(lang=lang))


def test_preflight_passes_unlicensed(cache_dir, tmp_path):
    AsposeEngine.preflight(Settings(engine="aspose", model_dir=str(tmp_path / "models")))
    assert "aspose.ocr" not in sys.modules


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        ("this is not XML\n", "not valid"),
        (
            "<License><Data><LicensedTo>Nobody</LicensedTo><Products><Product>Aspose.Total"
            "</Product></Products><EditionType>Enterprise</EditionType>"
            "<SubscriptionExpiry>20991231</SubscriptionExpiry></Data>"
            "<Signature>QUJDREVGR0g=</Signature></License>",
            "signature",
        ),
    ],
    ids=["missing", "not-xml", "bad-signature"],
)
def test_bad_license_is_a_config_error(cache_dir, tmp_path, content, message):
    license_file = tmp_path / "Aspose.OCR.lic"
    if content is not None:
        license_file.write_text(content)
    settings = Settings(engine="aspose", aspose_license=str(license_file))
    with pytest.raises(ConfigError, match=message) as caught:
        AsposeEngine.preflight(settings)
    assert caught.value.exit_code == 2
    assert "aspose.ocr" not in sys.modules


def test_runtime_that_aborts_is_a_config_error(cache_dir, monkeypatch):
    """The probe subprocess dies by SIGABRT (an ICU version that does not
    exist); preflight reports it instead of a worker dying later."""
    monkeypatch.setenv("CLR_ICU_VERSION_OVERRIDE", "999")  # user values win over detection
    with pytest.raises(ConfigError, match="SIGABRT.*ICU"):
        AsposeEngine.preflight(Settings(engine="aspose"))


def test_compat_build_impossible_is_a_clear_error_not_an_abort(tmp_path, cache_dir, monkeypatch, user_cwd):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.raises(ConfigError, match="C compiler"):
        AsposeEngine.preflight(Settings(engine="aspose"))
    # A worker in the same situation raises a Python exception; it does not
    # reach the runtime (which would abort with SIGABRT).
    proc = run_worker(
        """
        from batchocr.config import Settings
        from batchocr.engines.aspose import AsposeEngine
        AsposeEngine(Settings(engine="aspose", model_dir="models"))
        """,
        cwd=user_cwd,
        env=worker_env(cache_dir, CC=str(tmp_path / "no-such-compiler")),
    )
    assert proc.returncode == 1, proc.stderr
    assert "ConfigError" in proc.stderr and "C compiler" in proc.stderr
    assert not list(cache_dir.rglob("libssl.so.1.1"))


# --- worker side: in subprocesses -------------------------------------------------
def test_recognize_trial_page_then_recycle_several_times(tmp_path, cache_dir, user_cwd):
    page = render_page(tmp_path / "page.png", GROUND_TRUTH)
    proc = run_worker(
        f"""
        import json, os, sys
        from batchocr.config import Settings
        from batchocr.decoding import decode_page
        from batchocr.engines.aspose import AsposeEngine

        settings = Settings(engine="aspose", model_dir="models")  # relative: resolved once
        results = []
        engine = AsposeEngine(settings)
        for rebuild in range(4):
            if rebuild in (0, 3):  # recognise on the first and the last engine
                page = decode_page({str(page)!r}, 1, 10**8)
                r = engine.recognize(page)
                page.close()
                results.append(dict(text=r.text, confidence=r.confidence, extra=r.extra,
                                    lines=[(l.text, l.confidence, l.bbox) for l in r.lines]))
            engine.free_resources()
            engine = AsposeEngine(settings)
        engine.free_resources()
        print(json.dumps(dict(results=results, cwd=os.getcwd())))
        """,
        cwd=user_cwd,
        env=worker_env(cache_dir),
    )
    out = last_json(proc)
    first, last = out["results"]
    truth = normalise_whitespace(" ".join(GROUND_TRUTH))
    text = normalise_whitespace(first["text"])
    assert 200 <= len(text) <= 300, text  # trial mode: cut to 300 characters
    assert cer(truth[: len(text)], text) < 0.05, text
    assert "Trial" not in first["text"] and "*****" not in first["text"]
    assert first["extra"] == {"trial": True}
    assert first["confidence"] is None  # trial confidences are 0: unknown
    assert first["lines"] and all(bbox and bbox[2] > bbox[0] for _, _, bbox in first["lines"])
    assert last == first  # the rebuilt engines behave the same
    assert out["cwd"] == str(user_cwd / "models")
    assert leftovers(user_cwd) == []
    assert (user_cwd / "models" / "aspose_data").is_dir()


def test_compat_library_removed_from_cache_is_rebuilt(tmp_path, cache_dir, user_cwd):
    library = Path(aspose_compat.ensure_compat_library())
    library.unlink()
    # Trial mode keeps well under 300 characters of a short page (a one-line
    # page comes back empty), so this page has six lines.
    page = render_page(tmp_path / "short.png", GROUND_TRUTH[:6], size=(1100, 520))
    proc = run_worker(
        f"""
        import json
        from batchocr.config import Settings
        from batchocr.decoding import decode_page
        from batchocr.engines.aspose import AsposeEngine

        engine = AsposeEngine(Settings(engine="aspose", model_dir={str(tmp_path / "models")!r}))
        print(json.dumps(dict(text=engine.recognize(decode_page({str(page)!r}, 1, 10**8)).text)))
        """,
        cwd=user_cwd,
        env=worker_env(cache_dir),
    )
    text = normalise_whitespace(last_json(proc)["text"])
    truth = normalise_whitespace(" ".join(GROUND_TRUTH))
    assert len(text) >= 30 and cer(truth[: len(text)], text) < 0.1, text
    assert library.is_file()
    assert leftovers(user_cwd) == []


def test_inventory_agrees_with_list_local(tmp_path, cache_dir):
    """The supervisor scans the directories itself; the scan must match what
    AsposeAI.list_local() and Resources.list_local() report."""
    models = tmp_path / "models"
    root = models / "Aspose.AI.LLM" / "models"
    for rel in [
        DEFAULT_AI_MODEL,  # top level: listed
        f"sub/{DEFAULT_AI_MODEL}",  # one level down: listed
        f"sub/deeper/{DEFAULT_AI_MODEL}",  # two levels down: not listed
        "notes.txt",
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"gguf")
    home_with_local_share = tmp_path / "home"
    (home_with_local_share / ".local" / "share").mkdir(parents=True)
    resources = tmp_path / "resources"
    (resources / "sub").mkdir(parents=True)
    for rel in ["aspose-ocr-hindi-v2.ocr", "sub/aspose-ocr-korean-v1.ocr", "readme.txt"]:
        (resources / rel).write_bytes(b"ocr")

    settings = Settings(
        engine="aspose", lang="hin", aspose_ai="spellcheck",
        model_dir=str(models), aspose_resource_dir=str(resources),
    )  # fmt: skip
    inventory = AsposeEngine.inventory(settings)
    proc = run_worker(
        f"""
        import json, os
        from batchocr.engines.aspose import _import_aspose, prepare_runtime
        prepare_runtime()
        ocr, ai_module = _import_aspose({str(resources)!r}, {str(models)!r})  # as a worker does
        ai = ai_module.AsposeAI()
        print(json.dumps(dict(
            ai=[os.path.abspath(p) for p in ai.list_local()],
            resources=list(ocr.Resources.list_local()),
        )))
        ai.free_resources()
        """,
        # whatever the cwd, and even where ~/.local/share exists (then .NET
        # would look there): the worker points AsposeAI at the model dir
        cwd=tmp_path,
        env=worker_env(cache_dir, HOME=str(home_with_local_share)),
    )
    real = last_json(proc)
    ours_ai = {m.path for m in inventory.models if m.kind == "llm" and m.name == DEFAULT_AI_MODEL}
    assert ours_ai == set(real["ai"]) and len(ours_ai) == 2
    ours_resources = {m.name.removesuffix(".ocr") for m in inventory.models if m.kind == "ocr-resource"}
    assert ours_resources == set(real["resources"]) == {"aspose-ocr-hindi-v2"}
    assert inventory.directory == str(models)
    assert inventory.extra_directories == (str(resources),)
    assert inventory.required == (DEFAULT_AI_MODEL, "aspose-ocr-hindi-v2.ocr")
    assert inventory.missing() == []


def test_inventory_names_missing_ai_model_and_resource(tmp_path):
    settings = Settings(engine="aspose", lang="rus", aspose_ai="spellcheck", model_dir=str(tmp_path))
    inventory = AsposeEngine.inventory(settings)
    assert inventory.missing() == [DEFAULT_AI_MODEL, "aspose-ocr-cyrillic-v1.ocr"]
    assert inventory.directory == str(tmp_path)
    assert inventory.extra_directories == (str(tmp_path / "aspose_data"),)


# --- end to end ------------------------------------------------------------------
def test_cli_two_workers_recycling_on_sample_pages(tmp_path, cache_dir, user_cwd):
    """The real CLI over shipped sample pages: 2 spawned workers, each
    rebuilding its engine every 2 pages; trial text matches the start of the
    ground truth."""
    names = ["letter.png", "quarterly-report.png", "notice.jpg", "meeting minutes.png",
             "archive/2019/old-letter.png", "price-list.bmp"]  # fmt: skip
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in names:
        (pages / Path(name).name).symlink_to(REPO / "samples" / name)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "batchocr", "run", str(pages), "-o", str(out), "--engine", "aspose",
         "--workers", "2", "--recycle-every", "2", "--quiet", "--model-dir", str(tmp_path / "models")],
        cwd=user_cwd, env=worker_env(cache_dir), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TRIAL mode" in proc.stderr  # said once, loudly
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["path"] for r in records) == sorted(Path(n).name for n in names)
    assert all(r["status"] == "ok" and r["trial"] is True for r in records), records
    for record in records:
        truth = normalise_whitespace((REPO / "samples" / _truth_of(names, record["path"])).read_text())
        text = normalise_whitespace(record["text"])
        assert len(text) >= 100, record  # a full page keeps up to 300 characters in trial mode
        assert cer(truth[: len(text)], text) <= 0.05, (record["path"], text, truth[: len(text)])
    events = [json.loads(line) for line in (out / "memory.jsonl").read_text().splitlines()]
    recycles = [e for e in events if e["event"] == "recycle"]
    assert {e["worker"] for e in recycles} == {1, 2}, events
    assert all(e["rss_before_mb"] > 0 and e["rss_after_mb"] > 0 for e in recycles)
    assert leftovers(user_cwd) == []


def _truth_of(names: list[str], file_name: str) -> str:
    source = next(n for n in names if Path(n).name == file_name)
    return str(Path(source).with_suffix(".txt"))
