"""The executors: where workers run.  Supervisor side.

One place names them, as ``engines/__init__.py`` names the engines; the
command line and the config check read ``EXECUTORS``.  An executor is a
transport (``supervisor.Transport``: start, send, kill, wait) driven by the
one ``Supervisor``; a new executor is one module with one transport class.
Transports are imported only when chosen (Ray is an optional extra).
"""

from __future__ import annotations

import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batchocr.config import Settings
    from batchocr.supervisor import RunSink, Supervisor

EXECUTORS = {
    "local": "batchocr.pool:LocalTransport",  # processes on this machine (default)
    "ray": "batchocr.ray_executor:RayTransport",  # actors on a Ray cluster
}


def make_executor(settings: Settings, run_started: float, sink: RunSink) -> Supervisor:
    from batchocr.supervisor import Supervisor

    transport_class = pkgutil.resolve_name(EXECUTORS[settings.executor])
    return Supervisor(settings, run_started, sink, transport_class(settings, run_started))
