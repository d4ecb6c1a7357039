#!/usr/bin/env bash
# Run Kabar's tests against the PostgreSQL and Redis of this machine.
# KABAR_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres) must let us create
# databases; each run creates a fresh one and drops it. KABAR_TEST_REDIS defaults to database 13.
# PYTHON and VENV choose the interpreter and the virtualenv, as in scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
exec "${VENV:-.venv}/bin/python" -m pytest "$@"
