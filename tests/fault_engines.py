"""Stand-in engines for testing the pool.  Never defaults, never shipped.

Selected with ``--engine fault_engines:ClassName`` (the tests put this
directory on PYTHONPATH; spawned workers inherit it).  They read no models
and "recognise" by describing the pixels, so the pool can be tested fast and
deterministically.  Behaviour is keyed on the page's file name:

- ``*crash*``   SIGKILLs its own worker every time (a poison page)
- ``*once*``    SIGKILLs its worker the first time only (state in $FAULT_STATE_DIR)
- ``*exit*``    ``os._exit(3)`` every time
- ``*hang*``    sleeps far beyond any timeout
- ``*raise*``   raises an exception (an engine error, not a crash)
- ``*slow*``    sleeps $FAULT_SLOW_SLEEP seconds (default 8): a slow page
Every page sleeps $FAULT_SLEEP seconds (default 0.05) to look like work.
$FAULT_REMOVE_AFTER_FIRST names a directory that the first page deletes
(a directory vanishing mid-run).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time

from PIL import ImageStat

from batchocr.engines.base import Engine, ModelInventory, Recognition

_LEAK: list[bytes] = []  # LeakyFakeEngine's memory, deliberately never freed


class FakeEngine(Engine):
    name = "fake"

    @classmethod
    def version(cls) -> str:
        return "fake 0 (test engine)"

    @classmethod
    def inventory(cls, settings) -> ModelInventory:
        return ModelInventory(engine=cls.name, directory="/nonexistent-fake-models", models=(), required=())

    def __init__(self, settings) -> None:
        self.alive = True

    def recognize(self, page) -> Recognition:
        assert self.alive, "engine used after free_resources()"
        name = os.path.basename(page.path)
        self._misbehave(name)
        time.sleep(float(os.environ.get("FAULT_SLEEP", "0.05")))
        mean = ImageStat.Stat(page.image.convert("L")).mean[0]
        w, h = page.image.size
        return Recognition(text=f"{name} p{page.page} {w}x{h} mean {mean:.1f}", confidence=50.0)

    def _misbehave(self, name: str) -> None:
        doomed = os.environ.get("FAULT_REMOVE_AFTER_FIRST")
        if doomed:
            shutil.rmtree(doomed, ignore_errors=True)
        if "crash" in name:
            os.kill(os.getpid(), signal.SIGKILL)
        if "once" in name:
            marker = os.path.join(os.environ["FAULT_STATE_DIR"], name + ".crashed")
            if not os.path.exists(marker):
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
        if "exit" in name:
            os._exit(3)
        if "hang" in name:
            time.sleep(3600)
        if "raise" in name:
            raise RuntimeError("fake engine refused this page")
        if "slow" in name:
            time.sleep(float(os.environ.get("FAULT_SLOW_SLEEP", "8")))

    def free_resources(self) -> None:
        self.alive = False


class LeakyFakeEngine(FakeEngine):
    """Leaks 40 MB per page that free_resources() cannot give back, like the
    engines whose users report in-process freeing does not return memory."""

    name = "leaky-fake"

    def recognize(self, page) -> Recognition:
        _LEAK.append(os.urandom(40 * 1024 * 1024))
        return super().recognize(page)


class BrokenInitFakeEngine(FakeEngine):
    """Cannot load at all, e.g. a corrupt model file."""

    name = "broken-fake"

    def __init__(self, settings) -> None:
        raise RuntimeError("model file is corrupt (simulated)")


class NeedsModelFakeEngine(FakeEngine):
    """Needs a model that is never there."""

    name = "needs-model-fake"

    @classmethod
    def inventory(cls, settings) -> ModelInventory:
        return ModelInventory(
            engine=cls.name, directory="/nonexistent-fake-models", models=(), required=("fake.model",)
        )


def _first_time(tag: str) -> bool:
    """True the first time ``tag`` is asked for in this test (state in $FAULT_STATE_DIR)."""
    marker = os.path.join(os.environ["FAULT_STATE_DIR"], tag + ".happened")
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


class HangingStartFakeEngine(FakeEngine):
    """Loading hangs for ever (a model on a dead NFS mount); with
    $FAULT_HANG_ONCE set, only the first load anywhere in the run hangs."""

    name = "hanging-start-fake"

    def __init__(self, settings) -> None:
        if not os.environ.get("FAULT_HANG_ONCE") or _first_time("start-hang"):
            time.sleep(3600)
        super().__init__(settings)


class SlowStartFakeEngine(FakeEngine):
    """Loading takes $FAULT_START_SLEEP seconds (default 3), like a large model."""

    name = "slow-start-fake"

    def __init__(self, settings) -> None:
        time.sleep(float(os.environ.get("FAULT_START_SLEEP", "3")))
        super().__init__(settings)


class StoppedStartFakeEngine(FakeEngine):
    """The first load in the run SIGSTOPs its own process (frozen, not dead)."""

    name = "stopped-start-fake"

    def __init__(self, settings) -> None:
        if _first_time("start-stop"):
            os.kill(os.getpid(), signal.SIGSTOP)
        super().__init__(settings)


class HangingFreeFakeEngine(FakeEngine):
    """free_resources() never returns (while recycling and at the end)."""

    name = "hanging-free-fake"

    def free_resources(self) -> None:
        time.sleep(3600)


class RebuildFailsFakeEngine(FakeEngine):
    """Loads once per process; building a second engine in the same process
    raises.  Writes one file per recognition, so tests can count them."""

    name = "rebuild-fails-fake"
    _built = 0

    def __init__(self, settings) -> None:
        type(self)._built += 1
        if type(self)._built > 1:
            raise RuntimeError("second engine in one process (simulated)")
        super().__init__(settings)

    def recognize(self, page) -> Recognition:
        name = os.path.basename(page.path)
        fd, _ = tempfile.mkstemp(prefix=f"recognised-{name}-", dir=os.environ["FAULT_STATE_DIR"])
        os.close(fd)
        return super().recognize(page)


class ReservedFieldsFakeEngine(FakeEngine):
    """Returns extra record fields named like batchocr's own (page, attempt)."""

    name = "reserved-fields-fake"

    def recognize(self, page) -> Recognition:
        result = super().recognize(page)
        result.extra = {"page": 99, "attempt": 7, "engine_note": "kept"}
        return result


