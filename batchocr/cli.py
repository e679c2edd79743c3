"""Command line: ``batchocr run``, ``models``, ``schema`` and ``report``.  Parsing only.

Every setting is a flag, made from the ``Settings`` fields (their help text
and group live there), so a new setting needs no code here.  Options default
to ``None`` so that ``config.load_settings`` alone decides precedence
(command line > environment > config file > defaults).  Exceptions carry
their exit code; ``main`` maps them in one place.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
import traceback
import typing
from dataclasses import fields

import click

import batchocr
from batchocr.config import FIELD_TYPES, GROUPS, Settings, load_settings, resolve_engine_defaults, unknown_environment
from batchocr.errors import BatchOcrError, ConfigError, ExitCode
from batchocr.executors import EXECUTORS
from batchocr.interrupts import INTERRUPTS
from batchocr.records import SCHEMAS
from batchocr.records import schema as records_schema

# Where an internal error's traceback goes: the run's output directory once
# known (set by the run command), else the temp directory.
CRASH_DIR: str | None = None


CONTEXT = {"help_option_names": ["-h", "--help"]}
CHOICES = {"executor": sorted(EXECUTORS), "aspose_ai": ["spellcheck"]}
CLICK_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING}


class SettingOption(click.Option):
    """An option made from a ``Settings`` field; ``--help`` lists it under its group."""

    def __init__(self, *args, group: str = "other", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.group = group


class GroupedCommand(click.Command):
    """A command whose ``--help`` shows its options by settings group."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record:
                sections.setdefault(getattr(param, "group", "other"), []).append(record)
        for group in (*GROUPS, "other"):
            if group in sections:
                with formatter.section(group.capitalize()):
                    formatter.write_dl(sections[group])


def settings_options(*groups: str):
    """One option per ``Settings`` field of these groups (all when none named),
    plus ``--config``.  Every option defaults to ``None``, so that
    ``config.load_settings`` alone decides precedence."""

    def decorate(func):
        for setting in reversed(fields(Settings)):
            if not groups or setting.metadata.get("group") in groups:
                func = _setting_option(setting)(func)
        return click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False),
            help="TOML config file (see config.example.toml); also BATCHOCR_CONFIG.",
            cls=SettingOption,
            group="input and output",
        )(func)

    return decorate


def _setting_option(setting: dataclasses.Field):
    meta = setting.metadata
    flag = "--" + setting.name.replace("_", "-")
    base = next(
        (t for t in typing.get_args(FIELD_TYPES[setting.name]) if t is not type(None)), FIELD_TYPES[setting.name]
    )
    if base is bool:
        decls, kind = [f"{flag}/--no-{flag[2:]}"], None
    else:
        decls = [d for d in (meta.get("short"), flag, meta.get("alias")) if d]
        kind = click.Choice(CHOICES[setting.name]) if setting.name in CHOICES else CLICK_TYPES.get(base, click.STRING)
        if setting.name == "recycle_every":  # a number or "auto": config checks it
            kind = click.STRING
    default = "auto" if setting.name == "recycle_every" else setting.default
    shown = "" if default is None or default is False else f" (default: {default})"
    return click.option(
        *decls,
        setting.name,
        type=kind,
        default=None,
        help=meta.get("help", "") + shown,
        cls=SettingOption,
        group=meta.get("group", "other"),
    )


def _load(options: dict, config_file: str | None) -> Settings:
    """Settings from the command line, the environment and the config file;
    warns of ``BATCHOCR_*`` variables that name no setting."""
    for warning in unknown_environment(os.environ):
        click.echo(f"batchocr: warning: {warning}", err=True)
    return load_settings(options, config_file)


@click.group(context_settings=CONTEXT)
@click.version_option(batchocr.__version__, prog_name="batchocr")
def cli() -> None:
    """Batch OCR over a directory of scans, with a recycling worker pool."""


@cli.command(cls=GroupedCommand)
@click.argument("input_dir", type=click.Path(file_okay=False))
@click.option(
    "--restart",
    is_flag=True,
    help="Start over: move earlier outputs aside instead of resuming.",
    cls=SettingOption,
    group="input and output",
)
@click.option(
    "--drop-missing",
    is_flag=True,
    help="Drop the records and outputs of files no longer under INPUT_DIR.",
    cls=SettingOption,
    group="input and output",
)
@settings_options()
def run(input_dir: str, config_file: str | None, restart: bool, drop_missing: bool, **options) -> None:
    """Recognise every page under INPUT_DIR.

    Running again into the same output directory resumes: pages already ok
    (same file size and mtime, same settings) are skipped, failed and new
    ones are done.  An output directory belongs to one INPUT_DIR.

    \b
    Exit codes: 0 all pages ok; 1 some pages failed; 2 bad usage, config or
    output directory; 3 a model the run needs is missing; 4 run aborted;
    5 no pages found;
    70 internal error (a bug); 130/143 interrupted.
    """
    from batchocr.runner import run as run_job

    global CRASH_DIR
    settings = resolve_engine_defaults(_load(options, config_file))
    CRASH_DIR = settings.output_dir
    if os.path.isfile(settings.output_dir):
        raise ConfigError(f"-o {settings.output_dir} is a file; give a directory (it is created if missing)")
    sys.exit(int(run_job(input_dir, settings, restart=restart, drop_missing=drop_missing)))


