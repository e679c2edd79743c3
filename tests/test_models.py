"""``batchocr models list | path | prune`` (tesseract; the aspose side is in test_aspose.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import batchocr_env

from batchocr.engines.base import ModelFile, ModelInventory
from batchocr.inventory import plan_prune


def models(tmp_path, *args, env=None):
    proc = subprocess.run(
        [sys.executable, "-m", "batchocr", "models", *map(str, args)],
        capture_output=True,
        text=True,
        env={**batchocr_env(tmp_path), **(env or {})},
        timeout=60,
    )
    return proc


@pytest.fixture
def tessdata(tmp_path):
    directory = tmp_path / "tessdata"
    directory.mkdir()
    for name in (
        "eng.traineddata",
        "old_eng.traineddata",
        "old_deu.traineddata",
        "legacy-fra.traineddata",
        "old_needed.traineddata",
        "notes.txt",
    ):
        (directory / name).write_bytes(b"x" * 100)
    outside = tmp_path / "elsewhere" / "precious.traineddata"
    outside.parent.mkdir()
    outside.write_bytes(b"keep me")
    os.symlink(outside, directory / "old_link.traineddata")
    return directory


def test_list_default_tesseract_models(tmp_path):
    proc = models(tmp_path, "list", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["engine"] == "tesseract" and os.path.isabs(data["directory"])
    eng = next(m for m in data["models"] if m["name"] == "eng.traineddata")
    assert eng["needed"] and eng["status"] == "CURRENT" and eng["size_bytes"] > 1_000_000
    assert os.path.isabs(eng["path"]) and data["missing"] == []


def test_list_human_and_path(tmp_path, tessdata):
    listing = models(tmp_path, "list", "--model-dir", tessdata, "--lang", "eng+ita")
    assert "OLD" in listing.stdout and "CURRENT" in listing.stdout
    assert "MISSING  needed  ita.traineddata" in listing.stdout
    assert "notes.txt" not in listing.stdout  # only models
    path = models(tmp_path, "path", "--model-dir", os.path.relpath(tessdata))
    assert path.stdout.strip() == str(tessdata)  # absolute, for scripts


def test_prune_dry_run_deletes_nothing(tmp_path, tessdata):
    before = sorted(os.listdir(tessdata))
    proc = models(tmp_path, "prune", "--model-dir", tessdata, "--lang", "eng+old_needed")
    assert proc.returncode == 0, proc.stderr
    assert "would delete" in proc.stdout and "dry run" in proc.stdout
    assert "keep         " + str(tessdata / "old_needed.traineddata") in proc.stdout
    assert sorted(os.listdir(tessdata)) == before


def test_prune_yes_removes_old_keeps_needed_and_never_follows_links(tmp_path, tessdata):
    proc = models(tmp_path, "prune", "--model-dir", tessdata, "--lang", "eng+old_needed", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tessdata)) == [
        "eng.traineddata",
        "legacy-fra.traineddata",
        "notes.txt",
        "old_needed.traineddata",
    ]
    assert (tmp_path / "elsewhere" / "precious.traineddata").read_bytes() == b"keep me"  # link removed, not its target


def test_prune_prefix(tmp_path, tessdata):
    proc = models(tmp_path, "prune", "--model-dir", tessdata, "--prefix", "legacy-", "--yes")
    assert proc.returncode == 0
    assert not (tessdata / "legacy-fra.traineddata").exists()
    assert (tessdata / "old_eng.traineddata").exists()


def test_plan_prune_refuses_a_path_outside_the_model_dir(tmp_path):
    inside = tmp_path / "models"
    inside.mkdir()
    outside = ModelFile("old_x.gguf", str(tmp_path / "other" / "old_x.gguf"), 1)
    listed = ModelFile("old_y.gguf", str(inside / "old_y.gguf"), 1)
    inventory = ModelInventory("t", str(inside), (outside, listed), ())
    decisions = {d.model.name: d for d in plan_prune(inventory, "old_")}
    assert not decisions["old_x.gguf"].delete and "not inside" in decisions["old_x.gguf"].reason
    assert decisions["old_y.gguf"].delete
