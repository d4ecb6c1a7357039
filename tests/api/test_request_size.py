"""Bodies over the limit are refused with 413 before anything parses them, in the shape each
caller reads; the largest legitimate body, a 50,000-recipient bulk send, fits."""

from __future__ import annotations

import json

import pytest

from webapp.intake import bulk, templates

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
    assert r.status_code == 400  # MPWA answers every refusal 400
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


def test_mpwa_refuses_a_large_body_without_a_key_before_decoding_it(client):
    # 600 KB of JSON and no api_key anywhere: decoding it would cost a stranger nothing and the
    # worker tens of MB; an MPWA call is a few fields and one message, far smaller.
    body = b"[" + b"{}," * 200_000 + b"{}]"
    r = client.post("/send-message", data=body, content_type="application/json")
    assert r.status_code == 400, r.get_json()
    assert r.get_json() == {
        "status": False,
        "field": "body",
        "msg": "body: the request body is larger than 128 KB",
    }


@pytest.mark.parametrize("as_json", [True, False])
def test_mpwa_takes_the_longest_message_a_billing_app_can_post(client, api_key, as_json):
    text = "Tagihan 😀 " + "😀" * (templates.MAX_LENGTH - 10)  # escaped to 12 bytes each
    fields = {"api_key": api_key, "number": "081234567890", "message": text}
    r = (
        client.post("/send-message", json=fields)
        if as_json
        else client.post("/send-message", data=fields)
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] is True
