"""The broker when Redis refuses it: an error Dramatiq's worker survives."""

from __future__ import annotations

import pytest

from workers.queue import broker
from workers.queue.contracts import Band


def test_a_broker_call_redis_refuses_is_a_connection_error_dramatiq_survives(monkeypatch):
    import redis
    from dramatiq.errors import ConnectionClosed

    closed = broker.KabarRedisBroker(url="redis://127.0.0.1:1/0")
    with pytest.raises(ConnectionClosed) as caught:
        closed.enqueue(broker.message("send_urgent", Band.URGENT, 1))
    assert isinstance(caught.value, redis.RedisError)
