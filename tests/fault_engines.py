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
Every page sleeps $FAULT_SLEEP seconds (default 0.05) to look like work.
$FAULT_REMOVE_AFTER_FIRST names a directory that the first page deletes
(a directory vanishing mid-run).
"""

from __future__ import annotations

import os
import shutil
import signal
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
