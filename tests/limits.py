"""Numbers in the database for tests of limits (caps, warm-up, holds, forecasts), without a
session host: routing reads connected sessions from PostgreSQL and the day's counts from Redis,
so a spent limit needs neither a host nor a real send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

JAKARTA = ZoneInfo("Asia/Jakarta")  # the tests' TIMEZONE


@pytest.fixture
def ctx(app):
    """An app context with routing's cache of connected sessions empty before and after."""
    from webapp.extensions import db
    from workers.pipeline import routing

    with app.app_context():
        routing.forget_sessions()
        yield app
        db.session.rollback()
        routing.forget_sessions()


def connected(session_id: str, priority: int = 1, **values) -> None:
    """A simulator session ``connected`` in the database (``values``: daily_cap, warm-up...)."""
    from webapp.extensions import db
    from webapp.models import WhatsAppSession
    from workers.pipeline import routing

    db.session.add(
        WhatsAppSession(
            session_id=session_id,
            device_id=session_id,
            priority=priority,
            status="connected",
            transport="simulator",
            **values,
        )
    )
    db.session.commit()
    routing.forget_sessions()


def next_midnight() -> datetime:
    """00:00 of tomorrow in Jakarta, in UTC."""
    tomorrow = datetime.now(JAKARTA).date() + timedelta(days=1)
    return datetime.combine(tomorrow, datetime.min.time(), tzinfo=JAKARTA).astimezone(UTC)
