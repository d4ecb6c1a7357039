"""Session credentials, encrypted with AES-256-GCM and kept in the database.

The key comes from WA_ENCRYPTION_KEY: 32 bytes in URL-safe base64 (what ``scripts/run.sh``
generates), used as it is, or any passphrase, which is stretched with scrypt (N=2^15, r=8, p=1:
about 0.1 s and 32 MB per guess). Versions before this one stretched a passphrase with HKDF
alone; what they wrote is still read, and sealed again with the scrypt key the first time it is
read (the session host reads every credential when it starts; a setting is read under the
derivation its stored value names). Each blob carries a random
nonce and the session id as associated data, so a blob copied to another session, a truncated
one or a wrong key is refused with ``CredentialsUnreadable`` instead of yielding garbage.

The blobs live in the ``session_credentials`` table of DATABASE_URL (PostgreSQL, or the SQLite
file of the zero-configuration start), read with SQLAlchemy Core and no Flask, so that a session
host on any machine can take a number over after a crash. Each row names the key it was
written with (``key_id``, an HMAC of the key, not the key): a blob of another installation is
refused by name without trying to decrypt it. ``<session_id>.cred`` files of older versions are
moved into the table the first time they are read with the right key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy.pool import NullPool

import webapp.config as config

log = logging.getLogger(__name__)

_MAGIC = b"KBR1"
_NONCE_BYTES = 12
LEGACY_SUFFIX = ".cred"

metadata = sa.MetaData()
# Mirrors migration 0013; the web app's models never touch it.
session_credentials = sa.Table(
    "session_credentials",
    metadata,
    sa.Column("session_id", sa.String(100), primary_key=True),
    sa.Column("blob", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


class CredentialsUnreadable(Exception):
    """Stored credentials could not be decrypted: wrong WA_ENCRYPTION_KEY or a damaged blob."""


class MissingEncryptionKey(Exception):
    """WA_ENCRYPTION_KEY is not set."""


# The passphrase derivation, versioned: 1 was HKDF alone, 2 is scrypt with these parameters.
KDF_VERSION = 2
SCRYPT_SALT = b"kabar-credentials-scrypt-v2"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
# Current key id -> the version-1 key of the same passphrase, for what older versions wrote.
_LEGACY: dict[str, bytes] = {}


def derive_key(secret: str) -> bytes:
    """Turn WA_ENCRYPTION_KEY into a 32-byte AES key: a generated key as it is, a passphrase
    stretched with scrypt (once per process: the result is kept)."""
    if not secret:
        raise MissingEncryptionKey(
            "WA_ENCRYPTION_KEY is not set; generate one with `python -c "
            "'import os,base64;print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`"
        )
    if (raw := _raw_key(secret)) is not None:
        return raw
    key = _stretched(secret)
    _LEGACY[key_id(key)] = legacy_key(secret)
    return key


def legacy_key(secret: str) -> bytes:
    """The key version 1 derived from ``secret`` (HKDF, no stretching): only to read, and seal
    again, what was written with it. A generated key is the same in both versions."""
    if (raw := _raw_key(secret)) is not None:
        return raw
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kabar-credentials", info=b"v1").derive(
        secret.encode()
    )


def _raw_key(secret: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(secret.encode())
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


@functools.lru_cache(maxsize=8)
def _stretched(secret: str) -> bytes:
    kdf = Scrypt(salt=SCRYPT_SALT, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(secret.encode())


def key_id(key: bytes) -> str:
    """A name for ``key`` that can be stored beside the blobs without revealing it."""
    return hmac.new(key, b"kabar session credentials key id", hashlib.sha256).hexdigest()[:32]


@functools.cache
def engine_for(url: str) -> sa.Engine:
    """One engine per database URL and process. No pool: credentials are written every few
    seconds at most, and a client process must not keep idle connections open."""
    url = config.database_url(url)
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    return sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)


class CredentialStore:
    """One session's encrypted credential blob: a row of ``session_credentials``.

    ``directory`` is where older versions kept ``<session_id>.cred``; such a file is imported
    into the table on first use. ``database_url`` defaults to DATABASE_URL.
    """

    def __init__(
        self, directory: Path, session_id: str, key: bytes, database_url: str | None = None
    ) -> None:
        self.path = Path(directory) / f"{session_id}{LEGACY_SUFFIX}"
        self.session_id = session_id
        self.key_id = key_id(key)
        self.engine = engine_for(database_url or config.DATABASE_URL)
        self._aead = AESGCM(key)
        legacy = _LEGACY.get(self.key_id)
        self._legacy = (key_id(legacy), AESGCM(legacy)) if legacy is not None else None

    def exists(self) -> bool:
        try:
            self._import_legacy()
        except CredentialsUnreadable:
            return True  # a file of another key is still something stored
        with self.engine.connect() as conn:
            return conn.execute(self._select(session_credentials.c.session_id)).first() is not None

    def load(self) -> bytes | None:
        """Return the decrypted blob, or None when nothing is stored."""
        self._import_legacy()
        with self.engine.connect() as conn:
            row = conn.execute(
                self._select(session_credentials.c.blob, session_credentials.c.key_id)
            ).first()
        if row is None:
            return None
        if self._legacy is not None and row.key_id == self._legacy[0]:
            return self._upgrade(bytes(row.blob))
        if row.key_id != self.key_id:
            raise CredentialsUnreadable(
                f"the stored credentials of session {self.session_id} were written with another "
                "WA_ENCRYPTION_KEY (another installation); start with that key, or link the "
                "number again"
            )
        return self._open(bytes(row.blob))

    def save(self, blob: bytes) -> None:
        """Encrypt ``blob`` and store it, replacing what was stored, in one transaction."""
        self._put(self._seal(blob))

    def _seal(self, blob: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _MAGIC + nonce + self._aead.encrypt(nonce, blob, self.session_id.encode())

    def delete(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                session_credentials.delete().where(
                    session_credentials.c.session_id == self.session_id
                )
            )
        self.path.unlink(missing_ok=True)

    # internals -------------------------------------------------------------------------------

    def _select(self, *columns):
        return sa.select(*columns).where(session_credentials.c.session_id == self.session_id)

    def _upgrade(self, data: bytes) -> bytes:
        """Open a blob an older version sealed under the HKDF key of this passphrase, and seal
        it again under the scrypt key, in place of that very blob only: when another host
        sealed it again first (and its number may have saved newer credentials since), what is
        stored now is read instead of being overwritten."""
        assert self._legacy is not None
        blob = self._open(data, self._legacy[1])
        sealed = self._seal(blob)
        with self.engine.begin() as conn:
            replaced = conn.execute(
                session_credentials.update()
                .where(
                    session_credentials.c.session_id == self.session_id,
                    session_credentials.c.key_id == self._legacy[0],
                    session_credentials.c.blob == data,
                )
                .values(blob=sealed, key_id=self.key_id, updated_at=datetime.now(UTC))
            ).rowcount
        if not replaced:
            return self.load()
        log.info(
            "sealed the credentials of session %s again with the stretched key", self.session_id
        )
        return blob

    def _open(self, data: bytes, aead: AESGCM | None = None) -> bytes:
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + _NONCE_BYTES + 16:
            raise CredentialsUnreadable(
                f"the stored credentials of session {self.session_id} are not Kabar credentials"
            )
        nonce = data[len(_MAGIC) : len(_MAGIC) + _NONCE_BYTES]
        try:
            return (aead or self._aead).decrypt(
                nonce, data[len(_MAGIC) + _NONCE_BYTES :], self.session_id.encode()
            )
        except InvalidTag as exc:
            raise CredentialsUnreadable(
                f"cannot decrypt credentials of session {self.session_id}: "
                "WA_ENCRYPTION_KEY differs from the one they were written with, "
                "or they are damaged"
            ) from exc

    def _put(self, sealed: bytes) -> None:
        values = {"blob": sealed, "key_id": self.key_id, "updated_at": datetime.now(UTC)}
        with self.engine.begin() as conn:
            updated = conn.execute(
                session_credentials.update()
                .where(session_credentials.c.session_id == self.session_id)
                .values(**values)
            )
            if updated.rowcount:
                return
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    session_credentials.insert().values(session_id=self.session_id, **values)
                )
        except sa.exc.IntegrityError:  # written meanwhile by a host taking the number over
            with self.engine.begin() as conn:
                conn.execute(
                    session_credentials.update()
                    .where(session_credentials.c.session_id == self.session_id)
                    .values(**values)
                )

    def _import_legacy(self) -> None:
        """Move an older version's ``.cred`` file into the table, once it opens with this key.

        A row already in the table is newer than the file (it was written since the upgrade):
        the file is then only removed. A file this key cannot open stays where it is and is
        reported as unreadable, so that starting with the right key still finds it.
        """
        try:
            data = self.path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return
        with self.engine.connect() as conn:
            present = conn.execute(self._select(session_credentials.c.session_id)).first()
        if present is None:
            try:
                self._open(data)  # raises CredentialsUnreadable for another key or a damaged file
                self._put(data)
            except CredentialsUnreadable:
                if self._legacy is None:
                    raise
                self.save(self._open(data, self._legacy[1]))
            log.info("moved the credentials of session %s into the database", self.session_id)
        self.path.unlink(missing_ok=True)


def check_key(
    directory: Path, key: bytes, database_url: str | None = None
) -> tuple[list[str], list[str]]:
    """Try ``key`` on every stored credential (after importing older ``.cred`` files from
    ``directory``); return (readable, unreadable) session ids."""
    engine = engine_for(database_url or config.DATABASE_URL)
    with engine.connect() as conn:
        stored = set(conn.execute(sa.select(session_credentials.c.session_id)).scalars())
    stored.update(path.name[: -len(LEGACY_SUFFIX)] for path in Path(directory).glob("*.cred"))
    readable, unreadable = [], []
    for session_id in sorted(stored):
        try:
            CredentialStore(directory, session_id, key, database_url).load()
            readable.append(session_id)
        except CredentialsUnreadable:
            unreadable.append(session_id)
    return readable, unreadable
