"""Session credentials, encrypted at rest with AES-256-GCM.

The key comes from WA_ENCRYPTION_KEY: 32 bytes in URL-safe base64 (what ``scripts/run.sh``
generates), or any passphrase, which is stretched with HKDF-SHA256. Each file carries a random
nonce and the session id as associated data, so a file copied to another session, a truncated
file or a wrong key is refused with ``CredentialsUnreadable`` instead of yielding garbage.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_MAGIC = b"KBR1"
_NONCE_BYTES = 12


class CredentialsUnreadable(Exception):
    """Stored credentials could not be decrypted: wrong WA_ENCRYPTION_KEY or a damaged file."""


class MissingEncryptionKey(Exception):
    """WA_ENCRYPTION_KEY is not set."""


def derive_key(secret: str) -> bytes:
    """Turn WA_ENCRYPTION_KEY into a 32-byte AES key."""
    if not secret:
        raise MissingEncryptionKey(
            "WA_ENCRYPTION_KEY is not set; generate one with `python -c "
            "'import os,base64;print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`"
        )
    try:
        raw = base64.urlsafe_b64decode(secret.encode())
        if len(raw) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kabar-credentials", info=b"v1").derive(
        secret.encode()
    )


class CredentialStore:
    """One session's encrypted credential blob, kept in ``directory/<session_id>.cred``."""

    def __init__(self, directory: Path, session_id: str, key: bytes) -> None:
        self.path = Path(directory) / f"{session_id}.cred"
        self.session_id = session_id
        self._aead = AESGCM(key)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> bytes | None:
        """Return the decrypted blob, or None when nothing is stored."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + _NONCE_BYTES + 16:
            raise CredentialsUnreadable(f"{self.path} is not a Kabar credential file")
        nonce = data[len(_MAGIC) : len(_MAGIC) + _NONCE_BYTES]
        try:
            return self._aead.decrypt(
                nonce, data[len(_MAGIC) + _NONCE_BYTES :], self.session_id.encode()
            )
        except InvalidTag as exc:
            raise CredentialsUnreadable(
                f"cannot decrypt credentials of session {self.session_id}: "
                "WA_ENCRYPTION_KEY differs from the one they were written with, "
                "or the file is damaged"
            ) from exc

    def save(self, blob: bytes) -> None:
        """Encrypt and write ``blob`` atomically, readable by the owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _MAGIC + nonce + self._aead.encrypt(nonce, blob, self.session_id.encode())
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(sealed)
        os.replace(tmp, self.path)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


def check_key(directory: Path, key: bytes) -> tuple[list[str], list[str]]:
    """Try ``key`` on every stored credential; return (readable, unreadable) session ids."""
    readable, unreadable = [], []
    for path in sorted(Path(directory).glob("*.cred")):
        session_id = path.name[: -len(".cred")]
        try:
            CredentialStore(directory, session_id, key).load()
            readable.append(session_id)
        except CredentialsUnreadable:
            unreadable.append(session_id)
    return readable, unreadable
