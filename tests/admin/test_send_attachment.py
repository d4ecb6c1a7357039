"""The Pesan page's send form takes an attachment: an image or a document, the text its caption;
a file that is not what it says is a form error in Indonesian, keeping what was typed."""

from __future__ import annotations

import hashlib
import io
import re

from PIL import Image

from webapp.extensions import db
from webapp.models import WhatsAppMessage


def send(client, **fields):
    return client.post(
        "/admin/messages/send",
        data={"csrf_token": client.csrf, **fields},
        content_type="multipart/form-data",
    )


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "yellow").save(buffer, "PNG")
    return buffer.getvalue()


def _message(app, phone: str) -> WhatsAppMessage:
    with app.app_context():
        return db.session.scalar(db.select(WhatsAppMessage).filter_by(to_number=phone))


def test_the_form_has_an_attachment_field_in_indonesian(logged_in):
    page = logged_in.get("/admin/messages").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page
    assert 'type="file" name="attachment"' in page and "Lampiran (gambar atau dokumen)" in page


def test_an_image_is_sent_with_the_text_as_its_caption(app, logged_in):
    png = _png()
    r = send(logged_in, to="081234567801", text="QRIS pembayaran",
             attachment=(io.BytesIO(png), "qris.png", "image/png"))  # fmt: skip
    assert r.status_code == 302, r.get_data(as_text=True)
    message = _message(app, "6281234567801")
    assert (message.content, message.media_type, message.render_mode) == (
        "QRIS pembayaran", "image", "media")  # fmt: skip
    assert message.media_sha256 == hashlib.sha256(png).hexdigest()


def test_a_document_keeps_its_name_and_needs_no_text(app, logged_in):
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n"
    r = send(logged_in, to="081234567802", text="",
             attachment=(io.BytesIO(pdf), "tagihan-INV-9.pdf", "application/pdf"))  # fmt: skip
    assert r.status_code == 302, r.get_data(as_text=True)
    message = _message(app, "6281234567802")
    assert (message.media_type, message.media_file_name, message.media_mimetype) == (
        "document", "tagihan-INV-9.pdf", "application/pdf")  # fmt: skip


def test_a_page_sent_as_an_image_is_a_form_error_keeping_the_text(app, logged_in):
    page_bytes = io.BytesIO(b"<html><body>x</body></html>")
    r = send(logged_in, to="081234567803", text="Struk",
             attachment=(page_bytes, "struk.png", "image/png"))  # fmt: skip
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    error = r'<span class="field-error" role="alert">berkas ini bukan gambar'
    assert re.search(r'name="attachment"[^>]*>\s*<span class="muted">[^<]*</span>\s*' + error,
                     page), page  # fmt: skip
    assert ">Struk</textarea>" in page
    assert _message(app, "6281234567803") is None
