"""The admin pages and the API on a big message table, and retention deleting a day of it.

    .venv/bin/python -m bench.bigtable [--rows 2000000] [--repeat 5]

Fills a fresh PostgreSQL database with ``--rows`` messages spread over the 15 days of the
default retention (10 sessions, bulk sends, billing events, queue jobs, contacts), ANALYZEs,
then times every GET route of the app (the median of ``--repeat`` warm requests through the
Flask test client, logged in as an admin, the API with an admin key) and prints route, ms and
the rows the answer shows. Last, it purges the oldest day as the retention actor does while
another connection marks messages sent one by one, and prints how long the purge took and the
longest any of those single-row updates waited.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

from bench.engine import configure_environment, drop_database, prepared_app

SESSIONS = 10
DAYS = 15
BULKS = 30  # two bulk sends a day, as a monthly-invoice reminder campaign does
ADMIN = ("bench@example.com", "bench password 1")
CONTROL_S = 10.0  # seconds of single-row updates timed before the purge starts

FILL = [
    # Ten connected numbers.
    """INSERT INTO whatsapp_sessions (session_id, device_id, phone_number, status, is_primary,
           priority, message_count, error_count, created_at, updated_at, transport, interval_ms,
           jitter_ms, warmup_on_link)
       SELECT 'bench-' || s, 'bench-' || s, '62811000000' || s, 'connected', s = 0, s, 0, 0,
              now() - interval '60 days', now(), 'simulator', 1000, 200, false
       FROM generate_series(0, %(sessions)s - 1) s""",
    """INSERT INTO bulk_jobs (job_id, template_id, status, priority, routing, total, expanded,
           invalid_count, duplicate_count, created_at, updated_at, started_at, finished_at)
       SELECT 'bulk-' || b, (SELECT min(id) FROM whatsapp_templates), 'completed', 5, NULL,
              0, 0, 0, 0, ts, ts, ts, ts + interval '3 hours'
       FROM generate_series(1, %(bulks)s) b,
            LATERAL (SELECT now() - interval '15 days' + (b - 0.5) * interval '12 hours'
                     AS ts) t""",
    # The messages, in id order of their creation: a share of each day belongs to that day's
    # bulk sends; the last hour still has some queued (and held) ones.
    """INSERT INTO whatsapp_messages (session_id, message_id, to_number, template_id,
           message_type, content, status, sent_at, delivered_at, read_at, error_message,
           retry_count, created_at, priority, band, bulk_job_id, held_reason, held_until,
           updated_at)
       SELECT CASE WHEN st = 'queued' THEN NULL ELSE 'bench-' || (g %% %(sessions)s) END,
              CASE WHEN st IN ('queued', 'failed') THEN NULL ELSE 'KABAR' || g END,
              '628' || (1100000000 + (g::bigint * 7919) %% 300000 * 3331 %% 900000000)::text,
              tpl, 'text', 'Halo pelanggan, tagihan internet Anda bulan ini sudah terbit.', st,
              CASE WHEN st NOT IN ('queued', 'failed') THEN created + interval '2 seconds' END,
              CASE WHEN st IN ('delivered', 'read') THEN created + interval '5 seconds' END,
              CASE WHEN st = 'read' THEN created + interval '10 minutes' END,
              CASE WHEN st = 'failed' THEN 'not on WhatsApp' END,
              CASE WHEN st = 'failed' THEN 2 ELSE 0 END,
              created, CASE WHEN bulk IS NULL THEN 1 ELSE 5 END,
              CASE WHEN bulk IS NULL THEN 'urgent' ELSE 'bulk' END, bulk,
              CASE WHEN st = 'queued' AND bulk IS NOT NULL THEN 'daily_cap' END,
              CASE WHEN st = 'queued' AND bulk IS NOT NULL THEN now() + interval '1 day' END,
              created
       FROM (
         SELECT g, created, tpl, r,
                CASE WHEN (g %% 10) < 4
                     THEN least(%(bulks)s, 1 + floor(extract(epoch FROM created
                                    - (now() - interval '15 days')) / 43200)::int) END AS bulk,
                CASE WHEN created > now() - interval '1 hour' AND r < 0.3 THEN 'queued'
                     WHEN r < 0.60 THEN 'read' WHEN r < 0.88 THEN 'delivered'
                     WHEN r < 0.95 THEN 'sent' ELSE 'failed' END AS st
         FROM (
           SELECT g, now() - interval '15 days' + interval '15 days' * g / %(rows)s AS created,
                  (SELECT min(id) FROM whatsapp_templates) + g %% 3 AS tpl, random() AS r
           FROM generate_series(1, %(rows)s) g
         ) base
       ) m""",
    """UPDATE bulk_jobs b SET total = c.n, expanded = c.n
       FROM (SELECT bulk_job_id, count(*) n FROM whatsapp_messages GROUP BY bulk_job_id) c
       WHERE c.bulk_job_id = b.id""",
    # A third of the single messages came from a billing event; each single one had its job.
    """INSERT INTO trigger_events (event, event_id, status, message_id, created_at)
       SELECT 'invoice.created', 'inv-' || id, 'queued', id, created_at
       FROM whatsapp_messages WHERE bulk_job_id IS NULL AND id %% 3 = 0""",
    """INSERT INTO whatsapp_queue_jobs (message_row_id, job_id, queue_name, priority,
           attempts, max_attempts, status, completed_at, failed_at, created_at)
       SELECT id, 'job-' || id, 'urgent', 1, 1, 3,
              CASE WHEN status = 'queued' THEN 'pending'
                   WHEN status = 'failed' THEN 'failed' ELSE 'completed' END,
              CASE WHEN status NOT IN ('queued', 'failed') THEN sent_at END,
              CASE WHEN status = 'failed' THEN created_at + interval '1 minute' END, created_at
       FROM whatsapp_messages WHERE bulk_job_id IS NULL""",
    """INSERT INTO contacts (phone, opted_out, created_at, updated_at)
       SELECT DISTINCT to_number, false, now(), now() FROM whatsapp_messages""",
    """INSERT INTO metrics_daily (day, sent, delivered, read, errors, average_delivery_s,
           rolled_up_at)
       SELECT (created_at AT TIME ZONE 'Asia/Jakarta')::date,
              count(sent_at), count(delivered_at), count(read_at),
              count(*) FILTER (WHERE status = 'failed'), 3.0, now()
       FROM whatsapp_messages
       WHERE created_at < date_trunc('day', now() AT TIME ZONE 'Asia/Jakarta')
                          AT TIME ZONE 'Asia/Jakarta'
       GROUP BY 1""",
]


def fill(rows: int) -> None:
    import psycopg

    params = {"rows": rows, "sessions": SESSIONS, "bulks": BULKS}
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        for statement in FILL:
            started = time.perf_counter()
            conn.execute(statement, params)
            print(
                f"  {statement.split()[0]} {statement.split()[2]}: "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
        conn.execute("VACUUM ANALYZE")


def log_in(app, client) -> str:
    """Log ``client`` in as an admin; return an API key with every scope."""
    from webapp.intake import admins, api_keys

    with app.app_context():
        if admins.verify(*ADMIN) is None:
            admins.create_admin(*ADMIN)
        _, key = api_keys.create_api_key("bench", api_keys.SCOPES)
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    token = csrf.search(client.get("/admin/login").get_data(as_text=True)).group(1)
    answer = client.post(
        "/admin/login", data={"email": ADMIN[0], "password": ADMIN[1], "csrf_token": token}
    )
    assert answer.status_code == 302, answer.status_code
    return key


def samples(app) -> dict[str, str]:
    """A value for each path parameter a route may take, read from the filled tables."""
    from webapp.extensions import db

    with app.app_context():
        one = db.session.execute(
            db.text(
                "SELECT (SELECT max(id) FROM whatsapp_messages WHERE status = 'read'),"
                " (SELECT max(job_id) FROM bulk_jobs), (SELECT min(id) FROM whatsapp_templates),"
                " (SELECT to_number FROM whatsapp_messages ORDER BY id DESC LIMIT 1),"
                " (SELECT max(id) - 20000 FROM whatsapp_messages)"
            )
        ).one()
    return {
        "message_id": str(one[0]),
        "job_id": one[1],
        "template_id": str(one[2]),
        "session_id": "bench-0",
        "number": one[3],
        "deep_id": str(one[4]),
    }


# Routes a GET does not show (they act, stream, or need what a bench cannot give them).
SKIPPED = ("/admin/logout", "/admin/dramatiq", "/static", "/admin/bulk/new/", "/api/docs")


def routes(app, values: dict[str, str]) -> list[str]:
    """Every GET route of the app, with its parameters filled in; then the filters the
    message list and the API are used with."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.rule.startswith(SKIPPED):
            continue
        if not all(arg in values for arg in rule.arguments):
            print(f"  skipped {rule.rule}: no value for {sorted(rule.arguments)}")
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(rf"<(?:[a-z]+:)?{arg}>", values[arg], path)
        found.append(path)
    number = values["number"]
    old_day = (datetime.now(UTC) - timedelta(days=10)).strftime("%d-%m-%Y")
    found += [
        "/admin/messages?page=400",
        f"/admin/messages?page=401&before={values['deep_id']}",
        f"/admin/messages?page=399&after={values['deep_id']}",
        "/admin/messages?page=39999",
        f"/admin/messages?number={number}",
        f"/admin/messages?number=0{number[2:]}",
        f"/admin/messages?number={number[-6:]}",
        f"/admin/messages?number={number[-4:]}",
        *(
            f"/admin/messages?status={s}"
            for s in (
                "queued",
                "sent",
                "delivered",
                "read",
                "failed",
                "cancelled",
                "paused",
                "skipped",
            )
        ),
        "/admin/messages?status=read&page=300",
        "/admin/messages?session=bench-3",
        f"/admin/messages?bulk={values['job_id']}",
        f"/admin/messages?bulk={values['job_id']}&page=50",
        "/admin/messages?since=" + (datetime.now(UTC) - timedelta(days=3)).strftime("%d-%m-%Y"),
        f"/admin/messages?since={old_day}&until={old_day}",
        f"/admin/messages?since={old_day}&until={old_day}&page=100",
        f"/admin/messages?since={old_day}&status=failed",
        f"/admin/messages?template={values['template_id']}",
        "/admin/overview?date=" + (datetime.now(UTC) - timedelta(days=5)).strftime("%d-%m-%Y"),
        "/api/whatsapp/metrics?date=" + (datetime.now(UTC) - timedelta(days=5)).date().isoformat(),
        "/api/whatsapp/bulk?limit=50",
    ]
    return found


