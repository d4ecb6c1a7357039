"""Operator settings: changed from the admin console, stored in the ``settings`` table, and
applied without a restart.

Every setting is declared once here with its type, bounds and default. A setting with no row
takes its default from the environment (``webapp.config``), so a fresh install behaves as
configured; a saved value wins over the environment. Each process reads the table at most once per
``CACHE_S`` seconds, so a change reaches every worker within that time.

Secret settings (the SMTP password) are stored encrypted with AES-GCM under the key of the
session credentials (``WA_ENCRYPTION_KEY``, else ``SECRET_KEY``) and are never shown back: pages
and the API only say whether one is set. A save that changes where or as whom e-mail logs in
clears the password unless it gives a new one (see ``save``).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

import webapp.config as kabar_config

# Modules, not names: quiet_hours reads its settings from here, so either may be imported first.
from webapp.core import email_address, quiet_hours
from webapp.core.credentials import KDF_VERSION, derive_key, legacy_key
from webapp.core.errors import KabarError
from webapp.extensions import db
from webapp.models import Setting
from workers.queue.contracts import TEMPLATE_CATEGORIES

log = logging.getLogger(__name__)

CACHE_S = 2.0


class InvalidSetting(KabarError):
    status = 422
    code = "invalid_setting"


@dataclass(frozen=True)
class Spec:
    """One setting: its kind, where its default comes from, and what values it accepts."""

    name: str
    kind: str  # int | float | bool | str | choice | words | ints
    default: Callable[[], Any]
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False  # never shown back, never in an API response or a log
    check: Callable[[Any], None] | None = None  # raises ValueError with the reason
    extra: dict = field(default_factory=dict)


def _config(key: str) -> Callable[[], Any]:
    """The app's value of ``key`` (the environment's, unless the app was built with another);
    ``webapp.config``'s default when the app has none."""
    return lambda: current_app.config.get(key, kabar_config.default(key))


def _const(value: Any) -> Callable[[], Any]:
    return lambda: value


SPECS: dict[str, Spec] = {}


def declare(spec: Spec) -> Spec:
    SPECS[spec.name] = spec
    return spec


# Pacing and routing -----------------------------------------------------------------------------
# As for a session's own interval (the sessions API): no number is ever left unpaced.
declare(Spec("default_interval_ms", "int", _const(1000), 100, 3_600_000))
declare(Spec("default_jitter_ms", "int", _const(200), 0, 600_000))
declare(Spec("routing_default", "choice", _config("ROUTING_DEFAULT"),
             choices=("failover", "spread")))  # fmt: skip
declare(Spec("routing_bulk", "choice", _config("ROUTING_BULK"),
             choices=("failover", "spread")))  # fmt: skip
# Deliverability ---------------------------------------------------------------------------------
# Sends per day allowed to a newly linked number on day 1, 2, ...; after the last day, none.
declare(Spec("warmup_schedule", "ints", _const([20, 40, 80, 150, 300, 500, 800]), 1, 1_000_000))
# Percent of each capped number's day (daily cap or warm-up allowance, rounded up) that bulk
# sends leave to transactional messages (single sends, billing events, MPWA).
declare(Spec("bulk_reserve_percent", "int", _const(10), 0, 90))
# A "typing..." presence shown this long before each send (0 = off).
declare(Spec("typing_ms", "int", _const(0), 0, 10_000))
# Check bulk recipients with WhatsApp before sending; answers are kept this many days.
declare(Spec("check_on_whatsapp", "bool", _const(True)))
declare(Spec("on_whatsapp_cache_days", "int", _const(7), 1, 365))


_HOST = "must be a host name or address, such as smtp.example.com"
_LABEL = re.compile(r"[a-z0-9_-]{1,63}", re.IGNORECASE)


def check_host(value: str) -> None:
    """A host name or IP address, checked here: smtplib would fail on a name such as
    ``smtp..example.com`` only at the next e-mail, in its IDNA encoding."""
    if not value:
        raise ValueError(_HOST)
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(value)
        return
    for label in value.removesuffix(".").split("."):
        if not label:
            raise ValueError(f"{_HOST}; {value!r} has an empty label between its dots")
        if not _LABEL.fullmatch(_ascii_label(label)):
            raise ValueError(f"{_HOST}; {label!r} is not 1 to 63 letters, digits or hyphens")


