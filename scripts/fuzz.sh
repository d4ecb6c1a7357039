#!/usr/bin/env bash
# schemathesis against /api/openapi.json on the running web process, on a fresh database and
# Redis database as scripts/test.sh uses (tests/fuzz/test_schemathesis.py). Bounded and seeded:
# KABAR_FUZZ_EXAMPLES (default 50 per operation) and KABAR_FUZZ_SEED (default 18).
# Extra pytest arguments pass through (scripts/fuzz.sh -s shows schemathesis' report).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
exec "${VENV:-.venv}/bin/python" -m pytest -m fuzz tests/fuzz "$@"
