"""Run every process of a Procfile; whichever exits is started again, the others keep running.

``scripts/run.sh --supervise`` runs this instead of honcho, which stops every process as soon as
one dies. It does for one machine without systemd what ``deploy/systemd/`` does with it
(``Restart=always``): a process that exits or is killed has what it left behind (its children)
sent SIGTERM, and is started again ``RESTART_AFTER_S`` later, after a SIGKILL to what of it is
left. SIGINT or SIGTERM stops everything: a
SIGTERM to each process group, then SIGKILL to what still runs after ``STOP_TIMEOUT_S``.

Usage: python scripts/supervise.py honcho.Procfile
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

RESTART_AFTER_S = 1.0
STOP_TIMEOUT_S = 20.0
POLL_S = 0.1
LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


@dataclass
class Process:
    """One Procfile entry and the process group now running it (or None between two runs)."""

    name: str
    command: str
    popen: subprocess.Popen | None = None
    restart_at: float | None = None
    leftover: int | None = None  # the process group of the last run, until it is started again


def read_procfile(path: str) -> list[Process]:
    """The entries of a Procfile, in its order."""
    with open(path) as fh:
        entries = (LINE.match(line.strip()) for line in fh if not line.lstrip().startswith("#"))
        return [Process(m[1], m[2]) for m in entries if m]


def say(name: str, text: str) -> None:
    sys.stdout.write(f"{time.strftime('%H:%M:%S')} {name:<15} | {text}\n")
    sys.stdout.flush()


def start(process: Process) -> None:
    """Start ``process`` in a process group of its own, its output prefixed with its name."""
    process.popen = subprocess.Popen(
        ["/bin/sh", "-c", process.command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
        errors="replace",
    )
    process.restart_at = None
    say("supervise", f"{process.name} started (pid {process.popen.pid})")
    threading.Thread(target=relay, args=(process.name, process.popen), daemon=True).start()


def relay(name: str, popen: subprocess.Popen) -> None:
    for line in popen.stdout:
        say(name, line.rstrip("\n"))


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to a process group; False when nothing of it is left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def stop_all(processes: list[Process]) -> None:
    """SIGTERM every group, SIGKILL what still runs after STOP_TIMEOUT_S."""
    groups = [p.popen.pid for p in processes if p.popen is not None]
    for pgid in groups:
        signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        if process.popen is None:
            continue
        try:
            process.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say("supervise", f"{process.name} did not stop within {STOP_TIMEOUT_S:.0f} s; killed")
    for pgid in groups:
        signal_group(pgid, signal.SIGKILL)


def watch(processes: list[Process], stopping: threading.Event) -> None:
    """Until ``stopping``: start again, RESTART_AFTER_S after it ended, whichever process ended."""
    while not stopping.wait(POLL_S):
        now = time.monotonic()
        for process in processes:
            if process.popen is not None and process.popen.poll() is not None:
                code = process.popen.returncode
                # What the dead process left behind (a host's client processes) goes with it.
                process.leftover = process.popen.pid
                signal_group(process.leftover, signal.SIGTERM)
                process.popen = None
                process.restart_at = now + RESTART_AFTER_S
                say("supervise", f"{process.name} exited ({code}); starting it again")
            if process.popen is None and process.restart_at is not None:
                if now >= process.restart_at:
                    signal_group(process.leftover, signal.SIGKILL)
                    start(process)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    processes = read_procfile(argv[1])
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    for process in processes:
        start(process)
    watch(processes, stopping)
    say("supervise", "stopping every process")
    stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
