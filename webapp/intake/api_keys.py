"""API keys: random, shown once, stored as SHA-256, each with the scopes it may use.

- ``send``: send, send-bulk, billing events, a message's or bulk job's status and actions, and
  the billing dialects (MPWA's /send-message): what a billing app needs;
- ``read``: lists (sessions, templates, bulk jobs, the simulator's inbox) and metrics;
- ``admin``: everything that changes how Kabar sends (sessions, pairing, QR codes, templates,
  triggers, webhooks, settings, keys).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from webapp.core.errors import KabarError
from webapp.extensions import db
from webapp.models import ApiKey, as_utc

SCOPES = ("send", "read", "admin")
DEFAULT_SCOPES = ("send",)
KEY_PREFIX = "kbr_"
# last_used_at is written at most this often, so a busy integration does not write every call.
_TOUCH_EVERY = timedelta(minutes=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def scope_text(scopes) -> str:
    """``scopes`` as stored: known names only, sorted, space-separated; at least one."""
    chosen = {str(scope).strip().lower() for scope in scopes} - {""}
    unknown = sorted(chosen - set(SCOPES))
    if unknown:
        raise KabarError(
            f"unknown scope {unknown[0]!r}; choose from {', '.join(SCOPES)}", field="scopes"
        )
    if not chosen:
        raise KabarError(f"give a key at least one scope of {', '.join(SCOPES)}", field="scopes")
    return " ".join(sorted(chosen))


def create_api_key(name: str, scopes=DEFAULT_SCOPES) -> tuple[ApiKey, str]:
    """Create a key called ``name`` that may use ``scopes``; return the row and the raw key
    (never stored)."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=raw[:10], key_hash=_digest(raw), scopes=scope_text(scopes))
    db.session.add(key)
    db.session.commit()
    return key, raw


def authenticate(raw: str, via: str | None = None) -> ApiKey | None:
    """The live key ``raw`` names, or None. ``via`` records how it was presented ("api" for
    the Bearer header, "mpwa" for the api_key parameter), written at once when it changes."""
    key = db.session.scalar(db.select(ApiKey).where(ApiKey.key_hash == _digest(raw)))
    if key is None or key.revoked_at is not None:
        return None
    now = datetime.now(UTC)
    stale = key.last_used_at is None or now - as_utc(key.last_used_at) > _TOUCH_EVERY
    if stale or (via is not None and key.last_used_via != via):
        key.last_used_at = now
        if via is not None:
            key.last_used_via = via
        if via == "mpwa":
            key.mpwa_used_at = now
        db.session.commit()
    return key


def set_scopes(key_id: int, scopes) -> ApiKey:
    """Change what a live key may do; the integration holding it keeps its key."""
    key = _live(key_id)
    key.scopes = scope_text(scopes)
    db.session.commit()
    return key


def revoke(key_id: int) -> ApiKey:
    """Stop a key from working; the row stays so the log of who used it stays readable."""
    key = _live(key_id)
    key.revoked_at = datetime.now(UTC)
    db.session.commit()
    return key


def _live(key_id: int) -> ApiKey:
    from webapp.core.errors import Conflict, NotFound

    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}", field="id")
    if key.revoked_at is not None:
        raise Conflict(f"API key {key.name!r} is revoked already", field="id")
    return key
