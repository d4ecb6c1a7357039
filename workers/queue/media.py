"""How an attachment's bytes travel from a worker to the client process of a number.

A message's wire form carries only a descriptor of its attachment, ``{"sha256", "type",
"mimetype", "fileName", "size"}``, so the paced path's queues stay small. The bytes wait in
Redis under ``keys.media_blob(sha256)`` for ``BLOB_TTL_S`` (PostgreSQL holds them for good);
the client process of the sending number reads them there (``load``) and hands them to its
transport. A blob that is gone answers ``MediaMissing``: nothing went out, and the worker puts
it back and sends again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis

from webapp.core.media_types import GENERIC_MIMETYPE, Media
from workers.queue import keys
from workers.session_host.transports.media import MediaMissing

BLOB_TTL_S = 3600


def stage(client: redis.Redis, blobs: Mapping[str, bytes]) -> None:
    """Put ``blobs`` (sha256 -> bytes) where the session hosts' clients read them."""
    if blobs:
        pipe = client.pipeline(transaction=False)
        for sha256, data in blobs.items():
            pipe.set(keys.media_blob(sha256), data, ex=BLOB_TTL_S)
        pipe.execute()


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
