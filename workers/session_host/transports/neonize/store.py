"""The working copy of neonize's SQLite store: a consistent snapshot of the live file taken by a
helper process (``store_snapshot.py``, never this one: two SQLite libraries in one process break
each other's locks), and the plaintext files written 0600 and removed with their journals."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SNAPSHOT_HELPER = Path(__file__).with_name("store_snapshot.py")
SNAPSHOT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of neonize's store: its bytes, the linked number, and the pid of the
    process that read the live file (never this one)."""

    blob: bytes
    phone: str | None
    pid: int


class SnapshotFailed(Exception):
    """The helper process could not copy the store."""


def snapshot_store(path: Path) -> Snapshot | None:
    """A consistent copy of neonize's live store, or None when it holds no linked device.

    The live file is read by a helper process with SQLite's backup API (whatsmeow may be
    writing it); its copy, a file of its own beside the live one, is read here and deleted.
    A store without a device is a pairing that never finished and is not worth keeping.
    """
    if not path.exists():
        return None
    copy = path.with_name(f".{path.name}.{secrets.token_hex(4)}.snapshot")
    try:
        done = subprocess.run(
            [sys.executable, "-I", str(SNAPSHOT_HELPER), str(path), str(copy)],
            capture_output=True,
            text=True,
            timeout=SNAPSHOT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SnapshotFailed(f"the store snapshot helper failed: {last}")
        found = json.loads(done.stdout)
        if not found.get("devices"):
            return None
        return Snapshot(copy.read_bytes(), phone_of_device(found.get("jid")), int(found["pid"]))
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise SnapshotFailed(f"could not copy the store: {exc}") from exc
    finally:
        remove_store_files(copy)


def phone_of_device(jid: str | None) -> str | None:
    """The number of whatsmeow's device JID ("628...:12@s.whatsapp.net" -> digits)."""
    if not jid:
        return None
    user = str(jid).split("@", 1)[0].split(":", 1)[0].split(".", 1)[0]
    return user if user.isdigit() else None


def is_working_file(name: str, stem: str) -> bool:
    """Whether ``name`` is a plaintext file of the session ``stem``: its working store, a
    journal, or a snapshot copy. The random part is matched exactly, so that session "a" never
    sweeps the files of "a-2"."""
    suffix = r"(-journal|-wal|-shm|\.[0-9a-f]{8}\.snapshot)?"
    pattern = rf"\.?{re.escape(stem)}-[0-9a-f]{{8}}\.sqlite{suffix}"
    return re.fullmatch(pattern, name) is not None


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (0600), replacing what was there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)


def remove_store_files(path: Path) -> None:
    """Delete an SQLite file and the journal files SQLite may have left beside it."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
