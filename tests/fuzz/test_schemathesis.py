"""schemathesis against /api/openapi.json on the running web process (gunicorn, as in
production): every operation, a bounded and seeded number of examples each, and the stateful
links of the document. No answer may be a 500, and every answer must match the document.

Run by ``scripts/fuzz.sh`` (CI runs it after the tests); a plain ``pytest`` skips it.
``KABAR_FUZZ_EXAMPLES`` and ``KABAR_FUZZ_SEED`` change the bounds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.polling import wait_for

pytestmark = pytest.mark.fuzz

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def web(app, tmp_path):
    """The web process on a port of its own, on this run's database and Redis."""
    port = _free_port()
    log = open(tmp_path / "web.log", "ab")  # noqa: SIM115 - closed below
    env = {**os.environ, "KABAR_API_RATE": "100000", "KABAR_API_BURST": "100000"}
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-w",
            "1",
            "--threads",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "webapp:create_app()",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    try:
        wait_for(answers, timeout=30)
        yield url, tmp_path / "web.log"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def test_no_server_error_and_every_answer_matches_the_document(web, api_key, tmp_path):
    url, web_log = web
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[auth.openapi.bearerAuth]\n"
        f'bearer = "{api_key}"\n'
        "[auth.openapi.mpwaApiKey]\n"
        f'api_key = "{api_key}"\n'
        "[auth.openapi.fonnteToken]\n"
        f'api_key = "{api_key}"\n'
    )
    command = [
        str(BIN / "st"), "--config-file", str(config), "run", f"{url}/api/openapi.json",
        "--checks", ",".join(CHECKS),
        "--max-examples", os.environ.get("KABAR_FUZZ_EXAMPLES", "50"),
        "--seed", os.environ.get("KABAR_FUZZ_SEED", "18"),
        "--generation-database", "none",
        "--workers", "2",
        "--request-timeout", "30",
        "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path / "report"),
    ]  # fmt: skip
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    print(run.stdout[-20000:])
    if run.returncode != 0:
        errors = [line for line in web_log.read_text().splitlines() if "Traceback" in line]
        pytest.fail(
            f"schemathesis found problems (exit {run.returncode}):\n{run.stdout[-15000:]}\n"
            f"{run.stderr[-3000:]}\nweb log ({len(errors)} tracebacks):\n"
            + web_log.read_text()[-15000:]
        )
