"""Times and days as the operator reads them: in ``TIMEZONE`` (KABAR_TIMEZONE), written
dd-mm-yyyy and labelled with the zone ("WIB", "WITA", "WIT", else the zone's name).

Every admin page shows times through ``format_time`` (the ``localtime`` template filter, and
the JSON the sessions page polls), so no page mixes zones. ``parse_day`` and ``parse_moment``
read what an operator types into a date field: dd-mm-yyyy (also with / or .), and the ISO
yyyy-mm-dd that older links and browsers' date pickers send.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app

from webapp.models import as_utc

# Indonesia's three zones by their everyday names; any other zone is shown by its own name.
ZONE_LABELS = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Ujung_Pandang": "WITA",
    "Asia/Jayapura": "WIT",
}
DAY_FORMAT = "%d-%m-%Y"
TIME_FORMAT = "%d-%m-%Y %H:%M:%S"
_DAY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_CLOCK = re.compile(r"(\d{1,2})[:.](\d{2})")


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def zone_label() -> str:
    name = current_app.config["TIMEZONE"]
    return ZONE_LABELS.get(name, name)


def format_time(value: datetime | None, fmt: str = TIME_FORMAT) -> str:
    """A stored (UTC) time in the operator's zone with its label: ``10-12-2026 14:05:00 WIB``."""
    if value is None:
        return "—"
    return f"{as_utc(value).astimezone(zone()).strftime(fmt)} {zone_label()}"


def format_day(value: date | None) -> str:
    return value.strftime(DAY_FORMAT) if value else ""


def parse_day(text: str) -> date:
    """``25-12-2026`` (or 25/12/2026, 25.12.2026, 2026-12-25) as a date; ValueError otherwise."""
    text = text.strip()
    if match := _DAY.fullmatch(text):
        day, month, year = (int(part) for part in match.groups())
    elif match := _ISO_DAY.fullmatch(text):
        year, month, day = (int(part) for part in match.groups())
    else:
        raise ValueError(text)
    return date(year, month, day)


def parse_moment(text: str) -> datetime:
    """``25-12-2026 08:00`` (a day and a clock, in the operator's zone) as an aware UTC time;
    a day alone is its midnight. ValueError when it is neither."""
    day_text, _, clock_text = text.strip().partition(" ")
    moment = time()
    if clock_text.strip():
        match = _CLOCK.fullmatch(clock_text.strip())
        if match is None:
            raise ValueError(text)
        moment = time(int(match[1]), int(match[2]))
    local = datetime.combine(parse_day(day_text), moment, tzinfo=zone())
    return local.astimezone(UTC)
