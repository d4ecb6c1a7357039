"""The session host's side of the client processes: each number's transport in a process of its own.

``IsolatedTransport`` is what the host drives for a session: the Transport interface, carried
out by the real transport in a child process (``workers.session_host.child``). When that process
dies (a Go panic, a SIGSEGV, a kill -9), only that number is hit: its calls in flight fail, the
session is reported ``connecting`` with the crash's last words as the reason, and a new process
is started after the same back-off as a reconnect (base doubling up to a cap, then ``failed``
after ``max_attempts`` crashes in a row). A send that was in flight when its client died may
have gone out, so it fails as ``ClientCrashed``, whose outcome is unknown.

Every neonize session gets a process of its own. Simulator sessions may share one process, up to
``KABAR_SIM_SESSIONS_PER_PROCESS`` (default 1), so a benchmark with hundreds of simulated numbers
does not cost hundreds of interpreters.
"""

from __future__ import annotations

import base64
import collections
import itertools
import logging
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any
from urllib.parse import quote

import webapp.config as config
from webapp.core.backoff import backoff
from webapp.core.credentials import CredentialStore
from workers.queue.contracts import ClientMethod, EventKind, RpcCode, SessionState
from workers.queue.masking import mask_digits
from workers.session_host.transports.base import (
    EventSink,
    NotConnected,
    SendResult,
    Transport,
    TransportError,
)
from workers.session_host.wire import Channel

log = logging.getLogger(__name__)

# Longest wait for a client's answer to one call; a send that hangs longer is given up on.
CALL_TIMEOUT_S = 60.0
# How long the host waits for a client's stop call, and then for the process to end by itself
# (it goes on stopping once its socket is closed; neonize never stops while a QR shows).
STOP_TIMEOUT_S = 3.0
EXIT_TIMEOUT_S = 6.0
# Lines of a client's stderr kept to tell why it died.
LAST_WORDS = 40
# The environment every client starts with. NEONIZE_BOT_TAG is read by Go when the library
# loads: without "off" every 1:1 message carries a bot tag and recipients see an AI label.
CLIENT_ENV = {"NEONIZE_BOT_TAG": "off"}
_FATAL = re.compile(r"^(panic:|fatal error:|Fatal Python error:|\[signal )")


class ClientCrashed(TransportError):
    """The client process of the session died while the call was under way."""

    code = RpcCode.CLIENT_CRASHED
    # A send that was in flight may have reached WhatsApp before the process died.
    outcome_unknown = True


class ClientError(RuntimeError):
    """The client raised something that is not a TransportError (a bug, not a refusal). It may
    have come after a send went out, so a send that ends this way is never repeated."""

    code = "client_error"
    outcome_unknown = True


def _error_classes(base: type[TransportError]) -> dict[str, type[TransportError]]:
    """Every TransportError class by its code, so a client's refusal keeps its type here."""
    found = {base.code: base}
    for sub in base.__subclasses__():
        found.update(_error_classes(sub))
    return found


_ERRORS = _error_classes(TransportError)


def redis_url_of(client: Any) -> str:
    """The URL of the Redis ``client`` talks to, so a child can open its own connection."""
    kw = client.connection_pool.connection_kwargs
    db = kw.get("db", 0)
    if "path" in kw:
        return f"unix://{kw['path']}?db={db}"
    user, password = (
        quote(kw.get("username") or "", safe=""),
        quote(kw.get("password") or "", safe=""),
    )
    auth = f"{user}:{password}@" if password else ""
    tls = client.connection_pool.connection_class.__name__ == "SSLConnection"
    where = f"{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}"
    return f"{'rediss' if tls else 'redis'}://{auth}{where}/{db}"


