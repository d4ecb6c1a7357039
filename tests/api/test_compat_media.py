"""Files sent through the billing dialects (MPWA's /send-media, Fonnte's ``url``) become media
messages: one row per recipient, the file's address and kind on it, the caption its text."""

from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.models import WhatsAppMessage


def _stored(app, message_id) -> WhatsAppMessage:
    with app.app_context():
        message = db.session.get(WhatsAppMessage, int(message_id))
        db.session.expunge(message)
        return message


@pytest.mark.parametrize("media_type", ["image", "document", "video", "audio"])
def test_mpwa_send_media_queues_a_media_message_per_recipient(app, client, api_key, media_type):
    url = "https://isp.example/files/Invoice%20INV-42.pdf"
    r = client.post(
        "/send-media",
        data={
            "api_key": api_key,
            "number": "081234567890|081234567891",
            "media_type": media_type,
            "url": url,
            "caption": "Tagihan Anda",
            "footer": "ISP Kita",
        },
    )
    assert r.status_code == 200 and r.get_json()["status"] is True, r.get_json()
    sent = r.get_json()["data"]["messages"]
    assert [m["to"] for m in sent] == ["6281234567890", "6281234567891"]
    for m in sent:
        stored = _stored(app, m["id"])
        assert stored.render_mode == "media" and stored.media_url == url
        assert stored.content == "Tagihan Anda\n\n> _ISP Kita_"


def test_mpwa_send_media_without_a_caption(app, client, api_key):
    r = client.get(
        f"/send-media?api_key={api_key}&number=081234567890&media_type=image"
        "&url=https://isp.example/qris.png"
    )
    assert r.status_code == 200 and r.get_json()["status"] is True, r.get_json()


def test_fonnte_url_sends_the_file_with_the_message_as_caption(app, client, api_key):
    r = client.post(
        "/send",
        headers={"Authorization": api_key},
        data={
            "target": "081234567890",
            "message": "Voucher hotspot Anda",
            "url": "https://isp.example/voucher.png",
        },
    )
    body = r.get_json()
    assert body["status"] is True, body
    stored = _stored(app, body["id"][0])
    assert stored.render_mode == "media" and stored.media_url == "https://isp.example/voucher.png"
    assert stored.content == "Voucher hotspot Anda"
