"""The settings fingerprint: what a page's text depends on.  Supervisor side.

A page is done only if its record was made with the same fingerprint as this
run's: the engine and its version, the languages, the settings that change
the text, and the checksums of the model files the run needs.  Checksums
are cached in the ledger by path, size and mtime, so a resume does not
rehash a 100 MB model it hashed before.

Settings that change *whether* a page succeeds or how fast (timeouts,
workers, the pixel budget, recycling) are not part of it: a failed page is
retried anyway, and an ok page stays ok.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from batchocr.config import Settings
from batchocr.engines.base import ModelInventory
from batchocr.ledger import Ledger

# Settings fields that change the recognised text (besides engine and models).
# A new setting that changes text belongs here: pages made without it are redone.
TEXT_SETTINGS = (
    "lang",
    "pdf_dpi",
    "force_ocr",
    "aspose_ai",
    "aspose_areas",
    "aspose_fast",
    "aspose_upscale_small_font",
    "aspose_color_inversion",
    "aspose_auto_skew",
)
CHUNK = 1 << 20


def settings_fingerprint(
    settings: Settings, engine_name: str, engine_version: str, inventory: ModelInventory, ledger: Ledger
) -> dict[str, Any]:
    """What this run's records are made with, as a JSON-able dict."""
    needed = [m for m in inventory.models if inventory.is_needed(m)]
    return {
        "engine": engine_name,
        "engine_version": engine_version,
        # an engine's own settings (aspose_*) count only for that engine
        **{
            name: getattr(settings, name)
            for name in TEXT_SETTINGS
            if not name.startswith("aspose_") or engine_name == "aspose"
        },
        "models": {m.name: model_checksum(m.path, ledger) for m in sorted(needed, key=lambda m: m.name)},
    }


def digest(fingerprint: dict[str, Any]) -> str:
    """A short stable id for a fingerprint (records carry it)."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]


def model_checksum(path: str, ledger: Ledger) -> str:
    try:
        info = os.stat(path)
    except OSError:
        return "missing"
    cached = ledger.cached_checksum(path, info.st_size, info.st_mtime_ns)
    if cached:
        return cached
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
    ledger.store_checksum(path, info.st_size, info.st_mtime_ns, sha.hexdigest())
    return sha.hexdigest()


def describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What differs, for the summary: ``lang eng -> deu``."""
    if not old:
        return "settings unknown"
    parts = []
    for key in ("engine", "engine_version", *TEXT_SETTINGS):
        if key in old and old.get(key) != new.get(key):
            parts.append(f"{key} {old.get(key)} -> {new.get(key)}")
    old_models, new_models = old.get("models"), new.get("models", {})
    if old_models is not None and old_models != new_models:
        changed = sorted(n for n in set(old_models) | set(new_models) if old_models.get(n) != new_models.get(n))
        parts.append("model " + ", ".join(changed) + " changed")
    return ", ".join(parts) or "settings changed"


def same_as_far_as_known(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """For records adopted from an output dir made before the ledger, whose
    fingerprint is only partly known: equal in every field it knows."""
    return bool(old) and all(new.get(key) == value for key, value in old.items())
