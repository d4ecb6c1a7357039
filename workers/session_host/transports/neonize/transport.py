"""The real WhatsApp transport: one linked device driven through neonize (whatsmeow in Go).

neonize keeps its login in an SQLite file. Kabar keeps that file only encrypted, in the session's
CredentialStore (the database); while a session runs, a plaintext working copy lives in a
private directory under the instance dir (0700, file 0600). It is sealed back into the store
when pairing succeeds, on connect, a few seconds after sends (one seal for a whole burst), now
and then while events flow, and on stop, and is deleted when the session stops; a crashed
client's leftovers are deleted when its session starts again. Sealing never opens the live file
in this process: a helper process (``store_snapshot.py``) takes a consistent copy with SQLite's
backup API, and only that copy is read and encrypted here (see FACTS.md: two SQLite libraries
in one process break each other's locks).

``client.connect()`` blocks for the life of a connection, so each session runs one daemon thread
that connects, watches and reconnects with capped exponential back-off, and connect() itself
runs on a thread of its own. neonize calls the event handlers below from inside ``connect()``;
the mapping from neonize's protobuf events to Kabar's events lives in pure functions
(``mapping``) so that it can be tested with real protobuf messages, and the working copy of the
SQLite store in ``store``.

Facts about neonize 0.5.2 this module relies on (see the tests and /work/shared/FACTS.md):

- ``connect()`` only returns after the Go side is stopped (``client.stop()``) or when dialling
  fails. ``stop()`` deletes the Go client, and neonize's QR loop then reads it back (``FetchMe``)
  with no nil check: a stop from inside a handler, or before the QR loop has ended, crashes the
  process. Handlers therefore only record what happened; the run's thread stops the client,
  and only once neonize has set ``client.me`` (it is past its QR loop).
- whatsmeow reconnects by itself after a drop (neonize cannot turn that off): a drop is reported
  and left to it; Kabar builds a new connection only when whatsmeow has not reconnected within
  ``reconnect_grace``, or for the losses whatsmeow does not retry (logout, ban, replaced).
- A QR login that ends ("timeout", an error) becomes ``qr_expired`` and waits for the operator.
  An account WhatsApp asks for a passkey ("passkey-request") cannot be linked: ``failed`` with
  PASSKEY_REASON; whatsmeow then never closes its QR channel, so that connect() never returns and
  is left behind (in its own process, as the session host runs each number, that costs nothing).
- ``get_me()`` on a client the Go side does not hold kills the process (SIGSEGV): this module
  never calls it and reads the linked number from the working SQLite file instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from neonize.client import NewClient
from neonize.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamErrorEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.proto.Neonize_pb2 import JID
from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from neonize.utils.enum import ChatPresence, ChatPresenceMedia, ClientName, ClientType

import webapp.config as config
from webapp.core.backoff import backoff
from webapp.core.credentials import CredentialStore, CredentialsUnreadable
from webapp.core.media_types import Media
from workers.queue.contracts import EventKind, RpcCode, SessionState
from workers.session_host.transports.base import (
    EventSink,
    NotConnected,
    SendFailed,
    SendResult,
    Transport,
    TransportError,
)
from workers.session_host.transports.neonize.mapping import (
    ConnectionLoss,
    build_media_message,
    epoch_seconds,
    map_connection_drop,
    map_connection_loss,
    map_login_status,
    map_message,
    map_on_whatsapp,
    map_pair_status,
    map_qr,
    map_receipt,
    map_send_error,
    message_media,
    message_text,
    to_jid,
)
from workers.session_host.transports.neonize.store import (
    SnapshotFailed,
    is_working_file,
    phone_of_device,
    remove_store_files,
    snapshot_store,
    write_private,
)

log = logging.getLogger(__name__)


SQLITE_HEADER = b"SQLite format 3\x00"
DEFAULT_OPTIONS: dict[str, Any] = {
    "backoff_base": config.RECONNECT_BACKOFF_BASE_S,  # first retry (s), doubling per failure
    "backoff_cap": config.RECONNECT_BACKOFF_CAP_S,  # longest wait between two attempts
    "max_attempts": config.RECONNECT_MAX_ATTEMPTS,  # failures in a row before status "failed"
    "jitter": config.RECONNECT_JITTER_S,  # at most this many random seconds added to a wait
    "keepalive_failures": 3,  # missed keep-alives in a row reported as a drop
    "seal_interval": 300.0,  # seconds between re-encrypting the store while events arrive
    # seconds from a send to re-encrypting the store (whatsmeow advanced its keys); the sends
    # of a burst share one seal
    "seal_after_send": 3.0,
    "stop_timeout": 10.0,  # how long stop() waits for the connection thread
    # whatsmeow reconnects by itself after a drop; Kabar steps in (a new connection, counted
    # as a failed attempt) only when it has not managed to within this many seconds.
    "reconnect_grace": 300.0,
    # After a QR login ends, how long to wait for neonize to leave its QR loop before the Go
    # client may be stopped (stopping it earlier crashes the process).
    "stop_grace": 5.0,
    "device_name": "Kabar",  # the name the phone lists under "Linked devices"
}


def _guarded(handler: Callable[..., None]) -> Callable[..., None]:
    """neonize calls handlers from Go; an exception there would only be printed by ctypes."""

    @functools.wraps(handler)
    def wrapper(*args: Any) -> None:
        try:
            handler(*args)
        except Exception:
            log.exception("neonize event handler %s failed", handler.__name__)

    return wrapper


class NeonizeTransport(Transport):
    """A real linked WhatsApp number, through neonize.

    Options (all optional): ``workdir`` (directory for the plaintext working store; default
    KABAR_WORKING_STORE, under the instance dir), ``backoff_base``, ``backoff_cap``,
    ``max_attempts``, ``jitter``, ``keepalive_failures``, ``seal_interval``,
    ``seal_after_send``, ``stop_timeout``, ``reconnect_grace``,
    ``stop_grace``, ``device_name`` (see
    DEFAULT_OPTIONS) and ``client_factory`` (``(store_path, client_id) -> client``; tests use it
    to stand in for neonize's NewClient).
    """

    name = "neonize"

    def __init__(
        self,
        session_id: str,
        credentials: CredentialStore,
        emit: EventSink,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(session_id, credentials, emit, options)
        settings = {**DEFAULT_OPTIONS, **self.options}
        self.backoff_base = float(settings["backoff_base"])
        self.backoff_cap = float(settings["backoff_cap"])
        self.max_attempts = max(int(settings["max_attempts"]), 1)
        self.jitter = float(settings["jitter"])
        self.keepalive_failures = int(settings["keepalive_failures"])
        self.seal_interval = float(settings["seal_interval"])
        self.seal_after_send = float(settings["seal_after_send"])
        self.stop_timeout = float(settings["stop_timeout"])
        self.reconnect_grace = float(settings["reconnect_grace"])
        self.stop_grace = float(settings["stop_grace"])
        self.device_name = str(settings["device_name"])
        self.client_factory: Callable[[str, str], Any] = (
            settings.get("client_factory") or self._new_client
        )
        self._workdir_option = settings.get("workdir") or config.WORKING_STORE_DIR
        self._workdir: Path | None = None
        self._file_stem = re.sub(r"[^A-Za-z0-9_.-]", "_", session_id) or "session"
        self._lock = threading.Lock()
        self._run: _Run | None = None

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the connection thread; a no-op while a started run is still going."""
        with self._lock:
            if self._run is not None and self._run.is_alive() and not self._run.stopping:
                return
            run = _Run(self, self._new_store_path())
            self._run = run
        run.start()

    def stop(self) -> None:
        """Disconnect, seal the store into the credential store and delete the working copy."""
        with self._lock:
            run = self._run
        if run is not None:
            run.shutdown(self.stop_timeout)

    def logout(self) -> None:
        """Unlink this device on WhatsApp (when connected), stop, and forget the credentials."""
        with self._lock:
            run = self._run
        if run is not None:
            run.forget()
            run.stop_event.set()  # the loop must not report the logout WhatsApp may echo back
            run.logout_client()
        self.stop()
        self.credentials.delete()
        self._emit(EventKind.STATUS, status=SessionState.LOGGED_OUT, reason="logged out from Kabar")

    # operations ------------------------------------------------------------------------------

    def send_text(self, jid: str, text: str, wa_message_id: str) -> SendResult:
        """Send ``text`` to ``jid`` ("6281234567890@s.whatsapp.net" or just the digits).

        neonize cannot send with a caller-chosen message id, so ``wa_message_id`` is ignored and
        the result carries the id WhatsApp assigned; receipts refer to that id. The text goes out
        as a plain ``conversation`` message: neonize's string path would turn "@digits" in the
        text into mentions and look up "@...@g.us" groups over the network.
        """
        to = to_jid(jid)
        return self._started_run().send(to, lambda _client: WAMessage(conversation=text))

    def send_media(self, jid: str, caption: str, media: Media, wa_message_id: str) -> SendResult:
        """Upload ``media`` and send it as an ImageMessage or a DocumentMessage with ``caption``.

        neonize is handed bytes only: given a string it fetches a URL without a time-out or
        opens a local path. Its builders get no caption (they would turn "@digits" into
        mentions and look "@...@g.us" groups up over the network); it is set on the built
        message instead. ``wa_message_id`` is ignored, as for ``send_text``.
        """
        to = to_jid(jid)
        return self._started_run().send(
            to, lambda client: build_media_message(client, caption, media)
        )

    def send_presence(self, jid: str, typing: bool) -> None:
        """Show "typing..." (composing) in the chat with ``jid``, or stop showing it."""
        to = to_jid(jid)
        state = ChatPresence.CHAT_PRESENCE_COMPOSING
        if not typing:
            state = ChatPresence.CHAT_PRESENCE_PAUSED
        media = ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT
        self._started_run().ask("chat presence", lambda c: c.send_chat_presence(to, state, media))

    def on_whatsapp(self, phones: list[str]) -> dict[str, bool]:
        """Ask WhatsApp which of ``phones`` have an account (one request for all of them).

        whatsmeow wants numbers in international format with a leading "+".
        """
        asked = [digits for digits in (re.sub(r"\D", "", p) for p in phones) if digits]
        if not asked:
            return {}
        queries = ["+" + digits for digits in asked]
        answers = self._started_run().ask("check of numbers", lambda c: c.is_on_whatsapp(*queries))
        return map_on_whatsapp(answers, asked)

    def ping(self) -> None:
        """Ask the Go client whether its connection is up and logged in; raise NotConnected if not.

        whatsmeow proves the websocket with its own keep-alive round trips (missed ones end the
        connection, see ``keepalive_failures``); this reads the state they leave, which is cheap
        and sends nothing to WhatsApp. Called under the client lock and only while connected:
        asking a Go client that is being stopped could crash the process.
        """
        run = self._started_run()
        with run.client_lock:
            if not run.connected or run.stopping or run.client is None:
                raise NotConnected(f"neonize session {self.session_id} is not connected")
            if not run.client.is_connected:
                raise NotConnected("neonize reports the connection to WhatsApp closed")
            if not run.client.is_logged_in:
                raise NotConnected("neonize reports the device is no longer logged in")

    def pair_phone(self, phone: str) -> str:
        """Ask WhatsApp for a pairing code for ``phone`` (digits, with country code).

        Works while the session waits for a QR scan (the code is an alternative to scanning).
        The phone shows the request as "Chrome (Linux)": WhatsApp only accepts a browser/OS pair.
        """
        digits = re.sub(r"\D", "", phone)
        if not digits:
            raise TransportError(f"not a phone number: {phone!r}", code=RpcCode.BAD_REQUEST)
        return self._started_run().pair(digits)

    # internals -------------------------------------------------------------------------------

    def _started_run(self) -> _Run:
        """The run that is going; NotConnected when the session is not started (or stopping)."""
        with self._lock:
            run = self._run
        if run is None or run.stopping or not run.is_alive():
            raise NotConnected(f"neonize session {self.session_id} is not started")
        return run

    def _emit(self, kind: str, **data: Any) -> None:
        try:
            self.emit(kind, **data)
        except Exception:
            log.exception("session %s: emitting %s failed", self.session_id, kind)

    def _new_client(self, store_path: str, client_id: str) -> NewClient:
        props = DeviceProps(os=self.device_name, platformType=DeviceProps.CHROME)
        return NewClient(store_path, props=props, uuid=client_id)

    def _new_store_path(self) -> Path:
        return self._ensure_workdir() / f"{self._file_stem}-{secrets.token_hex(4)}.sqlite"

    def _ensure_workdir(self) -> Path:
        """The private (0700) working directory, with this session's leftovers removed: the
        plaintext of a client that crashed must not outlive it."""
        if self._workdir is not None and self._workdir.is_dir():
            return self._workdir
        workdir = Path(self._workdir_option)
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if workdir.stat().st_mode & 0o077:
            os.chmod(workdir, 0o700)
        self._workdir = workdir
        for stale in workdir.iterdir():
            if is_working_file(stale.name, self._file_stem):
                log.info("removing a stale working store of session %s", self.session_id)
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
        return workdir


class _Run:
    """One start-to-stop life of a session: its thread, Go client and plaintext working file.

    The run's thread never waits inside neonize: ``connect()`` blocks on a thread of its own
    (neonize's handlers are called from there), and the run's thread watches what the handlers
    recorded. Handlers only record and wake it; every call into the Go client (above all
    ``stop()``) is made from the run's thread, once the Go side is past its QR loop.
    """

    def __init__(self, transport: NeonizeTransport, path: Path) -> None:
        self.t = transport
        self.path = path
        self.client_id = f"kabar-{path.stem}"
        self.client: Any = None
        self.stop_event = threading.Event()
        self.wake = threading.Event()  # a handler recorded something, or connect() returned
        # Held around every call into the Go client and the flags below, so a send never races
        # the Go client being stopped and a handler never acts on a connection already given up.
        self.client_lock = threading.RLock()
        self.files_lock = threading.Lock()
        self.connected = False
        self.in_connect = False
        self.loss: ConnectionLoss | None = None
        self.dropped_at: float | None = None  # monotonic time whatsmeow lost the connection
        self.phone: str | None = None  # the linked number, read from the store on connect
        self.connect_done = threading.Event()  # the latest connect() returned
        self.connect_done.set()
        self.abandoned = False  # a connect() that did not return after stop() was left behind
        self.failures = 0
        self.qr_shown = 0
        self.forgotten = False
        self.cleaned = False
        self.sealed_at = 0.0
        self.seals = 0  # how many times the store was sealed in this run
        self.seal_timer: threading.Timer | None = None  # the seal a send asked for
        self.thread = threading.Thread(
            target=self.main, name=f"neonize-{transport.session_id}", daemon=True
        )

    # thread ----------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def start(self) -> None:
        self.thread.start()

    def main(self) -> None:
        try:
            self.loop()
        except Exception:
            log.exception("session %s: neonize connection thread crashed", self.t.session_id)
            if not self.stopping:
                self.t._emit(
                    EventKind.STATUS,
                    status=SessionState.FAILED,
                    reason="internal error in neonize transport",
                )
        finally:
            self.cleanup()

    def loop(self) -> None:
        if not self.prepare_store():
            return
        self.client = self.t.client_factory(str(self.path), self.client_id)
        self.register(self.client)
        while True:
            with self.client_lock:
                if self.stopping:
                    return
                self.connected = False
                self.loss = None
                self.dropped_at = None
                self.qr_shown = 0
                self.in_connect = True
                self.client.me = None  # set by neonize once Go is past its QR loop
                attempt = self.failures + 1
            self.t._emit(EventKind.STATUS, status=SessionState.CONNECTING, attempt=attempt)
            error = self.connect_and_watch()
            with self.client_lock:
                self.in_connect = False
                self.connected = False
                loss = self.loss
            if self.stopping:
                return
            if loss is None:
                loss = ConnectionLoss(
                    SessionState.DISCONNECTED, error or "connection closed", retry=True
                )
            if not loss.retry:
                self.finish(loss)
                return
            self.failures += 1
            if self.failures >= self.t.max_attempts:
                log.warning(
                    "session %s: giving up after %d attempts: %s",
                    self.t.session_id,
                    self.failures,
                    loss.reason,
                )
                self.t._emit(
                    EventKind.STATUS,
                    status=SessionState.FAILED,
                    reason=loss.reason,
                    attempt=self.failures,
                )
                return
            delay = backoff(self.failures, self.t.backoff_base, self.t.backoff_cap, self.t.jitter)
            log.info(
                "session %s: %s; retry %d in %.1f s",
                self.t.session_id,
                loss.reason,
                self.failures,
                delay,
            )
            self.t._emit(
                EventKind.STATUS,
                status=SessionState.DISCONNECTED,
                reason=loss.reason,
                attempt=self.failures,
                retry_in=round(delay, 3),
            )
            if self.stop_event.wait(delay):
                return

    def connect_and_watch(self) -> str | None:
        """Run ``connect()`` on its own thread until it returns or a loss ends it; the error
        a failed dial raised, if any.

        A loss (recorded by a handler) or whatsmeow failing to reconnect within
        ``reconnect_grace`` stops the Go client from here, never from a handler. A connect()
        that does not return after that (neonize's QR loop waits on a channel whatsmeow may
        never close) is left behind: its thread is a daemon and holds nothing Kabar uses.
        """
        outcome: dict[str, str] = {}
        done = self.connect_done = threading.Event()

        def connect() -> None:
            try:
                self.client.connect()
            except Exception as exc:  # neonize raises NeonizeError; anything else is as fatal
                outcome["error"] = str(exc) or type(exc).__name__
            finally:
                done.set()
                self.wake.set()

        threading.Thread(
            target=connect, name=f"neonize-connect-{self.t.session_id}", daemon=True
        ).start()
        while not done.is_set() and not self.stopping:
            self.wake.wait(1.0)
            self.wake.clear()
            if done.is_set() or self.stopping:
                break
            with self.client_lock:
                if self.loss is None and self.reconnect_overdue():
                    self.loss = ConnectionLoss(
                        SessionState.DISCONNECTED,
                        f"WhatsApp did not reconnect within {self.t.reconnect_grace:g} s",
                        retry=True,
                    )
                loss = self.loss
            if loss is not None:
                self.end_connect(done)
                break
        return outcome.get("error")

    def reconnect_overdue(self) -> bool:
        return (
            self.dropped_at is not None
            and time.monotonic() - self.dropped_at >= self.t.reconnect_grace
        )

    def end_connect(self, done: threading.Event) -> None:
        """Stop the Go client once it is past its QR loop (``client.me`` set), so that its
        ``FetchMe`` never meets a deleted client; then give connect() a while to return."""
        if self.loss is not None and self.loss.qr_loop_stays:
            # Go never leaves the QR loop, so it never reads the client back: safe to stop.
            self.stop_client()
            self.abandoned = True
            return
        deadline = time.monotonic() + self.t.stop_grace
        while getattr(self.client, "me", None) is None and not done.is_set():
            if time.monotonic() >= deadline:
                break
            done.wait(0.05)
        self.stop_client()
        if not done.wait(self.t.stop_timeout):
            self.abandoned = True
            log.warning(
                "session %s: neonize's connect() did not return after stop; leaving it behind",
                self.t.session_id,
            )

    def finish(self, loss: ConnectionLoss) -> None:
        """End the run for a loss that retrying cannot fix."""
        log.warning("session %s: %s (%s)", self.t.session_id, loss.status, loss.reason)
        if loss.forget_credentials:
            self.forget()
            self.t.credentials.delete()
        kind, data = loss.event()
        self.t._emit(kind, **data)

    # Go client -------------------------------------------------------------------------------

    def register(self, client: Any) -> None:
        client.event(ConnectedEv)(self.on_connected)
        client.event(PairStatusEv)(self.on_pair_status)
        client.event(ReceiptEv)(self.on_receipt)
        client.event(MessageEv)(self.on_message)
        client.event(KeepAliveRestoredEv)(self.on_keepalive_restored)
        for event_type in (
            LoggedOutEv,
            TemporaryBanEv,
            ConnectFailureEv,
            StreamReplacedEv,
            ClientOutdatedEv,
            DisconnectedEv,
            StreamErrorEv,
            KeepAliveTimeoutEv,
        ):
            client.event(event_type)(self.on_connection_event)
        client.event.qr(self.on_qr)
        # neonize passes the QR login's outcome ("success", "timeout", ...) to a private method
        # that only prints it; after "timeout" connect() would block forever on a dead socket.
        client._NewClient__onLoginStatus = self.on_login_status

    def stop_client(self) -> None:
        """Stop the Go client (ends a blocking connect()); harmless when it is not running.
        Never called from a neonize handler."""
        with self.client_lock:
            self.connected = False
            if self.client is not None:
                try:
                    self.client.stop()
                except Exception:
                    log.exception(
                        "session %s: stopping the neonize client failed", self.t.session_id
                    )

    def lose(self, loss: ConnectionLoss) -> None:
        """Record why the connection ended (the first reason wins) and wake the run's thread,
        which ends connect(): a handler must not call into the Go client."""
        with self.client_lock:
            if self.loss is None:
                self.loss = loss
            self.connected = False
        self.wake.set()

    def shutdown(self, timeout: float) -> None:
        """Stop the run: end connect() or the back-off wait, then clean up the working file."""
        self.stop_event.set()
        self.wake.set()
        deadline = time.monotonic() + timeout
        self.thread.join(timeout)
        # The run's thread has stopped watching; ending connect() is this caller's job now.
        # Repeated: connect() may not have reached the Go side yet. A QR login that just
        # ended is first let out of neonize's QR loop (see end_connect).
        if self.loss is not None:
            self.end_connect(self.connect_done)
        while not self.abandoned and not self.connect_done.is_set() and time.monotonic() < deadline:
            self.stop_client()
            self.connect_done.wait(0.2)
        self.stop_client()
        if self.thread.is_alive() or not self.connect_done.is_set():
            log.warning(
                "session %s: neonize did not stop within %.0f s; leaving its thread to end on "
                "its own",
                self.t.session_id,
                timeout,
            )
        self.cleanup()

    def logout_client(self) -> None:
        with self.client_lock:
            if not self.connected or self.client is None:
                return
            try:
                self.client.logout()
            except Exception as exc:
                log.warning("session %s: WhatsApp logout failed: %s", self.t.session_id, exc)

    def send(self, to: JID, build: Callable[[Any], WAMessage]) -> SendResult:
        """Send once the message ``build(client)`` makes (an upload, for media); whatsmeow's
        errors become what they mean (see ``map_send_error``). There is no resend to a LID:
        whatsmeow already looked the number's LID up in its store and on the server before
        answering "no LID found"."""
        with self.client_lock:
            if not self.connected or self.stopping:
                raise NotConnected(f"neonize session {self.t.session_id} is not connected")
            try:
                response = self.client.send_message(to, build(self.client))
            except Exception as exc:
                raise map_send_error(exc) from exc
        self.seal_soon()  # the send advanced the Signal session: keep it over a crash
        if not response.ID:
            raise SendFailed("WhatsApp returned no message id")
        return SendResult(
            wa_message_id=response.ID, sent_at=epoch_seconds(response.Timestamp) or time.time()
        )

    def ask(self, what: str, call: Callable[[Any], Any]) -> Any:
        """``call(client)`` on the connected Go client; its failures become TransportErrors."""
        with self.client_lock:
            if not self.connected or self.stopping:
                raise NotConnected(f"neonize session {self.t.session_id} is not connected")
            try:
                return call(self.client)
            except Exception as exc:
                raise TransportError(f"{what} failed: {exc or type(exc).__name__}") from exc

    def pair(self, phone: str) -> str:
        with self.client_lock:
            if self.connected:
                raise TransportError(
                    f"session {self.t.session_id} is already linked", code="already_paired"
                )
            if not self.in_connect or self.qr_shown == 0:
                raise NotConnected(
                    f"session {self.t.session_id} is not waiting for pairing yet; "
                    "ask again once it shows a QR code"
                )
            try:
                code = self.client.PairPhone(
                    phone, True, client_name=ClientName.LINUX, client_type=ClientType.CHROME
                )
            except Exception as exc:
                raise TransportError(
                    f"pairing code request failed: {exc}", code="pair_failed"
                ) from exc
        if not code:
            raise TransportError("WhatsApp returned no pairing code", code="pair_failed")
        return code

    # handlers (called by neonize from inside connect()) --------------------------------------

    @_guarded
    def on_qr(self, _client: Any, data: bytes) -> None:
        with self.client_lock:
            if self.stopping or self.loss is not None:
                return
            first = self.qr_shown == 0
            self.qr_shown += 1
        kind, payload = map_qr(data, time.time(), first)
        self.t._emit(kind, **payload)

    @_guarded
    def on_login_status(self, _client_id: Any, status: Any) -> None:
        if isinstance(status, int):
            status = ctypes.string_at(status)
        if isinstance(status, bytes):
            status = status.decode("utf-8", errors="replace")
        loss = map_login_status(str(status or ""))
        if loss is not None:
            log.info("session %s: QR login ended: %s", self.t.session_id, status)
            self.lose(loss)

    @_guarded
    def on_pair_status(self, _client: Any, event: PairStatusEv) -> None:
        mapped = map_pair_status(event)
        if mapped is None:
            log.warning("session %s: pairing failed: %s", self.t.session_id, event.Error)
            return
        self.seal()
        self.t._emit(mapped[0], **mapped[1])

    @_guarded
    def on_connected(self, _client: Any, _event: ConnectedEv) -> None:
        with self.client_lock:
            if self.stopping or self.loss is not None:
                return
            self.connected = True
            self.dropped_at = None
            self.failures = 0
        self.seal()
        log.info("session %s: connected", self.t.session_id)
        self.t._emit(EventKind.STATUS, status=SessionState.CONNECTED, phone=self.phone)

    @_guarded
    def on_connection_event(self, _client: Any, event: Any) -> None:
        loss = map_connection_loss(event)
        if loss is not None:
            self.lose(loss)
            return
        reason = map_connection_drop(event, self.t.keepalive_failures)
        if reason is None:
            return
        with self.client_lock:
            if self.stopping or self.loss is not None:
                return
            self.connected = False
            if self.dropped_at is None:
                self.dropped_at = time.monotonic()
        log.info("session %s: %s", self.t.session_id, reason)
        self.t._emit(EventKind.STATUS, status=SessionState.DISCONNECTED, reason=reason)
        self.wake.set()  # the run's thread starts timing whatsmeow's reconnect

    @_guarded
    def on_keepalive_restored(self, _client: Any, _event: KeepAliveRestoredEv) -> None:
        """Keep-alives answer again after missed ones: the connection never closed."""
        with self.client_lock:
            if self.stopping or self.loss is not None or self.dropped_at is None:
                return
            self.connected = True
            self.dropped_at = None
        self.t._emit(EventKind.STATUS, status=SessionState.CONNECTED, phone=self.phone)

    @_guarded
    def on_receipt(self, _client: Any, event: ReceiptEv) -> None:
        for kind, data in map_receipt(event):
            self.t._emit(kind, **data)
        self.seal_if_due()

    @_guarded
    def on_message(self, _client: Any, event: MessageEv) -> None:
        mapped = map_message(event)
        if mapped is not None:
            self.t._emit(mapped[0], **mapped[1])
        self.seal_if_due()

    # the working store -----------------------------------------------------------------------

    def prepare_store(self) -> bool:
        """Decrypt the stored login into the working file (0600); False when it cannot be used."""
        try:
            blob = self.t.credentials.load()
            if blob is not None and not blob.startswith(SQLITE_HEADER):
                raise CredentialsUnreadable("the stored credentials are not a neonize store")
        except CredentialsUnreadable as exc:
            self.t._emit(EventKind.STATUS, status=SessionState.FAILED, reason=str(exc))
            return False
        write_private(self.path, blob or b"")
        return True

    def forget(self) -> None:
        with self.files_lock:
            self.forgotten = True

    def seal(self) -> None:
        """Encrypt a snapshot of the working store into the CredentialStore, if it holds a
        linked device; the snapshot also tells which number is linked."""
        with self.files_lock:
            if self.forgotten or self.cleaned:
                return
            try:
                snapshot = snapshot_store(self.path)
            except SnapshotFailed as exc:
                log.warning(
                    "session %s: could not read the neonize store: %s", self.t.session_id, exc
                )
                return
            if snapshot is not None:
                self.t.credentials.save(snapshot.blob)
                self.sealed_at = time.monotonic()
                self.seals += 1
                self.phone = snapshot.phone or self.phone

    def seal_if_due(self) -> None:
        if time.monotonic() - self.sealed_at >= self.t.seal_interval:
            self.seal()

    def seal_soon(self) -> None:
        """Seal ``seal_after_send`` seconds from now, unless a seal is already due by then:
        a bulk of sends costs one seal per that many seconds, not one per message."""
        with self.files_lock:
            if self.seal_timer is not None or self.forgotten or self.cleaned:
                return
            timer = self.seal_timer = threading.Timer(self.t.seal_after_send, self._sealed_later)
            timer.daemon = True
            timer.name = f"neonize-seal-{self.t.session_id}"
        timer.start()

    def _sealed_later(self) -> None:
        with self.files_lock:
            self.seal_timer = None
        try:
            self.seal()
        except Exception:
            log.exception("session %s: sealing the store after a send failed", self.t.session_id)

    def cleanup(self) -> None:
        """Seal (unless logged out) and delete the plaintext working store; runs once."""
        with self.files_lock:
            timer, self.seal_timer = self.seal_timer, None
        if timer is not None:
            timer.cancel()
        self.seal()
        with self.files_lock:
            if self.cleaned:
                return
            self.cleaned = True
            remove_store_files(self.path)


__all__ = [
    "ConnectionLoss",
    "NeonizeTransport",
    "epoch_seconds",
    "map_connection_drop",
    "map_connection_loss",
    "map_login_status",
    "map_message",
    "map_on_whatsapp",
    "map_pair_status",
    "map_qr",
    "map_receipt",
    "map_send_error",
    "message_media",
    "message_text",
    "phone_of_device",
    "snapshot_store",
    "to_jid",
]