def rows_shown(answer) -> int:
    """Table rows of a page, or the items of a JSON answer's list, or its metric lines."""
    if answer.is_json:
        body = answer.get_json()
        if isinstance(body, list):
            return len(body)
        lists = [v for v in body.values() if isinstance(v, list)] if isinstance(body, dict) else []
        return len(lists[0]) if lists else 1
    text = answer.get_data(as_text=True)
    if answer.mimetype == "text/plain":
        return sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    return text.count("<tr") - text.count("<thead")


def backend_ticks(app) -> int:
    """CPU clock ticks spent so far by the PostgreSQL backends serving this database (the
    machine may be shared: other databases' backends are not counted)."""
    from webapp.extensions import db

    with app.app_context():
        pids = db.session.scalars(
            db.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).all()
        db.session.rollback()
    ticks = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks


def time_routes(app, client, key: str, paths: list[str], repeat: int) -> list[tuple]:
    """Each path's median wall time, and its median CPU time (this process and the
    database's backends), which other work on a shared machine disturbs less."""
    headers = {"Authorization": f"Bearer {key}"}
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    results = []
    print(f"  {'route':<60} {'wall ms':>8} {'cpu ms':>7}  code    rows")
    for path in paths:
        hdrs = headers if path.startswith(("/api", "/metrics")) else {}
        answer = client.get(path, headers=hdrs)  # warm
        times, cpu = [], []
        for _ in range(repeat):
            ticks, process = backend_ticks(app), time.process_time()
            started = time.perf_counter()
            answer = client.get(path, headers=hdrs)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append(
                (time.process_time() - process) * 1000 + (backend_ticks(app) - ticks) * tick_ms
            )
        wall, spent = statistics.median(times), statistics.median(cpu)
        results.append((path, wall, answer.status_code, rows_shown(answer), spent))
        print(
            f"  {path:<60} {wall:8.1f} {spent:7.0f}  {answer.status_code}  {results[-1][3]:>6}",
            flush=True,
        )
    return results


