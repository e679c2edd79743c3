"""Command line: ``batchocr run`` and ``batchocr models``.  Parsing only.

Every ``run`` option defaults to ``None`` here so that ``config.load_settings``
alone decides precedence (command line > environment > config file >
defaults).  Exceptions carry their exit code; ``main`` maps them in one place.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback

import click

import batchocr
from batchocr.config import load_settings
from batchocr.errors import BatchOcrError, ConfigError, ExitCode
from batchocr.executors import EXECUTORS
from batchocr.interrupts import INTERRUPTS

# Where an internal error's traceback goes: the run's output directory once
# known (set by the run command), else the temp directory.
CRASH_DIR: str | None = None


def _settings_options(func):
    """Options shared by every command that builds Settings."""
    options = [
        click.option("--engine", help="OCR engine: tesseract (default), aspose, or module:Class."),
        click.option("--lang", help="Language codes joined by '+', e.g. eng+deu (default eng)."),
        click.option("--model-dir", help="The engine's model directory (default: the engine's own)."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="TOML config file (see config.example.toml)."),  # fmt: skip
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
@click.version_option(batchocr.__version__, prog_name="batchocr")
def cli() -> None:
    """Batch OCR over a directory of scans, with a recycling worker pool."""


@cli.command()
@click.argument("input_dir", type=click.Path(file_okay=False))
@click.option("-o", "--output-dir", help="Where results go (default ./batchocr-out).")
@click.option("--workers", type=int, help="Worker processes (default: one per CPU).")
@click.option(
    "--recycle-every",
    help="Rebuild each worker's engine every N images; 0 = never; auto (default): every 200 or more, "
    "once the engine has worked 50x as long as a rebuild takes.",
)
@click.option("--max-worker-rss", type=int, help="Recycle a worker above this RSS in MB (default 2048; 0 = off).")
@click.option("--timeout", type=float, help="Seconds one page may take before its worker is killed (default 300).")
@click.option(
    "--start-timeout", type=float, help="Seconds a worker may take to load or rebuild its engine (default 120)."
)
@click.option("--max-image-pixels", type=int, help="Refuse pages above this many pixels (default 100000000).")
@click.option("--executor", type=click.Choice(sorted(EXECUTORS)), help="Where workers run (default local).")
@click.option("--ray-address", help="With --executor ray: the cluster to join (default: start a local Ray).")
@click.option("--aspose-license", help="Aspose license file (engine aspose).")
@click.option("--aspose-ai", type=click.Choice(["spellcheck"]), help="Aspose AI post-processing (engine aspose).")
@click.option("--aspose-resource-dir", help="Aspose OCR resources, e.g. non-Latin languages (engine aspose).")
@click.option("--rotate-pages/--no-rotate-pages", default=None,
              help="Turn pages scanned sideways or upside down upright (default on).")
@click.option("--deskew/--no-deskew", default=None, help="Straighten crooked pages before OCR (default on).")
@click.option("--psm", type=int, help="Tesseract page segmentation mode, e.g. 6 = one block (default 3 = auto).")
@click.option("--quiet/--no-quiet", default=None, help="No progress bar.")
@click.option("--restart", is_flag=True, help="Start over: move earlier outputs aside instead of resuming.")
@_settings_options
def run(input_dir: str, config_file: str | None, restart: bool, **options) -> None:
    """Recognise every page under INPUT_DIR.

    Running again into the same output directory resumes: pages already ok
    (same file size and mtime) are skipped, failed and new ones are done.

    \b
    Exit codes: 0 all pages ok; 1 some pages failed; 2 bad usage, config or
    output directory; 3 a model the run needs is missing; 4 run aborted;
    70 internal error (a bug); 130/143 interrupted.
    """
    from batchocr.runner import run as run_job

    global CRASH_DIR
    settings = load_settings(options, config_file)
    CRASH_DIR = settings.output_dir
    sys.exit(int(run_job(input_dir, settings, restart=restart)))


@cli.group()
def models() -> None:
    """The engine's model inventory."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_settings_options
def models_list(config_file: str | None, as_json: bool, **options) -> None:
    """Every local model: name, path, size, status, and whether a run needs it."""
    from batchocr.inventory import take_inventory

    settings = load_settings(options, config_file)
    inventory = take_inventory(settings)
    data = inventory.to_json(settings.old_model_prefix)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"engine:    {data['engine']}")
    click.echo(f"directory: {data['directory']}")
    for extra in data["extra_directories"]:
        click.echo(f"also:      {extra}")
    for m in data["models"]:
        need = "needed" if m["needed"] else "-"
        click.echo(f"  {m['status']:<8} {need:<7} {m['size_bytes'] / 1e6:>9.1f} MB  {m['name']}  {m['path']}")
    if not data["models"]:
        click.echo("  (no models found)")
    for name in data["missing"]:
        click.echo(f"  MISSING  needed  {name}")


@models.command("path")
@_settings_options
def models_path(config_file: str | None, **options) -> None:
    """The model directory (absolute), for scripts."""
    from batchocr.inventory import take_inventory

    click.echo(take_inventory(load_settings(options, config_file)).directory)


@models.command("prune")
@click.option("--prefix", help="Models named with this prefix are OLD (default old_).")
@click.option("--yes", is_flag=True, help="Really delete; without it, only show what would go.")
@_settings_options
def models_prune(config_file: str | None, prefix: str | None, yes: bool, **options) -> None:
    """Remove OLD models; never a needed one, never outside the model directory."""
    from batchocr.inventory import plan_prune, prune, take_inventory

    settings = load_settings({**options, "old_model_prefix": prefix}, config_file)
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
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write memory and throughput charts to this PNG.")
@click.option("--html", type=click.Path(dir_okay=False), help="Write an HTML report with the charts embedded.")
def report(out_dir: str, as_json: bool, plot: str | None, html: str | None) -> None:
    """Summarise OUT_DIR: pages, throughput, worker memory and recycles, failures.

    Charts need matplotlib: pip install 'batchocr[plot]'.
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
