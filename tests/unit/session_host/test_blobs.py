"""A client process reading media bytes from Redis, when Redis cannot be read."""

from __future__ import annotations

import socket

import pytest
import redis

from workers.session_host import blobs
from workers.session_host.transports.media import MediaMissing


def test_bytes_that_cannot_be_read_from_redis_are_missing_not_maybe_sent():
    """Redis unreachable for a moment as the client reads the bytes: nothing went out, so the
    send must say so (and be sent again), not be taken for one that may have reached the
    customer and is never sent again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    unreachable = redis.Redis(port=port, socket_connect_timeout=1)
    descriptor = {"sha256": "ab" * 32, "type": "image", "mimetype": "image/png", "size": 3}
    with pytest.raises(MediaMissing) as missing:
        blobs.load(unreachable, descriptor)
    assert missing.value.code == "media_missing"
    assert not getattr(missing.value, "outcome_unknown", False)
