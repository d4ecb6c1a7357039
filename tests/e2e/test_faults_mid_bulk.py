"""Recovery as a contract: a session host or urgent worker killed, or PostgreSQL restarted, in
the middle of a bulk with urgent sends beside it, costs no message and sends none twice, and
the bulk finishes soon after the process or service is back.

A message whose sender died in the middle of sending it may have reached WhatsApp, so it is
never sent again by itself: such a row fails saying its outcome is unknown, and its phone got
it once or not at all. At most one such message per number can exist per fault.
"""

from __future__ import annotations

import os
import signal
import time

from tests.e2e.conftest import BIN
from tests.e2e.helpers import inboxes, link_numbers, queue_bulk, statuses
from tests.polling import wait_for
from webapp.extensions import db
from webapp.models import WhatsAppMessage
from workers.pipeline.sending import OUTCOME_UNKNOWN
from workers.session_host.simulated_network import SimulatedNetwork

NUMBERS = 3
BULK = 150
URGENT = [f"628139000000{n}" for n in range(5)]


def urgent_sends(client, auth):
    ids = []
    for number in URGENT:
        r = client.post(
            "/api/whatsapp/send",
            headers=auth,
            json={"to": f"+{number}", "text": "Pembayaran diterima"},
        )
        assert r.status_code == 202, r.get_json()
        ids.append(r.get_json()["id"])
    return ids


def reasons(app, ids):
    with app.app_context():
        rows = db.session.execute(
            db.select(WhatsAppMessage.id, WhatsAppMessage.error_message).where(
                WhatsAppMessage.id.in_(ids)
            )
        ).all()
        db.session.rollback()
    return dict(rows)


def assert_once_each(app, redis_client, bulk, urgent, faults=1):
    every = bulk + urgent
    final = statuses(app, every)
    received = inboxes(redis_client, range(BULK))
    network = SimulatedNetwork(redis_client)
    received.update({number: network.inbox(number) for number in URGENT})
    doubled = {k: len(v) for k, v in received.items() if len(v) > 1}
    assert not doubled, doubled
    unsent = [i for i, s in final.items() if s not in ("sent", "delivered", "read")]
    assert len(unsent) <= NUMBERS * faults, final
    why = reasons(app, unsent)
    assert all(final[i] == "failed" and why[i] == OUTCOME_UNKNOWN for i in unsent), why
    assert sum(map(len, received.values())) >= len(every) - len(unsent)


def test_a_session_host_killed_mid_bulk_loses_and_doubles_nothing(
    app, client, auth, redis_client, kabar_processes
):
    link_numbers(client, auth, NUMBERS, interval_ms=100)
    bulk = queue_bulk(app, BULK)
    wait_for(lambda: sum(s != "queued" for s in statuses(app, bulk).values()) >= 20)
    host = kabar_processes.procs.pop("session-host")
    os.kill(host.pid, signal.SIGKILL)  # the host only: its clients must notice and leave
    host.wait()
    urgent = urgent_sends(client, auth)
    # Back 2 s later, as systemd restarts it; it takes its numbers back at once.
    time.sleep(2)  # the outage itself, not a synchronisation
    back = time.monotonic()
    kabar_processes.start("session-host", str(BIN / "python"), "-m", "workers.session_host")
    wait_for(lambda: "queued" not in statuses(app, bulk + urgent).values(), timeout=90)
    finished_s = time.monotonic() - back
    assert_once_each(app, redis_client, bulk, urgent)
    # 150 messages over 3 numbers at 100 ms take about 5 s without a fault.
    assert finished_s < 60, finished_s


def test_a_postgresql_restart_mid_bulk_loses_and_doubles_nothing(
    app, client, auth, redis_client, tmp_path, request
):
    """Every process reaches PostgreSQL through a proxy the test cuts for 3 s, as a restart of
    the server does (open connections dropped, new ones refused), while a bulk is sent."""
    from tests.e2e.conftest import Processes
    from tests.outage import through

    proxy, url = through(os.environ["DATABASE_URL"], 5432)
    procs = Processes(tmp_path)
    procs.env["DATABASE_URL"] = url
    try:
        procs.start("session-host", str(BIN / "python"), "-m", "workers.session_host")
        procs.start_workers()
        wait_for(lambda: redis_client.keys("kabar:host:*"), timeout=30)
        link_numbers(client, auth, NUMBERS, interval_ms=100)
        bulk = queue_bulk(app, BULK)
        wait_for(lambda: sum(s != "queued" for s in statuses(app, bulk).values()) >= 20)
        proxy.cut()
        time.sleep(3)  # the outage itself, not a synchronisation
        proxy.restore()
        back = time.monotonic()
        urgent = urgent_sends(client, auth)
        wait_for(lambda: "queued" not in statuses(app, bulk + urgent).values(), timeout=90)
        finished_s = time.monotonic() - back
        assert_once_each(app, redis_client, bulk, urgent)
        assert finished_s < 60, finished_s
    except BaseException:
        print(procs.logs())
        raise
    finally:
        procs.stop_all()
        proxy.close()


def test_an_urgent_worker_killed_with_urgent_sends_in_flight_loses_and_doubles_nothing(
    app, client, auth, redis_client, kabar_processes
):
    link_numbers(client, auth, NUMBERS, interval_ms=100)
    bulk = queue_bulk(app, BULK)
    wait_for(lambda: sum(s != "queued" for s in statuses(app, bulk).values()) >= 10)
    urgent = urgent_sends(client, auth)
    kabar_processes.stop("worker-urgent", signal.SIGKILL)
    time.sleep(2)  # the outage itself, not a synchronisation
    back = time.monotonic()
    kabar_processes.worker("worker-urgent", "urgent", threads=2)
    wait_for(lambda: "queued" not in statuses(app, bulk + urgent).values(), timeout=90)
    finished_s = time.monotonic() - back
    assert_once_each(app, redis_client, bulk, urgent)
    # Its prefetched jobs go to the new worker once the dead one's heartbeat (10 s) lapses.
    assert finished_s < 60, finished_s
