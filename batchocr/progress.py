"""What a person watching the terminal sees during a run.  Supervisor side.

One tqdm line, in three guises:

- a status line with the elapsed time while pages are found and the workers
  start and load their engine (``starting 2 workers (tesseract eng)... [00:04]``);
- the bar, from the moment the first worker is ready.  The supervisor's
  tick refreshes it (``update(0)``, throttled by tqdm's ``mininterval``), so
  the clock moves between pages; the rate is pages done over time elapsed
  (``smoothing=0``), so it falls while nothing finishes instead of showing
  the speed of the last page; a page running longer than
  ``SLOW_PAGE_SECONDS`` is named in the postfix, so a slow page does not
  look like a hang;
- ``nothing to do: ...`` when every page found was done by an earlier run.

Once the run is stopping (a signal, too many failures), the bar's postfix
ends in ``stopping``, or the status line says so when no worker was ready.

Only on a terminal: when stderr is a file or a pipe (cron) the bar is
disabled and the run's summary lines are all that is written.  Messages
written while the bar is up go through ``tqdm.write`` (the interrupt
notice, a worker's stderr), so they land above it and one bar is left.
While the bar is up the terminal does not echo ``^C``: the echo would wrap
the full-width bar onto a second line, which tqdm cannot clear, leaving two
bars (the interrupt notice says what happened instead).
"""

from __future__ import annotations

import contextlib
import sys
import termios
import time
from collections.abc import Callable

from tqdm import tqdm

from batchocr import plural
from batchocr.config import Settings
from batchocr.supervisor import Activity

# A page in progress for longer than this is named in the postfix.
SLOW_PAGE_SECONDS = 5.0
# The tail of a slow page's path that is shown.
PATH_CHARS = 40
# While workers start: what is happening, and for how long.
STATUS_FORMAT = "{desc} [{elapsed}]"


class Progress:
    def __init__(self, settings: Settings, engine_name: str, enabled: bool) -> None:
        self.bar = tqdm(
            total=0,
            unit="page",
            file=sys.stderr,
            dynamic_ncols=True,
            disable=not enabled,
            smoothing=0,  # the rate is the average since the start: it falls while nothing finishes
            miniters=0,  # so that update(0) refreshes (at most every mininterval)
            bar_format=STATUS_FORMAT,
            desc="finding pages...",
        )
        self.engine = f"{engine_name} {settings.lang}"
        self.failed = 0
        self.slow = ""  # the postfix naming the oldest page in progress, when it is slow
        self.running = False  # the bar is shown (a worker was ready)
        self.stopping = False  # the run is stopping: the postfix says so
        self._restore_echo = _hide_control_echo(sys.stderr) if enabled else _nothing

    def found(self, todo: int) -> None:
        """Discovery goes on during the run: the bar's total grows as pages are found."""
        self.bar.total = todo

    def tick(self, activity: Activity) -> None:
        """The supervisor's tick: what the workers do now."""
        if activity.ready:
            self._show_bar()
        elif not self.running and activity.stopping:  # before any page: the status line says so
            self.bar.set_description_str("stopping before any worker was ready...", refresh=False)
        elif not self.running and activity.workers:
            self.bar.set_description_str(
                f"starting {plural.count(activity.workers, 'worker')} ({self.engine})...", refresh=False
            )
        self.stopping = activity.stopping
        self.slow = _slow_page(activity, time.monotonic())
        self._set_postfix()
        self.bar.update(0)

    def page_done(self, failed: int) -> None:
        self._show_bar()
        self.failed = failed
        self._set_postfix()
        self.bar.update(1)

    def nothing_to_do(self, done_before: int) -> None:
        """Every page found was done by an earlier run: say so instead of an empty bar."""
        self.bar.bar_format = "{desc}"
        self.bar.set_description_str(f"nothing to do: all {plural.count(done_before, 'page')} done by an earlier run")

    def close(self, leave: bool = True) -> None:
        self.bar.leave = leave
        self.bar.close()
        self._restore_echo()

    def _show_bar(self) -> None:
        if not self.running:
            self.running = True
            self.bar.bar_format = None  # tqdm's own bar
            self.bar.set_description_str("", refresh=False)

    def _set_postfix(self) -> None:
        parts = [f"failed={self.failed}"] + ([self.slow] if self.slow else []) + (["stopping"] if self.stopping else [])
        self.bar.set_postfix_str(", ".join(parts), refresh=False)


def _slow_page(activity: Activity, now: float) -> str:
    """``now: PATH p.N (12 s)`` for the page in progress longest, once it is slow."""
    if not activity.busy:
        return ""
    item, since = min(activity.busy, key=lambda busy: busy[1])
    seconds = now - since
    if seconds < SLOW_PAGE_SECONDS:
        return ""
    path = item.rel if len(item.rel) <= PATH_CHARS else "..." + item.rel[-(PATH_CHARS - 3) :]
    page = f" p.{item.page}" if item.pages > 1 else ""
    return f"now: {path}{page} ({seconds:.0f} s)"


def _hide_control_echo(terminal) -> Callable[[], None]:
    """Turn off the terminal's echo of control keys (``^C``); returns what restores it."""
    try:
        fd = terminal.fileno()
        before = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~termios.ECHOCTL  # lflags
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (OSError, ValueError, termios.error):  # not a terminal after all: nothing to restore
        return _nothing

    def restore() -> None:
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(fd, termios.TCSANOW, before)

    return restore


def _nothing() -> None:
    pass
