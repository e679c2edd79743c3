"""Engine registry.  Engines are imported lazily: only workers load them.

``--engine`` takes a registered name or ``package.module:ClassName`` (used by
the test suite's fault-injecting engines, which never ship as defaults).
"""

from __future__ import annotations

import importlib

from batchocr.engines.base import Engine
from batchocr.errors import ConfigError

REGISTERED = {
    "tesseract": "batchocr.engines.tesseract:TesseractEngine",
    "aspose": "batchocr.engines.aspose:AsposeEngine",
}


def engine_class(name: str) -> type[Engine]:
    target = REGISTERED.get(name, name)
    if ":" not in target:
        known = ", ".join(sorted(REGISTERED))
        raise ConfigError(f"unknown engine {name!r} (known: {known}, or module:Class)")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except (ImportError, AttributeError, ValueError) as exc:  # ValueError: an empty module name
        raise ConfigError(f"cannot load engine {name!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise ConfigError(f"engine {name!r} is not a batchocr Engine subclass")
    return cls
