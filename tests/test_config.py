from __future__ import annotations

import dataclasses
import os
import re
import tomllib

import pytest

from batchocr.config import FIELD_NAMES, Settings, load_settings
from batchocr.errors import ConfigError
from conftest import REPO


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
        ("workers = 'many'\n", "expected int"),
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
    with pytest.raises(ConfigError, match="max_worker_rss"):
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
