"""The simulator: a fake WhatsApp network, part of the product.

Every simulated phone has an inbox kept in Redis, so any process (the session host that sends,
the web app that shows it, a test) sees the same network. A simulator session shows a QR until it
is "scanned" (``simulate("scan")``), rotating it every ``qr_ttl`` seconds as WhatsApp does, then
sends into recipients' inboxes and reports delivered and read receipts after configurable delays,
as a real phone would.

Faults are injected with ``simulate("fault", {"fault": name, ...})``:

- ``disconnect`` (``seconds``: how long the network stays down, default 0): the connection drops
  and the session reconnects by itself with neonize's back-off, reporting ``disconnected`` with
  ``attempt`` and ``retry_in`` for every failed attempt, then ``connected``;
- ``logged_out``: the phone unlinked the device; credentials are deleted, no reconnect;
- ``ban`` (``seconds``, default ``SIM_BAN_S``): ``banned`` with a reason and ``expires_at``;
  when the ban expires the session reconnects by itself;
- ``send_errors`` (``rate`` 0..1): each send and each health-check ping fails at that rate
  (1.0 always, 0 never), as on a network that drops requests;
- ``latency`` (``ms``): each send and ping takes that much longer;
- ``no_receipts``: recipients never report delivered or read;
- ``qr_timeout`` (``seconds``, default 0): the login shown now (QR codes or a pairing code) runs
  out in that many seconds, as WhatsApp's does after ``login_timeout`` (about 160 s) anyway:
  the session becomes ``qr_expired`` and waits for a new start ("show a new QR");
- ``passkey_required``: the account asks for a passkey when linked; a QR scan then fails with
  PASSKEY_REASON (a pairing code still links it), as neonize cannot answer passkeys;
- ``no_lid``, ``reach_out_463``, ``reach_out_479`` (``rate``, default 1): sends fail as
  whatsmeow's do for a recipient without WhatsApp and for WhatsApp's limits on new contacts;
- ``send_timeout`` (``rate``, default 1): the message reaches the inbox but the send raises
  SendUncertain, as when WhatsApp's answer never comes;
- ``clear``: remove every fault above (a ban is lifted, an outage ends).

Every number is on WhatsApp unless ``simulate("not_on_whatsapp", {"phones": [...]})`` said
otherwise (``simulate("on_whatsapp", ...)`` puts it back); the list is network-wide, so every
session answers ``on_whatsapp`` alike, and the network counts the checks it answered. A send to
such a number fails with NotOnWhatsApp, as whatsmeow's does ("no LID found"). A "typing"
presence (``send_presence``) is recorded per recipient phone beside its inbox.

Receipts the phones still owe are kept in Redis too (``simulated_network.RECEIPTS_KEY``): a
session host or client process that restarts delivers them once the session is online again, as
a real phone would.

Faults that last (``send_errors``, ``latency``, ``no_receipts``, a ban, an outage) are kept in
Redis per session (``SimulatedNetwork.faults``), so tests, the admin page and a session host
that takes the session over all see them.

Pairing codes: ``pair_phone(phone)`` answers a made-up 8-character code while a QR is shown and
remembers the phone; the next ``scan`` without a phone links that number, standing in for the
user typing the code on the phone. A code not typed within ``pair_code_ttl`` seconds expires:
the login ends ``qr_expired``, as whatsmeow's does.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import random
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import redis

import webapp.config as config
from webapp.core.backoff import backoff
from webapp.core.credentials import CredentialsUnreadable
from webapp.core.media_types import Media, MediaRefused, sniff
from workers.queue.contracts import MEDIA_TYPES, EventKind, MessageStatus, RpcCode, SessionState
from workers.session_host.simulated_network import FAULTS, SimulatedNetwork, phone_of
from workers.session_host.transports.base import (
    PAIR_CODE_EXPIRED_REASON,
    PASSKEY_REASON,
    QR_EXPIRED_REASON,
    NotConnected,
    NotOnWhatsApp,
    ReachOutLimited,
    ReachOutRefused,
    SendFailed,
    SendResult,
    SendUncertain,
    Transport,
    TransportError,
)
from workers.session_host.transports.media import MediaRejected

log = logging.getLogger(__name__)

# How stale the faults a send obeys may be: faults change through this transport (which forgets
# what it read), so this only bounds how late an expired ban or outage is noticed.
SEND_FAULTS_AGE_S = 0.25
# Send faults that stand for whatsmeow's errors, checked in this order, and what each raises.
SEND_FAULTS: dict[str, Callable[[str], TransportError]] = {
    "no_lid": lambda to: NotOnWhatsApp(
        f"the recipient is not on WhatsApp (no LID found for {to} from server, simulated)"
    ),
    "reach_out_463": lambda _: ReachOutLimited(
        "WhatsApp limits first messages to new contacts from this number (error 463, simulated)"
    ),
    "reach_out_479": lambda _: ReachOutRefused(
        "WhatsApp refused a first message to this new contact (error 479, simulated)"
    ),
}
# Characters WhatsApp uses in pairing codes (no 0/O, 1/I look-alikes).
PAIR_ALPHABET = "ABCDEFGHJKLMNPQRSTVWXYZ23456789"


def _iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SimulatorTransport(Transport):
    """A linked device on the simulated network.

    Options: ``delivered_after`` and ``read_after`` (seconds after the send; ``read_after`` < 0
    means the recipient never reads), ``qr_ttl`` (seconds a QR stays valid before the next one),
    ``login_timeout`` (seconds before an unused login ends ``qr_expired``), ``pair_code_ttl``
    (seconds a pairing code may be typed; default the login timeout),
    ``backoff_base``, ``backoff_cap``, ``jitter``, ``max_attempts`` (reconnecting after a
    simulated disconnect), ``ban_seconds`` (default length of a simulated ban), ``redis`` (a
    client; by default one for REDIS_URL).
    """

    name = "simulator"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.network = SimulatedNetwork(
            self.options.get("redis") or redis.Redis.from_url(config.REDIS_URL)
        )
        opt = self.options.get
        self.delivered_after = float(opt("delivered_after", config.SIM_DELIVERED_AFTER_S))
        self.read_after = float(opt("read_after", config.SIM_READ_AFTER_S))
        self.qr_ttl = max(float(opt("qr_ttl", config.SIM_QR_TTL_S)), 0.1)
        self.login_timeout = max(float(opt("login_timeout", config.SIM_LOGIN_TIMEOUT_S)), 0.1)
        self.pair_code_ttl = max(float(opt("pair_code_ttl", self.login_timeout)), 0.1)
        self.backoff_base = float(opt("backoff_base", config.SIM_BACKOFF_BASE_S))
        self.backoff_cap = float(opt("backoff_cap", config.SIM_BACKOFF_CAP_S))
        self.jitter = float(opt("jitter", config.SIM_BACKOFF_JITTER_S))
        self.max_attempts = max(int(opt("max_attempts", config.SIM_MAX_ATTEMPTS)), 1)
        self.ban_seconds = float(opt("ban_seconds", config.SIM_BAN_S))
        self.phone: str | None = None
        self.connected = False
        self.status = SessionState.DISCONNECTED
        self._lock = threading.RLock()
        self._timers: set[threading.Timer] = set()
        self._receipts = _Receipts(self._receipts_due, f"sim-receipts-{self.session_id}")
        self._qr: str | None = None
        self._pairing_phone: str | None = None
        # Bumped by every change of connection state that makes pending timers (QR rotation,
        # reconnect attempts, the end of a ban) obsolete; a timer only acts on its own epoch.
        self._epoch = 0
        self._running = False

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._running = True
            epoch = self._new_epoch()
        self._set_status(SessionState.CONNECTING)
        try:
            blob = self.credentials.load()
        except CredentialsUnreadable as exc:
            self._set_status(SessionState.FAILED, reason=str(exc))  # costs this session only
            return
        if not blob:
            self._show_qr(epoch)
            self._after(
                self.login_timeout,
                epoch,
                self._expire_login,
                epoch,
                QR_EXPIRED_REASON,
            )
            return
        self.phone = json.loads(blob)["phone"]
        self._come_online(epoch, 0)

    def stop(self) -> None:
        with self._lock:
            self._running = False
            self._new_epoch()
            timers, self._timers = self._timers, set()
            self.connected = False
        for timer in timers:
            timer.cancel()
        self._receipts.close()

    def _new_epoch(self) -> int:
        self._epoch += 1
        self.connected = False
        self._qr = None
        return self._epoch

    def _current(self, epoch: int) -> bool:
        return epoch == self._epoch

    def _set_status(self, status: SessionState, **data: Any) -> None:
        with self._lock:
            self.status = status
        self.emit(EventKind.STATUS, status=status, **data)

    def _show_qr(self, epoch: int) -> None:
        """Show a fresh QR, and another each ``qr_ttl`` seconds until scanned or stopped."""
        with self._lock:
            if not self._current(epoch) or self.connected:
                return
            self._qr = f"KABAR-SIM:{self.session_id}:{secrets.token_urlsafe(16)}"
            self.status = SessionState.QR
            code = self._qr
        self.emit(EventKind.QR, code=code, expires_at=time.time() + self.qr_ttl)
        self._after(self.qr_ttl, epoch, self._show_qr, epoch)

    def _expire_login(self, epoch: int, reason: str) -> None:
        """WhatsApp gave up on the login shown: no more codes, wait for the operator."""
        with self._lock:
            if not self._current(epoch) or self.connected:
                return
            self._new_epoch()
            self._pairing_phone = None
        self._set_status(SessionState.QR_EXPIRED, reason=reason)

    def _connect(self, epoch: int) -> None:
        with self._lock:
            if not self._current(epoch):
                return
            self.connected = True
            self._qr = None
        self._set_status(SessionState.CONNECTED, phone=self.phone)
        # Receipts owed from before a restart arrive now, as from a phone that kept them.
        for due, wa_message_id, status in self.network.owed_receipts(self.session_id):
            self._receipts.add(max(due - time.time(), 0.0), wa_message_id, status)

    def _retry(self, epoch: int, attempt: int, reason: str) -> None:
        """Failed attempt ``attempt``: give up after ``max_attempts``, else wait and try again."""
        if not self._current(epoch):
            return
        if attempt >= self.max_attempts:
            self._set_status(SessionState.FAILED, reason=reason, attempt=attempt)
            return
        delay = backoff(attempt, self.backoff_base, self.backoff_cap, self.jitter)
        self._set_status(
            SessionState.DISCONNECTED, reason=reason, attempt=attempt, retry_in=round(delay, 3)
        )
        self._after(delay, epoch, self._attempt, epoch, attempt)

    def _attempt(self, epoch: int, failures: int) -> None:
        self._set_status(SessionState.CONNECTING, attempt=failures + 1)
        self._come_online(epoch, failures)

    def _come_online(self, epoch: int, failures: int) -> None:
        """Connect a linked session, unless the network says it is banned or cut off."""
        faults = self.network.faults(self.session_id)
        if "ban" in faults:
            self._enter_ban(epoch, faults["ban"]["reason"], float(faults["ban"]["expires_at"]))
        elif "outage" in faults:
            self._retry(epoch, failures + 1, "simulated network outage")
        else:
            self._connect(epoch)

    def _enter_ban(self, epoch: int, reason: str, expires_at: float) -> None:
        self._set_status(SessionState.BANNED, reason=reason, expires_at=expires_at)
        # A little after the expiry, so the ban is surely over by the Redis-stored clock too.
        self._after(max(expires_at - time.time(), 0.0) + 0.05, epoch, self._attempt, epoch, 0)

    def _after(self, delay: float, epoch: int, action: Callable[..., None], *args: Any) -> None:
        """Run ``action(*args)`` in ``delay`` seconds unless the epoch has moved on by then."""

        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
                if not self._current(epoch):
                    return
            try:
                action(*args)
            except Exception:
                log.exception("simulator session %s: timer failed", self.session_id)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    # simulator controls ----------------------------------------------------------------------

    def simulate(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if action == "scan":
            return self._scan(params.get("phone"))
        if action == "fault":
            return self._fault(params)
        if action == "faults":
            return {"faults": self.network.faults(self.session_id)}
        if action == "incoming":
            return self._incoming(params)
        if action in ("not_on_whatsapp", "on_whatsapp"):
            return self._mark_numbers(params.get("phones"), on=action == "on_whatsapp")
        raise TransportError(f"unknown simulator action {action!r}", code=RpcCode.BAD_REQUEST)

    def _scan(self, phone: str | None) -> dict[str, Any]:
        """Pair as if a phone had scanned the QR (or typed the pairing code); ``phone`` defaults
        to the number a pairing code was asked for, else to a virtual number. A number under a
        simulated ban is linked but stays banned. An expired login cannot be scanned, and a QR
        scan of an account that asks for a passkey fails."""
        passkey = "passkey_required" in self.network.faults(self.session_id)
        with self._lock:
            if self.connected:
                return {"phone": self.phone, "status": SessionState.CONNECTED}
            if self.status == SessionState.QR_EXPIRED:
                raise TransportError(
                    f"the login of session {self.session_id} expired; show a new QR first",
                    code=SessionState.QR_EXPIRED,
                )
            by_code = phone is None and self._pairing_phone is not None
            self._running = True
            epoch = self._new_epoch()
            phone = phone or self._pairing_phone
            self._pairing_phone = None
        if passkey and not by_code:
            self._set_status(SessionState.FAILED, reason=PASSKEY_REASON)
            return {"phone": None, "status": self.status}
        self.phone = phone or "62899" + "".join(secrets.choice("0123456789") for _ in range(8))
        self.credentials.save(json.dumps({"phone": self.phone}).encode())
        self.emit(EventKind.PAIRED, phone=self.phone)
        self._come_online(epoch, 0)
        return {"phone": self.phone, "status": self.status}

    def pair_phone(self, phone: str) -> str:
        """A made-up pairing code for ``phone`` while a QR is shown (see the module docstring)."""
        digits = re.sub(r"\D", "", phone or "")
        if not digits:
            raise TransportError(f"not a phone number: {phone!r}", code=RpcCode.BAD_REQUEST)
        with self._lock:
            if self.connected:
                raise TransportError(
                    f"session {self.session_id} is already linked", code="already_paired"
                )
            if self._qr is None:
                raise NotConnected(
                    f"session {self.session_id} is not waiting for pairing; start it first"
                )
            self._pairing_phone = digits
            epoch = self._epoch
        self._after(
            self.pair_code_ttl,
            epoch,
            self._expire_login,
            epoch,
            PAIR_CODE_EXPIRED_REASON,
        )
        return "".join(secrets.choice(PAIR_ALPHABET) for _ in range(8))

    def _incoming(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A customer writes to this number: emit the ``message`` event a phone would."""
        if not self.connected:
            raise NotConnected(f"simulator session {self.session_id} is not connected")
        from_phone = re.sub(r"\D", "", str(params.get("from_phone") or ""))
        if not from_phone:
            raise TransportError("from_phone is required", code=RpcCode.BAD_REQUEST)
        wa_message_id = str(params.get("wa_message_id") or "SIM" + uuid.uuid4().hex[:17].upper())
        data: dict[str, Any] = {
            "from_phone": from_phone,
            "from_jid": f"{from_phone}@s.whatsapp.net",
            "text": str(params.get("text") or ""),
            "wa_message_id": wa_message_id,
            "at": time.time(),
        }
        if params.get("push_name"):
            data["push_name"] = str(params["push_name"])
        if params.get("media_type"):
            if params["media_type"] not in MEDIA_TYPES:
                raise TransportError(
                    f"media_type must be one of {', '.join(MEDIA_TYPES)}", code=RpcCode.BAD_REQUEST
                )
            data["media_type"] = params["media_type"]
        self.emit(EventKind.MESSAGE, **data)
        return {"wa_message_id": wa_message_id}

    def _mark_numbers(self, phones: Any, on: bool) -> dict[str, Any]:
        """Say which numbers have (or lack) WhatsApp on the simulated network, for every session."""
        if not isinstance(phones, list) or not phones:
            raise TransportError("phones is a non-empty list of numbers", code=RpcCode.BAD_REQUEST)
        digits = [re.sub(r"\D", "", str(phone)) for phone in phones]
        if not all(digits):
            raise TransportError(
                "phones holds something that is not a number", code=RpcCode.BAD_REQUEST
            )
        self.network.mark_on_whatsapp(digits, on)
        return {"phones": digits, "onWhatsApp": on}

    def _fault(self, params: Mapping[str, Any]) -> dict[str, Any]:
        fault = params.get("fault")
        if fault not in FAULTS:
            raise TransportError(
                f"fault must be one of {', '.join(FAULTS)}, not {fault!r}", code=RpcCode.BAD_REQUEST
            )
        if fault == "send_errors":
            rate = _number(params, "rate", 0.0, 1.0)
            self.network.set_fault(self.session_id, "send_errors", {"rate": rate})
        elif fault == "latency":
            ms = _number(params, "ms", 0.0, 600_000.0)
            self.network.set_fault(self.session_id, "latency", {"ms": ms})
        elif fault in ("no_receipts", "passkey_required"):
            self.network.set_fault(self.session_id, fault, {})
        elif fault in (*SEND_FAULTS, "send_timeout"):
            rate = _number(params, "rate", 0.0, 1.0, default=1.0)
            self.network.set_fault(self.session_id, fault, {"rate": rate})
        elif fault == "qr_timeout":
            self._time_out_login(_number(params, "seconds", 0.0, 86_400.0, default=0.0))
        elif fault == "clear":
            self._clear()
        elif fault == "disconnect":
            seconds = _number(params, "seconds", 0.0, 86_400.0, default=0.0)
            self._disconnect(seconds)
        elif fault == "logged_out":
            self._logged_out()
        elif fault == "ban":
            seconds = _number(params, "seconds", 0.001, 30 * 86_400.0, default=self.ban_seconds)
            self._ban(seconds)
        return {
            "fault": fault,
            "status": self.status,
            "faults": self.network.faults(self.session_id),
        }

    def _time_out_login(self, seconds: float) -> None:
        """End the login shown now in ``seconds`` (0: at once)."""
        with self._lock:
            if self._qr is None:
                raise NotConnected(f"simulator session {self.session_id} is not showing a QR")
            epoch = self._epoch
        if seconds <= 0:
            self._expire_login(epoch, QR_EXPIRED_REASON)
        else:
            self._after(seconds, epoch, self._expire_login, epoch, QR_EXPIRED_REASON)

    def _disconnect(self, seconds: float) -> None:
        with self._lock:
            if not self.connected:
                raise NotConnected(f"simulator session {self.session_id} is not connected")
            epoch = self._new_epoch()
        if seconds > 0:
            self.network.set_fault(self.session_id, "outage", {"until": time.time() + seconds})
        self._retry(epoch, 1, "connection lost (simulated)")

    def _logged_out(self) -> None:
        self.stop()
        self.credentials.delete()
        self.network.forget_receipts(self.session_id)
        self.network.clear_fault(self.session_id, "ban")
        self.network.clear_fault(self.session_id, "outage")
        self._set_status(SessionState.LOGGED_OUT, reason="logged out from the phone (simulated)")

    def _ban(self, seconds: float) -> None:
        with self._lock:
            if self.phone is None or self.credentials.load() is None:
                raise NotConnected(f"simulator session {self.session_id} is not linked")
            epoch = self._new_epoch()
        ban = {
            "reason": "temporarily banned by WhatsApp (simulated)",
            "expires_at": time.time() + seconds,
        }
        self.network.set_fault(self.session_id, "ban", ban)
        self._enter_ban(epoch, ban["reason"], ban["expires_at"])

    def _clear(self) -> None:
        """Remove every fault; a banned or cut-off session reconnects at once."""
        was_banned = "ban" in self.network.faults(self.session_id)
        self.network.clear_faults(self.session_id)
        with self._lock:
            waiting = self.status == SessionState.DISCONNECTED and self.phone is not None
            resume = self._running and (was_banned or waiting) and not self.connected
            epoch = self._new_epoch() if resume else self._epoch
        if resume and self.credentials.load() is not None:
            self._attempt(epoch, 0)

    # sending ---------------------------------------------------------------------------------

    def _network_delay(self, faults: Mapping[str, Any], what: str) -> None:
        """Apply the ``latency`` and ``send_errors`` faults to one request."""
        ms = float(faults.get("latency", {}).get("ms") or 0)
        if ms > 0:
            time.sleep(ms / 1000)  # the simulated round trip itself, not a synchronisation
        rate = float(faults.get("send_errors", {}).get("rate") or 0)
        if rate > 0 and (rate >= 1 or random.random() < rate):
            raise SendFailed(f"{what} failed on the simulated network (send_errors {rate:g})")

    def ping(self) -> None:
        """A round trip on the simulated network: slowed by ``latency``, failed by
        ``send_errors``."""
        if not self.connected:
            raise NotConnected(f"simulator session {self.session_id} is not connected")
        self._network_delay(self.network.faults(self.session_id), "ping")
        if not self.connected:
            raise NotConnected(f"simulator session {self.session_id} is not connected")

    def send_presence(self, jid: str, typing: bool) -> None:
        if not self.connected:
            raise NotConnected(f"simulator session {self.session_id} is not connected")
        self.network.show_presence(
            phone_of(jid),
            {
                "sessionId": self.session_id,
                "from": self.phone,
                "state": "typing" if typing else "paused",
                "at": _iso_ms(time.time()),
            },
        )

    def on_whatsapp(self, phones: list[str]) -> dict[str, bool]:
        """A check of numbers is a request on the simulated network: ``latency`` slows it and
        ``send_errors`` fails it, as they do sends."""
        if not self.connected:
            raise NotConnected(f"simulator session {self.session_id} is not connected")
        self._network_delay(self.network.faults(self.session_id), "check of numbers")
        return self.network.on_whatsapp(list(phones))

    def send_text(self, jid: str, text: str, wa_message_id: str) -> SendResult:
        return self._send(jid, wa_message_id, {"text": text})

    def send_media(self, jid: str, caption: str, media: Media, wa_message_id: str) -> SendResult:
        """As WhatsApp takes an attachment: the bytes must be what the type says, within its
        size limit; the inbox entry describes them (with their SHA-256) and carries the
        caption as its text."""
        try:
            sniff(media.data, media.type, media.mimetype)
        except MediaRefused as exc:
            raise MediaRejected(f"WhatsApp refused the {media.type}: {exc} (simulated)") from None
        described = {
            "type": media.type,
            "mimetype": media.mimetype,
            "size": len(media.data),
            "sha256": hashlib.sha256(media.data).hexdigest(),
            "fileName": media.file_name,
            "caption": caption,
        }
        return self._send(jid, wa_message_id, {"text": caption, "media": described})

    def _send(self, jid: str, wa_message_id: str, content: Mapping[str, Any]) -> SendResult:
        if not self.connected:
            raise NotConnected(f"simulator session {self.session_id} is not connected")
        faults = self.network.faults(self.session_id, max_age_s=SEND_FAULTS_AGE_S)
        self._network_delay(faults, "send")
        if not self.connected:
            raise NotConnected(f"simulator session {self.session_id} is not connected")
        for name, error in SEND_FAULTS.items():
            if _strikes(faults, name):
                raise error(jid)
        if not self.network.on_whatsapp_quietly(phone_of(jid)):
            raise SEND_FAULTS["no_lid"](jid)
        now = time.time()
        receipts = []
        if "no_receipts" not in faults:
            receipts.append((now + self.delivered_after, wa_message_id, MessageStatus.DELIVERED))
            if self.read_after >= 0:
                read_after = max(self.read_after, self.delivered_after)
                receipts.append((now + read_after, wa_message_id, MessageStatus.READ))
        self.network.deliver(
            phone_of(jid),
            {
                "messageId": wa_message_id,
                "sessionId": self.session_id,
                "from": self.phone,
                **content,
                "receivedAt": _iso_ms(now),
            },
            self.session_id,
            receipts,
        )
        for due, receipt_id, status in receipts:
            self._receipts.add(due - now, receipt_id, status)
        if _strikes(faults, "send_timeout"):
            raise SendUncertain(
                "WhatsApp did not confirm the send, it may have gone out (timed out waiting for "
                "message send response, simulated)"
            )
        return SendResult(wa_message_id=wa_message_id, sent_at=now)

    def _receipts_due(self, due: list[tuple[str, str]]) -> None:
        for wa_message_id, status in due:
            self.emit(EventKind.RECEIPT, wa_message_id=wa_message_id, status=status, at=time.time())
        self.network.receipts_sent(self.session_id, due)


