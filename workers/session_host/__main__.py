"""``python -m workers.session_host``: run a session host until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import sys

import redis

import webapp.config as config
from webapp.core.credentials import MissingEncryptionKey, check_key, derive_key
from workers.session_host.host import SessionHost


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s [session-host] %(name)s: %(message)s"
    )
    try:
        key = derive_key(config.WA_ENCRYPTION_KEY)
    except MissingEncryptionKey as exc:
        print(f"session host: {exc}", file=sys.stderr)
        return 2
    readable, unreadable = check_key(config.SESSION_STORE_DIR, key)
    if unreadable and not readable:
        print(
            f"session host: WA_ENCRYPTION_KEY cannot decrypt any stored session credentials "
            f"({', '.join(unreadable)}, in the session_credentials table of DATABASE_URL). It is "
            "not the key they were written with; start with that key, or delete those rows and "
            "link the numbers again.",
            file=sys.stderr,
        )
        return 2
    for session_id in unreadable:
        logging.error(
            "credentials of %s are damaged or of another installation; that number alone must "
            "be linked again",
            session_id,
        )
    host = SessionHost(redis.Redis.from_url(config.REDIS_URL), key)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: host.shutdown())
    host.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
