"""The run's settings: one dataclass, three sources.

Precedence, lowest to highest: the defaults below, a TOML file (``--config``),
``BATCHOCR_*`` environment variables, the command line.  A TOML table maps to
a prefixed name: ``[aspose] license = ...`` is the field ``aspose_license``
(environment ``BATCHOCR_ASPOSE_LICENSE``).  ``config.example.toml`` documents
every field; ``tests/test_config.py`` checks that it lists them all.

``Settings`` is picklable: it is sent to every worker as is.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from batchocr.errors import ConfigError
from batchocr.executors import EXECUTORS

ENV_PREFIX = "BATCHOCR_"
# tesseract page segmentation modes that recognise text (0 and 2 only analyse)
RECOGNISING_PSMS = (1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
# Settings naming files or directories: made absolute once, here, so that
# every worker (a Ray actor on another node included) sees the same path.
PATH_FIELDS = ("output_dir", "model_dir", "aspose_license", "aspose_resource_dir")
# recycle_every's default: count-based, waiting until the engine has earned its rebuild.
AUTO = "auto"


@dataclass(frozen=True)
class Settings:
    # --- what to run ---------------------------------------------------------
    output_dir: str = "batchocr-out"
    engine: str = "tesseract"  # a registered name, or "module:Class"
    lang: str = "eng"  # "+"-separated language codes, e.g. "eng+deu"
    model_dir: str | None = None  # engine's model directory; None = its default
    executor: str = "local"  # "local" process pool, or "ray"
    ray_address: str | None = None  # join this Ray cluster; None = start a local one

    # --- the pool ------------------------------------------------------------
    workers: int = 0  # 0 = one per CPU
    recycle_every: int | None = None  # rebuild the engine after N images; 0 = never; None = "auto"
    recycle_jitter: float = 0.1  # +- share of recycle_every, per worker
    max_worker_rss: int = 2048  # MB; above it the worker recycles; 0 = off
    timeout: float = 300.0  # seconds one page may take before its worker is killed
    start_timeout: float = 120.0  # seconds a worker may take to load or rebuild its engine
    retries: int = 1  # times a page that killed its worker is tried again
    grace_seconds: float = 10.0  # on Ctrl-C/SIGTERM, time left to in-flight pages
    max_failed_share: float = 0.5  # stop early when more pages than this share fail (1 = never)

    # --- input and measurements ---------------------------------------------
    max_image_pixels: int = 100_000_000  # pixel budget per page (decompression bombs)
    memory_sample_seconds: float = 1.0  # at most one RSS sample per worker per interval
    quiet: bool = False  # no progress bar

    # --- accuracy (issue 12; see batchocr/preprocess.py, second_look.py) -----
    rotate_pages: bool = True  # turn pages read sideways/upside down upright (OSD)
    deskew: bool = True  # straighten crooked pages before recognition
    second_look: bool = True  # one more pass when the first looks incomplete
    psm: int = 3  # tesseract page segmentation mode (3 = automatic layout)
    low_confidence: float = 60.0  # pages under this mean word confidence are flagged

    # --- the model inventory -------------------------------------------------
    old_model_prefix: str = "old_"  # models named like this are OLD (prunable)

    # --- aspose (see batchocr/engines/aspose.py) -----------------------------
    aspose_license: str | None = None
    aspose_ai: str | None = None  # "spellcheck" turns on the AI post-processor
    aspose_resource_dir: str | None = None  # OCR resources (languages, modes)

    def resolved_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def languages(self) -> list[str]:
        return [code for code in self.lang.split("+") if code]


FIELD_TYPES: dict[str, Any] = typing.get_type_hints(Settings)
FIELD_NAMES = [f.name for f in fields(Settings)]


def load_settings(
    cli_values: Mapping[str, Any],
    config_file: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge defaults < config file < environment < command line, then validate.

    ``cli_values`` holds only what the user gave on the command line (``None``
    values are ignored), keyed by field name.
    """
    environ = os.environ if environ is None else environ
    config_file = config_file or environ.get(ENV_PREFIX + "CONFIG")
    merged: dict[str, Any] = {}
    if config_file:
        merged.update(_from_toml(Path(config_file)))
    merged.update(_from_environ(environ))
    merged.update({k: v for k, v in cli_values.items() if v is not None})
    unknown = set(merged) - set(FIELD_NAMES)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    converted = {name: _convert(name, value) for name, value in merged.items()}
    for name in PATH_FIELDS:
        if converted.get(name):
            converted[name] = os.path.abspath(os.path.expanduser(converted[name]))
    settings = Settings(**converted)
    _validate(settings)
    return settings


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):  # [aspose] license = ... -> aspose_license
            for sub, subvalue in value.items():
                flat[_field_name(f"{key}_{sub}")] = subvalue
        else:
            flat[_field_name(key)] = value
    unknown = set(flat) - set(FIELD_NAMES)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s): {', '.join(sorted(unknown))}")
    return flat


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    found = {}
    for name in FIELD_NAMES:
        value = environ.get(ENV_PREFIX + name.upper())
        if value is not None and value != "":
            found[name] = value
    return found


def _field_name(key: str) -> str:
    return key.replace("-", "_").replace(".", "_")


def _convert(name: str, value: Any) -> Any:
    """Coerce a value from TOML or the environment to the field's type."""
    kind = FIELD_TYPES[name]
    optional = type(None) in typing.get_args(kind)
    base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
    if optional and (value is None or (name == "recycle_every" and str(value).strip().lower() == AUTO)):
        return None
    try:
        if base is bool:
            return _to_bool(value)
        if base is int and not isinstance(value, bool):
            return int(value)
        if base is float and not isinstance(value, bool):
            return float(value)
        if base is str:
            return str(value)
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"setting {name!r}: expected {base.__name__}, got {value!r}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _validate(s: Settings) -> None:
    checks = [
        (s.workers >= 0, "workers must be >= 0 (0 = one per CPU)"),
        (s.recycle_every is None or s.recycle_every >= 0, "recycle_every must be >= 0 (0 = never) or auto"),
        (0 <= s.recycle_jitter < 1, "recycle_jitter must be in [0, 1)"),
        (s.max_worker_rss >= 0, "max_worker_rss must be >= 0 MB (0 = off)"),
        (s.timeout > 0, "timeout must be > 0 seconds"),
        (s.start_timeout > 0, "start_timeout must be > 0 seconds"),
        (s.retries >= 0, "retries must be >= 0"),
        (s.grace_seconds >= 0, "grace_seconds must be >= 0"),
        (0 < s.max_failed_share <= 1, "max_failed_share must be in (0, 1]"),
        (s.max_image_pixels > 0, "max_image_pixels must be > 0"),
        (s.memory_sample_seconds >= 0, "memory_sample_seconds must be >= 0"),
        (bool(s.languages()), "lang must name at least one language"),
        (s.executor in EXECUTORS, f"executor must be one of: {', '.join(EXECUTORS)}"),
        (s.psm in RECOGNISING_PSMS, f"psm must be one of {', '.join(map(str, RECOGNISING_PSMS))}"),
        (0 <= s.low_confidence <= 100, "low_confidence must be in [0, 100]"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def replace(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, **changes)
