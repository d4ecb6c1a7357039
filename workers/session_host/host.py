"""SessionHost: claims sessions, runs their transports, answers RPC, publishes their events.

The sessions that should run are listed in Redis (``keys.DESIRED_SESSIONS``, written by the
sessions service and re-synced from PostgreSQL by the scheduler). Every ``lease_ms / 3`` the host
claims any listed session nobody holds, renews its own leases, and stops sessions that were
removed or whose lease it lost. The host never touches PostgreSQL: what happens to a session
goes to the session-event stream, and an actor folds it into the database.

The host holds no WhatsApp client itself: each session's transport runs in a client process of
its own (``supervisor.IsolatedTransport``), so a Go panic or a SIGSEGV in one number's client
costs only that number, which is restarted with the reconnect back-off.

Every ``health_interval_s`` the host proves each connected session with a round trip through its
transport (``Transport.ping``), because a session can claim "connected" while nothing gets
through. A slow or failed round trip, a recovery, or a session idle for ``idle_after_s`` is
published as a ``health`` event; more than ``health_max_failures`` failures in a row make the
host reconnect the session (stop, then start its transport).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import redis

import webapp.config as config
from webapp.core.credentials import CredentialStore
from workers.queue import keys, ready, session_events, signing
from workers.queue.contracts import EventKind, RpcCode, RpcMethod, SendState, SessionState
from workers.session_host.leases import Leases
from workers.session_host.pacing import ReadyScheduler
from workers.session_host.rpc import RpcServer
from workers.session_host.supervisor import ClientPool, IsolatedTransport, redis_url_of
from workers.session_host.transports import TRANSPORTS, Transport, TransportError
from workers.session_host.transports.base import Unsupported

log = logging.getLogger(__name__)

SENT_RECORD_TTL_S = 30 * 24 * 3600
# Most session events appended to the stream in one round trip.
PUBLISH_BATCH = 500


class SendInProgress(TransportError):
    code = RpcCode.SEND_IN_PROGRESS


# A batch's answer for a message it had no time left for: not a failure, send it next.
SEND_LATER = RpcCode.LATER


class UnknownMethod(TransportError):
    code = RpcCode.BAD_REQUEST


@dataclass
class HealthState:
    """What the health check remembers of one session between two rounds."""

    failures: int = 0  # failed round trips in a row
    troubled: bool = False  # the last round trip failed or was slow
    idle: bool = False  # flagged idle at the last round
    pending: Any = None  # the Future of a round trip that has not answered yet


def wa_message_id(message_id: str) -> str:
    """The WhatsApp message id Kabar uses for its message ``message_id``: stable across retries,
    shaped like the ids WhatsApp Web clients generate."""
    return "3EB0" + hashlib.sha256(f"kabar:{message_id}".encode()).hexdigest()[:16].upper()


class SessionHost:
    def __init__(
        self,
        client: redis.Redis,
        encryption_key: bytes,
        store_dir=config.SESSION_STORE_DIR,
        lease_ms: int = config.LEASE_MS,
        host_id: str | None = None,
        heartbeat_ms: int = config.HOST_HEARTBEAT_MS,
        health_interval_s: float = config.HEALTH_INTERVAL_S,
        health_slow_s: float = config.HEALTH_SLOW_S,
        health_timeout_s: float = config.HEALTH_TIMEOUT_S,
        health_max_failures: int = config.HEALTH_MAX_FAILURES,
        idle_after_s: float = config.HEALTH_IDLE_S,
        sim_sessions_per_process: int | None = None,
    ) -> None:
        self.redis = client
        self.key = encryption_key
        self.store_dir = store_dir
        self.lease_ms = lease_ms
        self.heartbeat_ms = heartbeat_ms
        self.host_id = host_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.leases = Leases(client, self.host_id, lease_ms)
        self.sessions: dict[str, Transport] = {}
        # Every session's transport runs in a client process of its own (see supervisor).
        self.clients = ClientPool(
            redis_url_of(client), encryption_key, store_dir, group=sim_sessions_per_process
        )
        self.state: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        # Last send per session (monotonic s), and a lock per session serialising its sends.
        self._last_send: dict[str, float] = {}
        self._send_locks: dict[str, threading.Lock] = {}
        self._stopping = threading.Event()
        self._heart_stop = threading.Event()
        self._wake = threading.Event()
        self.rpc = RpcServer(client, self.handle, self.held_sessions)
        self.health_interval_s = health_interval_s
        self.health_slow_s = health_slow_s
        self.health_timeout_s = health_timeout_s
        self.health_max_failures = health_max_failures
        self.idle_after_s = idle_after_s
        self._health: dict[str, HealthState] = {}
        # Wall-clock time of the last traffic (connect, incoming message, receipt) per session.
        self._activity: dict[str, float] = {}
        self._reconnect_locks: dict[str, threading.Lock] = {}
        self._pinger = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")
        # Session events wait here for the publisher thread (None stops it).
        self._names = _RecentSends()
        # Message ids this host has claimed and is sending; the outcomes of claimed sends
        # Redis failed to hear about; the latest sent records (see ``_leftover``).
        self._claimed: set[str] = set()
        self._unsettled: dict[str, dict[str, Any] | str] = {}
        self._records = _RecentSends(10_000)
        # Held while a stale claim of this host is settled and while one is taken again, so a
        # settle never deletes the fresh claim of a send in flight.
        self._settle_lock = threading.Lock()
        self._outbox: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._publisher = threading.Thread(
            target=self._publish_forever, name="publisher", daemon=True
        )
        self._publisher.start()
        self.pacing = ReadyScheduler(self)

    # lifecycle -------------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until ``shutdown()``; the calling thread answers RPC."""
        log.info("session host %s starting", self.host_id)
        ticker = threading.Thread(target=self._tick_forever, name="leases", daemon=True)
        listener = threading.Thread(target=self._listen, name="wake", daemon=True)
        health = threading.Thread(target=self._health_forever, name="health", daemon=True)
        heart = threading.Thread(target=self._beat_forever, name="heartbeat", daemon=True)
        self._beat()  # before any lease: a host without a heartbeat counts as gone
        heart.start()  # beating while the first clients start, which takes seconds
        self.reconcile()
        self.pacing.start()
        ticker.start()
        listener.start()
        health.start()
        while not self._stopping.is_set():
            try:
                self.rpc.serve_once()
            except redis.ConnectionError as exc:
                log.warning("Redis unreachable (%s); retrying", exc)
                self._stopping.wait(1.0)
        ticker.join(timeout=5)
        self.pacing.stop()
        self._release_all()
        self._heart_stop.set()  # only now: until its clients are gone the host still runs them
        heart.join(timeout=5)
        self.redis.delete(keys.host(self.host_id))
        self.flush_events()

    def shutdown(self) -> None:
        self._stopping.set()
        self._wake.set()

    def _listen(self) -> None:
        """Reconcile at once when the list of sessions changes, not at the next tick; send
        from a ready queue as soon as a worker fills it."""
        while not self._stopping.is_set():
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(keys.SESSIONS_CHANGED, keys.READY_WAKE)
                while not self._stopping.is_set():
                    if (message := pubsub.get_message(timeout=1.0)) is None:
                        continue
                    if message["channel"] != keys.READY_WAKE.encode():
                        self._wake.set()
                        continue
                    try:
                        self.pacing.wake(ready.woken(message["data"]))
                    except (signing.BadSignature, ValueError, KeyError):
                        log.warning("dropped a ready-queue wake-up Kabar did not sign")
            except redis.RedisError as exc:
                log.warning("lost the sessions-changed channel (%s); resubscribing", exc)
                self._stopping.wait(1.0)

    def _beat(self) -> None:
        self.redis.set(
            keys.host(self.host_id), json.dumps(self.held_sessions()), px=self.heartbeat_ms
        )

    def _beat_forever(self) -> None:
        """The heartbeat other hosts and callers read: renewed every third of its life, on a
        thread of its own so that a slow reconcile never lets it lapse."""
        while not self._heart_stop.wait(self.heartbeat_ms / 3000):
            try:
                self._beat()
            except redis.RedisError as exc:
                log.warning("could not renew the heartbeat: %s", exc)

    def _tick_forever(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.lease_ms / 3000)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self.reconcile()
            except redis.ConnectionError as exc:
                log.warning("Redis unreachable during lease renewal: %s", exc)
            except Exception:
                log.exception("lease renewal failed")

    def held_sessions(self) -> list[str]:
        with self._lock:
            return list(self.sessions)

    def reconcile(self) -> None:
        """Claim listed sessions nobody holds, renew ours, stop what was removed or lost."""
        desired = {
            sid.decode(): json.loads(conf)
            for sid, conf in self.redis.hgetall(keys.DESIRED_SESSIONS).items()
        }
        for session_id in self.held_sessions():
            if session_id not in desired:
                log.info("session %s was removed; stopping it", session_id)
                self._stop(session_id)
                self.leases.release(session_id)
            elif not self.leases.renew(session_id):
                log.warning("lost the lease on %s; another host took it", session_id)
                self._stop(session_id)
        for session_id, conf in desired.items():
            if session_id not in self.sessions and self.leases.take(session_id, keys.HOST_PREFIX):
                self._start(session_id, conf)
        self._beat()
        try:
            self._settle_leftovers()
        except redis.RedisError:
            log.warning("Redis failed while writing the outcome of cut-off sends; tried again")
        self.pacing.sweep(self.held_sessions())

    def _start(self, session_id: str, conf: dict[str, Any]) -> None:
        name = conf.get("transport", config.DEFAULT_TRANSPORT)
        store = CredentialStore(self.store_dir, session_id, self.key)
        try:
            if name not in TRANSPORTS:
                raise TransportError(
                    f"unknown transport {name!r}; expected one of {', '.join(TRANSPORTS)}"
                )
            transport = IsolatedTransport(
                session_id,
                store,
                self._emitter(session_id),
                conf.get("options"),
                pool=self.clients,
                transport=name,
            )
            with self._lock:
                self.sessions[session_id] = transport
            # What its previous host took and never saw settled goes first (sent once).
            ready.recover(self.redis, session_id)
        except Exception as exc:
            log.exception("session %s could not start", session_id)
            self._publish(
                session_id, EventKind.STATUS, {"status": SessionState.FAILED, "reason": str(exc)}
            )
            return
        # Its client process boots on a thread of its own: that takes seconds, and the rounds
        # that renew the leases (this one's included) must not wait for it.
        threading.Thread(
            target=self._boot, args=(session_id, transport, name), name=f"start-{session_id}"
        ).start()

    def _boot(self, session_id: str, transport: Transport, name: str) -> None:
        try:
            transport.start()
            log.info("session %s started (%s)", session_id, name)
        except Exception as exc:
            log.exception("session %s could not start", session_id)
            self._publish(
                session_id, EventKind.STATUS, {"status": SessionState.FAILED, "reason": str(exc)}
            )
            with self._lock:
                current = self.sessions.get(session_id) is transport
            if current:
                self._stop(session_id)  # the next round tries again

    def _stop(self, session_id: str) -> None:
        with self._lock:
            transport = self.sessions.pop(session_id, None)
            self.state.pop(session_id, None)
            self._health.pop(session_id, None)
            self._activity.pop(session_id, None)
        if transport is not None:
            try:
                transport.stop()
            except Exception:
                log.exception("session %s did not stop cleanly", session_id)
            self.pacing.wake([session_id])  # its queue goes back unless another host holds it

    def _release_all(self) -> None:
        """Stop every session at once: a client that will not stop (neonize while a QR shows)
        is killed after a few seconds, and one such client must not hold up the others."""
        held = self.held_sessions()
        stoppers = [
            threading.Thread(target=self._stop, args=(sid,), name=f"stop-{sid}") for sid in held
        ]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        for session_id in held:
            self.leases.release(session_id)
            self._publish(
                session_id,
                EventKind.STATUS,
                {"status": SessionState.DISCONNECTED, "reason": "host stopped"},
            )
        self.rpc.close()
        self._pinger.shutdown(wait=False, cancel_futures=True)
        log.info("session host %s stopped", self.host_id)

    # events ----------------------------------------------------------------------------------

    def _emitter(self, session_id: str):
        def emit(kind: str, **data: Any) -> None:
            if kind in (EventKind.MESSAGE, EventKind.RECEIPT):
                with self._lock:
                    self._activity[session_id] = time.time()
            if kind == EventKind.STATUS:
                with self._lock:
                    self.state.setdefault(session_id, {}).update(
                        {k: v for k, v in data.items() if k in ("status", "phone", "reason")}
                    )
                    if data.get("status") == SessionState.CONNECTED:
                        self._activity.setdefault(session_id, time.time())
                    else:
                        self._health.pop(session_id, None)
                # Connected: send what waits; anything else: give the queue back at once.
                self.pacing.wake([session_id])
            elif kind == EventKind.PAIRED:
                with self._lock:
                    self.state.setdefault(session_id, {})["phone"] = data.get("phone")
            self._publish(session_id, kind, data)

        return emit

    def _publish(self, session_id: str, kind: str, data: dict[str, Any]) -> None:
        """Hand the event to the publisher thread; transports never wait for Redis."""
        event = {"session_id": session_id, "kind": kind, "at": time.time(), "host": self.host_id}
        event.update(data)
        self._outbox.put(event)

    def _publish_forever(self) -> None:
        """Append the events to the stream in order, as many per round trip as have queued up
        (a burst of receipts costs a few round trips, not three per receipt). Stops at None."""
        while (first := self._outbox.get()) is not None:
            batch = [first]
            while len(batch) < PUBLISH_BATCH:
                try:
                    event = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if event is None:
                    self._outbox.put(None)  # stop after this batch
                    break
                batch.append(event)
            try:
                self._publish_batch(batch)
            except Exception:  # the publisher must outlive one bad batch
                log.exception("could not publish %d session events; dropped", len(batch))

    def _publish_batch(self, batch: list[dict[str, Any]]) -> None:
        while True:
            try:
                self._name_receipts(batch)
                session_events.publish_many(self.redis, batch)
                return
            except redis.RedisError:
                if self._stopping.is_set():
                    log.exception("could not publish %d session events; dropped", len(batch))
                    return
                log.exception("could not publish %d session events; retrying", len(batch))
                self._stopping.wait(1.0)

    def _name_receipts(self, batch: list[dict[str, Any]]) -> None:
        """Give receipts the Kabar message id their WhatsApp id was sent as, when known: from
        this host's memory of its latest sends, else from the records in Redis."""
        unnamed = [e for e in batch if e["kind"] == EventKind.RECEIPT and "message_id" not in e]
        for event in unnamed:
            if (known := self._names.get(event["wa_message_id"])) is not None:
                event["message_id"] = known
        unnamed = [e for e in unnamed if "message_id" not in e]
        if not unnamed:
            return
        found = self.redis.mget([keys.wa_message(e["wa_message_id"]) for e in unnamed])
        for event, message_id in zip(unnamed, found, strict=True):
            if message_id is not None:
                event["message_id"] = message_id.decode()

    def flush_events(self, timeout: float = 10.0) -> None:
        """Publish what is queued and stop the publisher (the host is going away)."""
        self._outbox.put(None)
        self._publisher.join(timeout=timeout)

    # RPC -------------------------------------------------------------------------------------

    def handle(self, session_id: str, method: str, params: dict[str, Any]) -> Any:
        transport = self.sessions.get(session_id)
        if transport is None:
            raise TransportError(f"session {session_id} is not held here", code=RpcCode.NOT_HOSTED)
        if method == RpcMethod.SEND:
            return self._send(session_id, transport, params)
        if method == RpcMethod.SEND_BATCH:
            return self._send_batch(session_id, transport, params)
        if method == RpcMethod.STATUS:
            with self._lock:
                state = {"host": self.host_id, **self.state.get(session_id, {})}
            return {**state, "pid": getattr(transport, "pid", None)}
        if method == RpcMethod.SIMULATE:
            return transport.simulate(params["action"], params.get("params") or {})
        if method == RpcMethod.PAIR:
            return {"code": transport.pair_phone(params["phone"])}
        if method == RpcMethod.CHECK_NUMBERS:
            return transport.on_whatsapp([str(phone) for phone in params.get("phones") or []])
        if method == RpcMethod.LOGOUT:
            transport.logout()
            return {"status": SessionState.LOGGED_OUT}
        if method == RpcMethod.RECONNECT:
            self.reconnect(session_id, "asked by Kabar")
            with self._lock:
                return {"host": self.host_id, **self.state.get(session_id, {})}
        raise UnknownMethod(f"unknown method {method!r}")

    def reconnect(self, session_id: str, reason: str) -> None:
        """Stop the session's transport and start it again (resuming its stored login).

        One reconnect per session at a time: a second caller waits for the first and then
        reconnects again, which is harmless. The host's lock is not held meanwhile, because a
        stopping transport may still emit events.
        """
        with self._lock:
            transport = self.sessions.get(session_id)
            lock = self._reconnect_locks.setdefault(session_id, threading.Lock())
        if transport is None:
            raise TransportError(f"session {session_id} is not held here", code=RpcCode.NOT_HOSTED)
        with lock:
            log.info("session %s: reconnecting (%s)", session_id, reason)
            with self._lock:
                self._health.pop(session_id, None)
            transport.stop()
            if self.sessions.get(session_id) is transport and not self._stopping.is_set():
                transport.start()

    # health ----------------------------------------------------------------------------------

    def _health_forever(self) -> None:
        while not self._stopping.wait(self.health_interval_s):
            try:
                self.check_health()
            except Exception:
                log.exception("health check failed")

    def check_health(self) -> None:
        """One round: ping every connected session at once, then judge each answer."""
        started = time.monotonic()
        rounds: list[tuple[str, HealthState, Any]] = []
        for session_id in self.held_sessions():
            with self._lock:
                transport = self.sessions.get(session_id)
                connected = self.state.get(session_id, {}).get("status") == SessionState.CONNECTED
                health = self._health.setdefault(session_id, HealthState()) if connected else None
            if transport is None or health is None:
                continue
            if health.pending is not None and not health.pending.done():
                # The previous round trip still hangs: that is this round's failure too.
                self._judge(session_id, health, None, "the previous health check never answered")
                continue
            health.pending = self._pinger.submit(_timed_ping, transport)
            rounds.append((session_id, health, health.pending))
        for session_id, health, future in rounds:
            remaining = max(started + self.health_timeout_s - time.monotonic(), 0.0)
            try:
                elapsed, error = future.result(timeout=remaining)
            except FutureTimeout:
                elapsed, error = None, f"no answer within {self.health_timeout_s:g} s"
            if error is _UNSUPPORTED:
                continue
            self._judge(session_id, health, elapsed, error)

    def _judge(
        self, session_id: str, health: HealthState, elapsed: float | None, error: str | None
    ) -> None:
        """Publish what changed, and reconnect after too many failures in a row."""
        with self._lock:
            if self._health.get(session_id) is not health:
                return  # the session changed state meanwhile; this answer is stale
        ok = error is None
        slow = ok and elapsed is not None and elapsed > self.health_slow_s
        idle_s = self._idle_seconds(session_id)
        idle = idle_s is not None and idle_s > self.idle_after_s
        health.failures = 0 if ok else health.failures + 1
        warning = None
        if not ok:
            warning = f"health check failed ({health.failures} in a row): {error}"
        elif slow:
            warning = f"health check slow: {elapsed:.1f} s (limit {self.health_slow_s:g} s)"
        elif idle:
            warning = f"idle: no traffic for {idle_s / 3600:.1f} h"
        recovered = ok and not slow and health.troubled
        reconnect = health.failures > self.health_max_failures
        if warning or recovered or idle != health.idle:
            event: dict[str, Any] = {
                "ok": ok,
                "slow": slow,
                "latency_ms": None if elapsed is None else round(elapsed * 1000),
                "failures": health.failures,
                "warning": warning,
                "idle": idle,
                "idle_s": None if idle_s is None else round(idle_s),
            }
            if reconnect:
                event["action"] = "reconnect"
            self._publish(session_id, EventKind.HEALTH, event)
        health.troubled = not ok or slow
        health.idle = idle
        if reconnect:
            log.warning(
                "session %s: %d health checks failed in a row; reconnecting",
                session_id,
                health.failures,
            )
            try:
                self.reconnect(session_id, f"{health.failures} failed health checks")
            except TransportError as exc:
                log.warning("session %s: reconnect failed: %s", session_id, exc)

    def _idle_seconds(self, session_id: str) -> float | None:
        """Seconds since the session's last traffic: a send, a receipt, an incoming message."""
        now = time.time()
        with self._lock:
            last = self._activity.get(session_id)
            sent = self._last_send.get(session_id)
        if sent is not None:
            sent_wall = now - (time.monotonic() - sent)
            last = sent_wall if last is None else max(last, sent_wall)
        return None if last is None else max(now - last, 0.0)

    def _paced_send(self, session_id: str, transport: Transport, params: dict[str, Any]):
        """The last guard of the pacing contract: the workers' pacer grants slots at least
        ``min_gap_ms`` apart, but RPC latency varies; here sends of one number are serialised
        and held until the gap has passed since the previous one actually went out.

        With ``typing_ms`` the recipient sees "typing..." that long before the message, as from a
        person; the typing overlaps the wait for the gap, and a presence that fails is only
        logged: it never stops the send."""
        with self._lock:
            lock = self._send_locks.setdefault(session_id, threading.Lock())
        min_gap = float(params.get("min_gap_ms") or 0) / 1000
        typing = float(params.get("typing_ms") or 0) / 1000
        with lock:
            last = self._last_send.get(session_id)
            ready = time.monotonic() if last is None or min_gap <= 0 else last + min_gap
            if typing > 0:
                self._stopping.wait(max(ready - typing - time.monotonic(), 0))
                self._show_presence(session_id, transport, params["jid"], typing=True)
                ready = max(ready, time.monotonic() + typing)
            self._stopping.wait(max(ready - time.monotonic(), 0))
            try:
                wa_id = wa_message_id(str(params["message_id"]))
                if params.get("media"):
                    return transport.send_media(
                        params["jid"], params["text"], params["media"], wa_id
                    )
                return transport.send_text(params["jid"], params["text"], wa_id)
            except Exception:
                if typing > 0:  # no message will end the "typing...": end it
                    self._show_presence(session_id, transport, params["jid"], typing=False)
                raise
            finally:
                self._last_send[session_id] = time.monotonic()

    def _show_presence(self, session_id: str, transport: Transport, jid: str, typing: bool) -> None:
        try:
            transport.send_presence(jid, typing)
        except Exception as exc:  # noqa: BLE001 - cosmetic: the send goes on regardless
            log.warning("session %s: typing presence failed: %s", session_id, exc)

    def _send(self, session_id: str, transport: Transport, params: dict[str, Any]) -> dict:
        """Send once per Kabar message id, however often the call is repeated."""
        item = {"message_id": params["message_id"], "jid": params["jid"], "text": params["text"]}
        if params.get("media"):
            item["media"] = params["media"]
        result = self._send_batch(session_id, transport, {**params, "messages": [item]})
        outcome = result["results"][0]
        if outcome["state"] == SendState.ERROR:
            raise TransportError(outcome["error"], code=outcome["code"])
        return outcome

    def _send_batch(self, session_id: str, transport: Transport, params: dict[str, Any]) -> dict:
        """Send several messages in order, each once per Kabar message id.

        Each message is claimed just before it goes and recorded just after, so a host that dies
        mid-batch leaves at most the message in flight unaccounted for; one Redis round trip
        per message writes the previous record and takes the next claim. With ``budget_s`` the
        batch stops once that time is spent, well before the caller's timeout, and the rest are
        answered ``later`` (unclaimed: the caller sends them next).

        Answers ``{"results": [...]}`` in the order given: each ``sent`` (with the record, and
        ``duplicate`` when an earlier call sent it) or ``error`` (with ``code`` and ``error``).
        When the transport fails, nothing after that message is tried, and they get its error.
        """
        batch = params["messages"]
        budget = float(params.get("budget_s") or 0)
        deadline = time.monotonic() + budget if budget > 0 else None
        results: list[dict[str, Any]] = []
        done: tuple[str, dict[str, Any]] | None = None  # the last record, not yet written
        self._settle_leftovers()
        for index, item in enumerate(batch):
            if deadline is not None and index and time.monotonic() >= deadline:
                waiting = _refusal(SEND_LATER, "the call's time ran out before this message")
                results += [waiting] * (len(batch) - index)
                break
            message_id = str(item["message_id"])
            with self._lock:
                busy = message_id in self._claimed  # another call of this host sends it
                self._claimed.add(message_id)
            try:
                # A message another call of this host sends is not claimed, but the record of
                # the one just sent is written all the same.
                if busy:
                    if done is not None:
                        self._claim(session_id, None, done)
                    mine = False
                else:
                    mine = self._claim(session_id, message_id, done)
            except redis.RedisError:
                # Redis failed: the previous message went out but its record is not written,
                # and this one's claim may or may not be (nothing of it went out).
                if done is not None:
                    self._unsettle(done[0], done[1])
                if not busy:
                    self._unsettle(message_id, _FORGET)
                raise
            if done is not None:
                with self._lock:
                    self._claimed.discard(done[0])  # its record is written
            retaken = False
            try:
                if not busy and not mine:
                    with self._settle_lock:
                        if self._leftover(message_id):
                            retaken = True  # its old claim is gone: nothing of it went out
                            mine = self._claim(session_id, message_id, None)
            except redis.RedisError:
                if retaken:  # the new claim may be written: it is settled when Redis answers
                    self._unsettle(message_id, _FORGET)
                else:
                    with self._lock:
                        self._claimed.discard(message_id)
                raise
            done = None
            if not mine:
                if not busy:
                    with self._lock:
                        self._claimed.discard(message_id)
                results.append(self._earlier(message_id))
                continue
            # A transport that takes our id (the simulator) may have the receipt back before
            # send_text returns: the publisher must be able to name it already.
            self._names.remember(wa_message_id(message_id), message_id)
            try:
                sent = self._paced_send(session_id, transport, {**params, **item})
            except Exception as exc:  # noqa: BLE001 - reported per message, like _send's
                nothing = isinstance(exc, TransportError) and not getattr(
                    exc, "outcome_unknown", False
                )
                try:
                    if nothing:
                        self.redis.delete(keys.sent_record(message_id))  # nothing went out
                    else:  # it may have gone out (a crash, a bug after the send): never again
                        self._unknown(session_id, message_id)
                except redis.RedisError:
                    self._unsettle(message_id, _FORGET if nothing else _UNKNOWN)
                    raise
                with self._lock:
                    self._claimed.discard(message_id)
                failure = _refusal(getattr(exc, "code", RpcCode.SEND_FAILED), str(exc) or repr(exc))
                results += [failure] * (len(batch) - index)
                break
            record = {
                "state": SendState.SENT,
                "session_id": session_id,
                "wa_message_id": sent.wa_message_id,
                "sent_at": sent.sent_at,
            }
            self._names.remember(sent.wa_message_id, message_id)
            results.append(record)
            done = (message_id, record)
        if done is not None:
            try:
                self._claim(session_id, None, done)
            except redis.RedisError:
                self._unsettle(done[0], done[1])
                raise
            with self._lock:
                self._claimed.discard(done[0])
        return {"results": results}

    def _unsettle(self, message_id: str, outcome: dict[str, Any] | str) -> None:
        """Redis failed before this host wrote how its claimed send of ``message_id`` ended
        (``outcome``: the sent record, ``_FORGET`` nothing went out, ``_UNKNOWN`` it may have):
        kept until Redis answers again (``_settle_leftovers``). Until then the claim, naming a
        live host, would read as a send still in progress to every later attempt."""
        with self._lock:
            self._claimed.discard(message_id)
            if outcome != _FORGET or message_id not in self._unsettled:
                self._unsettled[message_id] = outcome  # "nothing went out" never hides more

    def _settle_leftovers(self) -> None:
        """Write how the sends Redis failed to hear about ended (see ``_unsettle``)."""
        with self._lock:
            if not self._unsettled:
                return
            pending = dict(self._unsettled)
        for message_id, outcome in pending.items():
            with self._settle_lock:
                with self._lock:
                    # Settled meanwhile, or being sent again by this host (which settles it
                    # itself): its claim may be a fresh one, never to be deleted from here.
                    if self._unsettled.get(message_id) is not outcome:
                        continue
                    if message_id in self._claimed:
                        continue
                self._write_outcome(message_id, outcome)
                with self._lock:
                    if self._unsettled.get(message_id) is outcome:
                        del self._unsettled[message_id]
        log.info("wrote the outcome of %d send(s) cut off by a Redis failure", len(pending))

    def _write_outcome(self, message_id: str, outcome: dict[str, Any] | str) -> None:
        if isinstance(outcome, dict):  # it went out: its record, whatever Redis holds now
            self._claim("", None, (message_id, outcome))
        else:
            _settle_claim_script(self.redis)(
                keys=[keys.sent_record(message_id)], args=[self.host_id, outcome]
            )

    def _leftover(self, message_id: str) -> bool:
        """The message's claim names this host, which is not sending it: a send of this host
        cut off by a Redis failure (or whose end Redis lost with its last second of data).
        Its outcome is written now, what this host knows of it, else as unknown; True when
        nothing went out and the message may be claimed again."""
        record = json.loads(self.redis.get(keys.sent_record(message_id)) or "{}")
        if record.get("state") != SendState.SENDING or record.get("host") != self.host_id:
            return False
        with self._lock:
            kept = self._unsettled.get(message_id)
        outcome = kept if kept is not None else self._records.get(message_id) or _UNKNOWN
        log.warning(
            "message %s: a send of this host was cut off; its outcome: %s",
            message_id,
            outcome if isinstance(outcome, str) else SendState.SENT,
        )
        self._write_outcome(message_id, outcome)
        with self._lock:
            if kept is not None and self._unsettled.get(message_id) is kept:
                del self._unsettled[message_id]
        return outcome == _FORGET

    def _claim(
        self, session_id: str, message_id: str | None, done: tuple[str, dict[str, Any]] | None
    ) -> bool:
        """In one round trip: write the record of the message just sent (``done``) and claim
        ``message_id`` for this host; whether the claim is ours."""
        pipe = self.redis.pipeline()
        if done is not None:
            sent_id, record = done
            self._records.remember(sent_id, record)
            pipe.set(keys.sent_record(sent_id), json.dumps(record), ex=SENT_RECORD_TTL_S)
            pipe.set(keys.wa_message(record["wa_message_id"]), sent_id, ex=SENT_RECORD_TTL_S)
        if message_id is not None:
            claim = {"state": SendState.SENDING, "host": self.host_id, "session_id": session_id}
            pipe.set(keys.sent_record(message_id), json.dumps(claim), nx=True, ex=SENT_RECORD_TTL_S)
        answers = pipe.execute()
        return message_id is not None and bool(answers[-1])

    def _unknown(self, session_id: str, message_id: str) -> None:
        """The message may have gone out (its client died mid-send): the claim stays, so nothing
        sends it by itself again, but it names no live host, so the operator may resend it."""
        claim = {"state": SendState.SENDING, "session_id": session_id, "outcome": "unknown"}
        self.redis.set(keys.sent_record(message_id), json.dumps(claim), xx=True, keepttl=True)

    def _earlier(self, message_id: str) -> dict[str, Any]:
        """The answer for a message another call claimed: its record once sent, else busy."""
        record = json.loads(self.redis.get(keys.sent_record(message_id)) or "{}")
        if record.get("state") == SendState.SENT:
            return {**record, "duplicate": True}
        return _refusal(SendInProgress.code, f"message {message_id} is being sent already")


