"""Build the OpenSSL 1.1 compatibility library that Aspose's .NET runtime needs.

The .NET Core 3.1 runtime inside ``aspose-ocr-python-net`` dlopen()s
``libssl.so.1.1``.  Debian 12 and Ubuntu 22.04+ ship only OpenSSL 3, and
without that library the first ``AsposeOcr()`` aborts the whole process
(SIGABRT, not a Python exception).  ``libssl_compat.c`` (next to this file)
is a tiny ``libssl.so.1.1`` linked against ``libssl.so.3`` and
``libcrypto.so.3``; the engine loads it with ``RTLD_GLOBAL`` before the
runtime starts.

``ensure_compat_library()`` runs in the supervisor (``preflight``, so a
missing compiler is a clear exit-2 error before any worker starts) and again
in each worker (a cheap cache hit).  It builds once per user into
``$BATCHOCR_CACHE_DIR`` (default ``$XDG_CACHE_HOME/batchocr`` or
``~/.cache/batchocr``), in a directory named after the source's hash, so an
edited source rebuilds.  The build goes to a temporary file that is renamed
into place: two workers that start at once both build, and the last rename
wins with an identical file; no one ever loads a half-written library.

Compiler: ``$CC`` when set (used alone: an explicit choice is never second-
guessed), else ``cc``, ``gcc``, then ``python -m ziglang cc`` when the
``ziglang`` package is installed.  No OpenSSL headers are needed.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from importlib.util import find_spec

SONAME = "libssl.so.1.1"
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libssl_compat.c")
OPENSSL3_LIBS = ("libssl.so.3", "libcrypto.so.3")
STANDARD_LIB_DIRS = (
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
)
# Seconds.  Measured: gcc well under 1 s; zig's first run fills its own
# cache and took 112 s on 2 busy cores, so a 120 s limit failed at random.
BUILD_TIMEOUT = 900
_HOW_TO_FIX = (
    "The Aspose engine needs libssl.so.1.1, which this system lacks, and batchocr builds a "
    "small compatibility library for it. Install a C compiler (Debian/Ubuntu: "
    "apt-get install gcc; or pip install ziglang), or unset CC if it points to a missing one."
)


class CompatBuildError(Exception):
    """The compatibility library cannot be built; the message says why and
    how to fix it (the engine turns it into a ConfigError)."""


def ensure_compat_library() -> str | None:
    """Path of a loadable ``libssl.so.1.1`` compat library, building it if
    needed; ``None`` when the system has a real ``libssl.so.1.1`` (use that).

    Runs in the supervisor (preflight) and in workers.  Raises
    ``CompatBuildError``.
    """
    if find_shared_library(SONAME):
        return None
    target = os.path.join(cache_dir(), f"openssl-compat-{_build_key()}", SONAME)
    if os.path.isfile(target) and os.path.getsize(target) > 0:
        return target
    _build(target)
    return target


def cache_dir() -> str:
    """The per-user cache root: ``$BATCHOCR_CACHE_DIR``, else XDG's."""
    explicit = os.environ.get("BATCHOCR_CACHE_DIR")
    if explicit:
        return os.path.abspath(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(xdg), "batchocr")


def find_shared_library(soname: str) -> str | None:
    """Where the dynamic loader would find ``soname``: the ldconfig cache,
    then the standard directories.  Does not load it."""
    for path in _ldconfig_paths(soname):
        if os.path.exists(path):
            return path
    for directory in STANDARD_LIB_DIRS:
        path = os.path.join(directory, soname)
        if os.path.exists(path):
            return path
    return None


def _ldconfig_paths(soname: str) -> list[str]:
    ldconfig = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None
    )
    if not ldconfig:
        return []
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    # Lines look like: "\tlibssl.so.3 (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so.3"
    return [
        line.rsplit("=>", 1)[1].strip()
        for line in out.splitlines()
        if line.strip().startswith(soname + " ") and "=>" in line
    ]


def _build_key() -> str:
    """Changes when the source or the machine type changes."""
    with open(SOURCE, "rb") as fh:
        digest = hashlib.sha256(fh.read() + platform.machine().encode())
    return digest.hexdigest()[:12]


def _build(target: str) -> None:
    """Compile to a temporary file next to ``target``, then rename it in."""
    deps = [_openssl3(name) for name in OPENSSL3_LIBS]
    compiler = _compiler()
    # Said because zig's first build can take minutes: the user sees why.
    print(
        f"batchocr: building the OpenSSL 1.1 compatibility library for Aspose with "
        f"{shlex.join(compiler)} (once, into {os.path.dirname(target)}) ...",
        file=sys.stderr,
        flush=True,
    )
    directory = os.path.dirname(target)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=directory)
        os.close(fd)
    except OSError as exc:
        raise CompatBuildError(
            f"cannot write the OpenSSL compatibility library to {directory}: {exc.strerror}. "
            "Make the directory writable or set BATCHOCR_CACHE_DIR to a writable directory."
        ) from None
    try:
        _compile(compiler, tmp, deps)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _compile(compiler: list[str], output: str, deps: list[str]) -> None:
    # The dependencies are given by full path (no -lssl: that needs the -dev
    # symlinks) and --no-as-needed keeps them even on toolchains that drop
    # "unused" libraries: the runtime resolves every other OpenSSL symbol
    # through them.  The soname is what makes the runtime's
    # dlopen("libssl.so.1.1") find this already-loaded library.
    command = [
        *compiler,
        "-shared",
        "-fPIC",
        "-O2",
        "-o",
        output,
        SOURCE,
        f"-Wl,-soname,{SONAME}",
        "-Wl,--no-as-needed",
        *deps,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        raise CompatBuildError(f"cannot run the C compiler {shlex.join(compiler)}: {exc}. {_HOW_TO_FIX}") from None
    if done.returncode != 0 or not os.path.getsize(output):
        detail = (done.stderr or done.stdout).strip()[-2000:]
        raise CompatBuildError(
            f"building the OpenSSL compatibility library with {shlex.join(compiler)} failed "
            f"(exit {done.returncode}):\n{detail}\n{_HOW_TO_FIX}"
        )


def _compiler() -> list[str]:
    explicit = os.environ.get("CC")
    if explicit:
        command = shlex.split(explicit)
        if not command or not shutil.which(command[0]):
            raise CompatBuildError(f"the C compiler CC={explicit!r} was not found. {_HOW_TO_FIX}")
        return command
    for name in ("cc", "gcc"):
        path = shutil.which(name)
        if path:
            return [path]
    if find_spec("ziglang") is not None:
        return [sys.executable, "-m", "ziglang", "cc"]
    raise CompatBuildError(f"no C compiler found (tried $CC, cc, gcc, ziglang). {_HOW_TO_FIX}")


def _openssl3(soname: str) -> str:
    path = find_shared_library(soname)
    if not path:
        raise CompatBuildError(
            f"{soname} was not found: the Aspose engine needs OpenSSL 3 "
            "(Debian/Ubuntu: apt-get install libssl3) or OpenSSL 1.1 (libssl1.1)."
        )
    return path
