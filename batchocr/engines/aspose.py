"""Aspose.OCR for Python via .NET (``aspose-ocr-python-net``), offline.

The package carries its own .NET Core 3.1 runtime.  It starts when
``aspose.ocr`` is first imported and reads its environment then, and a
``fork`` after it started crashes the child.  So:

- the **supervisor** imports this module (``version``, ``inventory``,
  ``preflight``, ``run_warnings``) but never ``aspose.ocr``.  What needs the
  runtime (license, the spell-checker's libraries, and the inventory, which
  is what ``AsposeAI.list_local()`` and ``Resources.list_local()`` say) is
  asked in a short-lived subprocess: ``aspose_probe``.
- a **worker** calls ``prepare_runtime()`` (inside ``AsposeEngine.__init__``)
  before its first import of ``aspose.ocr``: ICU settings, no diagnostics
  pipes in /tmp, and the OpenSSL 1.1 compatibility library
  (``aspose_compat``) loaded with ``RTLD_GLOBAL``.

Directories (all absolute; relative settings are resolved against the
directory the worker was started from):

- the model directory, ``settings.model_dir``, default
  ``$XDG_DATA_HOME/batchocr/aspose`` (``~/.local/share/batchocr/aspose``).
  AsposeAI looks for its LLM models in ``Aspose.AI.LLM/models`` *relative to
  the working directory* whatever its config says, so each worker ``chdir``s
  here.  That also keeps anything the library writes relative to the cwd
  (``Aspose.OCR.log.txt``, ``Aspose/Drawing/SystemFontCache.xml``,
  ``aspose_data``) out of the user's directory.  Page paths are absolute.
- the OCR resource directory (non-Latin languages, handwriting, layout
  modes), ``settings.aspose_resource_dir``, default ``<model dir>/aspose_data``
  (the library's own default, relative to that cwd).  Nothing is ever
  downloaded: a missing resource is named by the model check (exit 3), with
  the exact path it must be copied to.

Trial mode (no license): each page's text is cut, to at most its first 300
characters (measured: a 6-line page keeps ~80 characters, a one-line page
none), and followed by a ``***** Trial Licenses *****`` banner; the lines are
cut too and their confidences are 0.  The engine strips the banner from
``text`` (it is not page content), returns ``confidence=None`` (0 would claim
"certainly wrong") and marks every record ``"trial": true`` so a cut text is
never mistaken for a full page.
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import sys
from importlib import metadata
from typing import TYPE_CHECKING

from batchocr.config import Settings
from batchocr.engines.aspose_compat import STANDARD_LIB_DIRS, CompatBuildError, ensure_compat_library
from batchocr.engines.aspose_probe import ProbeRequest, ask_runtime
from batchocr.engines.base import (
    Engine,
    ModelFile,
    ModelInventory,
    Recognition,
    TextLine,
    release_heap,
    scan_model_files,
    words_by_characters,
)
from batchocr.errors import ConfigError

if TYPE_CHECKING:
    from batchocr.decoding import DecodedPage

PACKAGE = "aspose-ocr-python-net"
DEFAULT_AI_MODEL = "Llama-3.2-3B-Instruct-Q4_K_M.gguf"  # AsposeAI's default spell-check model
AI_MODES = ("spellcheck",)

# ``RecognitionSettings.detect_areas_mode`` values and the downloadable OCR
# resource each needs (None: built in).  Read from the library's own errors
# with downloads off (aspose-ocr-python-net 26.10.0); tests/test_aspose.py
# checks them against the installed library.
STRUCTURE_RESOURCE = "aspose-ocr-document-structure-detection-v2.ocr"
AREA_MODES: dict[str, str | None] = {
    "lean": None,
    "universal": None,  # the library's default: reads multi-column pages straight across
    "multicolumn": STRUCTURE_RESOURCE,
    "document_layout": STRUCTURE_RESOURCE,
    "table": "aspose-ocr-advanced-recognition-v1.ocr",
    "curved_text": "aspose-ocr-advanced-recognition-v1.ocr",
    "formula": "aspose-ocr-formula-det-v1.ocr",
}
# Without --aspose-areas: the first mode here whose resource is present.
# Aspose documents DOCUMENT_LAYOUT as finding the page's structure (columns,
# tables, images); UNIVERSAL reads columns straight across (README: CER
# measured per mode).  DOCUMENT_LAYOUT could not be measured offline.
DEFAULT_AREA_MODES = ("document_layout", "universal")

# The banner varies in its number of asterisks; it is added after the text.
_TRIAL_BANNER = re.compile(r"\s*\*+\s*Trial Licenses\s*\*+\s*$")

# The cwd the process started in, before a worker chdirs to the model
# directory: relative settings keep meaning what the user meant after a
# recycle rebuilds the engine.
_LAUNCH_CWD = os.getcwd()

# Every ``aspose.ocr.Language`` name and the downloadable resource it needs
# (None: built in).  Generated with aspose-ocr-python-net 26.10.0 by
# recognising a blank image in each language with downloads off and reading
# the resource name from the error.  Kept here so that the supervisor can
# check a language and its resource without loading the runtime.
_LANGUAGE_RESOURCES_BY_FILE: dict[str | None, str] = {
    None: (
        "AFR ALN AZB BCL BEM BEW BHR BOS CAT CCX CDO CEB CES CPX DAN DEU DIQ DOC ENG EST "
        "EXT_LATIN FIN FRA GAX GLG GLK GUZ HAU HBS HIL HMN HRV HUN ILO IND ITA KIN KLN "
        "KMR KNC KON LATIN LAV LIT LMN LNC LUO MAK MER MIN MLY MNP MTQ MUI NBL NDS NLD "
        "NOR NSO NYA PAG PAM PCC PLM POL POR QUC QXA RON RUF SAS SLK SLV SNA SOM SOT SPA "
        "SRR SSW SUK SUN SWE SWH TGL TOI TSN TSO TUK TUM TUR UMB VIE VMW WAL WAR XHO YAO "
        "YOR ZUL"
    ),
    "aspose-ocr-arabic-v1.ocr": "ARA ISLAMIC PERSO_ARABIC PES UIG URD",
    "aspose-ocr-chinese-v2.ocr": "CHINESE CMN GAN HAK HSN NAN WUU YUE",
    "aspose-ocr-cyrillic-v1.ocr": "BEL BUL CHE CYRILLIC KAZ KBD MON RUS SRP UKR",
    "aspose-ocr-cyrillic-v2.ocr": "EUROPEAN",
    "aspose-ocr-hindi-v2.ocr": (
        "AWA BGC BHO BJJ DEVANAGARI DHD GBM HIN HNE INDIC KFY KNN MAG MAI MAR MTR MUP NEP RJB RWR WBR WTM"
    ),
    "aspose-ocr-japanese-v1.ocr": "JPN",
    "aspose-ocr-kannada-v1.ocr": "KAN",
    "aspose-ocr-korean-v1.ocr": "KOR",
    "aspose-ocr-language-classification-v1.ocr": "AUTO MULTILANGUAGE UNIVERSAL",
    "aspose-ocr-tamil-v1.ocr": "TAM",
    "aspose-ocr-telugu-v1.ocr": "TEL",
}
LANGUAGE_RESOURCES: dict[str, str | None] = {
    name: resource for resource, names in _LANGUAGE_RESOURCES_BY_FILE.items() for name in names.split()
}
# Tesseract-style codes that are not Aspose names.
_LANGUAGE_ALIASES = {"CHI_SIM": "CHINESE", "CHI_TRA": "CHINESE"}


# --- settings, paths and the inventory: supervisor and worker ---------------
def default_model_dir() -> str:
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "batchocr", "aspose")


def _absolute(path: str) -> str:
    return os.path.normpath(os.path.join(_LAUNCH_CWD, os.path.expanduser(path)))


def model_dir(settings: Settings) -> str:
    """Where the AsposeAI models live (under ``Aspose.AI.LLM/models``) and the
    worker's working directory."""
    return _absolute(settings.model_dir or default_model_dir())