def _ascii_label(label: str) -> str:
    """The label as DNS carries it (IDNA, so ``bücher`` is allowed), or "" when it has none."""
    try:
        return label.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def _address(value: str) -> None:
    """One e-mail address, bare or with a name: ``Kabar ISP <noreply@isp.example>``."""
    email_address.one_address(value)


def _quiet_hours(value: str) -> None:
    if value:  # empty: no quiet hours
        quiet_hours.parse(value)


def _categories(values: list[str]) -> None:
    for value in values:
        if value not in TEMPLATE_CATEGORIES:
            raise ValueError(f"{value!r} is not one of {', '.join(TEMPLATE_CATEGORIES)}")


def _config_words(key: str) -> Callable[[], list[str]]:
    """A list from the config's tuple, so a default compares equal to the same words saved."""
    return lambda: list(current_app.config.get(key, kabar_config.default(key)))


# Sessions ---------------------------------------------------------------------------------------
# Reconnect back-off of a dropped session (seconds); the defaults are every transport's.
declare(Spec("reconnect_backoff_base_s", "float", _const(kabar_config.RECONNECT_BACKOFF_BASE_S),
             0.1, 3600))  # fmt: skip
declare(Spec("reconnect_backoff_cap_s", "float", _const(kabar_config.RECONNECT_BACKOFF_CAP_S),
             1, 86_400))  # fmt: skip
# How long routing leaves a session alone after send errors (doubling per error in a row).
declare(Spec("error_backoff_base_ms", "int", _const(2_000), 100, 600_000))
declare(Spec("error_backoff_cap_ms", "int", _const(60_000), 1_000, 3_600_000))
# E-mail fallback --------------------------------------------------------------------------------
declare(Spec("email_fallback_enabled", "bool", _config("ENABLE_EMAIL_FALLBACK")))
declare(Spec("smtp_host", "str", _config("SMTP_HOST"), check=check_host))
declare(Spec("smtp_port", "int", _config("SMTP_PORT"), 1, 65_535))
declare(Spec("smtp_user", "str", _config("SMTP_USER")))
declare(Spec("smtp_password", "str", _config("SMTP_PASSWORD"), secret=True))
declare(Spec("smtp_starttls", "bool", _config("SMTP_STARTTLS")))
declare(Spec("smtp_from", "str", _config("SMTP_FROM"), check=_address))
# The language of the e-mail's own words the customer reads; the console's default language.
declare(Spec("email_language", "choice", _config("BABEL_DEFAULT_LOCALE"),
             choices=("id", "en")))  # fmt: skip
# Retention (days; 0 keeps for ever) -------------------------------------------------------------
declare(Spec("retention_messages_days", "int", _config("RETENTION_MESSAGES_DAYS"), 0, 3650))
declare(Spec("retention_jobs_days", "int", _config("RETENTION_JOBS_DAYS"), 0, 3650))
declare(Spec("retention_sessions_days", "int", _config("RETENTION_SESSIONS_DAYS"), 0, 3650))
# Quiet hours and opt-out ------------------------------------------------------------------------
declare(Spec("quiet_hours", "str", _config("QUIET_HOURS"), check=_quiet_hours))
declare(Spec("quiet_categories", "words", _config_words("QUIET_CATEGORIES"), check=_categories))
declare(Spec("opt_out_keywords", "words", _config_words("OPT_OUT_KEYWORDS")))
# Webhooks may post to loopback, LAN and CGNAT addresses (never to metadata or link-local ones;
# see workers.pipeline.outbound). Off unless KABAR_WEBHOOK_ALLOW_PRIVATE or the saved setting
# says so.
declare(Spec("webhook_allow_private", "bool", _config("WEBHOOK_ALLOW_PRIVATE")))
# Media by URL: Kabar fetches it itself, under the same address policy; a billing app on the
# operator's LAN serving invoice PDFs needs media_allow_private. At most media_max_mb per file.
declare(Spec("media_allow_private", "bool", _config("MEDIA_ALLOW_PRIVATE")))
declare(Spec("media_max_mb", "int", _config("MEDIA_MAX_MB"), 1, 100))


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.read_at = float("-inf")
        self.values: dict[str, Any] = {}


