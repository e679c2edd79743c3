"""The published record schema: shipped, printed, versioned, and complete."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import jsonschema
import pytest
from click.testing import CliRunner
from conftest import REPO, schema_problems

from batchocr.cli import cli
from batchocr.records import SCHEMA_VERSION, SCHEMAS, schema


@pytest.mark.parametrize("name", SCHEMAS)
def test_each_schema_is_a_valid_2020_12_schema_that_lists_every_field_as_required(name):
    document = schema(name)
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"].endswith(f":{name}:{SCHEMA_VERSION}")
    assert document["additionalProperties"] is False
    assert document["required"] == list(document["properties"])  # every record carries every field


@pytest.mark.parametrize("name", SCHEMAS)
def test_batchocr_schema_prints_it(name):
    result = CliRunner().invoke(cli, ["schema", name])
    assert result.exit_code == 0
    assert json.loads(result.output) == schema(name)


def test_an_unknown_schema_is_a_usage_error():
    result = CliRunner().invoke(cli, ["schema", "ledger"])
    assert result.exit_code == 2 and "'results', 'memory'" in result.output


def test_run_json_gives_the_schema_version_and_libtesseract_beside_tesserocr(run_batchocr, tmp_path):
    from conftest import text_page

    text_page(tmp_path / "in" / "a.png", ["Hello"])
    info = run_batchocr(tmp_path / "in").run_info()
    assert info["schema"] == SCHEMA_VERSION
    assert info["engine"]["version"].startswith("tesserocr ")
    assert info["engine"]["library"].startswith("tesseract 5."), info["engine"]
    assert "leptonica" in info["engine"]["library"]


def test_every_record_carries_every_field_whatever_its_path(run_batchocr, fake_pages):
    """ok pages, an engine error, a crash and a decode error: the same fields,
    in the same order, null where they do not apply."""
    in_dir = fake_pages(["a.png", "b-raise.png", "c-crash.png"])
    (in_dir / "d.png").write_bytes(b"not an image")
    result = run_batchocr(in_dir, "--engine", "fault_engines:FakeEngine", "--retries", "0")
    records = result.results()
    assert sorted(r["error_kind"] for r in records if r["error_kind"]) == ["crash", "decode", "engine"]
    fields = list(schema("results")["properties"])
    assert all(list(r) == fields for r in records), [list(r) for r in records]
    events = result.memory()
    assert {e["event"] for e in events} >= {"start", "exit"}
    assert all(list(e) == list(schema("memory")["properties"]) for e in events)


def test_the_suite_check_finds_a_field_the_schema_lacks(tmp_path):
    """The autouse check of conftest.py: a record with a field the schema
    does not list, or without one it requires, is reported."""
    good = {key: None for key in schema("memory")["properties"]} | {
        "worker": 1,
        "event": "start",
        "t": 0.5,
        "run": "r1",
    }
    (tmp_path / "memory.jsonl").write_text(
        "\n".join(json.dumps(r) for r in [good, good | {"new_field": 1}, {k: v for k, v in good.items() if k != "pid"}])
        + "\n"
    )
    problems = schema_problems(tmp_path)
    assert len(problems) == 2, problems
    assert "memory.jsonl:2:" in problems[0] and "new_field" in problems[0]
    assert "memory.jsonl:3:" in problems[1] and "'pid' is a required property" in problems[1]
    (tmp_path / "memory.jsonl").unlink()  # this test's own check must pass


def test_the_schemas_are_package_data(tmp_path):
    """A wheel built from the repo carries them (not only the source tree).
    Built from a copy: a build leaves build/ behind in the tree it reads."""
    source = tmp_path / "source"
    shutil.copytree(REPO / "batchocr", source / "batchocr", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("batchocr-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"batchocr/schemas/{name}.schema.json" for name in SCHEMAS} <= set(names)
