"""Write a fresh ``.env`` (or the path given) with new keys; refuse to overwrite one.

The file is created readable by its owner only (0600) from its first byte, whatever the umask:
it holds the key that unlocks every linked WhatsApp number.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys


def main(path: str = ".env") -> int:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"{path} exists; not overwriting it", file=sys.stderr)
        return 1
    os.fchmod(fd, 0o600)  # O_CREAT's mode is only narrowed by the umask; say it outright
    with os.fdopen(fd, "w") as fh:
        fh.write(f"SECRET_KEY={secrets.token_hex(32)}\n")
        fh.write(f"KABAR_RPC_SECRET={secrets.token_hex(32)}\n")
        fh.write(f"WA_ENCRYPTION_KEY={base64.urlsafe_b64encode(os.urandom(32)).decode()}\n")
        fh.write("# KABAR_TRANSPORT=simulator   # default transport of new sessions\n")
        fh.write("# DATABASE_URL=postgresql://user@host/kabar   # default: SQLite in instance/\n")
        fh.write("# REDIS_URL=redis://:password@127.0.0.1:6379/0   # rediss:// for TLS\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
