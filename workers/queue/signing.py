"""Signatures on what Kabar's processes tell each other through Redis.

Write access to Redis must not be enough to make a number send, or to forge what a number
received. RPC requests and replies, session events, parked receipts and Dramatiq jobs (see
``workers.queue.job_signatures``) therefore carry an
HMAC-SHA256 made with a key every Kabar process derives (HKDF) from the same secret in its
environment: ``KABAR_RPC_SECRET``, else ``SECRET_KEY``, else ``WA_ENCRYPTION_KEY``. Each kind of
message signs under its own purpose, so a signed event is never accepted as a request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import webapp.config as config

RPC_REQUEST = b"rpc-request"
RPC_REPLY = b"rpc-reply"
SESSION_EVENT = b"session-event"
QUEUED_JOB = b"queued-job"
READY_MESSAGE = b"ready-message"
READY_WAKE = b"ready-wake"


class BadSignature(Exception):
    """A message on Redis is unsigned, or signed with another key: it was not written by Kabar."""


class OtherKey(BadSignature):
    """A message signed by a Kabar process whose secret is not this process's: a configuration
    error to report as such, not a forgery to drop quietly."""

    def __init__(self) -> None:
        super().__init__(OTHER_KEY)


OTHER_KEY = (
    "signed with another key: KABAR_RPC_SECRET (or SECRET_KEY, when it is unset) differs "
    "between Kabar's processes; give every process the same value and restart them"
)


class MissingChannelSecret(Exception):
    """None of KABAR_RPC_SECRET, SECRET_KEY, WA_ENCRYPTION_KEY is set."""


def channel_key(secret: str) -> bytes:
    """The 32-byte signing key derived from ``secret``."""
    if not secret:
        raise MissingChannelSecret(
            "set KABAR_RPC_SECRET (or SECRET_KEY) to the same value for every Kabar process: "
            "the session host only acts on requests signed with it"
        )
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"kabar-redis-channel", info=b"v1"
    ).derive(secret.encode())


@functools.cache
def _key() -> bytes:
    return channel_key(config.CHANNEL_SECRET)


def key_id(key: bytes | None = None) -> str:
    """A short name of the signing key, sent along with what it signs: a process that gets a
    message signed with another key says the secrets differ, instead of taking it for a
    forgery. It tells nothing about the key (an HMAC of a fixed text)."""
    return hmac.new(key or _key(), b"kabar-key-id", hashlib.sha256).hexdigest()[:16]


def sign(purpose: bytes, payload: str | bytes, key: bytes | None = None) -> str:
    """The hex signature of ``payload`` for ``purpose``."""
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(key or _key(), purpose + b"\0" + data, hashlib.sha256).hexdigest()


def verify(
    purpose: bytes,
    payload: str | bytes,
    signature: str | bytes | None,
    key: bytes | None = None,
    kid: str | bytes | None = None,
) -> None:
    """Raise ``BadSignature`` unless ``signature`` is ``payload``'s for ``purpose``;
    ``OtherKey`` when it is not and ``kid`` (the signer's ``key_id``) names another key."""
    if isinstance(signature, bytes):
        signature = signature.decode("ascii", "replace")
    if not signature or not hmac.compare_digest(sign(purpose, payload, key), signature):
        if isinstance(kid, bytes):
            kid = kid.decode("ascii", "replace")
        if isinstance(kid, str) and kid and not hmac.compare_digest(kid, key_id(key)):
            raise OtherKey()
        raise BadSignature("missing or wrong signature")


def seal(purpose: bytes, message: dict[str, Any], key: bytes | None = None) -> str:
    """``message`` as it travels: its JSON body, that body's signature and the key's id."""
    body = json.dumps(message)
    return json.dumps({"body": body, "sig": sign(purpose, body, key), "kid": key_id(key)})


def unseal(purpose: bytes, raw: bytes | str, key: bytes | None = None) -> dict[str, Any]:
    """The message ``seal`` made; ``BadSignature`` for anything Kabar did not sign."""
    try:
        envelope = json.loads(raw)
        body, signature = envelope["body"], envelope["sig"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadSignature("not a signed message") from exc
    if not isinstance(body, str) or not isinstance(signature, str):
        raise BadSignature("not a signed message")
    verify(purpose, body, signature, key, envelope.get("kid"))
    return json.loads(body)
