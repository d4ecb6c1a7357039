"""Images and documents through every real process: a local web server (the operator's billing
app) serves a QRIS PNG and invoice PDFs; Kabar fetches them itself, and each simulated phone
receives the exact bytes, once, with the caption. What cannot be fetched fails that message with
the reason before any number is spent: nothing reaches the phone and no daily cap is taken."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from tests.e2e.helpers import inboxes, link_numbers, phone
from tests.polling import settled, wait_for
from webapp import settings
from webapp.extensions import db
from webapp.models import IncomingMessage, MediaFile, WhatsAppSession
from workers.pipeline import routing


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 120), "white").save(buffer, "PNG")
    return buffer.getvalue()


def _pdf(invoice: str) -> bytes:
    return f"%PDF-1.4\n% invoice {invoice}\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".encode()


PNG = _png()
BIG = 20 * 1024 * 1024  # past the default cap of 16 MB


class BillingApp(BaseHTTPRequestHandler):
    """What an ISP's billing app on the LAN serves."""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.paths.append(self.path)
        if self.path == "/qris.png":
            self._answer(200, "image/png", PNG)
        elif self.path.startswith("/invoice/") and self.path.endswith(".pdf"):
            self._answer(200, "application/pdf", _pdf(self.path[len("/invoice/") : -4]))
        elif self.path == "/big.pdf":
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.end_headers()  # no Content-Length: the cap must stop the reading itself
            chunk = b"%PDF-" + b"0" * (1024 * 1024 - 5)
            try:
                for _ in range(BIG // len(chunk)):
                    self.wfile.write(chunk)
            except OSError:
                pass  # Kabar hung up once past its cap
        elif self.path == "/login.html":
            self._answer(200, "image/png", b"<!DOCTYPE html><html><body>Login</body></html>")
        elif self.path == "/moved.png":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
        else:
            self._answer(404, "text/plain", b"not found")

    def _answer(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def billing_app(app):
    """The billing app's server on 127.0.0.1 (so Kabar is allowed private addresses)."""
    with app.app_context():
        settings.save({"media_allow_private": True})
    server = ThreadingHTTPServer(("127.0.0.1", 0), BillingApp)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _status(client, auth, message_id):
    return client.get(f"/api/whatsapp/message/{message_id}/status", headers=auth).get_json()


def _inbox(client, auth, number):
    return client.get(f"/api/whatsapp/simulator/inbox/{number}", headers=auth).get_json()[
        "messages"
    ]


def _send(client, auth, to, **body):
    r = client.post("/api/whatsapp/send", headers=auth, json={"to": to, **body})
    assert r.status_code == 202, r.get_json()
    return r.get_json()["id"]


def _bulk(client, auth, template, data_by_number):
    """Save ``template`` and send it in one bulk to the phones ``data_by_number`` names."""
    r = client.post("/api/whatsapp/templates", headers=auth, json=template)
    assert r.status_code == 201, r.get_json()
    recipients = [{"whatsapp": phone(n), "data": data} for n, data in data_by_number.items()]
    r = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        json={"recipients": recipients, "template": template["name"]},
    )
    assert r.status_code == 202 and r.get_json()["queued"] == len(recipients), r.get_json()


def _capped(client, auth, sid):
    """A daily cap, so that every send takes one of it (and a refused file must take none)."""
    r = client.patch(f"/api/whatsapp/sessions/{sid}", headers=auth, json={"dailyCap": 500})
    assert r.status_code == 200, r.get_json()


def test_an_image_and_a_document_reach_the_phone_as_the_bytes_served(
    app, client, auth, billing_app, kabar_processes
):
    server, base = billing_app
    (sid,) = link_numbers(client, auth, 1, interval_ms=100)
    image_id = _send(
        client,
        auth,
        phone(1),
        text="QRIS Kabar Net",
        media={"url": f"{base}/qris.png", "type": "image"},
    )
    document_id = _send(
        client,
        auth,
        phone(2),
        text="Tagihan INV-7",
        media={
            "url": f"{base}/invoice/INV-7.pdf",
            "type": "document",
            "fileName": "tagihan-INV-7.pdf",
        },
    )
    pasted = base64.b64encode(PNG).decode()
    pasted_id = _send(client, auth, phone(3), media={"base64": pasted, "type": "image"})

    (image,) = wait_for(lambda: _inbox(client, auth, phone(1)))
    (document,) = wait_for(lambda: _inbox(client, auth, phone(2)))
    (pasted_entry,) = wait_for(lambda: _inbox(client, auth, phone(3)))
    assert image["media"] == {
        "type": "image",
        "mimetype": "image/png",
        "size": len(PNG),
        "sha256": hashlib.sha256(PNG).hexdigest(),
        "fileName": None,
        "caption": "QRIS Kabar Net",
    }
    assert image["text"] == "QRIS Kabar Net" and image["sessionId"] == sid
    pdf = _pdf("INV-7")
    assert document["media"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert document["media"]["mimetype"] == "application/pdf"
    assert document["media"]["fileName"] == "tagihan-INV-7.pdf"
    assert document["media"]["caption"] == "Tagihan INV-7"
    assert pasted_entry["media"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert pasted_entry["media"]["caption"] == ""

    shown = wait_for(lambda: (s := _status(client, auth, image_id))["status"] != "queued" and s)
    assert shown["renderMode"] == "media"
    assert shown["media"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert _status(client, auth, document_id)["media"]["type"] == "document"
    assert _status(client, auth, pasted_id)["media"]["url"] is None
    with app.app_context():  # the URL's PNG and the pasted one are the same bytes: stored once
        assert db.session.scalar(db.select(db.func.count()).select_from(MediaFile)) == 2
    assert sorted(server.paths) == ["/invoice/INV-7.pdf", "/qris.png"]  # each fetched once


def test_a_media_template_sends_each_customer_their_own_invoice_in_a_bulk(
    app, client, auth, redis_client, billing_app, kabar_processes
):
    server, base = billing_app
    link_numbers(client, auth, 2, interval_ms=100)
    template = {
        "name": "invoice_pdf",
        "type": "media",
        "mediaType": "document",
        "content": "Halo {{name}}, tagihan {{invoice}} terlampir.",
        "mediaUrl": base + "/invoice/{{invoice}}.pdf",
        "fileName": "tagihan-{{invoice}}.pdf",
    }
    numbers = range(100, 120)
    _bulk(
        client,
        auth,
        template,
        {n: {"name": f"Pelanggan {n - 100}", "invoice": f"INV-{n - 100}"} for n in numbers},
    )
    wait_for(lambda: all(inboxes(redis_client, numbers).values()), timeout=60)
    boxes = settled(lambda: inboxes(redis_client, numbers))
    for n, inbox in ((n - 100, box) for n, box in boxes.items()):
        (entry,) = inbox  # exactly once
        assert entry["media"]["sha256"] == hashlib.sha256(_pdf(f"INV-{n}")).hexdigest()
        assert entry["media"]["caption"] == f"Halo Pelanggan {n}, tagihan INV-{n} terlampir."
        assert entry["media"]["fileName"] == f"tagihan-INV-{n}.pdf"
    assert sorted(server.paths) == sorted(f"/invoice/INV-{n}.pdf" for n in range(20))


def test_a_shared_image_of_a_bulk_is_fetched_and_stored_once(
    app, client, auth, redis_client, billing_app, kabar_processes
):
    server, base = billing_app
    link_numbers(client, auth, 1, interval_ms=100)
    template = {
        "name": "promo_qris",
        "type": "media",
        "content": "Bayar pakai QRIS, {{name}}",
        "mediaUrl": base + "/qris.png",
    }
    numbers = range(200, 220)
    _bulk(client, auth, template, {n: {"name": f"P{n}"} for n in numbers})
    wait_for(lambda: all(inboxes(redis_client, numbers).values()), timeout=60)
    for inbox in settled(lambda: inboxes(redis_client, numbers)).values():
        (entry,) = inbox
        assert entry["media"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(MediaFile)) == 1
    # Fetched once per batch of sends (a URL's file may change between batches), never per row.
    assert set(server.paths) == {"/qris.png"} and len(server.paths) < 20


@pytest.mark.parametrize(
    ("media", "reason"),
    [
        (
            {"url": "http://169.254.169.254/latest/meta-data/", "type": "image"},
            "Kabar does not fetch media from 169.254.169.254",
        ),
        ({"url": "{base}/nothing.png", "type": "image"}, "the media URL answered HTTP 404"),
        ({"url": "{base}/big.pdf", "type": "document"}, "the file has more than 16 MB"),
        ({"url": "{base}/login.html", "type": "image"}, "is not a JPEG, PNG or WebP image"),
        ({"url": "{base}/moved.png", "type": "image"}, "redirect (HTTP 302)"),
    ],
    ids=["metadata", "404", "20MB", "html-as-image", "redirect-to-metadata"],
)
def test_what_cannot_be_fetched_fails_that_message_and_nothing_is_sent(
    app, client, auth, billing_app, kabar_processes, media, reason
):
    server, base = billing_app
    (sid,) = link_numbers(client, auth, 1, interval_ms=100)
    _capped(client, auth, sid)
    url = media["url"].format(base=base)
    message_id = _send(client, auth, phone(9), text="Tagihan", media={**media, "url": url})

    failed = wait_for(
        lambda: (s := _status(client, auth, message_id))["status"] == "failed" and s, timeout=30
    )
    assert reason in failed["error"]
    assert failed["sessionId"] is None and failed["sentAt"] is None
    assert _inbox(client, auth, phone(9)) == []
    with app.app_context():
        assert routing.sent_today(sid) == 0  # no daily cap taken
        session = db.session.scalar(db.select(WhatsAppSession).filter_by(session_id=sid))
        assert session.message_count == 0 and session.error_count == 0
    # A text to the same number right after goes out at once: the number was never rested.
    text_id = _send(client, auth, phone(9), text="Tagihan tanpa lampiran")
    wait_for(lambda: _status(client, auth, text_id)["status"] in ("sent", "delivered", "read"))
    (entry,) = wait_for(lambda: _inbox(client, auth, phone(9)))
    assert "media" not in entry


def test_a_customers_payment_screenshot_is_stored_with_its_type_and_caption(
    app, client, auth, kabar_processes
):
    (sid,) = link_numbers(client, auth, 1, interval_ms=100)
    r = client.post(
        f"/api/whatsapp/sessions/{sid}/simulator/incoming",
        headers=auth,
        json={"from": phone(42), "text": "Sudah transfer ya", "mediaType": "image"},
    )
    assert r.status_code == 200, r.get_json()

    def stored():
        with app.app_context():
            row = db.session.scalar(db.select(IncomingMessage).filter_by(from_phone=phone(42)))
            return row and (row.media_type, row.text, row.session_id)

    assert wait_for(stored) == ("image", "Sudah transfer ya", sid)
