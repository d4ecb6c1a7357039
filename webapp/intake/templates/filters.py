"""The filters a placeholder may name (``{{amount|rupiah}}``): for what billing systems send raw.

Each takes the value and returns its text, or raises ValueError (TypeError, OverflowError) when
the value cannot be written that way; ``FILTERS`` maps their names to them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

_THOUSANDS = re.compile(r"^-?\d{1,3}(\.\d{3})+$")

# Dates billing apps send already written out: 1 Desember 2026 (or "Des", "December"), and
# 01-12-2026 / 01/12/2026 / 01.12.2026 (day first, as Indonesians write it).
_WORDY_DATE = re.compile(r"^(\d{1,2})\s+([A-Za-z]+)\.?\s+(\d{4})$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
MONTHS = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)


def rupiah(value: Any) -> str:
    """An amount in Indonesian notation: dots between thousands, a comma before decimals."""
    if isinstance(value, bool):
        raise ValueError("is true/false, not an amount")
    text = str(value).strip().replace(" ", "")
    if isinstance(value, str) and _THOUSANDS.match(text):
        text = text.replace(".", "")  # already written the Indonesian way: 150.000
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not an amount")
    try:
        amount = amount.quantize(Decimal("0.01"))
    except InvalidOperation:  # more digits than Decimal's 28: no bill is that large
        raise ValueError(f"{value!r} is too large an amount") from None
    sign = "-" if amount < 0 else ""
    whole, _, cents = f"{abs(amount):.2f}".partition(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return f"{sign}{grouped}" + (f",{cents}" if cents != "00" else "")


def format_date(value: Any) -> str:
    """A date the Indonesian way: 25 Desember 2026."""
    if isinstance(value, bool):
        raise ValueError("is true/false, not a date")
    if isinstance(value, datetime):
        moment: date = value
    elif isinstance(value, date):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, ZoneInfo("UTC"))
    else:
        text = str(value).strip().replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = _written_date(text)
            if moment is None:
                raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD or ISO 8601)") from None
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        zone = current_app.config["TIMEZONE"] if has_app_context() else "Asia/Jakarta"
        moment = moment.astimezone(ZoneInfo(zone))
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


_MONTH_NAMES = {
    **{name.lower(): i for i, name in enumerate(MONTHS, 1)},
    **{name[:3].lower(): i for i, name in enumerate(MONTHS, 1)},
    **{
        name: i
        for i, name in enumerate(
            (
                "january",
                "february",
                "march",
                "april",
                "may",
                "june",
                "july",
                "august",
                "september",
                "october",
                "november",
                "december",
            ),
            1,
        )
    },
    "agt": 8,
    "okt": 10,
    "nop": 11,
}


def _written_date(text: str) -> date | None:
    """A date written as people write it (see ``_WORDY_DATE``, ``_DAY_FIRST``), or None."""
    if m := _WORDY_DATE.match(text):
        month = _MONTH_NAMES.get(m.group(2).lower())
        day, year = int(m.group(1)), int(m.group(3))
    elif m := _DAY_FIRST.match(text):
        day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        return None
    try:
        return date(year, month, day) if month else None
    except ValueError:
        return None


def upper(value: Any) -> str:
    return str(value).upper()


FILTERS: dict[str, Callable[[Any], str]] = {"rupiah": rupiah, "date": format_date, "upper": upper}