class ClientProcess:
    """One child process holding the transports of one or more sessions."""

    _ids = itertools.count(1)

    def __init__(self, transport: str, sessions: list[str], init: dict[str, Any], on_exit) -> None:
        self.transport = transport
        self.sessions: set[str] = set(sessions)
        self._on_exit = on_exit
        self._pending: dict[int, Future] = {}
        self._sinks: dict[str, EventSink] = {}
        self._lock = threading.Lock()
        self._calls = itertools.count(1)
        self.last_words: collections.deque[str] = collections.deque(maxlen=LAST_WORDS)
        self.started_at = time.monotonic()
        self.closing = False
        self.dead = threading.Event()
        ours, theirs = socket.socketpair()
        self.proc: subprocess.Popen | None = None
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "workers.session_host.child",
                    "--fd",
                    str(theirs.fileno()),
                    "--transport",
                    transport,
                    *sorted(sessions),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=config.child_environment(CLIENT_ENV),
            )
        finally:
            theirs.close()
        self.pid = self.proc.pid
        self.channel = Channel(ours)
        try:
            self.channel.send({"op": "init", **init})
        except OSError:
            self.proc.kill()
            self.channel.close()
            raise
        name = f"client-{next(self._ids)}"
        threading.Thread(target=self._read, name=f"{name}-read", daemon=True).start()
        threading.Thread(target=self._relay_stderr, name=f"{name}-err", daemon=True).start()

    # calls and events ------------------------------------------------------------------------

    def attach(self, session_id: str, sink: EventSink) -> None:
        with self._lock:
            self.sessions.add(session_id)
            self._sinks[session_id] = sink

    def detach(self, session_id: str) -> bool:
        """Forget ``session_id``; True when the process holds no session any more."""
        with self._lock:
            self.sessions.discard(session_id)
            self._sinks.pop(session_id, None)
            return not self.sessions

    def call(self, session_id: str, method: str, timeout: float = CALL_TIMEOUT_S, **args: Any):
        future: Future = Future()
        with self._lock:
            if self.dead.is_set():
                raise self._crash_error()
            call_id = next(self._calls)
            self._pending[call_id] = future
        try:
            self.channel.send(
                {"op": "call", "id": call_id, "session": session_id, "method": method, "args": args}
            )
            reply = future.result(timeout=timeout)
        except FutureTimeout:
            raise ClientCrashed(
                f"the WhatsApp client of this number did not answer {method} in {timeout:g} s"
            ) from None
        except OSError:  # the call never reached the client: nothing was done
            raise NotConnected(
                f"the WhatsApp client of session {session_id} is restarting"
            ) from None
        finally:
            with self._lock:
                self._pending.pop(call_id, None)
        if "error" in reply:
            error = reply["error"]
            if not error.get("transport_error"):
                raise ClientError(error["message"])
            code = error.get("code") or TransportError.code
            refusal = _ERRORS.get(code, TransportError)(error["message"], code=code)
            if error.get("outcome_unknown"):
                refusal.outcome_unknown = True
            raise refusal
        return reply.get("result")

    def _read(self) -> None:
        for message in self.channel.messages():
            op = message.get("op")
            if op == "reply":
                with self._lock:
                    future = self._pending.get(message.get("id"))
                if future is not None and not future.done():
                    future.set_result(message)
            elif op == "event":
                with self._lock:
                    sink = self._sinks.get(message.get("session"))
                if sink is not None:
                    try:
                        sink(message["kind"], **(message.get("data") or {}))
                    except Exception:  # noqa: BLE001 - one bad event must not stop the reader
                        log.exception("event of %s could not be handled", message.get("session"))
        self._ended()

    def _relay_stderr(self) -> None:
        """Pass the client's log on to ours (numbers masked), keeping its last words."""
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = mask_digits(raw.decode(errors="replace").rstrip())
            if line:
                self.last_words.append(line)
                print(line, file=sys.stderr, flush=True)

    def _ended(self) -> None:
        with self._lock:
            self.dead.set()  # no new call from now on
        try:
            code = self.proc.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # the socket closed but the process hangs on
            self.proc.kill()
            code = self.proc.wait()
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
            sessions = list(self.sessions)
        self.exit_code = code
        for future in pending:
            if not future.done():
                future.set_exception(self._crash_error())
        self.channel.close()
        if not self.closing:
            log.warning(
                "client process %s of %s died (%s)", self.pid, ", ".join(sessions), self.reason()
            )
            self._on_exit(self, sessions)

    def reason(self) -> str:
        """Why the process ended, in a few words: Go's or Python's fatal line, else its signal."""
        code = self.proc.returncode
        how = ""
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        elif code is not None:
            how = f"exit code {code}"
        words = list(self.last_words)
        fatal = next((w for w in words if _FATAL.match(w)), None)
        said = fatal or (words[-1] if words and code not in (0, None) else "")
        said = said[:300]
        return f"{said} ({how})" if said and how else said or how or "ended"

    def _crash_error(self) -> ClientCrashed:
        return ClientCrashed(f"the WhatsApp client of this number crashed: {self.reason()}")

    # ending ----------------------------------------------------------------------------------

    def close(self, timeout: float = EXIT_TIMEOUT_S) -> None:
        """End the process: close its socket (it exits on its own), kill it if it lingers."""
        self.closing = True
        self.channel.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        self.proc.kill()


