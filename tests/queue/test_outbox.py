"""The outbox: webhook notices and e-mail fallbacks reach the queue if, and only if, the change
that causes them commits, even when Redis is unreachable at that commit."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa

from tests.receivers import dramatiq_messages, free_port
from webapp.extensions import db
from webapp.intake import messages
from webapp.models import OutboxEntry, WhatsAppMessage
from workers.pipeline import sending, webhooks
from workers.queue import broker, outbox
from workers.queue.contracts import Actor, Band


@pytest.fixture
def ctx(app):
    with app.app_context():
        webhooks.forget_subscriptions()
        yield
        db.session.rollback()


@contextmanager
def redis_unreachable():
    """Fault injection: the broker alone talks to a closed port; the tests still read Redis."""
    closed = redis.ConnectionPool(host="127.0.0.1", port=free_port())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(broker.broker.client, "connection_pool", closed)
        yield


def queued(redis_client, actor: str) -> list[list]:
    return [m["args"] for m in dramatiq_messages(redis_client, Band.MAINTENANCE, actor)]


def entries() -> list[OutboxEntry]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxEntry).order_by(OutboxEntry.id)))


def age_entries() -> None:
    """As if the relay's wait were over: the after-commit path has had its chance."""
    db.session.execute(
        sa.update(OutboxEntry).values(
            created_at=OutboxEntry.created_at - timedelta(seconds=outbox.RELAY_AFTER_S + 1)
        )
    )
    db.session.commit()


def a_message() -> int:
    return messages.queue_message("0812-3456-7890", text="Halo").message.id


def test_a_normal_commit_queues_at_once_and_leaves_the_outbox_empty(ctx, redis_client):
    hook, _ = webhooks.create_webhook("https://a.example/")
    message_id = a_message()

    webhooks.message_status(message_id, "sent")
    assert entries() != []  # written with the change, before the commit
    assert queued(redis_client, Actor.DELIVER_WEBHOOK) == []
    db.session.commit()

    (args,) = queued(redis_client, Actor.DELIVER_WEBHOOK)
    assert args[:2] == [hook.id, webhooks.MESSAGE_STATUS]
    assert entries() == []


def test_a_rolled_back_change_leaves_no_entry_and_queues_nothing(ctx, redis_client):
    webhooks.create_webhook("https://a.example/")
    message_id = a_message()

    webhooks.message_status(message_id, "failed")
    db.session.rollback()
    savepoint = db.session.begin_nested()
    webhooks.message_status(message_id, "failed")
    savepoint.rollback()
    db.session.commit()

    assert entries() == []
    assert queued(redis_client, Actor.DELIVER_WEBHOOK) == []


def test_a_notice_redis_missed_at_the_commit_is_relayed_exactly_once(ctx, redis_client):
    first, _ = webhooks.create_webhook("https://a.example/")
    second, _ = webhooks.create_webhook("https://b.example/")
    message_id = a_message()

    webhooks.message_status(message_id, "sent")
    with redis_unreachable():
        db.session.commit()
    assert db.session.get(WhatsAppMessage, message_id) is not None  # the change is kept
    assert queued(redis_client, Actor.DELIVER_WEBHOOK) == []
    missed = entries()
    args = [e.args for e in missed]
    assert [a[0] for a in args] == [first.id, second.id]
    # The first failure stops the batch: the second row was not even tried.
    assert [e.attempts for e in missed] == [1, 0]
    assert "ConnectionError" in missed[0].last_error

    assert outbox.relay() == 0  # too young: left to the after-commit path
    age_entries()
    with redis_unreachable():
        assert outbox.relay() == 0
    assert [e.attempts for e in entries()] == [2, 0]

    assert outbox.relay() == 2
    assert outbox.relay() == 0
    assert queued(redis_client, Actor.DELIVER_WEBHOOK) == args
    assert entries() == []


def test_a_failed_messages_fallback_goes_through_the_outbox(app, ctx, redis_client, monkeypatch):
    monkeypatch.setitem(app.config, "ENABLE_EMAIL_FALLBACK", True)
    message_id = a_message()

    with redis_unreachable():
        sending.mark_failed(message_id, 3)
    assert db.session.get(WhatsAppMessage, message_id).status == "failed"
    assert queued(redis_client, Actor.SEND_EMAIL_FALLBACK) == []
    assert [(e.actor_name, e.args) for e in entries()] == [
        (Actor.SEND_EMAIL_FALLBACK, [message_id])
    ]

    age_entries()
    from workers.pipeline import actors

    actors.relay_outbox.fn()
    assert queued(redis_client, Actor.SEND_EMAIL_FALLBACK) == [[message_id]]
    assert entries() == []


def test_relaying_an_empty_outbox_relays_nothing(ctx):
    assert outbox.relay() == 0
