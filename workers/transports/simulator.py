"""The simulator: a fake WhatsApp network, part of the product.

Every simulated phone has an inbox kept in Redis, so any process (the session host that sends,
the web app that shows it, a test) sees the same network. A simulator session shows a QR until it
is "scanned" (``simulate("scan")``), then sends into recipients' inboxes and reports delivered and
read receipts after configurable delays, as a real phone would.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import redis

from workers import settings
from workers.transports.base import NotConnected, SendResult, Transport, TransportError

log = logging.getLogger(__name__)

INBOX_KEY = "kabar:sim:inbox:{phone}"
INBOX_LIMIT = 10_000


def phone_of(jid: str) -> str:
    """The digits of a JID's user part: "6281234567890@s.whatsapp.net" -> "6281234567890"."""
    return jid.split("@", 1)[0].split(":", 1)[0]


class SimulatedNetwork:
    """The inboxes of the simulated phones, shared by every process through Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def deliver(self, to_phone: str, entry: Mapping[str, Any]) -> None:
        key = INBOX_KEY.format(phone=to_phone)
        pipe = self.redis.pipeline()
        pipe.rpush(key, json.dumps(dict(entry)))
        pipe.ltrim(key, -INBOX_LIMIT, -1)
        pipe.execute()

    def inbox(self, phone: str) -> list[dict[str, Any]]:
        """What ``phone`` received, oldest first."""
        return [json.loads(raw) for raw in self.redis.lrange(INBOX_KEY.format(phone=phone), 0, -1)]


def _iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SimulatorTransport(Transport):
    """A linked device on the simulated network.

    Options: ``delivered_after`` and ``read_after`` (seconds after the send; ``read_after`` < 0
    means the recipient never reads), ``qr_ttl`` (seconds a QR stays valid), ``redis`` (a client;
    by default one for REDIS_URL).
    """

    name = "simulator"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.network = SimulatedNetwork(
            self.options.get("redis") or redis.Redis.from_url(settings.REDIS_URL)
        )
        self.delivered_after = float(
            self.options.get("delivered_after", settings.SIM_DELIVERED_AFTER_S)
        )
        self.read_after = float(self.options.get("read_after", settings.SIM_READ_AFTER_S))
        self.qr_ttl = int(self.options.get("qr_ttl", settings.SIM_QR_TTL_S))
        self.phone: str | None = None
        self.connected = False
        self._lock = threading.Lock()
        self._timers: set[threading.Timer] = set()
        self._qr: str | None = None

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self.emit("status", status="connecting")
        blob = self.credentials.load()
        if blob:
            self.phone = json.loads(blob)["phone"]
            self._connect()
        else:
            self._show_qr()

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, set()
            self.connected = False
        for timer in timers:
            timer.cancel()

    def _show_qr(self) -> None:
        self._qr = f"KABAR-SIM:{self.session_id}:{secrets.token_urlsafe(16)}"
        self.emit("qr", code=self._qr, expires_at=time.time() + self.qr_ttl)

    def _connect(self) -> None:
        with self._lock:
            self.connected = True
        self.emit("status", status="connected", phone=self.phone)

    # simulator controls ----------------------------------------------------------------------

    def simulate(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if action == "scan":
            return self._scan(params.get("phone"))
        raise TransportError(f"unknown simulator action {action!r}", code="bad_request")

    def _scan(self, phone: str | None) -> dict[str, Any]:
        """Pair as if a phone had scanned the QR; ``phone`` defaults to a virtual number."""
        if self.connected:
            return {"phone": self.phone, "status": "connected"}
        self.phone = phone or "62899" + "".join(secrets.choice("0123456789") for _ in range(8))
        self.credentials.save(json.dumps({"phone": self.phone}).encode())
        self.emit("paired", phone=self.phone)
        self._connect()
        return {"phone": self.phone, "status": "connected"}

    # sending ---------------------------------------------------------------------------------

    def send_text(self, jid: str, text: str, wa_message_id: str) -> SendResult:
        if not self.connected:
            raise NotConnected(f"simulator session {self.session_id} is not connected")
        now = time.time()
        self.network.deliver(
            phone_of(jid),
            {
                "messageId": wa_message_id,
                "sessionId": self.session_id,
                "from": self.phone,
                "text": text,
                "receivedAt": _iso_ms(now),
            },
        )
        self._later(self.delivered_after, wa_message_id, "delivered")
        if self.read_after >= 0:
            self._later(max(self.read_after, self.delivered_after), wa_message_id, "read")
        return SendResult(wa_message_id=wa_message_id, sent_at=now)

    def _later(self, delay: float, wa_message_id: str, status: str) -> None:
        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            self.emit("receipt", wa_message_id=wa_message_id, status=status, at=time.time())

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()
