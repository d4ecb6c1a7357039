"""Real Kabar processes for end-to-end tests: the session host and both Dramatiq workers."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test run dies, so no worker outlives it."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Processes:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        # Each test links its own numbers: credentials of an earlier test must not resume.
        self.env = {"KABAR_SESSION_STORE": str(log_dir / "sessions")}
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *argv: str, **env: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.procs[name] = proc
        return proc

    def worker(self, name: str, *queues: str, threads: int = 4, **env: str) -> subprocess.Popen:
        """A Dramatiq worker process consuming ``queues``, as honcho.Procfile runs them
        (idle queues polled every 100 ms)."""
        return self.start(
            name,
            str(BIN / "dramatiq"),
            "workers.pipeline.actors",
            "-p",
            "1",
            "-t",
            str(threads),
            "--queues",
            *queues,
            **{"dramatiq_worker_timeout": "100", **env},
        )

    def start_workers(self, **env: str) -> None:
        """The two workers of honcho.Procfile: everything but urgent, and urgent alone."""
        self.worker("worker", "normal", "bulk", "events", "maintenance", threads=4, **env)
        self.worker("worker-urgent", "urgent", threads=2, **env)

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def logs(self) -> str:
        return "\n".join(
            f"===== {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


@pytest.fixture
def kabar_processes(app, tmp_path, redis_client, request):
    """Session host, worker and urgent worker, as honcho.Procfile runs them."""
    procs = Processes(tmp_path)
    procs.start("session-host", str(BIN / "python"), "-m", "workers.session_host")
    procs.start_workers()
    # Ready when the session host has announced itself.
    wait_for(lambda: redis_client.keys("kabar:host:*"), timeout=30)
    yield procs
    procs.stop_all()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(procs.logs())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def private_media(app):
    """Media may be fetched from loopback and LAN addresses, as the file servers of these tests
    listen on localhost (the setting is off by default)."""
    from webapp import settings

    with app.app_context():
        settings.save({"media_allow_private": True})
