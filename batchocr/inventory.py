"""The model inventory: what is on disk, what a run needs, what may go.

Runs in the supervisor (the coordinator) and in ``batchocr models``; it asks
the engine class, never an engine instance, so no model is loaded here and
no file is held open while ``prune`` deletes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from batchocr.config import Settings
from batchocr.engines import engine_class
from batchocr.engines.base import ModelFile, ModelInventory, model_status
from batchocr.errors import ModelCheckError


def take_inventory(settings: Settings) -> ModelInventory:
    return engine_class(settings.engine).inventory(settings)


def check_models(settings: Settings) -> ModelInventory:
    """The coordinator's check: every model the run needs is on disk, or exit 3."""
    cls = engine_class(settings.engine)
    inventory = cls.inventory(settings)
    missing = inventory.missing()
    if missing:
        raise ModelCheckError(
            f"engine {cls.name!r} needs model(s) that are not installed: {', '.join(missing)}\n"
            f"  looked in: {', '.join(inventory.directories())}\n"
            f"  fix: {cls.install_hint(missing, inventory)}"
        )
    return inventory


@dataclass(frozen=True)
class PruneDecision:
    model: ModelFile
    delete: bool
    reason: str


def plan_prune(inventory: ModelInventory, prefix: str) -> list[PruneDecision]:
    """Which OLD models would go, and why the others stay.  Only what the
    engine itself lists can go: an OLD file it does not list is kept (a run
    cannot use it either; the user deletes it by hand)."""
    roots = [os.path.realpath(d) for d in inventory.directories()]
    decisions = [
        PruneDecision(model, False, f"kept: {inventory.engine} does not list it")
        for model in inventory.unlisted
        if model_status(model, prefix) == "OLD"
    ]
    for model in inventory.models:
        if model_status(model, prefix) != "OLD":
            continue
        if inventory.is_needed(model):
            decisions.append(PruneDecision(model, False, "kept: the current configuration needs it"))
        elif not _inside(model.path, roots):
            decisions.append(PruneDecision(model, False, "kept: not inside the model directory"))
        else:
            decisions.append(PruneDecision(model, True, "OLD"))
    return decisions


def _inside(path: str, roots: list[str]) -> bool:
    """Is the file's directory (symlinks in it resolved, the file itself not) under a root?"""
    parent = os.path.realpath(os.path.dirname(path))
    return any(parent == root or parent.startswith(root + os.sep) for root in roots)


def prune(decisions: list[PruneDecision]) -> list[str]:
    """Delete what ``plan_prune`` marked; symlinks are removed, never followed."""
    errors = []
    for decision in decisions:
        if not decision.delete:
            continue
        try:
            os.unlink(decision.model.path)
        except OSError as exc:
            errors.append(f"{decision.model.path}: {exc.strerror or exc}")
    return errors
