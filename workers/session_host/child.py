"""One number's WhatsApp client in a process of its own: ``python -m workers.session_host.child``.

neonize's Go library can abort its whole process (a panic in a callback, unlocked global maps,
a SIGSEGV), and no Python ``try`` catches that. So the session host keeps every client in a
child process like this one, which holds the transport(s) of the session ids on its command
line (``ps`` shows which process is which number) and nothing else: no leases, no RPC, no
Redis stream. It answers the host's calls on the socket it was handed (``--fd``) and forwards
every event its transports emit (see ``wire``). When that socket closes, the host is gone and
the client exits at once.
"""

from __future__ import annotations

import argparse
import base64
import faulthandler
import functools
import logging
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis

import webapp.config as config
from webapp.core.credentials import CredentialStore
from workers.queue.contracts import ClientMethod, RpcCode
from workers.session_host import blobs
from workers.session_host.transports import Transport, transport_class
from workers.session_host.transports.base import SendResult, TransportError
from workers.session_host.wire import Channel

log = logging.getLogger("workers.session_host.child")

# What the host may call on a transport, with the keyword arguments it passes.
METHODS = frozenset(ClientMethod)
# How long the transports may take to stop once the host is gone.
ORPHAN_STOP_S = 5.0


class Client:
    """The transports of this process and the answers to the host's calls."""

    def __init__(self, channel: Channel, key: bytes, store_dir: Path) -> None:
        self.channel = channel
        self.key = key
        self.store_dir = store_dir
        self.transports: dict[str, Transport] = {}
        self.stopping: set[Transport] = set()  # stops under way: leaving waits for them
        self._lock = threading.Lock()
        # Calls run on their own threads: a slow send must not hold up a ping or a stop.
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="call")

    def serve(self) -> None:
        for message in self.channel.messages():
            if message.get("op") == "call":
                self._pool.submit(self._answer, message)
        self._orphaned()

    def _answer(self, call: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"op": "reply", "id": call.get("id")}
        try:
            reply["result"] = self._do(call["session"], call["method"], call.get("args") or {})
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the host
            if not isinstance(exc, TransportError):
                log.exception("%s of %s failed", call.get("method"), call.get("session"))
            reply["error"] = {
                "code": getattr(exc, "code", None),
                "message": str(exc) or type(exc).__name__,
                "transport_error": isinstance(exc, TransportError),
                "outcome_unknown": bool(getattr(exc, "outcome_unknown", False)),
            }
        try:
            self.channel.send(reply)
        except OSError:
            pass  # the host is gone; serve() notices and exits

    def _do(self, session_id: str, method: str, args: dict[str, Any]) -> Any:
        if method not in METHODS:
            raise TransportError(f"unknown client method {method!r}", code=RpcCode.BAD_REQUEST)
        if method == ClientMethod.START:
            return self._start(session_id, args)
        with self._lock:
            transport = self.transports.get(session_id)
        if transport is None:
            raise TransportError(f"session {session_id} is not started", code=RpcCode.NOT_HOSTED)
        if method == ClientMethod.STOP:
            with self._lock:
                self.transports.pop(session_id, None)
                self.stopping.add(transport)
            try:
                transport.stop()
            finally:
                with self._lock:
                    self.stopping.discard(transport)
            return None
        if method == ClientMethod.SEND_MEDIA:
            # The call carries the attachment's descriptor; its bytes wait in Redis.
            args = {**args, "media": blobs.load(self.redis, args["media"])}
        result = getattr(transport, method)(**args)
        if isinstance(result, SendResult):
            return {"wa_message_id": result.wa_message_id, "sent_at": result.sent_at}
        return result

    @functools.cached_property
    def redis(self) -> redis.Redis:
        """Where the attachments of sends wait (opened at the first one)."""
        return redis.Redis.from_url(config.REDIS_URL)

    def _start(self, session_id: str, args: dict[str, Any]) -> None:
        with self._lock:
            transport = self.transports.get(session_id)
            if transport is None:
                store = CredentialStore(self.store_dir, session_id, self.key)
                transport = transport_class(args["transport"])(
                    session_id, store, self._emitter(session_id), args.get("options")
                )
                self.transports[session_id] = transport
        transport.start()

    def _emitter(self, session_id: str):
        def emit(kind: str, **data: Any) -> None:
            try:
                self.channel.send(
                    {"op": "event", "session": session_id, "kind": kind, "data": data}
                )
            except OSError:
                pass  # the host is gone

        return emit

    def _orphaned(self) -> None:
        """The host closed the socket (or died): stop briefly, then leave, whatever hangs."""
        deadline = time.monotonic() + ORPHAN_STOP_S
        with self._lock:
            transports = list(self.transports.values())
        stopper = threading.Thread(
            target=lambda: [_quietly(t.stop) for t in transports], daemon=True
        )
        stopper.start()
        stopper.join(ORPHAN_STOP_S)
        # A stop the host asked for and stopped waiting for: let it seal the credentials.
        while self.stopping and time.monotonic() < deadline:
            time.sleep(0.05)
        logging.shutdown()
        os._exit(0)  # neonize's connect thread may never return: do not wait for it


def _quietly(call) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001 - leaving anyway
        log.exception("a transport did not stop cleanly")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="the socket to the session host")
    parser.add_argument("--transport", required=True)
    parser.add_argument("sessions", nargs="+", help="the session ids this process holds")
    args = parser.parse_args(argv)
    # Last words on a fatal signal (SIGSEGV, SIGABRT) go to stderr, where the host reads them.
    faulthandler.enable()
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s [client {','.join(args.sessions)}] %(name)s: "
        "%(message)s",
    )
    # Go's debug log, QR contents included, goes to this logger: never at INFO.
    logging.getLogger("neonize").setLevel(logging.WARNING)
    channel = Channel(socket.socket(fileno=args.fd))
    first = next(channel.messages(), None)
    if not first or first.get("op") != "init":
        print("client: the session host sent no init", file=sys.stderr)
        return 2
    config.REDIS_URL = first["redis_url"]
    client = Client(channel, base64.b64decode(first["key"]), Path(first["store_dir"]))
    client.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
