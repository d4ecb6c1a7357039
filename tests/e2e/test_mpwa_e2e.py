"""A billing app pointed at Kabar's MPWA-compatible URL: the exact request PHPNuxBill sends reaches
the simulated phone through every real process, and the API key in that URL never reaches the
request logs of gunicorn (as honcho.Procfile runs it) or of the dev server."""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.api.test_mpwa import php_urlencode
from tests.e2e.conftest import Processes
from tests.e2e.helpers import link_numbers
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# PHPNuxBill: Settings -> WhatsApp Notification -> "WhatsApp Server URL".
WA_URL = "http://kabar.local:5000/send-message?api_key={key}&sender={sender}&number=[number]&message=[text]"
INVOICE = (
    "*INVOICE INV-2026-0042*\n"
    "Nama: Budi & Sari\n"
    "Paket: Home 10 Mbps / 30 hari\n"
    "Harga: Rp 150.000 (+PPN 11%)\n"
    "Terima kasih 🙏"
)


def phone_format(phone: str, country_code: str = "62") -> str:
    """PHPNuxBill's Lang::phoneFormat: a leading 0 becomes the configured country code."""
    return country_code + phone[1:] if phone.isdigit() and phone.startswith("0") else phone


def phpnuxbill_request(key: str, phone: str, text: str, sender: str = "any") -> str:
    """Message::sendWhatsapp: [number] and [text] replaced, urlencoded, then fetched by GET."""
    url = WA_URL.format(key=key, sender=sender)
    url = url.replace("[number]", php_urlencode(phone_format(phone)))
    return url.replace("[text]", php_urlencode(text))


def _status(client, auth, message_id):
    return client.get(f"/api/whatsapp/message/{message_id}/status", headers=auth).get_json()


def _inbox(client, auth, phone):
    return client.get(f"/api/whatsapp/simulator/inbox/{phone}", headers=auth).get_json()["messages"]


def test_phpnuxbill_get_is_delivered_to_the_phone(client, auth, api_key, kabar_processes):
    (session_id,) = link_numbers(client, auth, 1, interval_ms=200)

    r = client.get(phpnuxbill_request(api_key, "081234567890", INVOICE))
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["status"] is True, body
    message_id = body["data"]["id"]

    delivered = wait_for(
        lambda: (s := _status(client, auth, message_id))["status"] in ("delivered", "read") and s
    )
    assert delivered["sessionId"] == session_id
    (received,) = wait_for(lambda: _inbox(client, auth, "6281234567890"))
    assert received["text"] == INVOICE
    assert received["sessionId"] == session_id


def test_a_named_sender_sends_from_that_number(client, auth, api_key, kabar_processes):
    link_numbers(client, auth, 2, interval_ms=200)
    sessions = client.get("/api/whatsapp/sessions", headers=auth).get_json()["sessions"]
    second = next(s for s in sessions if not s["isPrimary"])

    r = client.post(
        "/send-message",
        json={
            "api_key": api_key,
            "sender": second["phoneNumber"],
            "number": "081234567891",
            "message": "Pembayaran diterima",
            "footer": "— ISP Kita",
        },
    )
    assert r.status_code == 200 and r.get_json()["status"] is True, r.get_json()
    message_id = r.get_json()["data"]["id"]

    sent = wait_for(lambda: (s := _status(client, auth, message_id))["sentAt"] and s)
    assert sent["sessionId"] == second["id"]
    (received,) = wait_for(lambda: _inbox(client, auth, "6281234567891"))
    assert received["text"] == "Pembayaran diterima\n\n> _— ISP Kita_"
    assert received["sessionId"] == second["id"]


# The key never reaches the request logs -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, dict | None]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except OSError:
        return 0, None


def _send_and_read_log(procs: Processes, name: str, port: int, api_key: str) -> str:
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _get(f"{base}/healthz")[0] == 200, timeout=30)
    status, body = _get(
        base + phpnuxbill_request(api_key, "081234567890", INVOICE).split("kabar.local:5000")[1]
    )
    assert status == 200 and body["status"] is True, body
    status, body = _get(f"{base}/send-message?api_key=kbr_wrong-key&number=0812&message=x")
    assert status == 400 and body["field"] == "api_key", body
    log_file = procs.log_dir / f"{name}.log"
    return wait_for(
        lambda: (text := log_file.read_text(errors="replace")).count("/send-message?") >= 2 and text
    )


def test_gunicorn_access_log_of_the_procfile_hides_the_key(app, api_key, tmp_path):
    (web,) = [
        line.split(":", 1)[1].strip()
        for line in (ROOT / "honcho.Procfile").read_text().splitlines()
        if line.startswith("web:")
    ]
    port = _free_port()
    procs = Processes(tmp_path)
    procs.start(
        "web",
        "bash",
        "-c",
        web,
        PORT=str(port),
        KABAR_BIND="127.0.0.1",
        PATH=f"{BIN}:/usr/bin:/bin",
        PYTHONUNBUFFERED="1",
    )
    try:
        log = _send_and_read_log(procs, "web", port, api_key)
    finally:
        procs.stop_all()
    assert api_key not in log and "kbr_wrong-key" not in log
    assert "GET /send-message?api_key=[redacted]&sender=[masked]&number=[masked]" in log
    assert "81234567890" not in log and "INV-2026-0042" not in log


def test_dev_server_log_hides_the_key(app, api_key, tmp_path):
    port = _free_port()
    procs = Processes(tmp_path)
    procs.start(
        "dev",
        str(BIN / "flask"),
        "--app",
        "webapp",
        "run",
        "--port",
        str(port),
        PYTHONUNBUFFERED="1",
    )
    try:
        log = _send_and_read_log(procs, "dev", port, api_key)
    finally:
        procs.stop_all()
    assert api_key not in log and "kbr_wrong-key" not in log
    assert "GET /send-message?api_key=[redacted]&sender=[masked]&number=[masked]" in log
    assert "81234567890" not in log and "INV-2026-0042" not in log