class ClientPool:
    """The client processes of one host: which process holds which session."""

    def __init__(self, redis_url: str, key: bytes, store_dir: Path, group: int | None = None):
        self.init = {
            "redis_url": redis_url,
            "key": base64.b64encode(key).decode(),
            "store_dir": str(store_dir),
        }
        self.group = max(int(config.SIM_SESSIONS_PER_PROCESS if group is None else group), 1)
        self._lock = threading.Lock()
        self._procs: list[ClientProcess] = []
        self._watchers: dict[str, Any] = {}

    def acquire(self, session_id: str, transport: str, sink: EventSink, on_crash) -> ClientProcess:
        """The process that holds ``session_id``, started if need be."""
        with self._lock:
            self._watchers[session_id] = on_crash
            size = self.group if transport == "simulator" else 1
            for proc in self._procs:
                if (
                    proc.transport == transport
                    and not proc.dead.is_set()
                    and not proc.closing
                    and (session_id in proc.sessions or len(proc.sessions) < size)
                ):
                    proc.attach(session_id, sink)
                    return proc
            proc = ClientProcess(transport, [session_id], self.init, self._exited)
            proc.attach(session_id, sink)
            self._procs.append(proc)
            return proc

    def release(self, session_id: str, proc: ClientProcess) -> None:
        """``session_id`` is stopped: end its process once no other session is in it."""
        with self._lock:
            self._watchers.pop(session_id, None)
            empty = proc.detach(session_id)
            if empty and proc in self._procs:
                self._procs.remove(proc)
        if empty:
            proc.close()

    def _exited(self, proc: ClientProcess, sessions: list[str]) -> None:
        with self._lock:
            if proc in self._procs:
                self._procs.remove(proc)
            watchers = [self._watchers.get(sid) for sid in sessions]
        for watcher in watchers:
            if watcher is not None:
                watcher(proc)

    def processes(self) -> list[ClientProcess]:
        with self._lock:
            return list(self._procs)


