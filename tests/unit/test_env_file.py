"""The ``.env`` that ``scripts/run.sh`` writes on the first start."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "write_env.py"


def _write(path: Path) -> subprocess.CompletedProcess:
    # The loosest umask there is: the file must still never be readable by anyone else.
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path)],
        preexec_fn=lambda: os.umask(0),
        capture_output=True,
        text=True,
    )


def test_the_env_file_is_created_readable_by_its_owner_only(tmp_path):
    env = tmp_path / ".env"
    assert _write(env).returncode == 0
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    names = [line.split("=")[0] for line in env.read_text().splitlines() if "=" in line[:40]]
    assert {"SECRET_KEY", "KABAR_RPC_SECRET", "WA_ENCRYPTION_KEY"} <= set(names)


def test_an_existing_env_file_is_never_overwritten(tmp_path):
    env = tmp_path / ".env"
    env.write_text("SECRET_KEY=keep\n")
    assert _write(env).returncode == 1
    assert env.read_text() == "SECRET_KEY=keep\n"
