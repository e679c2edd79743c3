"""Aspose.OCR for Python via .NET (``aspose-ocr-python-net``), offline.

The package carries its own .NET Core 3.1 runtime.  It starts when
``aspose.ocr`` is first imported and reads its environment then, and a
``fork`` after it started crashes the child.  So:

- the **supervisor** imports this module (``version``, ``inventory``,
  ``preflight``, ``run_warnings``) but never ``aspose.ocr``.  Checks that
  need the runtime run in a short-lived subprocess: ``python -m
  batchocr.engines.aspose probe`` (see ``_probe_main``).
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
  downloaded: a missing resource is named by the model check (exit 3).

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
import signal
import subprocess
import sys
import tempfile
from importlib import metadata
from typing import TYPE_CHECKING

from batchocr.config import Settings
from batchocr.engines.aspose_compat import STANDARD_LIB_DIRS, CompatBuildError, ensure_compat_library
from batchocr.engines.base import (
    Engine,
    ModelFile,
    ModelInventory,
    Recognition,
    TextLine,
    release_heap,
    scan_model_files,
)
from batchocr.errors import ConfigError

if TYPE_CHECKING:
    from batchocr.decoding import DecodedPage

PACKAGE = "aspose-ocr-python-net"
AI_MODELS_SUBDIR = os.path.join("Aspose.AI.LLM", "models")  # relative to the cwd, as AsposeAI wants
DEFAULT_AI_MODEL = "Llama-3.2-3B-Instruct-Q4_K_M.gguf"  # AsposeAI's default spell-check model
AI_MODES = ("spellcheck",)
PROBE_TIMEOUT = 120  # seconds for the supervisor's runtime check
PROBE_LICENSE_ERROR = 3  # the probe's exit status for a rejected license

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
        "AWA BGC BHO BJJ DEVANAGARI DHD GBM HIN HNE INDIC KFY KNN MAG MAI MAR MTR MUP NEP "
        "RJB RWR WBR WTM"
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


def scan_ai_models(models_root: str) -> list[ModelFile]:
    """GGUF files in ``models_root`` and its direct sub-directories.

    Mirrors ``AsposeAI.list_local()`` (which must not be called in the
    supervisor): it scans the top level and one level of sub-directories.
    Unlicensed, list_local shows only files named like its default model;
    this lists every ``.gguf`` so old models can be seen and pruned.
    ``tests/test_aspose.py`` checks the two agree on a fixture directory.
    """
    found = scan_model_files(models_root, (".gguf",), "llm")
    try:
        subdirs = sorted(e.path for e in os.scandir(models_root) if e.is_dir(follow_symlinks=False))
    except OSError:
        subdirs = []
    for subdir in subdirs:
        found.extend(scan_model_files(subdir, (".gguf",), "llm"))
    return found


def _ai_model_path(settings: Settings) -> str | None:
    """The spell-check model file on disk, if provisioned (top level first)."""
    root = os.path.join(model_dir(settings), AI_MODELS_SUBDIR)
    for model in scan_ai_models(root):
        if model.name == DEFAULT_AI_MODEL:
            return model.path
    return None


def _check_ai_mode(settings: Settings) -> None:
    if settings.aspose_ai and settings.aspose_ai not in AI_MODES:
        choices = ", ".join(AI_MODES)
        raise ConfigError(f"aspose_ai must be one of {choices} (or unset), not {settings.aspose_ai!r}")


# --- the engine ----------------------------------------------------------------
class AsposeEngine(Engine):
    name = "aspose"

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
        """Supervisor.  AI models (``<model dir>/Aspose.AI.LLM/models``) plus
        OCR resources (``*.ocr`` directly in the resource directory, as
        ``Resources.list_local()`` sees them).  Required: the spell-check model
        when ``aspose_ai = "spellcheck"``, and the resource a non-Latin
        language needs (Latin languages need none)."""
        _check_ai_mode(settings)
        _, resource = aspose_language(settings)
        directory = model_dir(settings)
        resources = resource_dir(settings)
        models = scan_ai_models(os.path.join(directory, AI_MODELS_SUBDIR))
        models += scan_model_files(resources, (".ocr",), "ocr-resource")
        required = [DEFAULT_AI_MODEL] if settings.aspose_ai == "spellcheck" else []
        required += [resource] if resource else []
        return ModelInventory(
            engine=cls.name,
            directory=directory,
            models=tuple(models),
            required=tuple(required),
            extra_directories=(resources,),
        )

    @classmethod
    def preflight(cls, settings: Settings) -> None:
        """Supervisor, before any worker starts.  Raises ConfigError (exit 2)
        for a bad setting or license, or a runtime that cannot start (no
        OpenSSL compatibility library, or the probe subprocess failed/died)."""
        _check_ai_mode(settings)
        aspose_language(settings)
        if not _installed():
            raise ConfigError(f"the aspose engine needs the package {PACKAGE}: pip install {PACKAGE}")
        lic = license_path(settings)
        if lic and not os.path.isfile(lic):
            raise ConfigError(f"aspose license file not found: {lic} (setting aspose_license)")
        try:
            ensure_compat_library()
        except CompatBuildError as exc:
            raise ConfigError(str(exc)) from None
        _run_probe(lic)

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
        """Worker.  One AsposeOcr and one AsposeAI, single-threaded."""
        _check_ai_mode(settings)
        language, resource = aspose_language(settings)
        _require_resource(settings, resource)
        prepare_runtime()
        workdir = model_dir(settings)
        os.makedirs(workdir, exist_ok=True)
        os.chdir(workdir)  # see the module docstring: AsposeAI and stray files
        ocr, ai = _import_aspose(resource_dir(settings), workdir)
        self._ocr = ocr
        self._trial = not _apply_license(ocr, license_path(settings))
        self._settings = ocr.RecognitionSettings()
        self._settings.threads_count = 1
        self._settings.language = getattr(ocr.Language, language)
        self._api = ocr.AsposeOcr()
        self._ai = ai.AsposeAI()
        self._spellcheck = None
        if settings.aspose_ai == "spellcheck":
            self._spellcheck = _spellchecker(ai, self._ai, settings)

    def recognize(self, page: DecodedPage) -> Recognition:
        """Worker.  Decoded pixels go straight in (no temporary file)."""
        output = self._api.recognize(self._input(page), self._settings)
        result = output[0]
        text = _strip_trial_banner(result.recognition_text)
        if self._spellcheck is not None:
            self._ai.run_postprocessor(output)
            text = _strip_trial_banner(self._spellcheck.get_result()[0].result)
        lines = [_text_line(line) for line in result.recognition_lines_result]
        confidences = [line.confidence for line in lines if line.confidence is not None]
        confidence = round(sum(confidences) / len(confidences), 2) if confidences else None
        extra = {"trial": True} if self._trial else {}
        return Recognition(text=text, confidence=confidence, lines=lines, extra=extra)

    def _input(self, page: DecodedPage):
        ocr = self._ocr
        image = page.image
        pixel_type = ocr.PixelType.BYTE if image.mode == "L" else ocr.PixelType.RGB
        source = ocr.OcrInput(ocr.InputType.SINGLE_IMAGE)
        source.add(bytearray(image.tobytes()), image.width, image.height, pixel_type)
        return source

    def free_resources(self) -> None:
        """Worker.  A freed AsposeAI is dead: both objects are dropped and the
        worker builds a new engine."""
        self._ai.free_resources()
        self._api.free_resources()
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


def _import_aspose(resources: str, models: str):
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


def _spellchecker(ai, engine, settings: Settings):
    """Worker.  Attach the LLM spell-checker to ``engine`` (an AsposeAI)."""
    path = _ai_model_path(settings)
    if path is None:  # the coordinator's model check normally stops this first
        models = os.path.join(model_dir(settings), AI_MODELS_SUBDIR)
        raise RuntimeError(f"aspose_ai=spellcheck needs {DEFAULT_AI_MODEL} in {models}")
    config = ai.AsposeAIModelConfig()
    config.allow_auto_download = False
    config.file_model_path = path
    processor = ai.SpellCheckAIProcessor()
    engine.set_post_processor(processor, config)
    return processor


def _text_line(line) -> TextLine:
    """Aspose gives line confidences in 0.0-1.0 (0 in trial mode: unknown)."""
    box = line.line
    bbox = (box.left, box.top, box.right, box.bottom) if box is not None and not box.is_empty else None
    confidence = round(line.confidence * 100, 2) if line.confidence else None
    return TextLine(text=line.text_in_line.strip(), confidence=confidence, bbox=bbox)


def _strip_trial_banner(text: str) -> str:
    return _TRIAL_BANNER.sub("\n", text) if text else text


# --- the supervisor's runtime probe ------------------------------------------
def _installed() -> bool:
    try:
        metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return False
    return True


def _run_probe(license_file: str | None) -> None:
    """Supervisor.  Start the runtime in a throw-away subprocess and map any
    failure, including death by a signal, to ConfigError."""
    command = [sys.executable, "-m", __name__, "probe"] + ([license_file] if license_file else [])
    # Make sure the probe imports this same batchocr, installed or not.
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pythonpath = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"the Aspose runtime did not start within {PROBE_TIMEOUT} s") from None
    if done.returncode == 0:
        return
    detail = done.stderr.strip()[-1500:]
    if done.returncode == PROBE_LICENSE_ERROR:
        raise ConfigError(f"aspose license {license_file} is not valid: {detail}")
    if done.returncode < 0:
        raise ConfigError(
            f"the Aspose .NET runtime died with {_signal_name(-done.returncode)} while starting "
            f"(usually missing OpenSSL 1.1 or ICU):\n{detail}"
        )
    raise ConfigError(f"the Aspose runtime cannot start (exit {done.returncode}):\n{detail}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _probe_main(argv: list[str]) -> int:
    """The probe subprocess: start the runtime as a worker would, apply the
    license, construct an AsposeOcr.  Exit 0 ok, 3 bad license, 2 no runtime.
    Runs in its own temporary directory: it leaves nothing behind."""
    if not argv or argv[0] != "probe":
        print("usage: python -m batchocr.engines.aspose probe [LICENSE]", file=sys.stderr)
        return 2
    license_file = os.path.abspath(argv[1]) if len(argv) > 1 else None
    try:
        prepare_runtime()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="batchocr-aspose-probe-") as scratch:
        os.chdir(scratch)
        ocr, _ = _import_aspose(os.path.join(scratch, "aspose_data"), scratch)
        if license_file:
            try:
                ocr.License().set_license(license_file)
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
                return PROBE_LICENSE_ERROR
        ocr.AsposeOcr()  # where a missing libssl.so.1.1 aborts the process
    return 0


if __name__ == "__main__":
    sys.exit(_probe_main(sys.argv[1:]))
