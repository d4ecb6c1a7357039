"""POST /api/events: billing events through the triggers table, once per event id."""

from __future__ import annotations

import pytest

from tests.catalogue import catalogue  # noqa: F401 - fixture
from webapp.extensions import db
from webapp.models import BulkJob, Trigger, TriggerEvent, WhatsAppMessage

pytestmark = pytest.mark.usefixtures("catalogue")

INVOICE = {
    "customer_whatsapp": "0812-3456-7890",
    "customer_name": "Budi",
    "invoice_number": "INV-2026-001",
    "amount": "150.000",
    "due_date": "1 Desember 2026",
    "payment_url": "https://bayar.example/INV-2026-001",
    "email": "budi@example.com",
}


def event(client, auth, name="invoice.created", event_id="evt-1", data=None):
    return client.post(
        "/api/events",
        headers=auth,
        json={"event": name, "id": event_id, "data": INVOICE if data is None else data},
    )


def messages(app):
    with app.app_context():
        rows = list(db.session.scalars(db.select(WhatsAppMessage).order_by(WhatsAppMessage.id)))
        db.session.expunge_all()
    return rows


def trigger(app, name):
    with app.app_context():
        row = db.session.scalar(db.select(Trigger).where(Trigger.event == name))
        db.session.expunge(row)
    return row


def set_trigger(app, name, **values):
    with app.app_context():
        db.session.execute(db.update(Trigger).where(Trigger.event == name).values(**values))
        db.session.commit()


def test_an_invoice_event_queues_the_new_invoice_template(app, client, auth):
    r = event(client, auth)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["status"] == "queued" and body["duplicate"] is False
    (message,) = messages(app)
    assert body["messageId"] == message.id
    assert message.to_number == "6281234567890" and message.band == "urgent"
    assert "📄 No. Invoice: INV-2026-001" in message.content
    assert message.email == "budi@example.com"
    fired = trigger(app, "invoice.created")
    assert fired.fire_count == 1 and fired.last_fired_at is not None


def test_the_same_event_twice_sends_one_message(app, client, auth):
    first = event(client, auth).get_json()
    r = event(client, auth)
    assert r.status_code == 200
    again = r.get_json()
    assert again["duplicate"] is True and again["messageId"] == first["messageId"]
    assert len(messages(app)) == 1
    assert trigger(app, "invoice.created").fire_count == 1
    # another id is another event
    assert event(client, auth, event_id="evt-2").status_code == 202
    assert len(messages(app)) == 2


def test_a_numeric_event_id_is_the_same_id_as_its_text(app, client, auth):
    assert event(client, auth, event_id=42).status_code == 202
    assert event(client, auth, event_id="42").get_json()["duplicate"] is True
    assert len(messages(app)) == 1


def test_the_recipient_may_be_given_as_to(app, client, auth):
    data = {k: v for k, v in INVOICE.items() if k != "customer_whatsapp"} | {"to": "+6281299990000"}
    assert event(client, auth, data=data).status_code == 202
    assert messages(app)[0].to_number == "6281299990000"


def test_an_unknown_event_is_refused_and_not_recorded(app, client, auth):
    r = event(client, auth, name="invoice.deleted")
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "unknown_event" and error["field"] == "event"
    assert "invoice.created" in error["message"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(TriggerEvent.id))) == 0


def test_a_disabled_trigger_skips_the_event(app, client, auth):
    set_trigger(app, "invoice.created", enabled=False)
    r = event(client, auth)
    assert r.status_code == 200
    assert r.get_json()["status"] == "skipped" and r.get_json()["reason"]
    assert messages(app) == []
    # Enabling it later does not send the skipped event again.
    set_trigger(app, "invoice.created", enabled=True)
    assert event(client, auth).get_json() | {"duplicate": None} == r.get_json() | {
        "duplicate": None
    }
    assert messages(app) == []


def test_a_missing_variable_fails_clearly_and_is_recorded(app, client, auth):
    data = {k: v for k, v in INVOICE.items() if k != "due_date"}
    r = event(client, auth, data=data)
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "missing_variable" and error["field"] == "data.due_date"
    assert messages(app) == []
    fired = trigger(app, "invoice.created")
    assert fired.failure_count == 1 and "due_date" in fired.last_error
    assert "evt-1" in fired.last_error
    with app.app_context():
        record = db.session.scalar(db.select(TriggerEvent))
        assert record.status == "failed" and "due_date" in record.error
    # A retry of the same event gets the same answer and changes nothing.
    again = event(client, auth, data=data)
    assert again.status_code == 422 and again.get_json()["error"] == error
    assert trigger(app, "invoice.created").failure_count == 1


