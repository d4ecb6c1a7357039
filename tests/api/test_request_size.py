"""Bodies over the limit are refused with 413 before anything parses them, in the shape each
caller reads; the largest legitimate body, a 50,000-recipient bulk send, fits."""

from __future__ import annotations

import json

from webapp.services import bulk

HUGE = {"CONTENT_LENGTH": str(300 * 1024 * 1024)}


def test_the_api_refuses_an_announced_300_mb_body_as_json(client, auth):
    r = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        data=b"{}",
        content_type="application/json",
        environ_overrides=HUGE,
    )
    assert r.status_code == 413
    assert r.get_json()["error"] == {
        "code": "payload_too_large",
        "field": "body",
        "message": "the request body is larger than 32 MB",
    }


def test_mpwa_refuses_it_in_its_own_shape(client):
    r = client.post(
        "/send-message",
        data=b"api_key=x",
        environ_overrides=HUGE,
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 413
    assert r.get_json() == {
        "status": False,
        "field": "body",
        "msg": "body: the request body is larger than 32 MB",
    }


def test_an_admin_form_gets_a_page_in_indonesian(client):
    r = client.post(
        "/admin/login",
        data=b"email=a",
        environ_overrides=HUGE,
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 413 and "lebih besar dari 32 MB" in r.get_data(as_text=True)


def test_the_largest_bulk_send_fits_under_the_default_limit(app):
    recipients = [
        {
            "whatsapp": f"+62812{i:08d}",
            "data": {
                "customer_name": "Budi Santoso Wijaya",
                "invoice_number": f"INV-2026-{i:06d}",
                "amount": "150.000",
                "due_date": "10 Desember 2026",
            },
            "email": f"pelanggan{i}@contoh-isp.co.id",
        }
        for i in range(bulk.MAX_RECIPIENTS)
    ]
    body = json.dumps({"template": "new_invoice", "recipients": recipients}).encode()
    assert len(body) < app.config["MAX_CONTENT_LENGTH"] / 2, len(body)