def resource_dir(settings: Settings) -> str:
    return _absolute(settings.aspose_resource_dir or os.path.join(model_dir(settings), "aspose_data"))


def license_path(settings: Settings) -> str | None:
    return _absolute(settings.aspose_license) if settings.aspose_license else None


def aspose_language(settings: Settings) -> tuple[str, str | None]:
    """The ``aspose.ocr.Language`` name for ``settings.lang`` and the resource
    file it needs.  Aspose takes one language per page: several codes are
    accepted only when they are all Latin-script (-> LATIN) or all Cyrillic
    (-> CYRILLIC).  Raises ConfigError."""
    names = []
    for code in settings.languages():
        name = _LANGUAGE_ALIASES.get(code.upper(), code.upper())
        if name not in LANGUAGE_RESOURCES:
            raise ConfigError(
                f"the aspose engine does not know the language {code!r}; use an "
                "aspose.ocr.Language name or ISO 639 code such as eng, deu, rus, hin, latin, auto"
            )
        names.append(name)
    if len(names) == 1:
        return names[0], LANGUAGE_RESOURCES[names[0]]
    resources = {LANGUAGE_RESOURCES[name] for name in names}
    if resources == {None}:
        return "LATIN", None
    if resources == {LANGUAGE_RESOURCES["CYRILLIC"]}:
        return "CYRILLIC", LANGUAGE_RESOURCES["CYRILLIC"]
    raise ConfigError(
        f"the aspose engine recognises one language or script per run, not {settings.lang!r}: "
        "give one language, 'latin', 'cyrillic', or 'auto' (automatic detection)"
    )


