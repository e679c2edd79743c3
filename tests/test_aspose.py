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
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

try:
    importlib.metadata.version("aspose-ocr-python-net")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("aspose-ocr-python-net is not installed", allow_module_level=True)

from conftest import batchocr_env
from textmetrics import cer, normalise_whitespace

from batchocr.config import Settings
from batchocr.engines import aspose_compat
from batchocr.engines.aspose import (
    AREA_MODES,
    DEFAULT_AI_MODEL,
    STRUCTURE_RESOURCE,
    AsposeEngine,
    areas_mode,
    aspose_language,
)
from batchocr.errors import ConfigError, ModelCheckError
from batchocr.inventory import check_models

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
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


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
def test_supervisor_side_does_not_load_the_runtime(tmp_path, cache_dir):
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


def test_default_areas_mode_is_the_best_the_listed_resources_allow():
    assert areas_mode(Settings(), set()) == "universal"
    assert areas_mode(Settings(), {"aspose-ocr-hindi-v2.ocr"}) == "universal"
    assert areas_mode(Settings(), {STRUCTURE_RESOURCE}) == "document_layout"
    assert areas_mode(Settings(aspose_areas="lean"), {STRUCTURE_RESOURCE}) == "lean"  # explicit wins


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
                                    lines=[(l.text, l.confidence, l.bbox) for l in r.lines],
                                    words=[[(w.text, w.bbox) for w in l.words] for l in r.lines]))
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
    # Aspose reports lines only: word boxes are estimated inside each line's box
    for (line_text, _, (x0, y0, x1, y1)), words in zip(first["lines"], first["words"]):
        assert [text for text, _ in words] == line_text.split()
        for _, (wx0, wy0, wx1, wy1) in words:
            assert x0 <= wx0 < wx1 <= x1 and (wy0, wy1) == (y0, y1)
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


def ai_models_fixture(models: Path) -> Path:
    """AI model files where AsposeAI looks, as a user who followed the
    tutorial might have them: the default model at the top and one level
    down, old and other models, and a copy too deep to be listed."""
    root = models / "Aspose.AI.LLM" / "models"
    for rel in [
        DEFAULT_AI_MODEL,
        f"sub/{DEFAULT_AI_MODEL}",
        f"sub/deeper/{DEFAULT_AI_MODEL}",
        "old_x.gguf",
        "x.gguf",
        "sub/old_y.gguf",
        "notes.txt",
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"gguf")
    return root


def resources_fixture(resources: Path) -> Path:
    (resources / "sub").mkdir(parents=True)
    for rel in [
        "aspose-ocr-hindi-v2.ocr",
        "old_aspose-ocr-cyrillic-v0.ocr",
        "sub/aspose-ocr-korean-v1.ocr",
        "readme.txt",
    ]:
        (resources / rel).write_bytes(b"ocr")
    return resources


