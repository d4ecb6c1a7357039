"""``python -m workers.session_host``: run a session host until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import sys

import redis

from workers import settings
from workers.credentials import MissingEncryptionKey, derive_key
from workers.session_host.host import SessionHost


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s [session-host] %(name)s: %(message)s"
    )
    try:
        key = derive_key(settings.WA_ENCRYPTION_KEY)
    except MissingEncryptionKey as exc:
        print(f"session host: {exc}", file=sys.stderr)
        return 2
    host = SessionHost(redis.Redis.from_url(settings.REDIS_URL), key)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: host.shutdown())
    host.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
