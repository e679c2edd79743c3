"""Joining or starting a Ray cluster, and reading its errors.  Driver (supervisor) side.

Used by ``ray_executor.RayTransport``; kept apart so that the transport
reads as what it is (start, send, kill, wait), and so that everything that
knows Ray's connection quirks (token authentication, slow retries on a wrong
address, its SIGTERM handler, its long error texts) is in one place.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import sysconfig
import threading
from typing import Any

from batchocr.config import Settings
from batchocr.errors import ConfigError, RunAborted, pip_hint

INSTALL_HINT = pip_hint("ray>=2.9", "ray")
# Object store of a local Ray instance: only records pass through it (pages
# are read by the actors), so the minimum Ray accepts is plenty.
LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024
# Ray does not send its token to an explicit address unless told to.
AUTH_HINT = (
    "; if the cluster uses token authentication, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN"
    " (or ~/.ray/auth_token) to the cluster's token"
)
# How long a --ray-address host:port may take to accept a TCP connection.
CONNECT_CHECK_SECONDS = 10.0
# Ray's own messages shown by the driver: errors only (records say the rest).
RAY_LOGGING_LEVEL = logging.ERROR


def import_ray() -> Any:
    """Ray is an optional extra: import it only when this executor is chosen."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--executor ray needs Ray ({exc}); install it with: {INSTALL_HINT}") from None
    return ray


def connect(ray: Any, settings: Settings) -> None:
    """Join ``ray_address``, or start a local Ray instance sized for this machine."""
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    quiet = dict(logging_level=RAY_LOGGING_LEVEL, log_to_driver=False)
    try:
        if settings.ray_address:
            _check_reachable(settings.ray_address)
            ray.init(address=settings.ray_address, **quiet)
        else:
            ray.init(
                address="local",  # never join a cluster found by chance (RAY_ADDRESS, `ray start`)
                num_cpus=settings.resolved_workers(),
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                include_dashboard=False,
                runtime_env={"env_vars": {"PYTHONPATH": _driver_import_path()}},
                **quiet,
            )
    except (ConnectionError, ValueError, RuntimeError, ray.exceptions.RayError) as exc:
        if not settings.ray_address:
            raise RunAborted(f"cannot start a local Ray instance: {exc}") from None
        hint = "" if os.environ.get("RAY_AUTH_MODE") else AUTH_HINT
        raise ConfigError(f"cannot join the Ray cluster at {settings.ray_address}: {exc}{hint}") from None
    finally:
        # ray.init installs a SIGTERM handler that exits at once; the
        # runner's (stop, then let in-flight pages finish) must stay.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous_sigterm)


def _driver_import_path() -> str:
    """The driver's import path for a local instance's actors, as ``spawn``
    gives it to local workers, minus this interpreter's own directories
    (the actors run the same interpreter and find those anyway)."""
    own = {os.path.realpath(p) for p in sysconfig.get_paths().values()}
    entries = []
    for entry in sys.path:
        entry = os.path.abspath(entry or os.getcwd())
        if os.path.realpath(entry) not in own and os.path.isdir(entry) and entry not in entries:
            entries.append(entry)
    return os.pathsep.join(entries)


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, on a wrong ``host:port`` (Ray retries its
    connection for a long time).  ``auto`` and other forms are left to Ray."""
    host, sep, port = address.split("://")[-1].rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_CHECK_SECONDS).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def ray_reason(exc: Exception) -> str:
    """Ray's explanation of a failed call, shortened to one line for records.

    Display only: nothing is decided on this text."""
    text = getattr(exc, "error_msg", None) or str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # ActorDiedError lists class_name, actor_id, pid, ... as "key: value" lines
    # after a generic first line; the rest explains the death.
    generic = getattr(type(exc), "BASE_ERROR_MSG", None)
    lines = [ln for ln in lines if ln.split(":")[0] not in _RAY_ID_LINES and ln != generic]
    reason = " ".join(lines)
    if len(reason) > REASON_CHARS:  # whole sentences, then an ellipsis
        cut = reason.rfind(". ", 0, REASON_CHARS)
        reason = reason[: cut + 1 if cut > 0 else REASON_CHARS] + " ..."
    return reason or type(exc).__name__


REASON_CHARS = 200  # Ray's death explanations run to 800 characters
_RAY_ID_LINES = {"class_name", "actor_id", "pid", "name", "namespace", "ip"}