@cli.group(context_settings=CONTEXT)
def models() -> None:
    """The engine's model inventory."""


@models.command("list", cls=GroupedCommand)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@settings_options("engine", "aspose engine")
def models_list(config_file: str | None, as_json: bool, **options) -> None:
    """Every local model: name, path, size, status, and whether a run needs it.

    Exits 3 when a model the run would need is missing."""
    from batchocr.inventory import take_inventory

    settings = _load(options, config_file)
    inventory = take_inventory(settings)
    data = inventory.to_json(settings.old_model_prefix)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _print_inventory(data)
    if data["missing"]:  # a script can ask: would a run start?
        sys.exit(int(ExitCode.MODEL_CHECK))


def _print_inventory(data: dict) -> None:
    absent = "" if os.path.isdir(data["directory"]) else "  (does not exist)"
    click.echo(f"engine:    {data['engine']}")
    click.echo(f"directory: {data['directory']}{absent}")
    for extra in data["extra_directories"]:
        click.echo(f"also:      {extra}")
    for m in data["models"] + data["unlisted"]:
        need = "needed" if m.get("needed") else "-"
        click.echo(f"  {m['status']:<8} {need:<7} {m['size_bytes'] / 1e6:>9.1f} MB  {m['name']}  {m['path']}")
    if not data["models"] + data["unlisted"]:
        click.echo("  (no models found)")
    for name in data["missing"]:
        click.echo(f"  MISSING  needed  {name}")
    if data["note"]:
        click.echo(f"note: {data['note']}")


@models.command("path", cls=GroupedCommand)
@settings_options("engine", "aspose engine")
def models_path(config_file: str | None, **options) -> None:
    """The directories models go in (absolute, one per line, the main one first), for scripts."""
    from batchocr.inventory import take_inventory

    for directory in take_inventory(_load(options, config_file)).directories():
        click.echo(directory)


@models.command("prune", cls=GroupedCommand)
@click.option("--yes", is_flag=True, help="Really delete; without it, only show what would go.")
@settings_options("engine", "aspose engine")
def models_prune(config_file: str | None, yes: bool, **options) -> None:
    """Remove OLD models; never a needed one, never outside the model directory."""
    from batchocr.inventory import plan_prune, prune, take_inventory

    settings = _load(options, config_file)
    decisions = plan_prune(take_inventory(settings), settings.old_model_prefix)
    if not decisions:
        click.echo(f"nothing to prune (no models named {settings.old_model_prefix}*)")
    for d in decisions:
        verb = ("delete" if yes else "would delete") if d.delete else "keep"
        click.echo(f"{verb:<12} {d.model.path}  ({d.reason})")
    if not yes and any(d.delete for d in decisions):
        click.echo("dry run: nothing deleted; add --yes to delete")
    if yes:
        errors = prune(decisions)
        for error in errors:
            click.echo(f"error: {error}", err=True)
        if errors:
            sys.exit(int(ExitCode.PAGES_FAILED))


@cli.command()
@click.argument("name", type=click.Choice(SCHEMAS))
def schema(name: str) -> None:
    """Print the JSON Schema of results.jsonl records or memory.jsonl events.

    Its version is run.json's "schema"; every record carries every field, null where it does not apply.
    """
    click.echo(json.dumps(records_schema(name), indent=2))


@cli.command()
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write memory and throughput charts to this PNG.")
@click.option("--html", type=click.Path(dir_okay=False), help="Write an HTML report with the charts embedded.")
def report(out_dir: str, as_json: bool, plot: str | None, html: str | None) -> None:
    """Summarise OUT_DIR: pages, throughput, worker memory and recycles, failures.

    Charts need matplotlib (bash scripts/setup.sh plot).
    """
    from batchocr.report import main as report_main

    try:
        click.echo(report_main(out_dir, as_json=as_json, plot=plot, html=html))
    except OSError as exc:
        raise ConfigError(f"cannot write the report: {exc.filename or ''}: {exc.strerror or exc}") from None


def main() -> None:
    """Entry point: every way a command can end maps to a documented exit code."""
    with INTERRUPTS.installed():
        try:
            code = cli.main(standalone_mode=False)
        except click.exceptions.Abort:  # Ctrl-C while click itself was reading input
            _fail("interrupted", ExitCode.SIGINT)
        except click.ClickException as exc:  # bad usage: click's own message
            exc.show()
            sys.exit(int(ExitCode.USAGE))
        except BatchOcrError as exc:
            _fail(f"error: {exc}", exc.exit_code)
        except Exception:  # a bug: one line here, the traceback in a file
            _fail(_internal_error(), ExitCode.INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    click.echo(f"batchocr: {message}", err=True)
    sys.exit(int(code))


def _internal_error() -> str:
    """Save the current exception's traceback; the one line that says where."""
    exc = sys.exc_info()[1]
    text = traceback.format_exc()
    directory = CRASH_DIR if CRASH_DIR and os.path.isdir(CRASH_DIR) else tempfile.gettempdir()
    path = os.path.join(directory, f"batchocr-crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.txt")
    try:
        with open(path, "w") as fh:
            fh.write(f"batchocr {batchocr.__version__}, {' '.join(sys.argv)}\n\n{text}")
    except OSError:
        path = "(could not be saved)"
    return (
        f"internal error (a bug in batchocr): {type(exc).__name__}: {exc}; "
        f"traceback saved to {path}; please report it with that file"
    )
