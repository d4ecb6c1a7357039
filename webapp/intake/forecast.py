"""What a bulk send will do today, before it starts: how many messages the connected numbers
may still send today, and how many will wait, by cause.

A forecast from what is known now: each connected number's allowance left today for bulk
messages (its daily cap or warm-up allowance, less the reserve for transactional messages, less
what it sent, less the bulk messages already queued ahead), and whether the template's
category waits out quiet hours now. Numbers that connect later, recipients without WhatsApp,
opt-outs and duplicates are not foreseen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from webapp.core import quiet_hours
from webapp.extensions import db
from webapp.models import WhatsAppMessage
from workers.pipeline import routing
from workers.queue.contracts import Band, MessageStatus


@dataclass(frozen=True)
class Forecast:
    today: int  # sent as soon as the numbers' pace allows
    held: dict[str, int] = field(default_factory=dict)  # waiting, by ``routing.HOLDS`` code
    until: dict[str, datetime | None] = field(default_factory=dict)  # earliest, by code

    @property
    def waiting(self) -> int:
        return sum(self.held.values())

    def as_json(self) -> dict:
        return {
            "today": self.today,
            "waiting": self.waiting,
            "heldReason": self.held,
            "heldUntil": {
                code: at.isoformat().replace("+00:00", "Z") if at else None
                for code, at in self.until.items()
            },
        }


def bulk(count: int, category: str | None = None) -> Forecast:
    """The forecast for ``count`` bulk messages of a template of ``category``."""
    if count <= 0:
        return Forecast(0)
    if (quiet_ms := quiet_hours.wait_ms(category)) > 0:
        ends = datetime.now(UTC) + timedelta(milliseconds=quiet_ms)
        return Forecast(0, {routing.QUIET_HOURS: count}, {routing.QUIET_HOURS: ends})
    numbers = routing.left_today(Band.BULK)
    if not numbers:
        return Forecast(0, {routing.NO_NUMBER: count}, {routing.NO_NUMBER: None})
    if any(left is None for left, _ in numbers):
        return Forecast(count)
    today = min(count, max(sum(left for left, _ in numbers) - _queued_bulk(), 0))
    if today == count:
        return Forecast(count)
    causes = {cause for _, cause in numbers}
    code = routing.WARMUP if causes == {routing.WARMUP} else routing.DAILY_CAP
    return Forecast(today, {code: count - today}, {code: routing.next_day()})


def _queued_bulk() -> int:
    """Bulk messages queued now, which take the numbers' allowance before a new bulk send."""
    M = WhatsAppMessage
    queued = db.session.scalar(
        sa.select(sa.func.count()).where(M.status == MessageStatus.QUEUED, M.band == Band.BULK)
    )
    db.session.rollback()
    return queued or 0