def areas_mode(settings: Settings, listed_resources: set[str]) -> str:
    """The ``detect_areas_mode`` for this run: ``settings.aspose_areas``, else
    the most accurate default whose resource Aspose lists (file names)."""
    if settings.aspose_areas:
        return settings.aspose_areas
    return next(m for m in DEFAULT_AREA_MODES if AREA_MODES[m] in (None, *listed_resources))


def scan_ai_models(models_root: str) -> list[ModelFile]:
    """GGUF files in ``models_root`` and its direct sub-directories: what is
    on disk where ``AsposeAI.list_local()`` looks (the top level and one
    level down).  Not the inventory (that is what Aspose itself lists):
    used to show the files it does not list."""
    found = scan_model_files(models_root, (".gguf",), "llm")
    try:
        subdirs = sorted(e.path for e in os.scandir(models_root) if e.is_dir(follow_symlinks=False))
    except OSError:
        subdirs = []
    for subdir in subdirs:
        found.extend(scan_model_files(subdir, (".gguf",), "llm"))
    return found


def spellcheck_model(listed: list[str]) -> str | None:
    """The spell-check model among the paths AsposeAI lists (top level first)."""
    matches = [path for path in listed if os.path.basename(path) == DEFAULT_AI_MODEL]
    return min(matches, key=lambda path: path.count(os.sep), default=None)


def _check_choices(settings: Settings) -> None:
    if settings.aspose_ai and settings.aspose_ai not in AI_MODES:
        choices = ", ".join(AI_MODES)
        raise ConfigError(f"aspose_ai must be one of {choices} (or unset), not {settings.aspose_ai!r}")
    if settings.aspose_areas and settings.aspose_areas not in AREA_MODES:
        choices = ", ".join(AREA_MODES)
        raise ConfigError(f"aspose_areas must be one of {choices} (or unset), not {settings.aspose_areas!r}")
    if settings.aspose_fast:
        _check_fast(settings)


def _check_fast(settings: Settings) -> None:
    """Aspose's ``recognize_fast`` takes no RecognitionSettings: refuse the
    settings it would silently ignore."""
    ignored = [
        name
        for name, on in [
            ("aspose_areas", settings.aspose_areas),
            ("aspose_upscale_small_font", settings.aspose_upscale_small_font),
            ("aspose_ai", settings.aspose_ai),
            (f"lang={settings.lang}", aspose_language(settings)[1] is not None),
        ]
        if on
    ]
    if ignored:
        raise ConfigError(
            f"aspose_fast (recognize_fast) takes no recognition settings, so it would ignore "
            f"{', '.join(ignored)}: drop one or the other"
        )


def _resource_file(listed_name: str) -> str:
    """Resources.list_local() names resources without their ``.ocr`` suffix."""
    return listed_name if listed_name.endswith(".ocr") else listed_name + ".ocr"