def test_a_bad_number_fails_naming_the_field(app, client, auth):
    r = event(client, auth, data=INVOICE | {"customer_whatsapp": "0812"})
    assert r.status_code == 422
    assert r.get_json()["error"]["field"] == "data.customer_whatsapp"
    r = event(client, auth, event_id="evt-2", data={"customer_name": "Budi"})
    assert r.status_code == 422
    assert r.get_json()["error"]["field"] == "data.customer_whatsapp"
    assert trigger(app, "invoice.created").failure_count == 2


@pytest.mark.parametrize(
    "email", ["budi@example.com, mallory@example.org", "budi@example.com\r\nBcc: x@y.example"]
)
def test_an_event_with_more_than_one_address_is_refused_naming_the_field(app, client, auth, email):
    r = event(client, auth, data=INVOICE | {"email": email})
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["error"]["field"] == "data.email"
    assert messages(app) == []


def test_an_event_without_an_address_sends_without_one(app, client, auth):
    r = event(client, auth, data=INVOICE | {"email": ""})
    assert r.status_code == 202, r.get_json()
    assert messages(app)[0].email is None


def test_an_inactive_template_fails_the_trigger(app, client, auth):
    with app.app_context():
        db.session.execute(
            db.text("UPDATE whatsapp_templates SET is_active = false WHERE name = 'new_invoice'")
        )
        db.session.commit()
    r = event(client, auth)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "unknown_template"
    assert trigger(app, "invoice.created").failure_count == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "1", "data": {}}, "event"),
        ({"event": "invoice.created"}, "id"),
        ({"event": "invoice.created", "id": True}, "id"),
        ({"event": "invoice.created", "id": "1", "data": []}, "data"),
    ],
)
def test_a_malformed_envelope_is_a_400(client, auth, body, field):
    r = client.post("/api/events", headers=auth, json=body)
    assert r.status_code == 400 and r.get_json()["error"]["field"] == field


def test_events_need_an_api_key(client):
    r = client.post("/api/events", json={"event": "invoice.created", "id": "1", "data": INVOICE})
    assert r.status_code == 401


def test_the_trigger_priority_is_the_messages_priority(app, client, auth):
    set_trigger(app, "payment.completed", priority=3)
    data = {
        "customer_whatsapp": "081234567890",
        "invoice_number": "INV-1",
        "amount": "150.000",
        "payment_method": "QRIS",
        "payment_date": "1 Des 2026",
        "reference": "REF-9",
    }
    assert event(client, auth, name="payment.completed", data=data).status_code == 202
    (message,) = messages(app)
    assert message.priority == 3 and message.band == "urgent"
    assert "🏦 Metode: QRIS" in message.content


def test_a_bulk_send_event_starts_a_bulk_job_once(app, client, auth):
    data = {
        "template": "voucher_activated",
        "templateData": {"duration": "30 hari", "expiry_time": "31-12-2026"},
        "recipients": [
            {"whatsapp": "081234567890", "data": {"voucher_code": "A"}},
            {"whatsapp": "081234567891", "data": {"voucher_code": "B"}},
        ],
    }
    r = event(client, auth, name="bulk.send", event_id="blast-1", data=data)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["jobId"].startswith("bulk-") and body["queued"] == 2
    again = event(client, auth, name="bulk.send", event_id="blast-1", data=data).get_json()
    assert again["jobId"] == body["jobId"] and again["duplicate"] is True
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(BulkJob.id))) == 1
        record = db.session.scalar(db.select(TriggerEvent))
        assert record.payload["data"]["recipients"] == "2 recipients (see the bulk job)"


def test_a_bulk_send_event_with_a_bad_body_fails_naming_the_field(app, client, auth):
    r = event(client, auth, name="bulk.send", data={"template": "voucher_activated"})
    assert r.status_code == 400
    assert r.get_json()["error"]["field"] == "data.recipients"
    assert trigger(app, "bulk.send").failure_count == 1


def test_the_same_event_sent_concurrently_sends_one_message(app, auth):
    from concurrent.futures import ThreadPoolExecutor

    def post(_):
        with app.test_client() as own:
            return event(own, auth, event_id="race-1").status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = sorted(pool.map(post, range(6)))
    assert codes == [200] * 5 + [202]
    assert len(messages(app)) == 1
    assert trigger(app, "invoice.created").fire_count == 1
