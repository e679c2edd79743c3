"""Exit codes and the exceptions that carry them.

Every user-facing failure is one of these exceptions; ``cli`` maps them to an
exit code in one place.  Nothing matches on message text.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0  # every page recognised
    PAGES_FAILED = 1  # the run finished, some pages are `error`/`timeout`
    USAGE = 2  # bad command line, config file or environment
    MODEL_CHECK = 3  # a model the run needs is missing; no worker started
    ABORTED = 4  # the run could not continue (workers cannot start, disk full)
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