def _unlisted_note(licensed: bool, unlisted: tuple[ModelFile, ...]) -> str | None:
    if not unlisted:
        return None
    why = (
        f"unlicensed, AsposeAI.list_local() lists only files named {DEFAULT_AI_MODEL}"
        if not licensed
        else "they are not where AsposeAI.list_local() and Resources.list_local() look"
    )
    return (
        f"Aspose does not list {len(unlisted)} model file(s) on disk ({why}): a run cannot use "
        "them and models prune leaves them alone (delete them by hand if they are old)"
    )


def _spellcheck_unusable(error: str, model: str | None, ai_root: str) -> str:
    model_state = (
        f"its model {model} is in place" if model else f"its model {DEFAULT_AI_MODEL} is not in {ai_root} either"
    )
    libdl = " (and on Debian 12 first libdl.so, which exists there only as libdl.so.2)" if "libdl" in error else ""
    return (
        "aspose_ai=spellcheck cannot work here: Aspose's AI post-processor needs llama.cpp native "
        f"libraries, which Aspose downloads at run time{libdl}, so it cannot work offline; "
        f"{model_state}. Run without --aspose-ai. Aspose said: {error.strip()[:600]}"
    )


def _require_package() -> None:
    if not _installed():
        raise ConfigError(f"the aspose engine needs the package {PACKAGE}: pip install {PACKAGE}")


def _ask(settings: Settings, **asks) -> dict:
    """Supervisor.  Ask the runtime probe; the compatibility library is built
    here first, so a slow first build is not counted against the probe's
    time limit."""
    try:
        ensure_compat_library()
    except CompatBuildError as exc:
        raise ConfigError(str(exc)) from None
    request = ProbeRequest(
        models_root=model_dir(settings), resource_dir=resource_dir(settings), license=license_path(settings), **asks
    )
    return ask_runtime(request)


def _model_files(paths: list[str], kind: str) -> list[ModelFile]:
    """ModelFile rows for paths Aspose listed (vanished files are skipped)."""
    files = []
    for path in paths:
        try:
            size = os.stat(path, follow_symlinks=False).st_size
        except OSError:
            continue
        files.append(ModelFile(name=os.path.basename(path), path=path, size_bytes=size, kind=kind))
    return files


