"""Fetching a message's attachment from its URL (workers.pipeline.attachments.fetch) against a real
local web server: the time-out bounds the whole fetch, however slowly a server answers, and
the address policy holds at connect time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webapp import settings
from workers.pipeline.attachments import FetchFailed, fetch

PDF = b"%PDF-1.4\n% invoice\n%%EOF\n"
DRIP_S = 0.2  # between two bytes of a dripping answer
DRIPS = 50  # 10 s of dripping: far past the 1 s time-out of these tests


class SlowServer(BaseHTTPRequestHandler):
    """Answers at once, or drips its headers or its body a byte at a time: every read gets
    a byte well within the time-out, and the whole answer takes ten times as long."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's name
        try:
            if self.path == "/drip-headers.pdf":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for i in range(DRIPS):
                    self.wfile.write(f"X-Wait-{i}: {i}\r\n".encode())
                    self.wfile.flush()
                    time.sleep(DRIP_S)
                self._headers(len(PDF))
                self.wfile.write(PDF)
            elif self.path == "/drip-body.pdf":
                body = PDF + b"0" * (DRIPS - len(PDF))
                self.send_response(200)
                self._headers(len(body))
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(DRIP_S)
            else:
                self.send_response(200)
                self._headers(len(PDF))
                self.wfile.write(PDF)
        except OSError:
            pass  # Kabar hung up

    def _headers(self, length: int) -> None:
        self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, *args):
        pass


@contextmanager
def slow_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowServer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ctx(app, monkeypatch):
    monkeypatch.setitem(app.config, "MEDIA_FETCH_TIMEOUT_S", 1.0)
    with app.app_context():
        settings.save({"media_allow_private": True})
        yield


@pytest.mark.usefixtures("ctx")
def test_a_file_served_at_once_is_fetched():
    with slow_server() as base:
        assert fetch(f"{base}/invoice.pdf") == PDF


@pytest.mark.usefixtures("ctx")
@pytest.mark.parametrize("path", ["/drip-headers.pdf", "/drip-body.pdf"])
def test_a_server_dripping_its_answer_is_given_up_on_at_the_time_out(path):
    """Each read gets a byte within the time-out: only a deadline for the whole fetch ends it,
    so a slow server cannot hold a sending worker for as long as it likes."""
    with slow_server() as base, pytest.raises(FetchFailed) as failed:
        fetch(base + path)
    assert str(failed.value) == "the media URL did not answer within 1 s"


@pytest.mark.usefixtures("ctx")
def test_a_name_resolving_to_the_metadata_service_is_never_connected_to(monkeypatch):
    resolve, asked = socket.getaddrinfo, []

    def rebinding_dns(host, port, *args, **kwargs):
        if host != "files.example":
            return resolve(host, port, *args, **kwargs)
        asked.append(host)
        return resolve("169.254.169.254", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    with pytest.raises(FetchFailed) as failed:
        fetch("http://files.example/qris.png")
    assert str(failed.value).startswith("Kabar does not fetch media from files.example")
    assert asked == ["files.example"]  # resolved once, at connect time
