"""A bulk send's numbers: one with letters is an invalid row with its reason, never a message
to the number phonenumbers would have made of it."""

from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.intake import bulk
from webapp.models import WhatsAppMessage

VOUCHER = {"voucher_code": "HS-1", "duration": "30 hari", "expiry_time": "31-12-2026"}


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def test_numbers_with_letters_are_counted_invalid_with_their_reason(ctx):
    typed = ["0812-ABCD-7890", "0812345678O", "0812-3450-000X", "0812-3456-7890", 6281234567891.0]
    raw = {
        "recipients": [{"whatsapp": number} for number in typed],
        "template": "voucher_activated",
        "templateData": VOUCHER,
    }
    job = bulk.submit(bulk.parse_request(raw))
    assert bulk.expand(job.id) == 2
    db.session.refresh(job)
    sent_to = set(
        db.session.scalars(
            db.select(WhatsAppMessage.to_number).where(WhatsAppMessage.bulk_job_id == job.id)
        )
    )
    assert sent_to == {"6281234567890", "6281234567891"}
    report = bulk.report(job)
    assert report["invalid"] == 3
    assert [(e["index"], e["whatsapp"], e["reason"]) for e in report["errors"]] == [
        (0, "0812-ABCD-7890", "letters"),
        (1, "0812345678O", "letters"),
        (2, "0812-3450-000X", "letters"),
    ]
    assert {e["code"] for e in report["errors"]} == {"invalid_phone_number"}
    assert {e["field"] for e in report["errors"]} == {f"recipients.{n}.whatsapp" for n in range(3)}
    # Worded by a worker: in English, the language of what workers store.
    assert {e["message"] for e in report["errors"]} == {"the number contains letters"}
