"""POST /api/whatsapp/send with media: bad attachments are refused naming ``media.<key>`` and
nothing is queued; good ones are stored once per content and described on the message."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from webapp import settings
from webapp.core.errors import MediaInvalid
from webapp.extensions import db
from webapp.intake import messages
from webapp.models import MediaFile, WhatsAppMessage
from workers.pipeline import attachments, retention

QUEUE_MESSAGES = "dramatiq:urgent.msgs"


def _png(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, "PNG")
    return buffer.getvalue()


def _huge_png() -> bytes:
    """A few bytes claiming 30000 x 30000 pixels: opening it would decode 2.7 GB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 10))
        + chunk(b"IEND", b"")
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _send(client, auth, **body):
    return client.post("/api/whatsapp/send", headers=auth, json={"to": "081234567890", **body})


@pytest.fixture
def nothing_queued(app, redis_client):
    yield
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(WhatsAppMessage.id))) == 0
        assert db.session.scalar(db.select(db.func.count()).select_from(MediaFile)) == 0
    assert redis_client.hlen(QUEUE_MESSAGES) == 0


@pytest.mark.usefixtures("nothing_queued")
@pytest.mark.parametrize(
    ("media", "field", "words"),
    [
        ({"url": "https://x.example/a.png"}, "media.type", "Missing data"),
        ({"url": "https://x.example/a.png", "type": "video"}, "media.type", "Must be one of"),
        ({"type": "image"}, "media.url", "give either url or base64"),
        (
            {"type": "image", "url": "https://x.example/a.png", "base64": b64(_png())},
            "media.url",
            "give either url or base64",
        ),
        ({"type": "image", "url": "ftp://x.example/a.png"}, "media.url", "http:// or https://"),
        ({"type": "image", "url": "https:///nohost"}, "media.url", "http:// or https://"),
        ({"type": "image", "base64": "not base64!"}, "media.base64", "not valid base64"),
        (
            {"type": "image", "base64": b64(b"<html><body>login</body></html>")},
            "media.base64",
            "not a JPEG, PNG or WebP image (it is text/html)",
        ),
        (
            {"type": "image", "base64": b64(_huge_png())},
            "media.base64",
            "the image has too many pixels to send",
        ),
        (
            {"type": "document", "base64": b64(b"<!DOCTYPE html><html></html>")},
            "media.base64",
            "an HTML page, not a document",
        ),
        (
            {"type": "document", "base64": b64(b"hello"), "mimetype": "application/pdf"},
            "media.base64",
            "not a PDF",
        ),
        (
            {"type": "document", "base64": b64(b"%PDF-1.4"), "mimetype": "pdf"},
            "media.mimetype",
            "MIME type",
        ),
        (
            {"type": "document", "base64": b64(b"%PDF-1.4"), "fileName": ""},
            "media.fileName",
            "Length must be between 1 and 255",
        ),
    ],
)
def test_a_bad_attachment_is_refused_naming_its_key(client, auth, media, field, words):
    r = _send(client, auth, text="Tagihan", media=media)
    assert r.status_code in (400, 422), r.get_data(as_text=True)
    error = r.get_json()["error"]
    assert error["field"] == field, error
    assert words in error["message"], error


@pytest.mark.usefixtures("nothing_queued")
def test_a_file_past_the_cap_is_refused(app, client, auth):
    with app.app_context():
        settings.save({"media_max_mb": 1})
    big = b"%PDF-1.4\n" + b"0" * (1024 * 1024)
    r = _send(client, auth, text="Tagihan", media={"type": "document", "base64": b64(big)})
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid_media", "media.base64")
    assert error["message"] == "the file has more than 1 MB, the most Kabar sends"


@pytest.mark.usefixtures("nothing_queued")
def test_a_message_needs_a_text_a_template_or_media(client, auth):
    r = _send(client, auth)
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "template"


