#!/usr/bin/env bash
# Create .venv with Kabar and its dependencies (idempotent). Sourced by run.sh and test.sh.
# Usage: scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "Kabar needs Python 3.11 (found $("$PYTHON" --version 2>&1)). Install it, or set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if ! "$PYTHON" -c 'import ctypes.util, sys; sys.exit(ctypes.util.find_library("magic") is None)'; then
  echo "neonize needs libmagic. Install it: sudo apt-get install -y libmagic1  (macOS: brew install libmagic)" >&2
  exit 1
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
stamp=".venv/.kabar-installed${extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e ".${extra}"
  # dramatiq_dashboard 0.4.0 pins dramatiq<2 and redis<5 in its metadata but runs on the
  # versions Kabar uses (tests/admin/test_dramatiq_dashboard.py proves it), so it is installed
  # without its pins.
  .venv/bin/pip install --quiet --no-deps "dramatiq_dashboard==0.4.0"
  touch "$stamp"
fi
.venv/bin/pybabel -q compile -d webapp/translations  # admin console translations (.po -> .mo)
