"""``flask --app webapp doctor`` against this machine's real Redis, PostgreSQL and network (which
cannot reach WhatsApp here: those lines must fail quickly, with the reason and the advice)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.receivers import free_port
from webapp.core.credentials import CredentialStore, derive_key
from webapp.intake import doctor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lines(output: str) -> dict[str, str]:
    """The report as {check: "[level] text"}."""
    report = {}
    for line in output.splitlines():
        if line.startswith("["):
            level, _, rest = line.partition("] ")
            check, _, text = rest.partition(": ")
            report[check] = f"{level}] {text}"
    return report


@pytest.fixture
def store(app, tmp_path, monkeypatch):
    """An empty credential store the doctor reads, instead of the session hosts' one."""
    monkeypatch.setitem(app.config, "SESSION_STORE_DIR", str(tmp_path))
    return tmp_path


def test_doctor_reports_redis_database_and_key_ok_in_indonesian(app, store):
    started = time.monotonic()
    result = app.test_cli_runner().invoke(args=["doctor", "--timeout", "3"])
    elapsed = time.monotonic() - started
    report = lines(result.output)
    assert report["Redis"].startswith("[ok]"), result.output
    assert report["Basis data"].startswith("[ok]") and "postgresql" in report["Basis data"]
    assert report["WA_ENCRYPTION_KEY"] == "[ok] terisi; belum ada kredensial tersimpan"
    assert report["libmagic"].startswith("[ok]")
    assert report["ffmpeg/ffprobe"].startswith(("[ok]", "[peringatan]"))  # never an error
    for host in doctor.WHATSAPP_HOSTS:
        dns = report[f"DNS {host}"]
        # Offline here: a failure that names the cause and what to do, never a hang.
        assert dns.startswith("[ok]") or (
            dns.startswith("[GAGAL]") and "Server ini tidak bisa menjangkau WhatsApp (DNS)" in dns
        ), dns
        assert f"TLS {host}:443" in report
    assert elapsed < 30
    assert result.exit_code == (1 if "[GAGAL]" in result.output else 0)
    assert "Traceback" not in result.output


def test_doctor_speaks_english_when_asked(app, store, monkeypatch):
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "en")
    result = app.test_cli_runner().invoke(args=["doctor", "--timeout", "3"])
    report = lines(result.output)
    assert report["Database"].startswith("[ok]")
    assert report["WA_ENCRYPTION_KEY"] == "[ok] set; no credentials stored yet"


def test_an_unreachable_redis_is_a_clear_failure(app, store, monkeypatch):
    monkeypatch.setitem(
        app.config, "REDIS_URL", f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    )
    result = app.test_cli_runner().invoke(args=["doctor", "--timeout", "2"])
    assert result.exit_code == 1
    redis_line = lines(result.output)["Redis"]
    assert redis_line.startswith("[GAGAL] tidak bisa menjangkau redis://:***@127.0.0.1:")
    assert "Connection refused" in redis_line and "REDIS_URL" in redis_line
    assert "hunter2-secret" not in result.output
    assert "Traceback" not in result.output


def test_a_wrong_encryption_key_over_stored_credentials_fails(app, store):
    CredentialStore(store, "session-7", derive_key("the key of another installation")).save(b"x")
    result = app.test_cli_runner().invoke(args=["doctor", "--timeout", "2"])
    assert result.exit_code == 1
    key_line = lines(result.output)["WA_ENCRYPTION_KEY"]
    assert key_line.startswith("[GAGAL] tidak bisa mendekripsi kredensial session-7")
    assert "Traceback" not in result.output


def test_the_right_key_opens_stored_credentials(app, store):
    CredentialStore(store, "session-8", derive_key(os.environ["WA_ENCRYPTION_KEY"])).save(b"x")
    result = app.test_cli_runner().invoke(args=["doctor", "--timeout", "2"])
    key_line = lines(result.output)["WA_ENCRYPTION_KEY"]
    assert key_line == "[ok] membuka kredensial tersimpan session-8"


def test_the_real_command_fails_without_a_traceback_when_redis_is_down():
    env = dict(os.environ, KABAR_LANGUAGE="en", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    run = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "webapp", "doctor", "--timeout", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    assert lines(run.stdout)["Redis"].startswith("[FAILED] cannot reach redis://127.0.0.1:")
    assert lines(run.stdout)["Database"].startswith("[ok]"), run.stdout
    assert "Traceback" not in run.stdout + run.stderr