_cache = _Cache()


def _stored() -> dict[str, Any]:
    with _cache.lock:
        if time.monotonic() - _cache.read_at < CACHE_S:
            return _cache.values
    rows = db.session.execute(db.select(Setting.name, Setting.value)).all()
    values = {name: value for name, value in rows}
    with _cache.lock:
        _cache.values, _cache.read_at = values, time.monotonic()
    return values


def forget() -> None:
    """Read the table again on next use (after a save, and in tests)."""
    with _cache.lock:
        _cache.read_at = float("-inf")


def get(name: str) -> Any:
    """The value of setting ``name``: the saved one, else the environment's default."""
    spec = SPECS[name]
    stored = _stored().get(name)
    if stored is None:
        return spec.default()
    if spec.secret:
        secret = _unseal(name, stored)
        return spec.default() if secret is None else secret
    return stored


def is_saved(name: str) -> bool:
    return _stored().get(name) is not None


def shown(name: str) -> Any:
    """The value as pages and the API show it: of a secret, only whether one is set."""
    if SPECS[name].secret:
        return {"set": bool(get(name))}
    return get(name)


# Secrets ----------------------------------------------------------------------------------------
_NONCE_BYTES = 12


def _secret() -> str:
    """The session credentials' key; SECRET_KEY where none is configured. Every process reads
    the secret, so every process must be started with the same key."""
    config = current_app.config
    return config.get("WA_ENCRYPTION_KEY") or kabar_config.WA_ENCRYPTION_KEY or config["SECRET_KEY"]


def _aead(kdf: int = KDF_VERSION) -> AESGCM:
    """AES-GCM under the key derived from ``_secret()`` the way version ``kdf`` derived it
    (values saved before scrypt name none: version 1)."""
    secret = _secret()
    return AESGCM(derive_key(secret) if kdf == KDF_VERSION else legacy_key(secret))


def _sealed_for(name: str) -> bytes:
    """Associated data: a sealed value copied to another setting or file does not decrypt."""
    return f"kabar-setting:{name}".encode()


def _seal(name: str, text: str) -> dict[str, str]:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _aead().encrypt(nonce, text.encode(), _sealed_for(name))
    return {"encrypted": base64.urlsafe_b64encode(nonce + sealed).decode(), "kdf": KDF_VERSION}


def _unseal(name: str, stored: Any) -> str | None:
    """The secret, or None (logged) when it cannot be read: the default is used meanwhile."""
    try:
        data = base64.urlsafe_b64decode(stored["encrypted"])
        nonce, sealed = data[:_NONCE_BYTES], data[_NONCE_BYTES:]
        aead = _aead(stored.get("kdf", 1))
        return aead.decrypt(nonce, sealed, _sealed_for(name)).decode()
    except (KeyError, TypeError, ValueError, InvalidTag):
        log.error(
            "setting %s cannot be decrypted (WA_ENCRYPTION_KEY or SECRET_KEY differs from the "
            "one it was saved with); using its default until it is saved again",
            name,
        )
        return None


def coerce(spec: Spec, raw: Any) -> Any:
    """``raw`` (from a form or JSON) as the setting's type; raises InvalidSetting."""
    try:
        value = _coerce(spec, raw)
        if spec.check is not None:
            spec.check(value)
    except (TypeError, ValueError) as exc:
        raise InvalidSetting(str(exc) or "invalid value", field=spec.name) from exc
    return value


def _bounded(spec: Spec, number: float) -> None:
    if spec.minimum is not None and number < spec.minimum:
        raise ValueError(f"must be at least {spec.minimum:g}")
    if spec.maximum is not None and number > spec.maximum:
        raise ValueError(f"must be at most {spec.maximum:g}")


