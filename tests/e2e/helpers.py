"""Steps end-to-end tests share: link simulator numbers, queue bulk texts, read inboxes."""

from __future__ import annotations

from datetime import datetime

from tests.polling import wait_for
from webapp.extensions import db
from webapp.intake import messages
from webapp.models import Contact, WhatsAppMessage
from workers.session_host.simulated_network import SimulatedNetwork


def link_numbers(client, auth, count, interval_ms=1000, jitter_ms=0, warmup=False):
    """Create and pair ``count`` simulator sessions with priorities 1..count; return their ids.

    As numbers long in use they do not warm up, so tests may send as much as they need; with
    ``warmup`` they are new numbers, whose warm-up starts with their pairing.
    """
    ids = []
    for n in range(1, count + 1):
        r = client.post(
            "/api/whatsapp/sessions",
            headers=auth,
            json={"deviceId": f"WA-{n}", "priority": n, "transport": "simulator", "warmup": warmup},
        )
        assert r.status_code == 201, r.get_json()
        sid = r.get_json()["session"]["id"]
        r = client.patch(
            f"/api/whatsapp/sessions/{sid}",
            headers=auth,
            json={"intervalMs": interval_ms, "jitterMs": jitter_ms},
        )
        assert r.status_code == 200, r.get_json()
        ids.append(sid)
    for sid in ids:
        wait_for(
            lambda sid=sid: (
                client.post(
                    f"/api/whatsapp/sessions/{sid}/simulator/scan", headers=auth
                ).status_code
                == 200
            )
        )

    def all_connected():
        listed = client.get("/api/whatsapp/sessions", headers=auth).get_json()["sessions"]
        return all(s["status"] == "connected" for s in listed) and len(listed) == count

    wait_for(all_connected)
    if warmup:
        for sid in ids:
            warming_up(client, auth, sid)
    return ids


def warming_up(client, auth, sid):
    """Wait until the warm-up the session's pairing started is folded; return its start."""
    return wait_for(
        lambda: client.get(f"/api/whatsapp/sessions/{sid}", headers=auth).get_json()["session"][
            "warmupStartedAt"
        ]
    )


def end_warmup(client, auth, sid):
    """End the warm-up of a new number (once its pairing is folded: never before)."""
    warming_up(client, auth, sid)
    r = client.patch(f"/api/whatsapp/sessions/{sid}", headers=auth, json={"warmup": False})
    assert r.status_code == 200 and r.get_json()["session"]["warmup"] is None, r.get_json()


def phone(n: int) -> str:
    return f"62812{n:08d}"


def queue_bulk(app, count, start=0, **options):
    with app.app_context():
        return messages.queue_texts(
            [(phone(start + i), f"Pengumuman #{start + i}") for i in range(count)], **options
        )


def inboxes(redis_client, numbers):
    network = SimulatedNetwork(redis_client)
    return {n: network.inbox(phone(n)) for n in numbers}


def received_at(entry) -> float:
    return datetime.fromisoformat(entry["receivedAt"].replace("Z", "+00:00")).timestamp()


def statuses(app, ids):
    with app.app_context():
        rows = db.session.execute(
            db.select(WhatsAppMessage.id, WhatsAppMessage.status).where(WhatsAppMessage.id.in_(ids))
        ).all()
        db.session.rollback()
    return dict(rows)


def customer_writes(client, auth, session_id, from_phone, text):
    """A simulated customer sends ``text`` to the number of ``session_id``."""
    said = client.post(
        f"/api/whatsapp/sessions/{session_id}/simulator/incoming",
        headers=auth,
        json={"from": from_phone, "text": text},
    )
    assert said.status_code == 200, said.get_json()


def opted_out(app, number) -> bool:
    """Whether the contact of ``number`` is opted out (False while it is not stored yet)."""
    with app.app_context():
        contact = db.session.scalar(db.select(Contact).where(Contact.phone == number))
        db.session.rollback()
        return contact is not None and contact.opted_out
