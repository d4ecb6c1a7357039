"""Signatures on what Kabar's processes tell each other through Redis.

Write access to Redis must not be enough to make a number send, or to forge what a number
received. RPC requests and replies, session events, parked receipts and Dramatiq jobs (see
``workers.job_signatures``) therefore carry an
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

from workers import settings

RPC_REQUEST = b"rpc-request"
RPC_REPLY = b"rpc-reply"
SESSION_EVENT = b"session-event"
QUEUED_JOB = b"queued-job"


class BadSignature(Exception):
    """A message on Redis is unsigned, or signed with another key: it was not written by Kabar."""


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
    return channel_key(settings.CHANNEL_SECRET)


def sign(purpose: bytes, payload: str | bytes, key: bytes | None = None) -> str:
    """The hex signature of ``payload`` for ``purpose``."""
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(key or _key(), purpose + b"\0" + data, hashlib.sha256).hexdigest()


def verify(
    purpose: bytes, payload: str | bytes, signature: str | bytes | None, key: bytes | None = None
) -> None:
    """Raise ``BadSignature`` unless ``signature`` is ``payload``'s for ``purpose``."""
    if isinstance(signature, bytes):
        signature = signature.decode("ascii", "replace")
    if not signature or not hmac.compare_digest(sign(purpose, payload, key), signature):
        raise BadSignature("missing or wrong signature")


def seal(purpose: bytes, message: dict[str, Any]) -> str:
    """``message`` as it travels: its JSON body and that body's signature."""
    body = json.dumps(message)
    return json.dumps({"body": body, "sig": sign(purpose, body)})


def unseal(purpose: bytes, raw: bytes | str) -> dict[str, Any]:
    """The message ``seal`` made; ``BadSignature`` for anything Kabar did not sign."""
    try:
        envelope = json.loads(raw)
        body, signature = envelope["body"], envelope["sig"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadSignature("not a signed message") from exc
    if not isinstance(body, str) or not isinstance(signature, str):
        raise BadSignature("not a signed message")
    verify(purpose, body, signature)
    return json.loads(body)
