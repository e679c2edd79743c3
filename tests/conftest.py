"""Shared fixtures: run batchocr as a real subprocess and read its outputs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from PIL import Image, ImageDraw, ImageFont

from batchocr.records import schema

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
SAMPLES = REPO / "samples"


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    out_dir: Path

    def results(self) -> list[dict]:
        return read_jsonl(self.out_dir / "results.jsonl")

    def memory(self) -> list[dict]:
        return read_jsonl(self.out_dir / "memory.jsonl")

    def run_info(self) -> dict:
        return json.loads((self.out_dir / "run.json").read_text())

    def pages(self) -> Counter:
        """How many records each (path, page) got: every page once is ``{(path, page): 1, ...}``."""
        return Counter((r["path"], r["page"]) for r in self.results())


def fault_engine(name: str) -> tuple[str, str]:
    """The arguments that run a test engine of ``tests/fault_engines.py``."""
    return ("--engine", f"fault_engines:{name}")


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def batchocr_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHOCR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), str(REPO)])
    env["FAULT_STATE_DIR"] = str(tmp_path)
    env.update(extra)
    return env


HAVE_RAY = importlib.util.find_spec("ray") is not None


@pytest.fixture(
    params=[
        "local",
        pytest.param("ray", marks=[pytest.mark.ray, pytest.mark.skipif(not HAVE_RAY, reason="Ray not installed")]),
    ]
)
def executor(request) -> tuple[str, ...]:
    """Run a test over every executor: the arguments that choose it.  Ray
    starts a local instance per run, whose actors inherit the test's
    environment (the fault engines' FAULT_* settings)."""
    return ("--executor", request.param)


@pytest.fixture
def run_batchocr(tmp_path):
    """Run ``python -m batchocr run INPUT`` in a subprocess; returns RunResult."""

    def _run(input_dir, *args, out_dir=None, env=None, timeout=300) -> RunResult:
        out = Path(out_dir or tmp_path / "out")
        cmd = [sys.executable, "-m", "batchocr", "run", str(input_dir), "-o", str(out), *map(str, args)]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**batchocr_env(tmp_path), **(env or {})},
            cwd=tmp_path,
        )
        return RunResult(proc.returncode, proc.stdout, proc.stderr, out)

    return _run


def text_page(path: Path, lines: list[str], size=(1000, 600), fmt=None) -> Path:
    """A small rendered text page (Pillow's bundled font)."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=32)
    for i, line in enumerate(lines):
        draw.text((40, 40 + i * 48), line, font=font, fill=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)
    return path


@pytest.fixture
def fake_pages(tmp_path):
    """A directory of small pages named for the fault engines: make(names) -> dir."""

    def _make(names: list[str]) -> Path:
        directory = tmp_path / "in"
        for name in names:
            text_page(directory / name, [name])
        return directory

    return _make


# --- every record the suite writes matches the published schema -----------------------------

SCHEMA_OF_FILE = {"results.jsonl": "results", "memory.jsonl": "memory"}
_checked: set[Path] = set()  # tests' tmp_path directories, checked (or excused) test by test


def schema_problems(root: Path, skip: set[Path] | frozenset[Path] = frozenset(), limit: int = 5) -> list[str]:
    """Lines of results.jsonl and memory.jsonl under ``root`` (not under ``skip``)
    that do not match ``batchocr schema results|memory`` (the first ``limit``).  Lines that are
    not JSON objects are not records (batchocr sets them aside) and are passed over."""
    problems: list[str] = []
    for file_name, name in SCHEMA_OF_FILE.items():
        validator = jsonschema.Draft202012Validator(schema(name))
        for path in sorted(root.rglob(file_name)):
            if any(path.is_relative_to(excluded) for excluded in skip):
                continue
            if not path.is_file():  # e.g. a link to /dev/full (a disk-full test): not a file of records
                continue
            with path.open(errors="replace") as lines:
                problems += _line_problems(validator, path, lines, limit - len(problems))
            if len(problems) >= limit:
                return problems
    return problems


def _line_problems(validator, path: Path, lines, limit: int) -> list[str]:
    problems: list[str] = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        for error in validator.iter_errors(record):
            where = "/".join(map(str, error.absolute_path)) or "(record)"
            problems.append(f"{path}:{number}: {where}: {error.message[:300]}")
            if len(problems) >= limit:
                return problems
    return problems


@pytest.fixture(autouse=True)
def records_match_the_schema(request):
    """After each test: the records it made under its tmp_path match the schema,
    so a field added without the schema (or removed from it) fails the suite.
    A test that plants records batchocr did not make says so with
    ``@pytest.mark.foreign_records``."""
    yield
    tmp = request.node.funcargs.get("tmp_path")
    if tmp is None:
        return
    _checked.add(tmp)
    if request.node.get_closest_marker("foreign_records") is None:
        problems = schema_problems(tmp)
        if problems:
            pytest.fail("records that do not match batchocr/schemas:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True, scope="session")
def module_records_match_the_schema(tmp_path_factory):
    """At the end: the same for records made by module fixtures (tmp_path_factory)."""
    yield
    problems = schema_problems(tmp_path_factory.getbasetemp(), skip=_checked)
    if problems:
        pytest.fail("records that do not match batchocr/schemas:\n" + "\n".join(problems), pytrace=False)
