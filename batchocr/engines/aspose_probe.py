"""Ask the Aspose runtime itself, in a throw-away subprocess.

Some answers only the runtime can give: does it start here, is the license
valid, which AI models does ``AsposeAI.list_local()`` see and where does
``get_local_path()`` point, which OCR resources does ``Resources.list_local()``
see, and can the AI spell-checker load its native libraries offline.  The
supervisor must never import ``aspose.ocr`` (a started .NET runtime breaks
forked processes), so it runs ``python -m batchocr.engines.aspose_probe
REQUEST`` and reads one JSON line back.

- ``ask_runtime`` runs in the **supervisor** (``preflight``, ``inventory``,
  ``batchocr models``).  It owns the probe's scratch directory and removes
  it however the probe ends, even killed by a signal or a timeout.
- ``main`` runs in the **probe subprocess**: it starts the runtime exactly as
  a worker does (``prepare_runtime`` then ``import_aspose``) from the scratch
  directory, so nothing the library writes lands anywhere else.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass

from batchocr.errors import ConfigError

PROBE_TIMEOUT = 120  # seconds for the whole probe (runtime start ~1 s)
LICENSE_REJECTED = 3  # the probe's exit status for a license the runtime refuses
RUNTIME_MISSING = 2  # the probe's exit status when the runtime cannot be prepared
_STAGE = "probe stage: "  # progress lines on stderr: say where a hung probe was


@dataclass(frozen=True)
class ProbeRequest:
    """What to ask; every path absolute."""

    models_root: str  # the model directory: AsposeAI looks under <it>/Aspose.AI.LLM/models
    resource_dir: str  # Resources.set_local_path
    license: str | None = None
    try_spellcheck: bool = False  # with the model AsposeAI lists, if any
    inventory: bool = False


def ask_runtime(request: ProbeRequest) -> dict:
    """Supervisor.  Run the probe and return its answer (see ``_answer``).
    Raises ConfigError (exit 2) when the runtime cannot start, dies, hangs,
    or refuses the license."""
    scratch = tempfile.mkdtemp(prefix="batchocr-aspose-probe-")
    try:
        done = _run(request, scratch)
    finally:
        # Here, not in the probe: a probe killed by a signal cleans up nothing.
        shutil.rmtree(scratch, ignore_errors=True)
    detail = "\n".join(line for line in done.stderr.splitlines() if not line.startswith(_STAGE)).strip()[-1500:]
    if done.returncode == 0:
        return json.loads(done.stdout.strip().splitlines()[-1])
    if done.returncode == LICENSE_REJECTED:
        raise ConfigError(f"aspose license {request.license} is not valid: {detail}")
    if done.returncode < 0:
        raise ConfigError(
            f"the Aspose .NET runtime died with {_signal_name(-done.returncode)} while starting "
            f"(usually missing OpenSSL 1.1 or ICU):\n{detail}"
        )
    raise ConfigError(f"the Aspose runtime cannot start (exit {done.returncode}):\n{detail}")


def _run(request: ProbeRequest, scratch: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", __name__, json.dumps(asdict(request)), scratch]
    # Make sure the probe imports this same batchocr, installed or not.
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pythonpath = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    try:
        return subprocess.run(command, env=env, cwd=scratch, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        stages = [line.removeprefix(_STAGE) for line in stderr.splitlines() if line.startswith(_STAGE)]
        where = stages[-1] if stages else "starting the runtime"
        raise ConfigError(f"the Aspose runtime probe hung for {PROBE_TIMEOUT} s while {where}") from None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# --- the probe subprocess ------------------------------------------------------
def main(argv: list[str]) -> int:
    """Exit 0 with one JSON line on stdout; 2 no runtime; 3 license refused."""
    from batchocr.engines.aspose import import_aspose, prepare_runtime

    if len(argv) != 2:
        print("usage: python -m batchocr.engines.aspose_probe REQUEST_JSON SCRATCH_DIR", file=sys.stderr)
        return RUNTIME_MISSING
    request = ProbeRequest(**json.loads(argv[0]))
    os.chdir(argv[1])  # the scratch directory: the library's stray files go there
    try:
        prepare_runtime()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return RUNTIME_MISSING
    _stage("importing aspose.ocr")
    ocr, ai = import_aspose(request.resource_dir, request.models_root)
    if request.license:
        try:
            ocr.License().set_license(request.license)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return LICENSE_REJECTED
    _stage("building AsposeOcr")
    ocr.AsposeOcr()  # where a missing libssl.so.1.1 aborts the process
    print(json.dumps(_answer(request, ocr, ai)))
    return 0


def _answer(request: ProbeRequest, ocr, ai) -> dict:
    """``licensed``; with ``inventory``: ``ai_root`` (get_local_path),
    ``ai_models`` (list_local, absolute), ``resource_root`` and ``resources``
    (Resources.get_local_path / list_local); with ``try_spellcheck``:
    ``spellcheck_error`` (None when the spell-checker loaded)."""
    from batchocr.engines.aspose import spellcheck_model

    answer: dict = {"licensed": bool(ocr.License().is_licensed)}
    if request.inventory or request.try_spellcheck:
        _stage("listing models (AsposeAI.list_local, Resources.list_local)")
        engine = ai.AsposeAI()
        answer["ai_root"] = os.path.abspath(engine.get_local_path())
        answer["ai_models"] = _list_ai_models(engine)
        answer["resource_root"] = os.path.abspath(ocr.Resources.get_local_path())
        answer["resources"] = sorted(str(name) for name in ocr.Resources.list_local())
        engine.free_resources()
    if request.try_spellcheck:
        _stage("loading the AI spell-checker (set_post_processor)")
        answer["spellcheck_error"] = _try_spellcheck(ai, spellcheck_model(answer["ai_models"]))
    return answer


def _list_ai_models(engine) -> list[str]:
    try:
        found = engine.list_local()
    except RuntimeError as exc:
        if "DirectoryNotFoundException" in str(exc):  # no models directory yet: nothing listed
            return []
        raise
    return sorted(os.path.abspath(str(path)) for path in found)


def _try_spellcheck(ai, model_path: str | None) -> str | None:
    """Attach the spell-checker as a worker would; the error text, or None."""
    engine = ai.AsposeAI()
    config = ai.AsposeAIModelConfig()
    config.allow_auto_download = False
    if model_path:
        config.file_model_path = model_path
    try:
        engine.set_post_processor(ai.SpellCheckAIProcessor(), config)
    except RuntimeError as exc:
        return str(exc)
    engine.free_resources()
    return None


def _stage(text: str) -> None:
    print(_STAGE + text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
