"""Benchmarks of the sending engine: pacing, priority, pipeline, failover.

    .venv/bin/python -m bench.engine [--duration 60] [--scenarios pacing,priority,...]
    .venv/bin/python -m bench.engine --scenarios scale --duration 30   # N = 10, 100, 300

Each scenario starts the real session host and Dramatiq workers from honcho.Procfile (through
honcho) against a fresh PostgreSQL database and Redis database 12, links simulator numbers, and
prints what it measured. Figures come from the rows' ``sent_at`` (the session host's clock at
the moment the simulator took the message).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADMIN_PG = os.environ.get("KABAR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_REDIS = os.environ.get("KABAR_BENCH_REDIS", "redis://127.0.0.1:6379/12")


def configure_environment() -> str:
    """A fresh database and Redis for this run, set in the environment before Kabar loads."""
    import psycopg

    name = f"kabar_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        DATABASE_URL=f"{ADMIN_PG.rsplit('/', 1)[0]}/{name}",
        REDIS_URL=BENCH_REDIS,
        SECRET_KEY=secrets.token_hex(16),
        WA_ENCRYPTION_KEY=secrets.token_urlsafe(24),
        KABAR_INSTANCE_DIR=tempfile.mkdtemp(prefix="kabar-bench-"),
        KABAR_API_RATE="100000",
        KABAR_API_BURST="100000",
        # Hundreds of simulated numbers must not cost hundreds of interpreters: ten share a
        # client process (real neonize numbers never share one).
        KABAR_SIM_SESSIONS_PER_PROCESS=os.environ.get("KABAR_SIM_SESSIONS_PER_PROCESS", "10"),
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    return name


def prepared_app(**saved: object):
    """The Flask app on the fresh database, migrated, with the benchmark's settings saved.

    The numbers a benchmark links are not new to WhatsApp: no warm-up allowance caps them.
    """
    from flask_migrate import upgrade

    from webapp import create_app, settings

    app = create_app()
    with app.app_context():
        upgrade()
        settings.save({"warmup_schedule": [], **saved})
    return app


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cpu_jiffies() -> int:
    """CPU time the whole machine spent (user + system), in clock ticks."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return int(fields[0]) + int(fields[1]) + int(fields[2])


# Where each process's CPU time is counted, by a word of its command line (first match).
CPU_GROUPS = (
    ("session host", "workers.session_host"),
    ("urgent worker", "--queues urgent"),
    ("worker", "dramatiq"),
    ("PostgreSQL", "postgres"),
    ("Redis", "redis-server"),
    ("accepting (this process)", "bench.engine"),
)


def cpu_by_group() -> dict[str, int]:
    """CPU clock ticks spent so far by the processes of each group (live processes only).
    PostgreSQL's backends serving this run's database are a group of their own: on a shared
    machine the others serve someone else."""
    database = os.environ.get("DATABASE_URL", "").rsplit("/", 1)[-1]
    groups = [("PostgreSQL (this run)", f" {database} ")] if database else []
    groups += CPU_GROUPS
    ticks = dict.fromkeys([name for name, _ in groups], 0)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        for name, word in groups:
            if word in cmdline:
                ticks[name] += int(fields[11]) + int(fields[12])  # utime + stime
                break
    return ticks


def database_activity() -> dict[str, int]:
    """This run's database so far: transactions and rows read and written (pg_stat_database)."""
    import psycopg

    database = os.environ["DATABASE_URL"].rsplit("/", 1)[-1]
    with psycopg.connect(ADMIN_PG, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback, tup_returned + tup_fetched, "
            "tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = %s",
            (database,),
        ).fetchone()
    return dict(zip(("transactions", "rows read", "rows written"), row, strict=True))