class IsolatedTransport(Transport):
    """A session's transport run in a client process; restarts that process when it dies."""

    def __init__(
        self,
        session_id: str,
        credentials: CredentialStore,
        emit: EventSink,
        options: Mapping[str, Any] | None = None,
        *,
        pool: ClientPool,
        transport: str,
    ) -> None:
        super().__init__(session_id, credentials, emit, options)
        self.name = transport
        self.pool = pool
        options = self.options
        self.backoff_base = float(options.get("backoff_base", config.RECONNECT_BACKOFF_BASE_S))
        self.backoff_cap = float(options.get("backoff_cap", config.RECONNECT_BACKOFF_CAP_S))
        self.max_attempts = max(int(options.get("max_attempts", config.RECONNECT_MAX_ATTEMPTS)), 1)
        self.jitter = float(options.get("jitter", config.RECONNECT_JITTER_S))
        self._lock = threading.RLock()
        self._proc: ClientProcess | None = None
        self._running = False
        self._crashes = 0
        self._restart: threading.Timer | None = None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None or proc.dead.is_set() else proc.pid

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._running = True
            self._cancel_restart()
            self._launch()

    def _launch(self) -> None:
        proc = self.pool.acquire(self.session_id, self.name, self.emit, self._crashed)
        self._proc = proc
        try:
            proc.call(
                self.session_id, ClientMethod.START, transport=self.name, options=self.options
            )
        except ClientCrashed:
            pass  # the crash handler restarts it

    def stop(self) -> None:
        with self._lock:
            self._running = False
            self._cancel_restart()
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.call(self.session_id, ClientMethod.STOP, timeout=STOP_TIMEOUT_S)
        except (TransportError, ClientError) as exc:
            log.info("session %s: client did not stop cleanly (%s)", self.session_id, exc)
        self.pool.release(self.session_id, proc)

    def _cancel_restart(self) -> None:
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None

    def _crashed(self, proc: ClientProcess) -> None:
        """The process died under this session: report it, restart after the back-off."""
        with self._lock:
            if not self._running or self._proc is not proc:
                return
            self._proc = None
            lived = time.monotonic() - proc.started_at
            # A client that ran longer than the longest wait is a new trouble, not a loop.
            self._crashes = 1 if lived > self.backoff_cap else self._crashes + 1
            self._retry_later(f"the WhatsApp client of this number crashed: {proc.reason()}")

    def _retry_later(self, reason: str) -> None:
        """One more crash in a row (lock held): report it and start again after the back-off,
        or give up with ``failed`` after ``max_attempts``."""
        if self._crashes > self.max_attempts:
            self._running = False
            self.emit(
                EventKind.STATUS,
                status=SessionState.FAILED,
                reason=reason,
                attempt=self._crashes - 1,
            )
            return
        delay = backoff(self._crashes, self.backoff_base, self.backoff_cap, self.jitter)
        self.emit(
            EventKind.STATUS,
            status=SessionState.CONNECTING,
            reason=reason,
            attempt=self._crashes,
            retry_in=round(delay, 1),
        )
        self._restart = threading.Timer(delay, self._relaunch)
        self._restart.daemon = True
        self._restart.start()

    def _relaunch(self) -> None:
        with self._lock:
            if not self._running or self._proc is not None:
                return
            self._restart = None
            log.info("session %s: starting a new client process", self.session_id)
            try:
                self._launch()
            except Exception as exc:  # noqa: BLE001 - a failed start is one more crash
                log.exception("session %s: the client process could not start", self.session_id)
                self._failed_launch(exc)

    def _failed_launch(self, exc: Exception) -> None:
        """The new process did not start (no memory, no fork, its start refused): count it as a
        crash, so the session goes on with the back-off and ends ``failed``, never stuck."""
        proc, self._proc = self._proc, None
        if proc is not None:
            self.pool.release(self.session_id, proc)
        self._crashes += 1
        self._retry_later(f"the WhatsApp client of this number could not start: {exc}")

    # calls -----------------------------------------------------------------------------------

    def _call(self, method: str, **args: Any) -> Any:
        with self._lock:  # a call that comes while the client is starting waits for it
            proc = self._proc
        if proc is None:
            raise NotConnected(f"the WhatsApp client of session {self.session_id} is restarting")
        return proc.call(self.session_id, method, **args)

    def send_text(self, jid: str, text: str, wa_message_id: str) -> SendResult:
        result = self._call(ClientMethod.SEND_TEXT, jid=jid, text=text, wa_message_id=wa_message_id)
        return SendResult(result["wa_message_id"], result["sent_at"])

    def send_media(
        self, jid: str, caption: str, media: Mapping[str, Any], wa_message_id: str
    ) -> SendResult:
        """``media`` is the wire form's descriptor: the client reads the bytes from Redis."""
        result = self._call(
            ClientMethod.SEND_MEDIA,
            jid=jid,
            caption=caption,
            media=dict(media),
            wa_message_id=wa_message_id,
        )
        return SendResult(result["wa_message_id"], result["sent_at"])

    def ping(self) -> None:
        self._call(ClientMethod.PING)

    def pair_phone(self, phone: str) -> str:
        return self._call(ClientMethod.PAIR_PHONE, phone=phone)

    def send_presence(self, jid: str, typing: bool) -> None:
        self._call(ClientMethod.SEND_PRESENCE, jid=jid, typing=typing)

    def on_whatsapp(self, phones: list[str]) -> dict[str, bool]:
        return self._call(ClientMethod.ON_WHATSAPP, phones=phones)

    def simulate(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._call(ClientMethod.SIMULATE, action=action, params=dict(params))

    def logout(self) -> None:
        self._call(ClientMethod.LOGOUT)