# --- the engine ----------------------------------------------------------------
class AsposeEngine(Engine):
    name = "aspose"
    # Measured (benchmarks/RESULTS.md, engines.py --policies): 580-1,060 MB
    # per worker after a normal page, flat over hundreds of pages; an
    # oversized page (33 Mpx) took a worker to 2.0-2.2 GB.  1,536 MB never
    # acts on normal pages and replaces a worker left above it after such a
    # page (in-process freeing gives back only 180-320 MB).
    typical_worker_rss_mb = 1100
    default_max_worker_rss_mb = 1536

    # --- supervisor side: never imports aspose.ocr ---------------------------
    @classmethod
    def version(cls) -> str:
        """Supervisor.  From the package metadata: no runtime start."""
        try:
            return f"{PACKAGE} {metadata.version(PACKAGE)}"
        except metadata.PackageNotFoundError:
            return f"{PACKAGE} (not installed)"

    @classmethod
    def inventory(cls, settings: Settings) -> ModelInventory:
        """Supervisor.  What Aspose itself lists, asked in the probe
        subprocess: ``AsposeAI.list_local()`` under ``get_local_path()`` (AI
        models) and ``Resources.list_local()`` (OCR resources).  Files on disk
        where those look that Aspose does not list are ``unlisted``: never
        counted as present, never pruned.  Required: the spell-check model
        with ``aspose_ai``, the resource the language needs, and the resource
        an explicit ``aspose_areas`` mode needs."""
        _check_choices(settings)
        _, language_resource = aspose_language(settings)
        _require_package()
        seen = _ask(settings, inventory=True)
        ai_root, resource_root = seen["ai_root"], seen["resource_root"]
        resource_paths = [os.path.join(resource_root, _resource_file(name)) for name in seen["resources"]]
        listed = _model_files(seen["ai_models"], "llm") + _model_files(resource_paths, "ocr-resource")
        on_disk = scan_ai_models(ai_root) + scan_model_files(resource_root, (".ocr",), "ocr-resource")
        listed_paths = {model.path for model in listed}
        unlisted = tuple(model for model in on_disk if model.path not in listed_paths)
        required = [DEFAULT_AI_MODEL] if settings.aspose_ai == "spellcheck" else []
        required += [r for r in (language_resource, AREA_MODES.get(settings.aspose_areas or "")) if r]
        return ModelInventory(
            engine=cls.name,
            directory=ai_root,
            models=tuple(listed),
            required=tuple(dict.fromkeys(required)),
            extra_directories=(resource_root,),
            unlisted=unlisted,
            note=_unlisted_note(seen["licensed"], unlisted),
        )

    @classmethod
    def install_hint(cls, missing: list[str], inventory: ModelInventory) -> str:
        """The exact path each missing file must have (AI models directly in
        get_local_path(), OCR resources directly in the resource directory)."""
        resource_root = inventory.extra_directories[0]
        places = [
            os.path.join(resource_root if name.endswith(".ocr") else inventory.directory, name) for name in missing
        ]
        return (
            "copy each file to exactly this path: "
            + ", ".join(places)
            + (" (or set aspose_resource_dir / --model-dir to where they are)")
        )

    @classmethod
    def preflight(cls, settings: Settings) -> None:
        """Supervisor, before any worker starts.  Raises ConfigError (exit 2)
        for a bad setting or license, a runtime that cannot start (no
        OpenSSL compatibility library, or the probe subprocess failed/died),
        or ``aspose_ai`` when the spell-checker cannot load here."""
        _check_choices(settings)
        aspose_language(settings)
        _require_package()
        lic = license_path(settings)
        if lic and not os.path.isfile(lic):
            raise ConfigError(f"aspose license file not found: {lic} (setting aspose_license)")
        if not settings.aspose_ai:
            _ask(settings)
            return
        seen = _ask(settings, inventory=True, try_spellcheck=True)
        model = spellcheck_model(seen["ai_models"])
        if seen["spellcheck_error"]:
            raise ConfigError(_spellcheck_unusable(seen["spellcheck_error"], model, seen["ai_root"]))

    @classmethod
    def run_warnings(cls, settings: Settings) -> list[str]:
        """Supervisor.  Printed once, loudly, for an unlicensed run (nothing
        when a license is configured; ``preflight`` has checked it is valid)."""
        if settings.aspose_license:
            return []
        return [
            "WARNING: the aspose engine runs in TRIAL mode (no aspose_license set): each page's "
            "text is cut to at most its first 300 characters (short pages to much less, a "
            "one-line page to nothing) and has no confidences. Every record "
            'carries "trial": true. Set aspose_license (BATCHOCR_ASPOSE_LICENSE) to a license file.'
        ]

    # --- worker side ---------------------------------------------------------
    def __init__(self, settings: Settings) -> None:
        """Worker.  One AsposeOcr, single-threaded; an AsposeAI only when the
        AI post-processor is on (the inventory is the probe's job)."""
        _check_choices(settings)
        language, resource = aspose_language(settings)
        _require_resource(settings, resource)
        prepare_runtime()
        workdir = model_dir(settings)
        os.makedirs(workdir, exist_ok=True)
        os.chdir(workdir)  # see the module docstring: AsposeAI and stray files
        ocr, ai = import_aspose(resource_dir(settings), workdir)
        self._ocr = ocr
        self._trial = not _apply_license(ocr, license_path(settings))
        self._fast = settings.aspose_fast
        self._settings = _recognition_settings(ocr, settings, language)
        self._filters = _filters(settings)
        self._api = ocr.AsposeOcr()
        self._ai = self._spellcheck = None
        if settings.aspose_ai == "spellcheck":
            self._ai = ai.AsposeAI()
            self._spellcheck = _spellchecker(ai, self._ai)

    def recognize(self, page: DecodedPage) -> Recognition:
        """Worker.  Decoded pixels go straight in (no temporary file)."""
        extra = {"trial": True} if self._trial else {}
        if self._fast:  # plain text: no lines, boxes or confidences
            text = self._api.recognize_fast(self._input(page))[0]
            return Recognition(text=_strip_trial_banner(text), confidence=None, extra=extra)
        output = self._api.recognize(self._input(page), self._settings)
        result = output[0]
        text = _strip_trial_banner(result.recognition_text)
        if self._spellcheck is not None:
            self._ai.run_postprocessor(output)
            text = _strip_trial_banner(self._spellcheck.get_result()[0].result)
        lines = [_text_line(line) for line in result.recognition_lines_result]
        confidences = [line.confidence for line in lines if line.confidence is not None]
        confidence = round(sum(confidences) / len(confidences), 2) if confidences else None
        return Recognition(text=text, confidence=confidence, lines=lines, extra=extra)

    def _input(self, page: DecodedPage):
        ocr = self._ocr
        image = page.image
        pixel_type = ocr.PixelType.BYTE if image.mode == "L" else ocr.PixelType.RGB
        if self._filters is None:
            source = ocr.OcrInput(ocr.InputType.SINGLE_IMAGE)
        else:
            source = ocr.OcrInput(ocr.InputType.SINGLE_IMAGE, self._filters)
        source.add(bytearray(image.tobytes()), image.width, image.height, pixel_type)
        return source

    def free_resources(self) -> None:
        """Worker.  A freed AsposeAI is dead: both objects are dropped and the
        worker builds a new engine.  The OCR engine is freed even when the
        AI's free raises (the error still reaches the worker)."""
        try:
            if self._ai is not None:
                self._ai.free_resources()
        finally:
            try:
                self._api.free_resources()
            finally:
                self._ai = self._api = self._spellcheck = None
                release_heap()