class Kabar:
    """The processes of honcho.Procfile that send, plus an in-process app for setup."""

    def __init__(self, app, **env: str) -> None:
        self.app = app
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Kabar:
        import redis

        from webapp.extensions import db

        redis.Redis.from_url(BENCH_REDIS).flushdb()
        with self.app.app_context():
            db.session.execute(
                db.text(
                    # CASCADE: trigger_events (and whatever else comes) point at messages.
                    "TRUNCATE whatsapp_messages, whatsapp_queue_jobs, whatsapp_sessions "
                    "RESTART IDENTITY CASCADE"
                )
            )
            db.session.commit()
        self.log = open(Path(os.environ["KABAR_INSTANCE_DIR"]) / "processes.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "honcho",
                "-f",
                "honcho.Procfile",
                "start",
                "session-host",
                "worker",
                "worker-urgent",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait(lambda: redis.Redis.from_url(BENCH_REDIS).keys("kabar:host:*"), 30)
        return self

    def __exit__(self, *exc) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    def link(self, count: int, interval_ms: int, jitter_ms: int = 0) -> list[str]:
        from webapp.extensions import db
        from webapp.models import WhatsAppSession
        from workers.pipeline import sessions

        with self.app.app_context():
            ids = [
                sessions.create_session(f"WA-{n}", n, "simulator").session_id
                for n in range(1, count + 1)
            ]
            # Hundreds of numbers boot their clients for a while: the later ones wait longer.
            for sid in ids:
                wait(lambda sid=sid: _try(lambda: sessions.simulator_scan(sid)), 30 + count / 2)

            def pace_them() -> None:
                try:
                    db.session.execute(
                        db.update(WhatsAppSession).values(
                            interval_ms=interval_ms, jitter_ms=jitter_ms
                        )
                    )
                    db.session.commit()
                except Exception:
                    db.session.rollback()  # a deadlock with the folder: tried again
                    raise

            # The folder writes these rows as the numbers connect, in its own order.
            wait(lambda: _try(pace_them), 30)
        connected = f"status = 'connected' AND session_id IN ({', '.join(map(repr, ids))})"
        wait(lambda: self.count("whatsapp_sessions", connected) == count, 30 + count / 2)
        return ids

    def count(self, table: str, where: str) -> int:
        from webapp.extensions import db

        with self.app.app_context():
            value = db.session.scalar(db.text(f"SELECT count(*) FROM {table} WHERE {where}"))
            db.session.rollback()
        return value

    def sends(self, since: float = 0.0) -> list[tuple[str, float, int]]:
        """(session, sent_at epoch, message id) of every sent message, by time."""
        from webapp.extensions import db

        with self.app.app_context():
            rows = db.session.execute(
                db.text(
                    "SELECT session_id, extract(epoch FROM sent_at), id FROM whatsapp_messages "
                    "WHERE sent_at IS NOT NULL AND extract(epoch FROM sent_at) >= :since "
                    "ORDER BY sent_at"
                ),
                {"since": since},
            ).all()
            db.session.rollback()
        return [(sid, float(at), mid) for sid, at, mid in rows]

    def queue_bulk(self, count: int, routing: str | None = None) -> tuple[list[int], float]:
        from webapp.intake import messages

        started = time.perf_counter()
        with self.app.app_context():
            ids = []
            for start in range(0, count, 2000):
                batch = [
                    (f"62812{n:08d}", f"Pengumuman #{n}")
                    for n in range(start, min(start + 2000, count))
                ]
                ids += messages.queue_texts(batch, routing=routing)
        return ids, time.perf_counter() - started


def _try(action):
    try:
        return action() or True
    except Exception:
        return False


def wait(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("benchmark step did not complete in time")


def min_gaps(sends) -> dict[str, float]:
    by_session: dict[str, list[float]] = {}
    for sid, at, _ in sends:
        by_session.setdefault(sid, []).append(at)
    return {
        sid: min((b - a for a, b in zip(t, t[1:], strict=False)), default=float("inf")) * 1000
        for sid, t in by_session.items()
    }


# scenarios -------------------------------------------------------------------------------------


def pacing(app, duration: float) -> None:
    print("\n1. pacing: 10,000-message bulk, every number at 1 msg/s (interval 1000 ms, no jitter)")
    for n in (1, 3, 10):
        with Kabar(app) as kabar:
            kabar.link(n, interval_ms=1000)
            _, accept_s = kabar.queue_bulk(10_000)
            wait(lambda: kabar.count("whatsapp_messages", "sent_at IS NOT NULL") > 0, 30)
            first = kabar.sends()[0][1]
            warmup = 2.0
            time.sleep(warmup + duration)
            window = [s for s in kabar.sends(first + warmup) if s[1] < first + warmup + duration]
            rate = len(window) / duration
            gap = min(min_gaps(kabar.sends()).values())
            print(
                f"   N={n:>2}: {rate:6.2f} msg/s = {rate / n:.3f} x N   smallest gap "
                f"{gap:7.1f} ms   (queued 10,000 rows + jobs in {accept_s:.2f} s)"
            )


def priority(app, duration: float, numbers: int = 1) -> None:
    print(
        "\n2. priority: an urgent message behind a 10,000-message bulk backlog "
        f"({numbers} number{'s' if numbers > 1 else ''}, 1 s)"
    )
    from webapp.intake import messages

    with Kabar(app) as kabar:
        kabar.link(numbers, interval_ms=1000)
        kabar.queue_bulk(10_000)
        for attempt in range(3):
            already = 3 + attempt * 3
            wait(lambda n=already: kabar.count("whatsapp_messages", "sent_at IS NOT NULL") >= n, 60)
            time.sleep(0.37 * (attempt + 1))  # land at different points of the interval
            accepted = time.time()
            with app.app_context():
                urgent_id = messages.queue_message(
                    f"+6281399{attempt:06d}", text="Pembayaran diterima"
                ).message.id
            done = f"id = {urgent_id} AND sent_at IS NOT NULL"
            wait(lambda done=done: kabar.count("whatsapp_messages", done), 30)
            sends = kabar.sends(accepted - 5)
            sender, urgent_at = next((sid, at) for sid, at, mid in sends if mid == urgent_id)
            before = [
                at
                for sid, at, mid in sends
                if sid == sender and mid != urgent_id and at < urgent_at
            ]
            # The number is free again one interval after its last send before the urgent one.
            free_at = max(before, default=accepted - 1.0) + 1.0
            between = sum(1 for at in before if at > accepted)
            print(
                f"   accepted -> sent {(urgent_at - accepted) * 1000:6.0f} ms; bulk sent in "
                f"between by its number: {between}; sent {(urgent_at - free_at) * 1000:+5.0f} ms "
                f"from the moment the number was free"
            )


def pipeline(app, duration: float) -> None:
    print(
        "\n3. pipeline: pacing off (interval 0), 3 numbers, simulator delivering at once "
        "(no read receipts)"
    )
    with Kabar(app, KABAR_SIM_DELIVERED_AFTER="0", KABAR_SIM_READ_AFTER="-1") as kabar:
        kabar.link(3, interval_ms=0)
        count = 5_000
        cpu0, groups0, t0 = cpu_jiffies(), cpu_by_group(), time.perf_counter()
        ids, accept_s = kabar.queue_bulk(count)
        wait(lambda: kabar.count("whatsapp_messages", "status <> 'queued'") >= count, 600, 0.1)
        elapsed = time.perf_counter() - t0
        tick = os.sysconf("SC_CLK_TCK")
        cpu = (cpu_jiffies() - cpu0) / tick
        groups = {name: (spent - groups0[name]) / tick for name, spent in cpu_by_group().items()}
        print(
            f"   {count:,} messages from accept to sent in {elapsed:.1f} s = "
            f"{count / elapsed:,.0f} msg/s (accepting took {accept_s:.2f} s); "
            f"machine CPU {cpu * 1000 / count:.2f} ms per message "
            f"(all processes, PostgreSQL and Redis included)"
        )
        print(
            "   CPU ms per message: "
            + ", ".join(f"{name} {spent * 1000 / count:.2f}" for name, spent in groups.items())
        )


def failover(app, duration: float) -> None:
    print("\n4. failover: the primary drops mid-bulk (2 numbers, failover routing, 500 ms)")
    from workers.pipeline import sessions

    with Kabar(app) as kabar:
        primary, backup = kabar.link(2, interval_ms=500)
        ids, _ = kabar.queue_bulk(60, routing="failover")
        wait(lambda: kabar.count("whatsapp_messages", "sent_at IS NOT NULL") >= 10, 60)
        dropped = time.time()
        with app.app_context():
            sessions.host_call(primary, "logout")
        wait(lambda: kabar.count("whatsapp_messages", "status = 'queued'") == 0, 120, 0.5)
        after = [at for sid, at, _ in kabar.sends(dropped) if sid == backup]
        import redis

        from workers.session_host.simulated_network import SimulatedNetwork

        network = SimulatedNetwork(redis.Redis.from_url(BENCH_REDIS))
        counts = [len(network.inbox(f"62812{n:08d}")) for n in range(60)]
        print(
            f"   next send through {backup} {(after[0] - dropped):.2f} s after the drop; "
            f"lost {counts.count(0)}, doubled {sum(1 for c in counts if c > 1)} of 60"
        )


def scale(app, duration: float, counts: tuple[int, ...] = (10, 100, 300)) -> None:
    print(
        "\n5. scale: N numbers at 1 msg/s each (interval 1000 ms, no jitter), a bulk keeping "
        f"them all busy, measured {duration:g} s after 5 s of warm-up"
    )
    tick = os.sysconf("SC_CLK_TCK")
    for n in counts:
        with Kabar(app) as kabar:
            linking = time.perf_counter()
            kabar.link(n, interval_ms=1000)
            linked_s = time.perf_counter() - linking
            kabar.queue_bulk(max(10_000, int(n * (duration + 30))))
            wait(lambda: kabar.count("whatsapp_messages", "sent_at IS NOT NULL") > 0, 60)
            time.sleep(5.0)
            cpu0, groups0, start = cpu_jiffies(), cpu_by_group(), time.time()
            database0 = database_activity()
            time.sleep(duration)
            cpu = (cpu_jiffies() - cpu0) / tick
            groups = {k: (v - groups0[k]) / tick for k, v in cpu_by_group().items()}
            database = {k: v - database0[k] for k, v in database_activity().items()}
            window = [s for s in kabar.sends(start) if s[1] < start + duration]
            sent = max(len(window), 1)
            rate = len(window) / duration
            gap = min(min_gaps(kabar.sends(start - 5.0)).values())
            print(
                f"   N={n:>3}: {rate:7.2f} msg/s = {rate / n:.3f} x N   smallest gap "
                f"{gap:7.1f} ms   machine CPU {cpu * 1000 / sent:.2f} ms per message "
                f"(linked in {linked_s:.0f} s)"
            )
            print(
                "          CPU ms per message: "
                + ", ".join(f"{name} {spent * 1000 / sent:.2f}" for name, spent in groups.items())
            )
            # Statements are not counted by PostgreSQL without pg_stat_statements: transactions
            # and rows touched show how much database work one paced send costs.
            print(
                "          PostgreSQL per message: "
                + ", ".join(f"{count / sent:.1f} {name}" for name, count in database.items())
            )
    priority(app, duration, numbers=100)


SCENARIOS = {
    "pacing": pacing,
    "priority": priority,
    "pipeline": pipeline,
    "failover": failover,
    "scale": scale,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=60.0,
        help="seconds each pacing run is measured (default 60)",
    )
    parser.add_argument(
        "--scenarios", default=",".join(name for name in SCENARIOS if name != "scale")
    )
    parser.add_argument(
        "--numbers", default="10,100,300", help="the scale scenario's N (default 10,100,300)"
    )
    args = parser.parse_args()
    name = configure_environment()
    try:
        app = prepared_app()
        print(f"Kabar sending engine on {os.cpu_count()} cores")
        counts = tuple(int(n) for n in args.numbers.split(","))
        for scenario in args.scenarios.split(","):
            if scenario.strip() == "scale":
                scale(app, args.duration, counts)
            else:
                SCENARIOS[scenario.strip()](app, args.duration)
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
