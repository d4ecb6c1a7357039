"""Files through the billing dialects, end to end: a local HTTP server serves a PNG and a PDF;
MPWA's /send-media (to two numbers at once) and Fonnte's /send with ``url`` each put the served
bytes (by sha256), the caption and the file's name in every simulated phone's inbox, once."""

from __future__ import annotations

import hashlib
import struct
import threading
import zlib
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.helpers import inboxes, link_numbers, phone
from tests.polling import wait_for


def _png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def files(tmp_path, private_media):
    """An HTTP server on localhost serving qris.png and invoice.pdf; yields (base, sha256s)."""
    (tmp_path / "qris.png").write_bytes(_png())
    (tmp_path / "invoice.pdf").write_bytes(PDF)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    digests = {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
               for name in ("qris.png", "invoice.pdf")}  # fmt: skip
    yield f"http://127.0.0.1:{server.server_port}", digests
    server.shutdown()


def _media_inboxes(redis_client, numbers):
    return wait_for(
        lambda: (b := inboxes(redis_client, numbers)) and all(b.values()) and b, timeout=60
    )


def test_mpwa_send_media_reaches_each_number_with_the_served_bytes(
    client, auth, api_key, redis_client, kabar_processes, files
):
    base, digests = files
    link_numbers(client, auth, 1, interval_ms=100)
    for media_type, name, numbers in (
        ("image", "qris.png", (1, 2)),
        ("document", "invoice.pdf", (3, 4)),
    ):
        r = client.post(
            "/send-media",
            data={
                "api_key": api_key,
                "number": "|".join(phone(n) for n in numbers),
                "media_type": media_type,
                "url": f"{base}/{name}",
                "caption": f"Berkas {name}",
            },
        )
        assert r.status_code == 200 and r.get_json()["status"] is True, r.get_json()
        for n, (received,) in _media_inboxes(redis_client, numbers).items():
            assert received["media"]["sha256"] == digests[name], n
            assert received["media"]["caption"] == f"Berkas {name}"
            assert received["media"]["type"] == media_type
            if media_type == "document":
                assert received["media"]["fileName"] == name


def test_mpwa_video_goes_as_a_document_keeping_its_name(
    client, auth, api_key, redis_client, kabar_processes, files
):
    base, digests = files
    link_numbers(client, auth, 1, interval_ms=100)
    r = client.get(
        f"/send-media?api_key={api_key}&number={phone(5)}&media_type=video&url={base}/invoice.pdf"
    )
    assert r.get_json()["status"] is True, r.get_json()
    ((received,),) = _media_inboxes(redis_client, (5,)).values()
    assert received["media"]["type"] == "document"
    assert received["media"]["fileName"] == "invoice.pdf"
    assert received["media"]["sha256"] == digests["invoice.pdf"]


def test_fonnte_url_reaches_each_target_with_the_served_bytes(
    client, auth, api_key, redis_client, kabar_processes, files
):
    base, digests = files
    link_numbers(client, auth, 1, interval_ms=100)
    r = client.post(
        "/send",
        headers={"Authorization": api_key},
        data={
            "target": f"{phone(6)}|Budi,{phone(7)}|Sari",
            "message": "Invoice untuk {name}",
            "url": f"{base}/invoice.pdf",
            "filename": "Invoice Desember.pdf",
        },
    )
    assert r.get_json()["status"] is True, r.get_json()
    boxes = _media_inboxes(redis_client, (6, 7))
    for n, who in ((6, "Budi"), (7, "Sari")):
        (received,) = boxes[n]
        assert received["media"]["sha256"] == digests["invoice.pdf"]
        assert received["media"]["fileName"] == "Invoice Desember.pdf"
        assert received["media"]["caption"] == f"Invoice untuk {who}"
