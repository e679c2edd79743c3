"""Exit codes and the exceptions that carry them.

Every user-facing failure is one of these exceptions; ``cli.main`` maps them
to an exit code in one place, and anything else is a bug (``INTERNAL``).
Nothing matches on message text.
"""

from __future__ import annotations

import enum
import signal
import sys


class ExitCode(enum.IntEnum):
    OK = 0  # every page recognised
    PAGES_FAILED = 1  # the run finished, some pages are `error`/`timeout`
    USAGE = 2  # bad command line, config file, environment or output directory
    MODEL_CHECK = 3  # a model the run needs is missing; no worker started
    ABORTED = 4  # the run could not continue (workers cannot start, disk full)
    NO_PAGES = 5  # nothing to read under the input directory (an empty or unmounted folder)
    INTERNAL = 70  # a bug in batchocr: the traceback is saved to a file
    SIGINT = 130  # interrupted by Ctrl-C; outputs are flushed and resumable
    SIGTERM = 143  # interrupted by SIGTERM; outputs are flushed and resumable


class BatchOcrError(Exception):
    """Base class: a message meant for the user plus the exit code."""

    exit_code = ExitCode.ABORTED


class ConfigError(BatchOcrError):
    exit_code = ExitCode.USAGE


class ModelCheckError(BatchOcrError):
    exit_code = ExitCode.MODEL_CHECK


class RunAborted(BatchOcrError):
    exit_code = ExitCode.ABORTED


class OutputError(RunAborted):
    """Writing an output failed mid-run (disk full, directory removed)."""


class NoPages(BatchOcrError):
    exit_code = ExitCode.NO_PAGES


class Interrupted(BatchOcrError):
    """A signal arrived before any page was handed out."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(f"{name}: stopped before processing any page; nothing was changed")

    @property
    def exit_code(self) -> ExitCode:  # type: ignore[override]
        return exit_code_for_signal(self.signum)


def pip_hint(requirement: str, extra: str) -> str:
    """How to install an optional package into the environment batchocr runs in
    (not ``pip install 'batchocr[...]'``: batchocr is installed from a checkout)."""
    return f"{sys.executable} -m pip install '{requirement}' (from a checkout: bash scripts/setup.sh {extra})"


def exit_code_for_signal(signum: int) -> ExitCode:
    return ExitCode.SIGTERM if signum == signal.SIGTERM else ExitCode.SIGINT