def batchocr(args: list, cwd: Path, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m batchocr ARGS`` in a subprocess, as a user would run it from ``cwd``."""
    command = [sys.executable, "-m", "batchocr", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def batchocr_models(args: list, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return batchocr(["models", *args], cwd, env)


ASPOSE_QUIET = ("--engine", "aspose", "--quiet")


def test_models_list_agrees_with_list_local(tmp_path, cache_dir, user_cwd):
    """`models list` shows what AsposeAI.list_local() and Resources.list_local()
    return in the same environment; the files on disk they do not list
    (unlicensed: every file not named like the default model) are shown apart."""
    models = tmp_path / "models"
    root = ai_models_fixture(models)
    resources = resources_fixture(tmp_path / "resources")
    home_with_local_share = tmp_path / "home"  # where .NET would look without our setting
    (home_with_local_share / ".local" / "share").mkdir(parents=True)
    env = worker_env(cache_dir, HOME=str(home_with_local_share))
    proc = batchocr_models(
        ["list", "--engine", "aspose", "--json", "--model-dir", models, "--aspose-resource-dir", resources],
        cwd=user_cwd,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    real = last_json(
        run_worker(
            f"""
        import json, os
        from batchocr.engines.aspose import import_aspose, prepare_runtime
        prepare_runtime()
        ocr, ai_module = import_aspose({str(resources)!r}, {str(models)!r})  # as a worker does
        ai = ai_module.AsposeAI()
        print(json.dumps(dict(
            root=ai.get_local_path(),
            ai=[os.path.abspath(p) for p in ai.list_local()],
            resources=list(ocr.Resources.list_local()),
        )))
        """,
            cwd=tmp_path,
            env=env,
        )
    )
    assert listing["directory"] == real["root"] == str(root)
    assert listing["extra_directories"] == [str(resources)]
    assert sorted(m["path"] for m in listing["models"] if m["kind"] == "llm") == sorted(real["ai"])
    assert len(real["ai"]) == 2  # top level and one below, not deeper
    listed_resources = {m["name"].removesuffix(".ocr") for m in listing["models"] if m["kind"] == "ocr-resource"}
    assert listed_resources == set(real["resources"])
    unlisted = sorted(m["name"] for m in listing["unlisted"])
    assert unlisted == ["old_x.gguf", "old_y.gguf", "x.gguf"]  # unlicensed: only the default model's name
    assert "list_local" in listing["note"]
    human = batchocr_models(["list", "--engine", "aspose", "--model-dir", models], cwd=user_cwd, env=env)
    assert "UNLISTED" in human.stdout and "note: Aspose does not list 3 model file(s)" in human.stdout
    assert leftovers(user_cwd) == []


def test_models_path_prints_where_models_go(tmp_path, cache_dir, user_cwd):
    proc = batchocr_models(["path", "--engine", "aspose", "--model-dir", "models"], user_cwd, worker_env(cache_dir))
    assert proc.returncode == 0, proc.stderr
    models = user_cwd / "models"
    assert proc.stdout.splitlines() == [str(models / "Aspose.AI.LLM" / "models"), str(models / "aspose_data")]


def test_prune_acts_only_on_what_aspose_lists(tmp_path, cache_dir, user_cwd):
    models = tmp_path / "models"
    root = ai_models_fixture(models)
    resources = resources_fixture(models / "aspose_data")
    env = worker_env(cache_dir)
    args = ["prune", "--engine", "aspose", "--model-dir", models]
    dry = batchocr_models(args, user_cwd, env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("would delete") == 1 and "old_aspose-ocr-cyrillic-v0.ocr  (OLD)" in dry.stdout
    assert dry.stdout.count("kept: aspose does not list it") == 2  # old_x.gguf, sub/old_y.gguf
    # the spell-checker's model is needed when the AI is on: even a prefix matching it keeps it
    kept = batchocr_models([*args, "--prefix", "Llama", "--yes", "--aspose-ai", "spellcheck"], user_cwd, env)
    assert "kept: the current configuration needs it" in kept.stdout, kept.stdout
    assert (root / DEFAULT_AI_MODEL).exists()
    done = batchocr_models([*args, "--yes"], user_cwd, env)
    assert done.returncode == 0, done.stderr
    assert not (resources / "old_aspose-ocr-cyrillic-v0.ocr").exists()
    assert (root / "old_x.gguf").exists() and (root / "sub" / "old_y.gguf").exists()


def test_model_placed_where_the_fix_line_says_passes_the_check(tmp_path, cache_dir):
    """Exit 3 names, for each missing file, the exact path; putting the files
    there makes the same check pass."""
    settings = Settings(
        engine="aspose",
        lang="rus",
        aspose_ai="spellcheck",
        aspose_areas="multicolumn",
        model_dir=str(tmp_path / "models"),
    )
    with pytest.raises(ModelCheckError) as caught:
        check_models(settings)
    assert caught.value.exit_code == 3
    message = str(caught.value)
    places = re.search(r"fix: copy each file to exactly this path: (.*?) \(or set", message).group(1).split(", ")
    assert sorted(Path(p).name for p in places) == sorted(
        [DEFAULT_AI_MODEL, "aspose-ocr-cyrillic-v1.ocr", STRUCTURE_RESOURCE]
    ), message
    for place in places:
        Path(place).parent.mkdir(parents=True, exist_ok=True)
        Path(place).write_bytes(b"model")
    inventory = check_models(settings)
    assert inventory.missing() == []


def test_spellcheck_that_cannot_work_offline_is_exit_2_before_any_worker(tmp_path, cache_dir, user_cwd):
    models = tmp_path / "models"
    ai_models_fixture(models)  # the model is there: the native libraries are what is missing
    pages = tmp_path / "pages"
    pages.mkdir()
    render_page(pages / "page.png", GROUND_TRUTH[:6], size=(1100, 520))
    out = tmp_path / "out"
    run_args = [str(pages), "-o", str(out), "--aspose-ai", "spellcheck", "--model-dir", str(models)]
    proc = batchocr(["run", *run_args, *ASPOSE_QUIET], user_cwd, worker_env(cache_dir), timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "spellcheck cannot work here" in proc.stderr and "offline" in proc.stderr
    assert not out.exists()  # no worker started, nothing written


def test_area_modes_and_their_resources_match_the_library(tmp_path, cache_dir):
    """Each mode either recognises or fails naming exactly the resource
    AREA_MODES says it needs (downloads off, no resources present)."""
    page = render_page(tmp_path / "line.png", ["Hello world"], size=(500, 120))
    answers = last_json(
        run_worker(
            f"""
        import json
        from PIL import Image
        from batchocr.engines.aspose import import_aspose, prepare_runtime
        prepare_runtime()
        ocr, _ = import_aspose({str(tmp_path / "no-resources")!r}, {str(tmp_path)!r})
        api, image, answers = ocr.AsposeOcr(), Image.open({str(page)!r}).convert("L"), {{}}
        for mode in {list(AREA_MODES)!r}:
            settings = ocr.RecognitionSettings()
            settings.threads_count = 1
            settings.detect_areas_mode = getattr(ocr.DetectAreasMode, mode.upper())
            source = ocr.OcrInput(ocr.InputType.SINGLE_IMAGE)
            source.add(bytearray(image.tobytes()), image.width, image.height, ocr.PixelType.BYTE)
            try:
                api.recognize(source, settings)
                answers[mode] = None
            except RuntimeError as exc:
                answers[mode] = str(exc)
        print(json.dumps(answers))
        """,
            cwd=tmp_path,
            env=worker_env(cache_dir),
        )
    )
    for mode, resource in AREA_MODES.items():
        if resource is None:
            assert answers[mode] is None, (mode, answers[mode])
        else:
            assert answers[mode] and f"'{resource}'" in answers[mode], (mode, answers[mode])


@pytest.mark.parametrize("mode", [m for m, resource in AREA_MODES.items() if resource])
def test_areas_mode_without_its_resource_is_exit_3_naming_it(tmp_path, cache_dir, user_cwd, mode):
    pages = tmp_path / "pages"
    pages.mkdir()
    render_page(pages / "page.png", ["Hello"], size=(300, 100))
    run_args = [str(pages), "-o", str(tmp_path / "out"), "--aspose-areas", mode, "--model-dir", "models"]
    proc = batchocr(["run", *run_args, *ASPOSE_QUIET], user_cwd, worker_env(cache_dir), timeout=300)
    assert proc.returncode == 3, proc.stderr
    assert str(user_cwd / "models" / "aspose_data" / AREA_MODES[mode]) in proc.stderr


def test_probe_killed_by_a_signal_leaves_nothing_in_the_temp_dir(tmp_path, cache_dir, monkeypatch):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    monkeypatch.setenv("CLR_ICU_VERSION_OVERRIDE", "999")  # the runtime aborts: SIGABRT
    with pytest.raises(ConfigError, match="SIGABRT"):
        AsposeEngine.preflight(Settings(engine="aspose", model_dir=str(tmp_path / "models")))
    assert os.listdir(private_tmp) == []


def test_worker_options_fast_and_no_ai_engine(tmp_path, cache_dir, user_cwd):
    """The recognition settings carry the options; no AsposeAI exists when
    the AI is off; a failing AI free still frees the OCR engine;
    recognize_fast gives the text without lines."""
    page = render_page(tmp_path / "short.png", GROUND_TRUTH[:6], size=(1100, 520))
    out = last_json(
        run_worker(
            f"""
        import json
        from batchocr.config import Settings
        from batchocr.decoding import decode_page
        from batchocr.engines.aspose import AsposeEngine

        engine = AsposeEngine(Settings(engine="aspose", model_dir="models", aspose_areas="lean",
                              aspose_upscale_small_font=True, aspose_color_inversion=False))
        import aspose.ocr as ocr
        s = engine._settings
        lean = int(s.detect_areas_mode) == int(ocr.DetectAreasMode.LEAN)
        options = [s.upscale_small_font, s.automatic_color_inversion, lean]
        no_ai = engine._ai is None

        class Failing:
            def free_resources(self):
                raise RuntimeError("AI free failed")
        class Counting:
            freed = 0
            def free_resources(self):
                Counting.freed += 1
        engine._ai, engine._api = Failing(), Counting()
        try:
            engine.free_resources()
        except RuntimeError:
            pass

        fast = AsposeEngine(Settings(engine="aspose", model_dir="models", aspose_fast=True, aspose_auto_skew=True))
        r = fast.recognize(decode_page({str(page)!r}, 1, 10**8))
        print(json.dumps(dict(text=r.text, lines=len(r.lines), extra=r.extra, options=options, no_ai=no_ai,
                              ocr_freed=Counting.freed)))
        """,
            cwd=user_cwd,
            env=worker_env(cache_dir),
        )
    )
    assert out["options"] == [True, False, True]
    assert out["no_ai"] is True
    assert out["ocr_freed"] == 1
    text = normalise_whitespace(out["text"])
    truth = normalise_whitespace(" ".join(GROUND_TRUTH))
    assert len(text) >= 30 and cer(truth[: len(text)], text) < 0.1, text
    assert out["lines"] == 0 and out["extra"] == {"trial": True}


@pytest.mark.parametrize("changes", [{"aspose_areas": "lean"}, {"aspose_upscale_small_font": True}, {"lang": "rus"}])
def test_fast_refuses_settings_it_would_ignore(changes):
    with pytest.raises(ConfigError, match="recognize_fast"):
        AsposeEngine.preflight(Settings(engine="aspose", aspose_fast=True, **changes))


# --- end to end ------------------------------------------------------------------
def test_cli_two_workers_recycling_on_sample_pages(tmp_path, cache_dir, user_cwd):
    """The real CLI over shipped sample pages: 2 spawned workers, each
    rebuilding its engine every 2 pages; trial text matches the start of the
    ground truth."""
    names = [
        "letter.png",
        "quarterly-report.png",
        "notice.jpg",
        "meeting minutes.png",
        "archive/2019/old-letter.png",
        "price-list.bmp",
    ]
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in names:
        (pages / Path(name).name).symlink_to(REPO / "samples" / name)
    out = tmp_path / "out"
    run_args = [str(pages), "-o", str(out), "--model-dir", str(tmp_path / "models")]
    run_args += ["--workers", "2", "--recycle-every", "2", "--formats", "txt,alto"]
    proc = batchocr(["run", *run_args, *ASPOSE_QUIET], user_cwd, worker_env(cache_dir), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TRIAL mode" in proc.stderr  # said once, loudly
    _check_outputs(out, [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()])
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


def _check_outputs(out: Path, records: list[dict]) -> None:
    """The per-file outputs come from the records, whatever the engine:
    txt holds the text, ALTO is valid and places every word."""
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(TESTS_DIR / "schemas" / "alto-4-4.xsd")))
    for record in records:
        assert (out / "txt" / f"{record['path']}.txt").read_text() == record["text"]
        alto = etree.parse(str(out / "alto" / f"{record['path']}.xml"))
        assert schema.validate(alto), schema.error_log
        strings = alto.getroot().findall(".//{http://www.loc.gov/standards/alto/ns-v4#}String")
        assert [s.get("CONTENT") for s in strings] == [w["text"] for ln in record["lines"] for w in ln["words"]]
        assert strings and all(s.get("HPOS") is not None for s in strings)


def _truth_of(names: list[str], file_name: str) -> str:
    source = next(n for n in names if Path(n).name == file_name)
    return str(Path(source).with_suffix(".txt"))
