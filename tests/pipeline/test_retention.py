"""Retention deletes exactly the rows past their horizon, in batches, and says what it deleted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppQueueJob, WhatsAppSession
from workers.pipeline import retention
from workers.queue import keys

NOW = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.rollback()


def add_message(created_days_ago: float, status: str = "read") -> int:
    message = WhatsAppMessage(
        to_number="6281234567890", content="x", status=status, created_at=ago(created_days_ago)
    )
    db.session.add(message)
    db.session.flush()
    return message.id


def add_job(status: str, created: float, finished: float | None = None) -> int:
    job = WhatsAppQueueJob(
        job_id=f"job-{status}-{created}-{finished}",
        status=status,
        created_at=ago(created),
        completed_at=ago(finished) if finished is not None and status == "completed" else None,
        failed_at=ago(finished) if finished is not None and status == "failed" else None,
    )
    db.session.add(job)
    db.session.flush()
    return job.id


def add_session(name: str, status: str, updated_days_ago: float) -> None:
    db.session.add(
        WhatsAppSession(
            session_id=name,
            device_id=name,
            status=status,
            transport="simulator",
            created_at=ago(400),
            updated_at=ago(updated_days_ago),
        )
    )
    db.session.flush()


def ids(model) -> set:
    db.session.expire_all()
    return set(db.session.scalars(db.select(model.id)))


def test_retention_deletes_exactly_the_old_rows(ctx, redis_client):
    old_messages = {add_message(16), add_message(30, "failed"), add_message(15.01, "queued")}
    kept_messages = {add_message(14.9), add_message(0)}
    old_jobs = {add_job("completed", 40, 31), add_job("failed", 35, 30.5)}
    kept_jobs = {
        add_job("completed", 40, 29),  # created long ago, finished recently
        add_job("pending", 60),  # never finished: the reconciler's business, not retention's
        add_job("retrying", 60),
        add_job("completed", 1, 1),
    }
    add_session("gone", "disconnected", 91)
    add_session("recent", "disconnected", 89)
    add_session("connected-quiet", "connected", 200)
    add_session("logged-out", "logged_out", 200)
    db.session.commit()
    redis_client.hset(keys.DESIRED_SESSIONS, mapping={"gone": "{}", "recent": "{}"})

    purged = retention.purge(now=NOW)

    assert (purged.messages, purged.queue_jobs, purged.sessions) == (3, 2, 1)
    assert purged.session_ids == ("gone",)
    assert ids(WhatsAppMessage) == kept_messages and not old_messages & ids(WhatsAppMessage)
    assert ids(WhatsAppQueueJob) == kept_jobs and not old_jobs & ids(WhatsAppQueueJob)
    remaining = set(db.session.scalars(db.select(WhatsAppSession.session_id)))
    assert remaining == {"recent", "connected-quiet", "logged-out"}
    assert set(redis_client.hkeys(keys.DESIRED_SESSIONS)) == {b"recent"}
    assert json.dumps(purged.as_dict())  # what the actor logs and returns is plain data

    again = retention.purge(now=NOW)
    assert (again.messages, again.queue_jobs, again.sessions) == (0, 0, 0)


def test_large_tables_go_in_batches(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_BATCH", 3)
    statements = []

    @db.event.listens_for(db.engine, "before_cursor_execute")
    def count_deletes(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("DELETE FROM WHATSAPP_MESSAGES"):
            statements.append(statement)

    try:
        for _ in range(7):
            add_message(20)
        kept = add_message(1)
        db.session.commit()
        assert retention.purge(now=NOW).messages == 7
    finally:
        db.event.remove(db.engine, "before_cursor_execute", count_deletes)
    assert len(statements) == 3  # 3 + 3 + 1
    assert ids(WhatsAppMessage) == {kept}


def test_a_horizon_of_zero_keeps_for_ever(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_MESSAGES_DAYS", 0)
    old = add_message(400)
    db.session.commit()
    assert retention.purge(now=NOW).messages == 0
    assert ids(WhatsAppMessage) == {old}


def test_rows_whose_ids_and_creation_disagree_go_by_their_creation(app, ctx, monkeypatch):
    """Ids mostly follow creation, but not always (a row written with an older time): the id
    bound retention reads along never leaves an old row behind, nor takes a recent one."""
    monkeypatch.setitem(app.config, "RETENTION_BATCH", 2)
    pattern = [16, 1, 20, 30, 2, 17, 0.5, 18]  # days ago, in id order
    made = [add_message(days) for days in pattern]
    db.session.commit()
    assert retention.purge(now=NOW).messages == 5
    assert ids(WhatsAppMessage) == {i for i, days in zip(made, pattern, strict=True) if days < 15}


def test_the_billing_event_of_a_deleted_message_stays_without_it(app, ctx):
    from webapp.models import TriggerEvent

    old, kept = add_message(20), add_message(1)
    for n, message_id in enumerate((old, kept)):
        db.session.add(TriggerEvent(event="invoice.created", event_id=f"inv-{n}",
                                    status="queued", message_id=message_id))  # fmt: skip
    db.session.commit()
    assert retention.purge(now=NOW).messages == 1
    db.session.expire_all()
    query = db.select(TriggerEvent.event_id, TriggerEvent.message_id)
    events = dict(db.session.execute(query).all())
    assert events == {"inv-0": None, "inv-1": kept}


def test_a_batch_starts_after_the_last_id_of_the_one_before(app, ctx, monkeypatch):
    """No batch reads again from the start of the table, through the rows already deleted."""
    monkeypatch.setitem(app.config, "RETENTION_BATCH", 3)
    made = [add_message(20) for _ in range(7)]
    db.session.commit()
    selected = []

    @db.event.listens_for(db.engine, "before_cursor_execute")
    def selects(conn, cursor, statement, parameters, *args):
        if statement.lstrip().upper().startswith("SELECT WHATSAPP_MESSAGES.ID"):
            selected.append(_values(parameters))

    try:
        assert retention.purge(now=NOW).messages == 7
    finally:
        db.event.remove(db.engine, "before_cursor_execute", selects)
    # Three batches (3 + 3 + 1), each reading after the last id of the one before; its
    # parameters: the horizon, the newest old id, the id it reads after, the batch size.
    assert [parameters[2] for parameters in selected] == [0, made[2], made[5]]


def _values(parameters) -> list:
    return list(parameters.values()) if isinstance(parameters, dict) else list(parameters)