class _Receipts:
    """The receipts the virtual phones will send back, each at its time: one thread per
    session fires them all (a timer thread per receipt cost more than the send itself).
    """

    def __init__(self, fire: Callable[[list[tuple[str, str]]], None], name: str) -> None:
        self._fire = fire
        self._name = name
        self._due: list[tuple[float, int, str, str]] = []
        self._pending: set[tuple[str, str]] = set()  # each receipt once, however often owed
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, delay: float, wa_message_id: str, status: str) -> None:
        with self._changed:
            if (wa_message_id, status) in self._pending:
                return
            self._pending.add((wa_message_id, status))
            entry = (time.monotonic() + delay, next(self._order), wa_message_id, status)
            heapq.heappush(self._due, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._changed.notify()

    def close(self) -> None:
        """Forget the receipts not yet sent here (the session stopped; Redis still has them for the
        next start) and end the thread."""
        with self._changed:
            self._due.clear()
            self._pending.clear()
            self._thread = None
            self._changed.notify()

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            with self._changed:
                while self._thread is me and not self._ready():
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    self._changed.wait(wait)
                if self._thread is not me:
                    return
                now = time.monotonic()
                ready = []
                while self._due and self._due[0][0] <= now:
                    ready.append(heapq.heappop(self._due))
                    self._pending.discard(ready[-1][2:])
            try:
                self._fire([(wa_message_id, status) for _, _, wa_message_id, status in ready])
            except Exception:
                log.exception("%d simulator receipts failed", len(ready))

    def _ready(self) -> bool:
        return bool(self._due) and self._due[0][0] <= time.monotonic()


def _strikes(faults: Mapping[str, Any], name: str) -> bool:
    """Whether the fault ``name`` (with its ``rate``) hits this request."""
    if name not in faults:
        return False
    rate = float(faults[name].get("rate", 1.0))
    return rate >= 1 or (rate > 0 and random.random() < rate)


def _number(
    params: Mapping[str, Any], name: str, low: float, high: float, default: float | None = None
) -> float:
    """``params[name]`` as a number in [low, high]; TransportError(bad_request) otherwise."""
    value = params.get(name)
    if value is None:
        if default is None:
            raise TransportError(f"{name} is required for this fault", code=RpcCode.BAD_REQUEST)
        return default
    if isinstance(value, bool):
        raise TransportError(f"{name} must be a number", code=RpcCode.BAD_REQUEST)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TransportError(f"{name} must be a number", code=RpcCode.BAD_REQUEST) from None
    if not low <= number <= high:
        raise TransportError(
            f"{name} must be between {low:g} and {high:g}", code=RpcCode.BAD_REQUEST
        )
    return number