class StderrFloodFakeEngine(FakeEngine):
    """Writes 20 MB of warnings to fd 2 per page, as native code does under stress."""

    name = "stderr-flood-fake"

    def recognize(self, page) -> Recognition:
        line = b"Error in pixGetWidth: pix not defined\n"
        chunk = line * (1024 * 1024 // len(line))
        for _ in range(20):
            os.write(2, chunk)
        return super().recognize(page)


class FreezeMidReplyFakeEngine(FakeEngine):
    """Pages named *freeze*: a 100 MB text, and the process SIGSTOPs itself
    while its main thread is blocked writing that reply into the pipe (seen
    in /proc/self/task/<tid>/syscall), i.e. in the middle of sending it."""

    name = "freeze-mid-reply-fake"

    def recognize(self, page) -> Recognition:
        result = super().recognize(page)
        if "freeze" in os.path.basename(page.path):
            threading.Thread(target=_stop_while_writing, args=(threading.get_native_id(),), daemon=True).start()
            result.text = "x" * (100 * 1024 * 1024)
        return result


WRITE_SYSCALL = {"x86_64": "1", "aarch64": "64"}[os.uname().machine]


def _stop_while_writing(tid: int) -> None:
    while True:
        with open(f"/proc/self/task/{tid}/syscall") as state:
            if state.read().split(" ", 1)[0] == WRITE_SYSCALL:
                break
        time.sleep(0.0005)
    os.kill(os.getpid(), signal.SIGSTOP)


class CachingFakeEngine(FakeEngine):
    """Holds a 30 MB cache from its first page on, released by free_resources()
    (so a recycle's RSS before and after differ by about that much)."""

    name = "caching-fake"

    def recognize(self, page) -> Recognition:
        if not hasattr(self, "cache"):
            self.cache = bytearray(os.urandom(30 * 1024 * 1024))
        return super().recognize(page)

    def free_resources(self) -> None:
        del self.cache
        super().free_resources()


class SlowPreflightFakeEngine(FakeEngine):
    """Its preflight takes a minute (a slow license server), to interrupt."""

    name = "slow-preflight-fake"

    @classmethod
    def preflight(cls, settings) -> None:
        time.sleep(60)


class BuggyFakeEngine(FakeEngine):
    """A bug in code the supervisor runs (not a user error)."""

    name = "buggy-fake"

    @classmethod
    def run_warnings(cls, settings) -> list[str]:
        return [str(1 / 0)]
