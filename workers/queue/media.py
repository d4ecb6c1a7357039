"""How an attachment's bytes travel from a worker to the client process of a number.

A message's wire form carries only a descriptor of its attachment, ``{"sha256", "type",
"mimetype", "fileName", "size"}``, so the paced path's queues stay small. The bytes wait in
Redis under ``keys.media_blob(sha256)`` for ``BLOB_TTL_S`` (PostgreSQL holds them for good);
the client process of the sending number reads them there (``workers.session_host.blobs``) and
hands them to its transport. A blob that is gone answers ``MediaMissing``: nothing went out, and
the worker puts it back and sends again.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

from workers.queue import keys

BLOB_TTL_S = 3600


def stage(client: redis.Redis, blobs: Mapping[str, bytes]) -> None:
    """Put ``blobs`` (sha256 -> bytes) where the session hosts' clients read them."""
    if blobs:
        pipe = client.pipeline(transaction=False)
        for sha256, data in blobs.items():
            pipe.set(keys.media_blob(sha256), data, ex=BLOB_TTL_S)
        pipe.execute()
