"""Quiet hours: a period of the operator's day when promotions and reminders wait.

The ``quiet_hours`` setting (default ``QUIET_HOURS``) is ``"HH:MM-HH:MM"`` (seconds allowed,
``"21:00-07:00"`` crosses midnight) in ``TIMEZONE``; empty means off. A message whose template
category is one of the ``quiet_categories`` setting is held until the period ends; everything
else (urgent notifications, plain texts) still goes. Holding is not an attempt: sending gives
the message back to the queue for exactly the time left.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from webapp import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    start: time
    end: time

    def remaining(self, now: datetime) -> timedelta:
        """Time until the quiet period ends, or zero when ``now`` (aware) is outside it."""
        local = now.time()
        start, end = self.start, self.end
        if start == end:
            return timedelta(0)
        if start < end:
            inside = start <= local < end
            end_day = now.date()
        else:  # crosses midnight
            inside = local >= start or local < end
            end_day = now.date() if local < end else now.date() + timedelta(days=1)
        if not inside:
            return timedelta(0)
        ends = datetime.combine(end_day, end, tzinfo=now.tzinfo)
        # In UTC: between two times of one zone Python subtracts wall clocks, ignoring DST.
        return ends.astimezone(UTC) - now.astimezone(UTC)


def parse(spec: str) -> Window:
    """``"21:00-07:00"`` (or with seconds, ``"21:00:00-07:00:30"``) as a Window.

    Raises ValueError naming what is wrong.
    """
    parts = spec.replace(" ", "").split("-")
    if len(parts) != 2:
        raise ValueError(f"quiet hours must look like 21:00-07:00, not {spec!r}")
    return Window(_time(parts[0], spec), _time(parts[1], spec))


def _time(text: str, spec: str) -> time:
    pieces = text.split(":")
    if len(pieces) not in (2, 3) or not all(p.isdigit() for p in pieces):
        raise ValueError(f"quiet hours must look like 21:00-07:00, not {spec!r}")
    try:
        return time(*(int(p) for p in pieces))
    except ValueError as exc:
        raise ValueError(f"quiet hours {spec!r}: {exc}") from exc


@functools.lru_cache(maxsize=8)
def _window(spec: str) -> Window | None:
    """The configured window; a malformed one (only the environment's can be: a saved one is
    checked) is logged once and treated as off, so a typo never stops sending."""
    if not spec.strip():
        return None
    try:
        return parse(spec)
    except ValueError as exc:
        log.error("QUIET_HOURS ignored: %s", exc)
        return None


def wait_ms(category: str | None, now: datetime | None = None) -> int:
    """Milliseconds a message of template ``category`` must still wait; 0 to send now."""
    if not category or category not in settings.get("quiet_categories"):
        return 0
    window = _window(settings.get("quiet_hours"))
    if window is None:
        return 0
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    local_now = (now or datetime.now(UTC)).astimezone(zone)
    left = window.remaining(local_now)
    return math.ceil(left.total_seconds() * 1000) if left > timedelta(0) else 0
