"""Benchmark of bulk sends: how fast a large send is accepted, and how fast it is fully queued.

    .venv/bin/python -m bench.bulk [--recipients 10000] [--runs 3] [--numbers 3]

Starts the web process, the session host and the workers of honcho.Procfile against a fresh
PostgreSQL database and Redis database 12 (as ``bench.engine`` does), links simulator numbers at
1 msg/s, then for each run POSTs one ``/api/whatsapp/send-bulk`` over HTTP and prints:

- accepted: from sending the request to its 202 answer;
- fully queued: from sending the request until every recipient has its message row and its
  job in Redis (the bulk job's ``expanded`` reaches the total and it is ``running``);
- first sent: from sending the request until the first message of the run was sent.

Runs follow each other without a pause, so later runs are accepted and expanded while the
workers are busy sending the earlier runs' backlog, as in production.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.engine import ROOT, Kabar, configure_environment, drop_database, prepared_app, wait


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Web:
    """The ``web`` process of honcho.Procfile (gunicorn) on a free local port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Web:
        log = Path(os.environ["KABAR_INSTANCE_DIR"]) / "web.log"
        self.log = open(log, "ab")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "honcho", "-f", "honcho.Procfile", "start", "web"],
            cwd=ROOT,
            env={**os.environ, "PORT": str(self.port), "KABAR_BIND": "127.0.0.1"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait(lambda: self._healthy(), 30)
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def post(self, path: str, body: bytes, key: str) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.base + path,
            data=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())

    def __exit__(self, *exc) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def bulk_body(count: int, run: int) -> bytes:
    recipients = [
        {"whatsapp": f"62812{run:02d}{n:06d}", "data": {"voucher_code": f"R{run}-{n}"}}
        for n in range(count)
    ]
    return json.dumps(
        {
            "recipients": recipients,
            "template": "voucher_activated",
            "templateData": {"duration": "30 hari", "expiry_time": "31-12-2026"},
        }
    ).encode()


def run_once(app, web: Web, key: str, count: int, run: int) -> dict[str, float]:
    from webapp.extensions import db
    from webapp.models import BulkJob

    body = bulk_body(count, run)
    started = time.perf_counter()
    wall = time.time()
    status, answer = web.post("/api/whatsapp/send-bulk", body, key)
    accepted = time.perf_counter() - started
    assert status == 202 and answer["queued"] == count, answer

    def queued() -> bool:
        with app.app_context():
            job = db.session.scalar(db.select(BulkJob).where(BulkJob.job_id == answer["jobId"]))
            done = job.expanded >= job.total and job.status in ("running", "completed")
            db.session.rollback()
        return done

    wait(queued, 300, interval=0.02)
    fully_queued = time.perf_counter() - started

    def first_sent() -> float | None:
        with app.app_context():
            value = db.session.scalar(
                db.text(
                    "SELECT extract(epoch FROM min(m.sent_at)) FROM whatsapp_messages m "
                    "JOIN bulk_jobs b ON b.id = m.bulk_job_id WHERE b.job_id = :job"
                ),
                {"job": answer["jobId"]},
            )
            db.session.rollback()
        return float(value) if value is not None else None

    # Later runs wait behind the earlier runs' backlog (3 msg/s): their first send is far off.
    first = wait(first_sent, 120, interval=0.05) if run == 1 else None
    return {
        "accepted": accepted,
        "queued": fully_queued,
        "first": first - wall if first is not None else None,
        "size_mb": len(body) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--numbers", type=int, default=3, help="simulator numbers at 1 msg/s")
    parser.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="do not check the recipients with WhatsApp before queuing (the setting)",
    )
    args = parser.parse_args()
    name = configure_environment()
    try:
        from webapp.intake import api_keys

        app = prepared_app(check_on_whatsapp=args.check)
        with app.app_context():
            _, key = api_keys.create_api_key("bench")
        print(
            f"Kabar bulk sends on {os.cpu_count()} cores: {args.recipients:,} recipients per "
            f"send, {args.numbers} simulator numbers at 1 msg/s, web + session host + workers "
            "as in honcho.Procfile; recipients "
            + ("checked with WhatsApp first" if args.check else "not checked with WhatsApp")
        )
        with Kabar(app) as kabar, Web() as web:
            kabar.link(args.numbers, interval_ms=1000)
            results = []
            for run in range(1, args.runs + 1):
                result = run_once(app, web, key, args.recipients, run)
                results.append(result)
                print(
                    f"   run {run}: accepted (HTTP 202, {result['size_mb']:.1f} MB body) in "
                    f"{result['accepted'] * 1000:6.0f} ms; fully queued ({args.recipients:,} "
                    f"rows + jobs in Redis) after {result['queued']:5.2f} s"
                    + (
                        f"; first message sent after {result['first']:.2f} s"
                        if result["first"] is not None
                        else ""
                    )
                )
            if len(results) > 1:
                accepted = statistics.median(r["accepted"] for r in results) * 1000
                queued = statistics.median(r["queued"] for r in results)
                print(
                    f"   median: accepted in {accepted:.0f} ms, fully queued after {queued:.2f} s"
                )
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
