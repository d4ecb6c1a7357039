"""The simulator's network: the inboxes of the simulated phones and the faults of simulated
sessions, kept in Redis so that every process sees the same network.

The simulator transport (``workers.session_host.transports.simulator``) sends into it and obeys
its faults; the web app shows the inboxes, sets which numbers have WhatsApp and lists the faults
an operator may inject (``FAULTS``), without importing a transport.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import redis

INBOX_KEY = "kabar:sim:inbox:{phone}"
INBOX_LIMIT = 10_000
PRESENCE_KEY = "kabar:sim:presence:{phone}"
NOT_ON_WHATSAPP_KEY = "kabar:sim:not-on-whatsapp"
CHECKS_KEY = "kabar:sim:on-whatsapp-checks"
FAULTS_KEY = "kabar:sim:faults:{session_id}"
# Receipts the phones still owe a session: sorted set of JSON [wa_message_id, status] by the
# time (epoch ms) they are due. Kept in Redis, as a real phone keeps them, so a session host or
# client that restarts gets them once the session is back online.
RECEIPTS_KEY = "kabar:sim:receipts:{session_id}"
RECEIPTS_TTL_S = 7 * 24 * 3600
FAULTS_TTL_S = 7 * 24 * 3600

FAULTS = (
    "disconnect",
    "logged_out",
    "ban",
    "send_errors",
    "latency",
    "no_receipts",
    "qr_timeout",
    "passkey_required",
    "no_lid",
    "reach_out_463",
    "reach_out_479",
    "send_timeout",
    "clear",
)


def phone_of(jid: str) -> str:
    """The digits of a JID's user part: "6281234567890@s.whatsapp.net" -> "6281234567890"."""
    return jid.split("@", 1)[0].split(":", 1)[0]


class SimulatedNetwork:
    """The inboxes of the simulated phones and the faults of the simulated sessions, shared by
    every process through Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        # session id -> (monotonic time read, faults), for faults(..., max_age_s=...)
        self._read: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}

    def deliver(
        self,
        to_phone: str,
        entry: Mapping[str, Any],
        session_id: str | None = None,
        receipts: list[tuple[float, str, str]] = (),
    ) -> None:
        """Put ``entry`` in ``to_phone``'s inbox and, in the same round trip, the ``receipts``
        (due epoch seconds, WhatsApp id, status) that phone owes ``session_id``."""
        key = INBOX_KEY.format(phone=to_phone)
        pipe = self.redis.pipeline()
        pipe.rpush(key, json.dumps(dict(entry)))
        pipe.ltrim(key, -INBOX_LIMIT, -1)
        if receipts and session_id:
            owed = RECEIPTS_KEY.format(session_id=session_id)
            pipe.zadd(owed, {json.dumps([wa, status]): due * 1000 for due, wa, status in receipts})
            pipe.expire(owed, RECEIPTS_TTL_S)
        pipe.execute()

    def owed_receipts(self, session_id: str) -> list[tuple[float, str, str]]:
        """The receipts the phones still owe ``session_id``: (due epoch s, WhatsApp id, status)."""
        found = self.redis.zrange(
            RECEIPTS_KEY.format(session_id=session_id), 0, -1, withscores=True
        )
        return [(score / 1000, *json.loads(member)) for member, score in found]

    def receipts_sent(self, session_id: str, sent: list[tuple[str, str]]) -> None:
        if sent:
            members = [json.dumps([wa, status]) for wa, status in sent]
            self.redis.zrem(RECEIPTS_KEY.format(session_id=session_id), *members)

    def forget_receipts(self, session_id: str) -> None:
        """The device was unlinked: nothing it sent will be acknowledged to it any more."""
        self.redis.delete(RECEIPTS_KEY.format(session_id=session_id))

    def _append(self, key: str, entry: Mapping[str, Any]) -> None:
        pipe = self.redis.pipeline()
        pipe.rpush(key, json.dumps(dict(entry)))
        pipe.ltrim(key, -INBOX_LIMIT, -1)
        pipe.execute()

    def inbox(self, phone: str) -> list[dict[str, Any]]:
        """What ``phone`` received, oldest first."""
        return _entries(self.redis, INBOX_KEY.format(phone=phone))

    def show_presence(self, to_phone: str, entry: Mapping[str, Any]) -> None:
        self._append(PRESENCE_KEY.format(phone=to_phone), entry)

    def presence(self, phone: str) -> list[dict[str, Any]]:
        """The "typing" / "paused" presences ``phone`` was shown, oldest first."""
        return _entries(self.redis, PRESENCE_KEY.format(phone=phone))

    # numbers on WhatsApp ---------------------------------------------------------------------

    def mark_on_whatsapp(self, phones: list[str], on: bool) -> None:
        """Give ``phones`` WhatsApp (``on``) or take it away, for every session's checks."""
        if phones:
            (self.redis.srem if on else self.redis.sadd)(NOT_ON_WHATSAPP_KEY, *phones)

    def on_whatsapp(self, phones: list[str]) -> dict[str, bool]:
        """Answer a check of ``phones`` as WhatsApp would, and count it."""
        self.redis.incr(CHECKS_KEY)
        if not phones:
            return {}
        absent = self.redis.smismember(NOT_ON_WHATSAPP_KEY, phones)
        return {phone: not gone for phone, gone in zip(phones, absent, strict=True)}

    def on_whatsapp_quietly(self, phone: str) -> bool:
        """Whether ``phone`` has WhatsApp, as a send finds out (not counted as a check)."""
        return not self.redis.sismember(NOT_ON_WHATSAPP_KEY, phone)

    def checks(self) -> int:
        """How many checks of numbers the network has answered."""
        return int(self.redis.get(CHECKS_KEY) or 0)

    # faults ----------------------------------------------------------------------------------

    def faults(self, session_id: str, max_age_s: float = 0.0) -> dict[str, dict[str, Any]]:
        """The lasting faults of a session: ``{name: params}``, e.g. ``{"latency": {"ms": 300}}``.

        ``ban`` carries ``reason`` and ``expires_at``, ``outage`` (an ongoing disconnect) carries
        ``until``; both are dropped here once past. With ``max_age_s``, what this object read (or
        changed) that recently is answered without asking Redis: the send path asks per message.
        """
        read = self._read.get(session_id)
        if read is not None and time.monotonic() - read[0] < max_age_s:
            return read[1]
        raw = self.redis.hgetall(FAULTS_KEY.format(session_id=session_id))
        found = {_text(name): json.loads(value) for name, value in raw.items()}
        now = time.time()
        for name, field in (("ban", "expires_at"), ("outage", "until")):
            if name in found and float(found[name].get(field) or 0) <= now:
                del found[name]
        self._read[session_id] = (time.monotonic(), found)
        return found

    def set_fault(self, session_id: str, name: str, params: Mapping[str, Any]) -> None:
        key = FAULTS_KEY.format(session_id=session_id)
        pipe = self.redis.pipeline()
        pipe.hset(key, name, json.dumps(dict(params)))
        pipe.expire(key, FAULTS_TTL_S)
        pipe.execute()
        self._read.pop(session_id, None)

    def clear_fault(self, session_id: str, name: str) -> None:
        self.redis.hdel(FAULTS_KEY.format(session_id=session_id), name)
        self._read.pop(session_id, None)

    def clear_faults(self, session_id: str) -> None:
        self.redis.delete(FAULTS_KEY.format(session_id=session_id))
        self._read.pop(session_id, None)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entries(client: redis.Redis, key: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange(key, 0, -1)]
