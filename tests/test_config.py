from __future__ import annotations

import dataclasses
import os
import re
import tomllib

import pytest
from conftest import REPO

from batchocr.config import FIELD_NAMES, Settings, load_settings, resolve_engine_defaults
from batchocr.errors import ConfigError


def test_defaults():
    s = load_settings({}, environ={})
    assert s == Settings()
    assert s.engine == "tesseract" and s.lang == "eng" and s.output_dir == "batchocr-out"
    assert s.resolved_workers() >= 1


def test_precedence_cli_over_env_over_file(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('workers = 3\nrecycle_every = 7\ntimeout = 9\n[aspose]\nlicense = "/from/file"\n')
    env = {"BATCHOCR_RECYCLE_EVERY": "8", "BATCHOCR_TIMEOUT": "10", "BATCHOCR_QUIET": "yes"}
    s = load_settings({"timeout": 11.0, "workers": None}, config, environ=env)
    assert s.workers == 3  # file only
    assert s.recycle_every == 8  # env beats file
    assert s.timeout == 11.0  # command line beats env
    assert s.quiet is True
    assert s.aspose_license == "/from/file"  # [aspose] license -> aspose_license


def test_config_file_from_environment(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("workers = 5\n")
    assert load_settings({}, environ={"BATCHOCR_CONFIG": str(config)}).workers == 5


@pytest.mark.parametrize(
    "toml, message",
    [
        ("wrokers = 2\n", "unknown setting"),
        ("workers = 'many'\n", "c.toml: workers: expected a whole number"),
        ("workers = -1\n", "workers must be"),
        ("workers = [\n", "cannot read config file"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, toml, message):
    config = tmp_path / "c.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings({}, config, environ={})


def test_bad_environment_value():
    with pytest.raises(ConfigError, match="BATCHOCR_MAX_WORKER_RSS: expected a whole number"):
        load_settings({}, environ={"BATCHOCR_MAX_WORKER_RSS": "lots"})


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings({}, tmp_path / "nope.toml", environ={})


def test_example_config_documents_every_setting():
    example = (REPO / "config.example.toml").read_text()
    # commented-out settings ("# license = ...") count as documented too
    uncommented = re.sub(r"(?m)^# (\w+ = )", r"\1", example)
    data = tomllib.loads(uncommented)
    keys = {k for k, v in data.items() if not isinstance(v, dict)}
    keys |= {f"{table}_{k}" for table, v in data.items() if isinstance(v, dict) for k in v}
    assert keys == set(FIELD_NAMES)
    # and the example itself loads, giving the documented defaults
    loaded = load_settings({}, REPO / "config.example.toml", environ={})
    defaults = dataclasses.replace(Settings(), output_dir=os.path.abspath(Settings.output_dir))
    assert dataclasses.asdict(loaded) == dataclasses.asdict(defaults)


def test_engine_defaults_fill_only_what_the_user_left(monkeypatch):
    from batchocr.engines.aspose import AsposeEngine
    from batchocr.engines.tesseract import TesseractEngine

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    aspose = resolve_engine_defaults(Settings(engine="aspose"), available_mb=3500)
    assert aspose.workers == 3  # memory, not the 8 CPUs, limits Aspose (~1.1 GB each)
    assert aspose.max_worker_rss == AsposeEngine.default_max_worker_rss_mb
    assert resolve_engine_defaults(Settings(engine="aspose"), available_mb=900).workers == 1  # never 0
    tesseract = resolve_engine_defaults(Settings(), available_mb=3500)
    assert tesseract.workers == 8 and tesseract.max_worker_rss == TesseractEngine.default_max_worker_rss_mb
    explicit = resolve_engine_defaults(Settings(engine="aspose", workers=5, max_worker_rss=0), available_mb=900)
    assert (explicit.workers, explicit.max_worker_rss) == (5, 0)


def test_run_takes_the_engine_defaults(run_batchocr, fake_pages):
    """`batchocr run` resolves what the user left unset before any worker sees it."""
    from fault_engines import FakeEngine

    result = run_batchocr(fake_pages(["a.png"]), "--engine", "fault_engines:FakeEngine", "--quiet")
    assert result.returncode == 0, result.stderr
    settings = result.run_info()["settings"]
    assert settings["max_worker_rss"] == FakeEngine.default_max_worker_rss_mb
    assert 1 <= settings["workers"] <= (os.cpu_count() or 1)


def test_every_setting_is_a_flag_with_help_and_short_forms_people_type(tmp_path):
    from click.testing import CliRunner

    from batchocr.cli import cli

    help_text = CliRunner().invoke(cli, ["run", "-h"]).output
    for name in FIELD_NAMES:
        assert "--" + name.replace("_", "-") in help_text, name
    for form in ("-j, --workers, --jobs", "-l, --lang", "-o, --output-dir"):
        assert form in help_text
    assert "Workers and recycling:" in help_text and "Limits:" in help_text


def test_a_bad_value_names_where_it_came_from(tmp_path):
    with pytest.raises(ConfigError, match=r"BATCHOCR_WORKERS: expected a whole number, got 'two'"):
        load_settings({}, environ={"BATCHOCR_WORKERS": "two"})


def test_a_misspelled_environment_variable_is_named_with_the_closest_setting():
    from batchocr.config import unknown_environment

    warnings = unknown_environment({"BATCHOCR_WORKER": "4", "BATCHOCR_WORKERS": "2", "PATH": "/bin"})
    assert warnings == [
        "environment variable BATCHOCR_WORKER is not a batchocr setting; ignored; did you mean BATCHOCR_WORKERS?"
    ]
