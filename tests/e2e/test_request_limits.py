"""A 300 MB request to the web process as honcho.Procfile runs it (gunicorn) is refused before
it is read: the answer (413) comes while the client is still sending, and the workers' memory
stays flat. Before the limit, one such request took a worker to 699 MB."""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import Processes
from tests.e2e.test_mpwa_e2e import _free_port
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MB = 1024 * 1024
TOTAL = 300 * MB


@pytest.fixture
def web(app, tmp_path):
    """The Procfile's web line (gunicorn, 2 workers x 4 threads) on a free port."""
    (command,) = [
        line.split(":", 1)[1].strip()
        for line in (ROOT / "honcho.Procfile").read_text().splitlines()
        if line.startswith("web:")
    ]
    port = _free_port()
    procs = Processes(tmp_path)
    proc = procs.start(
        "web",
        "bash",
        "-c",
        command,
        PORT=str(port),
        KABAR_BIND="127.0.0.1",
        PATH=f"{BIN}:/usr/bin:/bin",
    )

    def healthy():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    wait_for(healthy, timeout=60)
    yield port, proc.pid
    procs.stop_all()


def _peak_rss_mb(group: int) -> float:
    """The sum of the high-water marks (VmHWM) of every process of the web's process group."""
    total_kb = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != group:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total_kb / 1024


def _stream(
    port: int, path: str, *, chunked: bool, key: str | None = None
) -> tuple[int, dict | str, int]:
    """Send a 300 MB body in 1 MB pieces, stopping as soon as an answer arrives; return its
    status, its body and how many bytes were sent by then."""
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/x-www-form-urlencoded",
    ]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {TOTAL}")
    if key:
        head.append(f"Authorization: Bearer {key}")
    piece = b"a" * MB
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            while sent < TOTAL and not select.select([sock], [], [], 0)[0]:
                sock.sendall(frame)
                sent += MB
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status = int(answer.split(b" ", 2)[1])
    body = answer.split(b"\r\n\r\n", 1)[1].decode(errors="replace")
    try:
        return status, json.loads(body), sent
    except ValueError:
        return status, body, sent


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_300_mb_body_is_refused_before_it_is_read(web):
    port, group = web
    before = _peak_rss_mb(group)
    for path in ("/send-message", "/api/whatsapp/send-bulk", "/admin/login"):
        status, body, sent = _stream(port, path, chunked=False)
        assert status == (400 if path == "/send-message" else 413), (path, body)  # MPWA: 400
        assert sent <= 16 * MB, f"{path}: {sent // MB} MB were sent before the answer"
        if path == "/send-message":
            assert body["status"] is False and body["field"] == "body"
        elif path.startswith("/api/"):
            assert body["error"]["code"] == "payload_too_large"
        else:
            assert "MB" in body
    grown = _peak_rss_mb(group) - before
    print(f"announced 300 MB bodies: workers' peak memory grew {grown:.1f} MB")
    assert grown < 20


def test_a_300_mb_body_without_a_length_is_cut_off_at_the_limit(web, api_key):
    """Chunked: MPWA with no key in the URL must read the body to find the key, and the API
    reads it once the key is checked; neither reads past 32 MB."""
    port, group = web
    before = _peak_rss_mb(group)
    for path, key in (("/send-message", None), ("/api/whatsapp/send-bulk", api_key)):
        status, body, sent = _stream(port, path, chunked=True, key=key)
        assert status == (400 if path == "/send-message" else 413), (path, sent // MB, body)
        assert sent <= 64 * MB, f"{path}: {sent // MB} MB were sent before the answer"
        if key:
            assert body["error"]["code"] == "payload_too_large"
        grown = _peak_rss_mb(group) - before
        print(f"chunked 300 MB body to {path}: {sent // MB} MB sent, peak memory +{grown:.1f} MB")
    assert grown < 150