def _coerce(spec: Spec, raw: Any) -> Any:
    if isinstance(raw, dict) or (isinstance(raw, list) and spec.kind not in ("words", "ints")):
        raise ValueError("must be a single value")
    if spec.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in kabar_config.TRUE_WORDS:
            return True
        if text in kabar_config.FALSE_WORDS:
            return False
        raise ValueError("must be true or false")
    if spec.kind in ("int", "float"):
        if isinstance(raw, bool):
            raise ValueError("must be a number")
        text = str(raw).strip()
        try:
            number = int(text) if spec.kind == "int" else float(text)
        except ValueError:
            reason = "must be a whole number" if spec.kind == "int" else "must be a number"
            raise ValueError(reason) from None
        _bounded(spec, number)
        return number
    if spec.kind == "choice":
        text = str(raw).strip()
        if text not in spec.choices:
            raise ValueError("must be one of " + ", ".join(spec.choices))
        return text
    if spec.kind == "str":
        text = str(raw) if spec.secret else str(raw).strip()  # a password's spaces are its own
        if len(text) > 255:
            raise ValueError("must be at most 255 characters")
        # Text settings end up in headers and protocol lines (From, the SMTP login, a host):
        # a line break there would end the line and start one of the sender's choosing.
        email_address.refuse_control_characters(text)
        return text
    if spec.kind == "words":
        items = raw if isinstance(raw, list) else str(raw).replace("\n", ",").split(",")
        return [str(item).strip() for item in items if str(item).strip()]
    if spec.kind == "ints":
        items = raw if isinstance(raw, list) else str(raw).replace("\n", ",").split(",")
        numbers = []
        for item in items:
            text = str(item).strip()
            if not text:
                continue
            if not text.isdigit():
                raise ValueError(f"{text!r} is not a whole number")
            number = int(text)
            _bounded(spec, number)
            numbers.append(number)
        return numbers
    raise ValueError(f"unknown kind {spec.kind}")


def save(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate every change first, then store them all in one transaction.

    A value of None resets that setting to the environment's default. An empty secret keeps
    the stored one (a form never shows it back, so an untouched field arrives empty).
    A save that changes where or as whom e-mail logs in (``SMTP_ROUTE``) and gives no new
    password clears the password in effect, which would otherwise go to a server it was never
    meant for; it is stored empty, so the environment's SMTP_PASSWORD does not return either
    (``password_cleared`` tells).
    Raises InvalidSetting naming the first field at fault; nothing is stored then.
    Returns the values stored (None for a reset).
    """
    values = {}
    for name, raw in changes.items():
        spec = SPECS.get(name)
        if spec is None:
            raise InvalidSetting("unknown setting", field=name)
        value = None if raw is None else coerce(spec, raw)
        if not (spec.secret and value == ""):
            values[name] = value
    if _moves_smtp(values) and not values.get("smtp_password") and get("smtp_password"):
        values["smtp_password"] = ""
    for name, value in values.items():
        _store(name, value)
    db.session.commit()
    forget()
    return values


SMTP_ROUTE = ("smtp_host", "smtp_port", "smtp_user", "smtp_starttls")


def _moves_smtp(values: dict[str, Any]) -> bool:
    """Whether ``values`` change any of SMTP_ROUTE from the value in effect."""
    return any(
        (SPECS[name].default() if values[name] is None else values[name]) != get(name)
        for name in SMTP_ROUTE
        if name in values
    )


def password_cleared(saved: dict[str, Any]) -> bool:
    """Whether the save that returned ``saved`` cleared the SMTP password (an empty one given
    is never stored, so an empty one stored is the clearing)."""
    return saved.get("smtp_password") == ""


def _store(name: str, value: Any) -> None:
    row = db.session.get(Setting, name)
    if value is None:
        if row is not None:
            db.session.delete(row)
        return
    if SPECS[name].secret:
        value = _seal(name, value)
    if row is None:
        db.session.add(Setting(name=name, value=value))
    else:
        row.value = value


def reset(name: str) -> None:
    """Back to the environment's default."""
    save({name: None})


def edits(submitted: dict[str, Any]) -> dict[str, Any]:
    """The entries of a submitted form that change something, for ``save``.

    A form holds every field of its group; saving the untouched ones would pin them, and they
    would stop following the environment. Input that is invalid counts as a change, so that
    ``save`` refuses it with its reason.
    """
    return {name: raw for name, raw in submitted.items() if _changes(name, raw)}


def _changes(name: str, raw: Any) -> bool:
    spec = SPECS.get(name)
    if spec is None:
        return True  # for save to refuse
    if raw is None:  # a reset
        return is_saved(name)
    try:
        return coerce(spec, raw) != get(name)
    except InvalidSetting:
        return True
