"""What a number's own client process costs: memory of the session host and its clients.

    .venv/bin/python -m bench.isolation [--numbers 10] [--settle 8]

Starts the real session host (``python -m workers.session_host``) against Redis database 12,
lists simulator numbers and then neonize numbers for it (neonize offline: it fails to dial and
waits in its back-off, the state of an idle real client as far as memory goes), waits until
every client process is up and has settled, and prints the resident memory (RSS) of the host
and of each kind of client, and their proportional share (PSS, shared pages counted once).
Needs no PostgreSQL: the session host never touches it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.engine import BENCH_REDIS, ROOT
from workers.queue import keys


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (the interpreter, neonize's .so) split among users."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (whichever of its threads started them)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def measure(client: redis.Redis, host: subprocess.Popen, transport: str, count: int, settle: float):
    client.delete(keys.DESIRED_SESSIONS)
    client.publish(keys.SESSIONS_CHANGED, "bench")
    deadline = time.monotonic() + 30
    while children(host.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    ids = [f"bench-{transport}-{n}" for n in range(1, count + 1)]
    for sid in ids:
        client.hset(keys.DESIRED_SESSIONS, sid, json.dumps({"transport": transport}))
    client.publish(keys.SESSIONS_CHANGED, "bench")
    deadline = time.monotonic() + 60
    while len(children(host.pid)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(settle)  # memory, not timing: let imports and the first connect finish
    clients = [p for p in children(host.pid) if "workers.session_host.child" in cmdline(p)]
    sizes = sorted(rss_kb(p) for p in clients)
    host_kb = rss_kb(host.pid)
    pss = pss_kb(host.pid) + sum(pss_kb(p) for p in clients)
    print(
        f"{transport:9s} x {count:3d}: {len(clients)} client processes; "
        f"one client {sizes[len(sizes) // 2] / 1024:6.1f} MB (median, "
        f"min {sizes[0] / 1024:.1f}, max {sizes[-1] / 1024:.1f}); host alone "
        f"{host_kb / 1024:.1f} MB; host with its clients "
        f"{(host_kb + sum(sizes)) / 1024:.1f} MB RSS, {pss / 1024:.1f} MB PSS"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=10)
    parser.add_argument("--settle", type=float, default=8.0)
    args = parser.parse_args()
    client = redis.Redis.from_url(BENCH_REDIS)
    client.flushdb()
    env = {
        **os.environ,
        "REDIS_URL": BENCH_REDIS,
        "WA_ENCRYPTION_KEY": secrets.token_urlsafe(24),
        "KABAR_INSTANCE_DIR": tempfile.mkdtemp(prefix="kabar-bench-"),
        "KABAR_SIM_SESSIONS_PER_PROCESS": "1",
    }
    host = subprocess.Popen(
        [sys.executable, "-m", "workers.session_host"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not client.keys("kabar:host:*") and time.monotonic() < deadline:
            time.sleep(0.1)
        print(f"session host alone: {rss_kb(host.pid) / 1024:.1f} MB")
        measure(client, host, "simulator", args.numbers, args.settle)
        measure(client, host, "neonize", 1, args.settle)
        measure(client, host, "neonize", args.numbers, args.settle)
    finally:
        os.killpg(host.pid, signal.SIGTERM)
        host.wait(timeout=30)
        client.flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
