"""Benchmark of held messages: what the bounded poll of a large held bulk send costs.

    .venv/bin/python -m bench.holds [--rows 10000]

A message that a spent daily cap or warm-up allowance holds goes back to its queue and looks
again every ``KABAR_HOLD_POLL`` seconds (60). This writes ``--rows`` bulk messages against a
fresh PostgreSQL database and Redis (``KABAR_BENCH_REDIS``, as ``bench.engine``) with the one
connected number at its cap, then runs one poll of every job (batches of 50) the way a worker
does, in this process, and prints the time one round of polls takes, per job, and the share of
one core it costs at the default poll interval.
"""

from __future__ import annotations

import argparse
import time

from bench.engine import configure_environment, drop_database, prepared_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    database = configure_environment()
    try:
        run(args.rows, args.rounds)
    finally:
        drop_database(database)


def run(rows: int, rounds: int) -> None:
    app = prepared_app()
    from webapp.extensions import db
    from webapp.intake import messages
    from webapp.models import WhatsAppMessage, WhatsAppSession
    from webapp.redis_client import get_redis
    from workers.pipeline import routing, sending

    with app.app_context():
        get_redis().flushdb()
        db.session.add(
            WhatsAppSession(session_id="session-1", device_id="WA-1", priority=1,
                            status="connected", transport="simulator", daily_cap=20)
        )  # fmt: skip
        db.session.commit()
        routing.record_success("session-1", 20)
        ids: list[int] = []
        for start in range(0, rows, 1000):
            batch = [(f"62812{n:08d}", f"Info {n}") for n in range(start, min(start + 1000, rows))]
            ids += messages.queue_texts(batch)
        jobs = [ids[i : i + sending.MAX_CHUNK] for i in range(0, len(ids), sending.MAX_CHUNK)]
        poll_s = app.config["HOLD_POLL_S"]
        for n in range(1, rounds + 1):
            began = time.perf_counter()
            for job in jobs:
                outcome = sending.deliver_batch(job)
                assert len(outcome.later) == len(job) and not outcome.sent
            took = time.perf_counter() - began
            print(
                f"round {n}: {len(jobs)} jobs ({len(ids):,} held rows) polled in {took:.2f} s, "
                f"{took / len(jobs) * 1000:.1f} ms per job; every {poll_s:.0f} s that is "
                f"{took / poll_s:.1%} of one core"
            )
        M = WhatsAppMessage
        held = db.session.scalar(
            db.select(db.func.count()).where(M.status == "queued", M.held_reason == "daily_cap")
        )
        print(f"held with reason daily_cap: {held:,} of {len(ids):,}")
        get_redis().flushdb()


if __name__ == "__main__":
    main()
