"""A number with letters, or digits phonenumbers would drop or convert, is refused wherever a
number comes in (send, bulk, events, MPWA), naming the field and the reason; nothing is sent to
the number phonenumbers would have made of it."""

from __future__ import annotations

import pytest

from tests.catalogue import catalogue  # noqa: F401 - fixture
from webapp.extensions import db
from webapp.intake import bulk
from webapp.models import BulkJob, TriggerEvent, WhatsAppMessage

# The message follows the request's language (the console's by default); the code never does.
LETTERS = {"the number contains letters", "nomor berisi huruf"}
TYPED = ["0812-ABCD-7890", "0812345678O", "0812-3450-000X"]  # 6281222237890, 62812345678, ...
INVOICE = {
    "customer_name": "Budi",
    "invoice_number": "INV-1",
    "amount": "150000",
    "due_date": "2026-12-10",
    "payment_url": "https://bayar.example/INV-1",
}


def stored_numbers(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(db.select(WhatsAppMessage.to_number)))


def refused(response, field: str) -> dict:
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "invalid_phone_number" and error["field"] == field, error
    assert error["message"] in LETTERS, error
    return error


@pytest.mark.parametrize("number", TYPED)
def test_a_single_send_to_a_number_with_letters_is_refused(app, client, auth, number):
    r = client.post("/api/whatsapp/send", headers=auth, json={"to": number, "text": "Halo"})
    refused(r, "to")
    assert stored_numbers(app) == []


def test_a_bulk_counts_rows_with_letters_invalid_with_their_reason(app, client, auth):
    body = {
        "recipients": [{"whatsapp": n} for n in [*TYPED, "0812-3456-7890"]],
        "template": "voucher_activated",
        "templateData": {"voucher_code": "V1", "duration": "30 hari", "expiry_time": "1-1-2027"},
    }
    r = client.post("/api/whatsapp/send-bulk", headers=auth, json=body)
    assert r.status_code == 202, r.get_json()
    job_id = r.get_json()["jobId"]
    with app.app_context():  # as the expand_bulk actor does
        bulk.expand(db.session.scalar(db.select(BulkJob.id).where(BulkJob.job_id == job_id)))
    shown = client.get(f"/api/whatsapp/bulk/{job_id}", headers=auth).get_json()
    assert shown["invalid"] == 3 and shown["expanded"] == 4
    assert [(e["whatsapp"], e["reason"], e["field"]) for e in shown["errors"]] == [
        (n, "letters", f"recipients.{i}.whatsapp") for i, n in enumerate(TYPED)
    ]
    assert stored_numbers(app) == ["6281234567890"]


@pytest.mark.usefixtures("catalogue")
def test_a_billing_event_for_a_number_with_letters_is_refused_and_recorded(app, client, auth):
    r = client.post(
        "/api/events",
        headers=auth,
        json={
            "event": "invoice.created",
            "id": "evt-letters",
            "data": INVOICE | {"customer_whatsapp": "0812-ABCD-7890"},
        },
    )
    refused(r, "data.customer_whatsapp")
    assert stored_numbers(app) == []
    with app.app_context():
        recorded = db.session.scalar(db.select(TriggerEvent))
        assert recorded.status == "failed" and recorded.error in LETTERS


@pytest.mark.parametrize("number", TYPED)
def test_mpwa_answers_status_false_with_the_reason(app, client, api_key, number):
    r = client.post(
        "/send-message", data={"api_key": api_key, "number": number, "message": "Tagihan"}
    )
    assert r.status_code == 400, r.get_data(as_text=True)  # MPWA refuses everything 400
    body = r.get_json()
    assert body["status"] is False and body["field"] == "number"
    field, _, reason = body["msg"].partition(": ")
    assert field == "number" and reason in LETTERS
    assert stored_numbers(app) == []


def test_an_mpwa_sender_with_letters_is_refused_too(app, client, api_key):
    r = client.post(
        "/send-message",
        data={
            "api_key": api_key,
            "sender": "0811-ABC-1111",
            "number": "0812-3456-7890",
            "message": "Tagihan",
        },
    )
    assert r.status_code == 400 and r.get_json()["field"] == "sender"
    assert stored_numbers(app) == []
