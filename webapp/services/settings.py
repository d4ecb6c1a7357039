"""Operator settings: changed from the admin console, stored in the ``settings`` table, and
applied without a restart.

Every setting is declared once here with its type, bounds and default. A setting with no row
takes its default from the environment (``Config``), so a fresh install behaves as configured;
a saved value wins over the environment. Each process reads the table at most once per
``CACHE_S`` seconds, so a change reaches every worker within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from webapp.extensions import db
from webapp.models import Setting
from webapp.services.errors import KabarError

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


def _config(key: str, fallback: Any = None) -> Callable[[], Any]:
    return lambda: current_app.config.get(key, fallback)


def _const(value: Any) -> Callable[[], Any]:
    return lambda: value


SPECS: dict[str, Spec] = {}


def declare(spec: Spec) -> Spec:
    SPECS[spec.name] = spec
    return spec


# Pacing and routing -----------------------------------------------------------------------------
declare(Spec("default_interval_ms", "int", _const(1000), 0, 3_600_000))
declare(Spec("default_jitter_ms", "int", _const(200), 0, 600_000))
declare(Spec("routing_default", "choice", _config("ROUTING_DEFAULT", "failover"),
             choices=("failover", "spread")))  # fmt: skip
declare(Spec("routing_bulk", "choice", _config("ROUTING_BULK", "spread"),
             choices=("failover", "spread")))  # fmt: skip
# Deliverability ---------------------------------------------------------------------------------
# Sends per day allowed to a newly linked number on day 1, 2, ...; after the last day, none.
declare(Spec("warmup_schedule", "ints", _const([20, 40, 80, 150, 300, 500, 800]), 1, 1_000_000))
# A "typing..." presence shown this long before each send (0 = off).
declare(Spec("typing_ms", "int", _const(0), 0, 10_000))
# Check bulk recipients with WhatsApp before sending; answers are kept this many days.
declare(Spec("check_on_whatsapp", "bool", _const(True)))
declare(Spec("on_whatsapp_cache_days", "int", _const(7), 1, 365))


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
    stored = _stored()
    if name in stored and stored[name] is not None:
        return stored[name]
    return spec.default()


def is_saved(name: str) -> bool:
    return _stored().get(name) is not None


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
    if spec.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on", "y"):
            return True
        if text in ("0", "false", "no", "off", "n", ""):
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
        text = str(raw).strip()
        if len(text) > 255:
            raise ValueError("must be at most 255 characters")
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

    Raises InvalidSetting naming the first field at fault; nothing is stored then.
    Returns the stored values.
    """
    values = {}
    for name, raw in changes.items():
        spec = SPECS.get(name)
        if spec is None:
            raise InvalidSetting("unknown setting", field=name)
        values[name] = coerce(spec, raw)
    for name, value in values.items():
        row = db.session.get(Setting, name)
        if row is None:
            db.session.add(Setting(name=name, value=value))
        else:
            row.value = value
    db.session.commit()
    forget()
    return values


def reset(name: str) -> None:
    """Back to the environment's default."""
    row = db.session.get(Setting, name)
    if row is not None:
        db.session.delete(row)
        db.session.commit()
    forget()