def test_the_same_bytes_are_stored_once_and_described_on_each_message(app, client, auth):
    png = _png()
    first = _send(client, auth, text="QRIS", media={"type": "image", "base64": b64(png)})
    again = _send(
        client,
        auth,
        media={
            "type": "image",
            "base64": "data:image/png;base64," + b64(png),
            "mimetype": "image/gif",
        },
    )
    assert first.status_code == again.status_code == 202, again.get_json()

    status = client.get(first.get_json()["statusUrl"], headers=auth).get_json()
    assert status["renderMode"] == "media"
    assert status["media"] == {
        "type": "image",
        "url": None,
        "fileName": None,
        "sha256": hashlib.sha256(png).hexdigest(),
    }
    with app.app_context():
        (stored,) = db.session.scalars(db.select(MediaFile)).all()
        assert (stored.mimetype, stored.size, bytes(stored.data)) == ("image/png", len(png), png)
        row = db.session.get(WhatsAppMessage, again.get_json()["id"])
        assert (row.content, row.message_type, row.media_mimetype) == ("", "media", None)


def test_a_url_is_kept_for_the_worker_to_fetch(app, client, auth):
    r = _send(
        client,
        auth,
        text="Invoice",
        media={"type": "document", "fileName": "inv.pdf", "url": "https://billing.example/inv.pdf"},
    )
    assert r.status_code == 202, r.get_json()
    with app.app_context():
        row = db.session.get(WhatsAppMessage, r.get_json()["id"])
        assert (row.media_type, row.media_url, row.media_sha256) == (
            "document",
            "https://billing.example/inv.pdf",
            None,
        )
        assert (row.media_file_name, row.render_mode) == ("inv.pdf", "media")


def test_queue_message_refuses_bad_media_with_the_field(app):
    with app.app_context(), pytest.raises(MediaInvalid) as refused:
        messages.queue_message(
            "081234567890", text="x", media={"url": "https://a.b/c", "type": "gif"}
        )
    assert refused.value.field == "media.type"


def test_retention_deletes_media_no_message_refers_to(app, client, auth):
    kept, dropped = _png("red"), _png("blue")
    for png in (kept, dropped):
        assert (
            _send(client, auth, text="x", media={"type": "image", "base64": b64(png)}).status_code
            == 202
        )
    later = datetime.now(UTC) + timedelta(hours=2)
    with app.app_context():
        M = WhatsAppMessage
        db.session.execute(
            db.delete(M).where(M.media_sha256 == hashlib.sha256(dropped).hexdigest())
        )
        db.session.commit()
        assert retention.purge(later).media_files == 1
        (left,) = db.session.scalars(db.select(MediaFile.sha256)).all()
        assert left == hashlib.sha256(kept).hexdigest()
        # A file unused for less than the grace period is kept: a message may be being written.
        db.session.execute(db.delete(M))
        db.session.commit()
        assert retention.purge(datetime.now(UTC)).media_files == 0


@pytest.mark.usefixtures("nothing_queued")
def test_a_url_carrying_a_password_is_refused_without_repeating_it(client, auth):
    """urllib sends no credentials from a URL: such a fetch could only fail, with an error
    quoting the password (stored on the row, shown in the console, logged)."""
    url = "http://admin:s3cret-pw@billing.example/inv.pdf"
    r = _send(client, auth, text="Tagihan", media={"type": "document", "url": url})
    assert r.status_code == 422, r.get_json()
    error = r.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid_media", "media.url")
    assert "user name or password" in error["message"]
    assert "s3cret" not in r.get_data(as_text=True)


def test_the_worker_never_fetches_a_url_carrying_a_password(app):
    """A template's mediaUrl may carry one literally: refused when sent, never quoted."""
    with app.app_context(), pytest.raises(attachments.FetchFailed) as failed:
        attachments.fetch("http://admin:s3cret-pw@127.0.0.1/inv.pdf")
    assert "user name or password" in str(failed.value)
    assert "s3cret" not in str(failed.value)