_FORGET, _UNKNOWN = "forget", "unknown"
# Settle a claim of this host (KEYS[1] the sent record; ARGV[1] the host id), only while it is
# still that host's claim: ARGV[2] "forget" deletes it (nothing went out), "unknown" keeps it
# without the host (it may have gone out: never sent again, the operator may resend).
_SETTLE_CLAIM = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local claim = cjson.decode(raw)
if claim.state ~= 'sending' or claim.host ~= ARGV[1] then return 0 end
if ARGV[2] == 'forget' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], cjson.encode({state = 'sending', session_id = claim.session_id,
    outcome = 'unknown'}), 'KEEPTTL')
end
return 1
"""
_settle_claim_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _settle_claim_script(client: redis.Redis):
    script = _settle_claim_scripts.get(client)
    if script is None:
        script = _settle_claim_scripts[client] = client.register_script(_SETTLE_CLAIM)
    return script


class _RecentSends:
    """WhatsApp id -> Kabar message id of this host's latest sends, so the publisher can name a
    receipt that arrives before the send's record reached Redis. Bounded: oldest go first."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._names: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, wa_message_id: str, message_id: str) -> None:
        with self._lock:
            self._names[wa_message_id] = message_id
            while len(self._names) > self.size:
                self._names.popitem(last=False)

    def get(self, wa_message_id: str) -> str | None:
        with self._lock:
            return self._names.get(wa_message_id)


def _refusal(code: str, error: str) -> dict[str, str]:
    return {"state": SendState.ERROR, "code": code, "error": error}


_UNSUPPORTED = RpcCode.UNSUPPORTED


def _timed_ping(transport: Transport) -> tuple[float, str | None]:
    """(seconds the round trip took, why it failed or None); ``_UNSUPPORTED`` as the reason
    when the transport cannot be health-checked."""
    started = time.monotonic()
    try:
        transport.ping()
    except Unsupported:
        return time.monotonic() - started, _UNSUPPORTED
    except Exception as exc:  # noqa: BLE001 - any failure is a failed health check
        return time.monotonic() - started, str(exc) or type(exc).__name__
    return time.monotonic() - started, None
