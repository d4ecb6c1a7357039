"""Real servers on localhost that receive what Kabar sends outward: e-mail (an aiosmtpd SMTP
server) and webhooks (an http.server in a thread). Tests read what arrived."""

from __future__ import annotations

import email
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# SMTP ----------------------------------------------------------------------------------------


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message

    def part(self, subtype: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == f"text/{subtype}":
                text = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
                return text.replace("\r\n", "\n")  # SMTP's line ends, back to Python's
        raise AssertionError(f"no text/{subtype} part in {self.message}")


@dataclass
class SmtpInbox:
    port: int
    mails: list[Mail] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.mails.append(
            Mail(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                email.message_from_bytes(envelope.original_content or envelope.content),
            )
        )
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@contextmanager
def smtp_inbox(smtputf8: bool = True) -> Iterator[SmtpInbox]:
    """A real SMTP server on 127.0.0.1 (plain, AUTH allowed without TLS) that keeps every mail;
    ``smtputf8=False``: one that takes ASCII addresses only, as many servers do."""
    inbox = SmtpInbox(free_port())
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=inbox.port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,
        enable_SMTPUTF8=smtputf8,
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


# HTTP ----------------------------------------------------------------------------------------


@dataclass
class Delivery:
    headers: dict[str, str]  # names in lower case
    body: bytes
    answered: int

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers each POST with the next status of ``script`` (then 200) and keeps what came."""

    url: str
    script: list[int]
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            status = self.script.pop(0) if self.script else 200
            self.deliveries.append(Delivery(headers, body, status))
            return status

    def received(self, event: str | None = None) -> list[Delivery]:
        with self.lock:
            return [
                d
                for d in self.deliveries
                if event is None or d.headers.get("x-kabar-event") == event
            ]


@contextmanager
def webhook_receiver(script: list[int] | None = None) -> Iterator[WebhookReceiver]:
    port = free_port()
    receiver = WebhookReceiver(f"http://127.0.0.1:{port}/hook", list(script or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = receiver.answer({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def dramatiq_messages(redis_client, queue: str, actor: str | None = None) -> list[dict]:
    """Messages waiting on a Dramatiq queue (ready, not delayed), oldest first."""
    ids = redis_client.lrange(f"dramatiq:{queue}", 0, -1)
    if not ids:
        return []
    raw = redis_client.hmget(f"dramatiq:{queue}.msgs", ids)
    found = [json.loads(item) for item in raw if item]
    return [m for m in found if actor is None or m["actor_name"] == actor]
