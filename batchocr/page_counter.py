"""Counting a PDF's pages, in a disposable subprocess.  Supervisor side.

Discovery needs each PDF's page count to make one work item per page, and
counting needs PDFium, a native parser: run in the supervisor, a malicious
or broken file could crash the whole run.  So one small subprocess does the
counting for the whole discovery (started on the first PDF; paths in on its
stdin, counts out on its stdout).  If a file crashes or hangs it, that file
gets a clear problem, and the next PDF gets a fresh subprocess.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys

COUNT_SECONDS = 30.0  # one PDF's count; a parser stuck longer is killed

# What the subprocess runs: one JSON line out per path in.
COUNTER = r"""
import json, sys
import pypdfium2 as pdfium
for line in sys.stdin:
    path = json.loads(line)
    try:
        with pdfium.PdfDocument(path) as pdf:
            print(json.dumps({"pages": len(pdf)}), flush=True)
    except Exception as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
"""


class PdfPageCounter:
    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None

    def count(self, path: str) -> tuple[int | None, str | None]:
        """(pages, None), or (None, why it cannot be counted)."""
        proc = self._process()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(path) + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], COUNT_SECONDS)
            line = proc.stdout.readline() if ready else ""
        except OSError:
            line = ""
        if not line:  # it crashed or hung on this file: the next file gets a fresh one
            self.close()
            return None, "the PDF parser crashed or hung on this file (damaged or malicious PDF)"
        answer = json.loads(line)
        if "error" in answer:
            return None, _explain(answer["error"])
        return answer["pages"], None

    def _process(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", COUNTER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                errors="surrogateescape",
                env={**os.environ, "PYTHONIOENCODING": "utf-8:surrogateescape"},
            )
        return self._proc

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


def _explain(error: str) -> str:
    if "password" in error.lower():
        return "encrypted PDF: it needs a password, which batchocr does not have"
    return f"cannot read PDF: {error}"
