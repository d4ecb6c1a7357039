#!/usr/bin/env bash
# Create the virtualenv with Kabar and its dependencies (idempotent). Sourced by run.sh and test.sh.
# Usage: [PYTHON=/path/to/python3.x | PYTHON=3.x] [VENV=.venv] scripts/setup.sh [--dev]
# Kabar runs on Python 3.11, 3.12 or 3.13 (pyproject.toml's requires-python says the same).
# Without PYTHON, the newest of those found is used (python3.X on PATH, else pyenv's
# ~/.pyenv/versions/3.X.*, for 3.13, then 3.12, then 3.11), else python3 if it is one of them.
# VENV (default .venv) lets a second virtualenv on another Python sit next to the first (CI
# runs the tests on 3.11 and on 3.13).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
supported() { "$1" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null; }
# find_python 3.X: that Python on PATH, else the newest pyenv build of it; nothing if neither.
find_python() {
  local candidate
  for candidate in "python$1" $(ls -d "$HOME"/.pyenv/versions/"$1".*/bin/python 2>/dev/null | sort -rV); do
    if command -v "$candidate" >/dev/null 2>&1 && supported "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

newest_python() {
  local version
  for version in 3.13 3.12 3.11; do
    find_python "$version" && return
  done
  if supported python3; then echo python3; fi
}

chosen=${PYTHON:-}
case "$chosen" in
  "") PYTHON=$(newest_python || true) ;;
  3.1[123]) PYTHON=$(find_python "$chosen" || true) ;;  # a version, as CI asks for PYTHON=3.13
esac
if [ -z "$PYTHON" ]; then
  echo "Kabar needs Python ${chosen:-3.11, 3.12 or 3.13} and found none on PATH or in ~/.pyenv/versions." \
    "Install one (Debian/Ubuntu: sudo apt-get install -y python3 python3-venv), or set PYTHON=/path/to/python3.x." >&2
  exit 1
fi
if ! supported "$PYTHON"; then
  echo "Kabar needs Python 3.11, 3.12 or 3.13; PYTHON=$PYTHON is $("$PYTHON" --version 2>&1)." >&2
  exit 1
fi

# An existing virtualenv is kept while its Python is supported and, when PYTHON names one, is
# that version; otherwise it is built again.
version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
if ! supported "$VENV/bin/python" \
    || { [ -n "$chosen" ] && [ "$(version "$VENV/bin/python")" != "$(version "$PYTHON")" ]; }; then
  echo "Creating $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv --clear "$VENV"
fi
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
stamp="$VENV/.kabar-installed${extra}"
installed() { [ -f "$1" ] && [ ! pyproject.toml -nt "$1" ]; }
# A --dev install holds everything a plain one needs.
if ! installed "$stamp" && { [ -n "$extra" ] || ! installed "$VENV/.kabar-installed[dev]"; }; then
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -e ".${extra}"
  # dramatiq_dashboard 0.4.0 pins dramatiq<2 and redis<5 in its metadata but runs on the
  # versions Kabar uses (tests/admin/test_dramatiq_dashboard.py proves it), so it is installed
  # without its pins.
  "$VENV/bin/pip" install --quiet --no-deps "dramatiq_dashboard==0.4.0"
  touch "$stamp"
fi
# neonize needs libmagic: the system's, else the copy in the pylibmagic wheel (Linux).
if ! "$VENV/bin/python" -c 'import sys; from webapp.core import media_types; sys.exit(media_types.ensure() is None)'; then
  echo "neonize needs libmagic and found none. Install it: sudo apt-get install -y libmagic1  (macOS: brew install libmagic)" >&2
  exit 1
fi
"$VENV/bin/pybabel" -q compile -d webapp/translations  # admin console translations (.po -> .mo)
