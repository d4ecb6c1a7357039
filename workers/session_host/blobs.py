"""How the client process of a number reads an attachment's bytes, staged in Redis by a worker
(``workers.queue.media``), for its transport."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis

from webapp.core.media_types import GENERIC_MIMETYPE, Media
from workers.queue import keys
from workers.session_host.transports.media import MediaMissing


def load(client: redis.Redis, descriptor: Mapping[str, Any]) -> Media:
    """The attachment a wire form describes, with its bytes; raises MediaMissing, also when
    Redis cannot be read a moment (nothing went out either way: the worker sends it again)."""
    try:
        data = client.get(keys.media_blob(descriptor["sha256"]))
    except redis.RedisError as exc:
        raise MediaMissing(
            f"the attachment {descriptor['sha256'][:12]} could not be read from Redis ({exc}); "
            "nothing was sent"
        ) from None
    if data is None:
        raise MediaMissing(
            f"the attachment {descriptor['sha256'][:12]} was not in Redis; nothing was sent"
        )
    return Media(
        type=descriptor["type"],
        data=data,
        mimetype=descriptor.get("mimetype") or GENERIC_MIMETYPE,
        sha256=descriptor["sha256"],
        file_name=descriptor.get("fileName"),
    )