# --- worker helpers ----------------------------------------------------------
_RUNTIME_READY = False
_COMPAT_LIBRARY = None  # the loaded ctypes.CDLL, kept for the process's lifetime


def prepare_runtime() -> None:
    """Worker (and the probe).  Set up what the .NET runtime reads when
    ``aspose.ocr`` is first imported.  Idempotent; values the user set in
    the environment win.  Raises ConfigError when OpenSSL 1.1 cannot be
    provided (instead of the runtime's SIGABRT later)."""
    global _RUNTIME_READY, _COMPAT_LIBRARY
    if _RUNTIME_READY:
        return
    if "aspose.ocr" in sys.modules:
        raise RuntimeError("aspose.ocr was imported before prepare_runtime(): its runtime settings are fixed")
    icu_settings = ("CLR_ICU_VERSION_OVERRIDE", "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT")
    if not any(name in os.environ for name in icu_settings):
        major = _icu_major_version()
        if major:
            os.environ["CLR_ICU_VERSION_OVERRIDE"] = str(major)  # the system's ICU
        else:
            os.environ["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1"  # no ICU: invariant culture
    # Otherwise every worker leaves /tmp/clr-debug-pipe-* files when killed.
    os.environ.setdefault("COMPlus_EnableDiagnostics", "0")
    try:
        path = ensure_compat_library()
    except CompatBuildError as exc:
        raise ConfigError(str(exc)) from None
    if path:  # None: the system's libssl.so.1.1 is used as is
        _COMPAT_LIBRARY = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    _RUNTIME_READY = True


def _icu_major_version() -> int | None:
    """The highest ``libicuuc.so.<major>`` on the system, e.g. 72 on Debian 12."""
    majors = set()
    for directory in STANDARD_LIB_DIRS:
        for path in glob.glob(os.path.join(directory, "libicuuc.so.*")):
            match = re.fullmatch(r"libicuuc\.so\.(\d+)", os.path.basename(path))
            if match:
                majors.add(int(match.group(1)))
    return max(majors) if majors else None


def import_aspose(resources: str, models: str):
    """Worker.  Import the package and set its process-wide options (they are
    static in .NET, read when sessions are created: before the first page)."""
    # AsposeAI's model root is .NET's LocalApplicationData + Aspose.AI.LLM/models:
    # $XDG_DATA_HOME, else ~/.local/share *if it exists*, else the cwd.  The
    # runtime reads the environment once, when it starts (this import), so
    # point it at our model directory for the import only; Python code keeps
    # the user's value.
    saved = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = models
    try:
        import aspose.ocr as ocr
        from aspose.ocr import ai
    finally:
        if saved is None:
            del os.environ["XDG_DATA_HOME"]
        else:
            os.environ["XDG_DATA_HOME"] = saved

    ocr.Logging.set_file_system(False)  # else errors go to ./Aspose.OCR.log.txt
    ocr.Resources.set_local_path(resources)  # before anything asks for the default ./aspose_data
    ocr.Resources.allow_automatic_downloads(False)  # offline: fail at once, naming the resource
    onnx = ocr.OnnxRuntimeSessionOptions
    onnx.set_intra_op_num_threads(1)
    onnx.set_inter_op_num_threads(1)
    onnx.set_execution_mode(ocr.ExecutionModeOnnx.ORT_SEQUENTIAL)
    return ocr, ai


def _apply_license(ocr, path: str | None) -> bool:
    """Set the license (a no-op when already set in this process); True when licensed."""
    if path and not ocr.License().is_licensed:
        ocr.License().set_license(path)  # RuntimeError with a clear message when bad
    return bool(ocr.License().is_licensed)


def _require_resource(settings: Settings, resource: str | None) -> None:
    """A clear error before the library's own (which suggests downloading)."""
    if resource and not os.path.isfile(os.path.join(resource_dir(settings), resource)):
        raise RuntimeError(
            f"language {settings.lang!r} needs the Aspose OCR resource {resource}, which is not in "
            f"{resource_dir(settings)} (automatic downloads are off); copy it there or set "
            "aspose_resource_dir"
        )


def _recognition_settings(ocr, settings: Settings, language: str):
    """Worker.  Aspose's RecognitionSettings from ours; the areas mode's
    default depends on the resources Aspose lists here."""
    recognition = ocr.RecognitionSettings()
    recognition.threads_count = 1
    recognition.language = getattr(ocr.Language, language)
    listed = {_resource_file(str(name)) for name in ocr.Resources.list_local()}
    recognition.detect_areas_mode = getattr(ocr.DetectAreasMode, areas_mode(settings, listed).upper())
    recognition.upscale_small_font = settings.aspose_upscale_small_font
    recognition.automatic_color_inversion = settings.aspose_color_inversion
    return recognition


def _filters(settings: Settings):
    """Worker.  Aspose's own preprocessing filters for each page's input, or
    None for none."""
    if not settings.aspose_auto_skew:
        return None
    from aspose.ocr.models.preprocessingfilters import PreprocessingFilter

    filters = PreprocessingFilter()
    filters.add(PreprocessingFilter.auto_skew())
    return filters


def _spellchecker(ai, engine):
    """Worker.  Attach the LLM spell-checker to ``engine`` (an AsposeAI), with
    the model AsposeAI itself lists (the model check ensured there is one)."""
    path = spellcheck_model([str(p) for p in engine.list_local()])
    if path is None:
        raise RuntimeError(f"aspose_ai=spellcheck needs {DEFAULT_AI_MODEL} in {engine.get_local_path()}")
    config = ai.AsposeAIModelConfig()
    config.allow_auto_download = False
    config.file_model_path = path
    processor = ai.SpellCheckAIProcessor()
    engine.set_post_processor(processor, config)
    return processor


def _text_line(line) -> TextLine:
    """Aspose gives line confidences in 0.0-1.0 (0 in trial mode: unknown).
    Its recognition results have no words (``LinesResult`` holds a line's
    text and rectangle only), so word boxes are estimated from the line's."""
    box = line.line
    bbox = (box.left, box.top, box.right, box.bottom) if box is not None and not box.is_empty else None
    confidence = round(line.confidence * 100, 2) if line.confidence else None
    text = line.text_in_line.strip()
    return TextLine(text=text, confidence=confidence, bbox=bbox, words=words_by_characters(text, confidence, bbox))


def _strip_trial_banner(text: str) -> str:
    return _TRIAL_BANNER.sub("\n", text) if text else text


# --- the package ---------------------------------------------------------------
def _installed() -> bool:
    try:
        metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return False
    return True
