"""``python store_snapshot.py LIVE COPY``: a consistent copy of neonize's live SQLite store.

Run as a process of its own, never imported by a client process: whatsmeow writes LIVE with the
SQLite copy linked into neonize's Go library, and a second SQLite library in the same process
(Python's) would release that writer's POSIX locks when it closes the file (FACTS.md). In a
separate process the two see each other's locks, so SQLite's backup API copies a committed
state while the Go side goes on writing. COPY is written 0600, only when LIVE holds a linked
device; one JSON line on stdout says what was found. Standard library only, so that it starts
in milliseconds with ``python -I``.
"""

import json
import os
import sqlite3
import sys
from urllib.request import pathname2url


def snapshot(live: str, copy: str) -> dict:
    found: dict = {"pid": os.getpid(), "devices": 0, "jid": None}
    if not os.path.exists(live):
        return found
    source = sqlite3.connect(f"file:{pathname2url(live)}?mode=rw", uri=True, timeout=10.0)
    try:
        try:
            row = source.execute("SELECT count(*), max(jid) FROM whatsmeow_device").fetchone()
        except sqlite3.DatabaseError:
            return found  # no schema yet: neonize has not written the store
        found["devices"], found["jid"] = row
        if not found["devices"]:
            return found
        os.close(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600))
        target = sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    return found


if __name__ == "__main__":
    print(json.dumps(snapshot(sys.argv[1], sys.argv[2])))