def purge_day(app) -> None:
    """Retention of the oldest day's messages and jobs while single rows are marked sent."""
    import psycopg

    from webapp import settings
    from workers.pipeline import retention

    days = 14
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        oldest = conn.execute("SELECT min(created_at) FROM whatsapp_messages").fetchone()[0]
        # The purge runs as if a day had passed since the oldest message left its horizon:
        # it takes one day of messages and jobs (again on a database it purged before).
        now = oldest + timedelta(days=days + 1)
        horizon = now - timedelta(days=days)
        doomed = conn.execute(
            "SELECT count(*) FROM whatsapp_messages WHERE created_at < %s", (horizon,)
        ).fetchone()[0]
    with app.app_context():
        settings.save(
            {"retention_messages_days": days, "retention_jobs_days": days,
             "retention_sessions_days": 0}
        )  # fmt: skip
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        recent = [
            r[0]
            for r in conn.execute("SELECT id FROM whatsapp_messages ORDER BY id DESC LIMIT 20000")
        ]
        # Receipts of the oldest day's messages, which the purge is deleting meanwhile.
        receipts = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM whatsapp_messages WHERE created_at < %s"
                " ORDER BY random() LIMIT 2000",
                (horizon,),
            )
        ]
    waits: dict[str, list[float]] = {"a send marked sent": [], "a receipt of the day": []}
    done = threading.Event()

    def update_rows() -> None:
        """One single-row update at a time, each its own transaction, as the send path and
        the receipts fold them."""
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            for i in itertools.count():
                if done.is_set():
                    return
                kind, ids = (
                    ("a send marked sent", recent) if i % 2 else ("a receipt of the day", receipts)
                )
                started = time.perf_counter()
                conn.execute(
                    "UPDATE whatsapp_messages SET status = 'sent', sent_at = now(),"
                    " updated_at = now() WHERE id = %s",
                    (ids[i // 2 % len(ids)],),
                )
                waits[kind].append((time.perf_counter() - started) * 1000)
                time.sleep(0.005)

    updater = threading.Thread(target=update_rows)
    updater.start()
    time.sleep(CONTROL_S)  # the same updates without a purge, on the same (maybe shared) machine
    before = {kind: len(times) for kind, times in waits.items()}
    ticks, process = backend_ticks(app), time.process_time()
    started = time.perf_counter()
    with app.app_context():
        purged = retention.purge(now=now)
    took = time.perf_counter() - started
    # Read while the updates' backend is alive: once its connection closes, its ticks are gone.
    database_s = (backend_ticks(app) - ticks) / os.sysconf("SC_CLK_TCK")
    process_s = time.process_time() - process
    done.set()
    updater.join()
    print(
        f"\nretention: {purged.messages:,} messages (of {doomed:,} past the horizon) and "
        f"{purged.queue_jobs:,} queue jobs in {took:.1f} s "
        f"(batches of {app.config['RETENTION_BATCH']})"
    )
    for kind, times in waits.items():
        for when, part in (("before", times[: before[kind]]), ("during", times[before[kind] :])):
            part = sorted(part)
            print(
                f"  {kind}, {when} the purge: {len(part)} updates, median "
                f"{statistics.median(part):.2f} ms, p99 {part[int(len(part) * 0.99)]:.2f} ms, "
                f"worst {part[-1]:.2f} ms"
            )
    print(
        f"  CPU during the purge: this database's backends {database_s:.1f} s (the updates'"
        f" included), this process {process_s:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--only", default="", help="time only paths containing this text")
    parser.add_argument("--no-purge", action="store_true", help="time the routes only")
    parser.add_argument("--reuse", metavar="DATABASE", help="a database --keep left, filled")
    args = parser.parse_args()
    name = configure_environment()
    if args.reuse:
        drop_database(name)
        name = args.reuse
        os.environ["DATABASE_URL"] = f"{os.environ['DATABASE_URL'].rsplit('/', 1)[0]}/{name}"
    try:
        app = prepared_app()
        if not args.reuse:
            print(f"filling {args.rows:,} messages into {name}", flush=True)
            started = time.perf_counter()
            fill(args.rows)
            print(f"filled in {time.perf_counter() - started:.0f} s\n")
        client = app.test_client()
        key = log_in(app, client)
        paths = [p for p in routes(app, samples(app)) if args.only in p]
        if results := time_routes(app, client, key, paths, args.repeat):
            summarise(results)
        if not args.no_purge:
            purge_day(app)
    finally:
        if not (args.keep or args.reuse):
            drop_database(name)


def summarise(results: list[tuple]) -> None:
    slow = [r for r in results if r[1] >= 300]
    bad = [r for r in results if r[2] >= 500]
    print(
        f"\n{len(results)} routes, slowest {max(r[1] for r in results):.0f} ms wall, "
        f"{max(r[4] for r in results):.0f} ms CPU; {len(slow)} at 300 ms or more; "
        f"{len(bad)} answered 5xx; load average {os.getloadavg()[0]:.1f}"
    )
    print(json.dumps({"slowest": sorted(results, key=lambda r: -r[1])[:5]}))


if __name__ == "__main__":
    main()
