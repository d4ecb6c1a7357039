"""Session credentials in the session_credentials table of the test run's PostgreSQL."""

import os

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from webapp import config
from webapp.core.credentials import (
    CredentialStore,
    CredentialsUnreadable,
    check_key,
    derive_key,
    engine_for,
    key_id,
    legacy_key,
    session_credentials,
)


def stored_row(session_id):
    with engine_for(config.DATABASE_URL).connect() as conn:
        return conn.execute(
            sa.select(session_credentials).where(session_credentials.c.session_id == session_id)
        ).first()


def legacy_file(directory, session_id, key, blob):
    """A ``.cred`` file as versions before the table wrote them."""
    nonce = os.urandom(12)
    path = directory / f"{session_id}.cred"
    path.write_bytes(b"KBR1" + nonce + AESGCM(key).encrypt(nonce, blob, session_id.encode()))
    return path


def test_round_trip_is_encrypted_in_the_database(tmp_path):
    assert config.DATABASE_URL.startswith("postgresql")
    store = CredentialStore(tmp_path, "session-1", derive_key("a passphrase"))
    store.save(b'{"phone": "6281234567890"}')
    row = stored_row("session-1")
    assert row is not None and b"6281234567890" not in bytes(row.blob)
    assert row.updated_at is not None and list(tmp_path.iterdir()) == []
    assert store.load() == b'{"phone": "6281234567890"}'
    store.save(b"second")  # replaces, one row per session
    assert store.load() == b"second"


def test_a_blob_of_another_installation_is_refused_with_the_session_name(tmp_path):
    CredentialStore(tmp_path, "session-1", derive_key("right")).save(b"secret")
    with pytest.raises(CredentialsUnreadable, match="session session-1.*another installation"):
        CredentialStore(tmp_path, "session-1", derive_key("wrong")).load()


def test_a_blob_copied_to_another_session_is_refused(tmp_path):
    key = derive_key("k")
    CredentialStore(tmp_path, "session-1", key).save(b"secret")
    blob = bytes(stored_row("session-1").blob)
    CredentialStore(tmp_path, "session-2", key).save(b"x")
    with engine_for(config.DATABASE_URL).begin() as conn:
        conn.execute(
            session_credentials.update()
            .where(session_credentials.c.session_id == "session-2")
            .values(blob=blob)
        )
    with pytest.raises(CredentialsUnreadable, match="session-2"):
        CredentialStore(tmp_path, "session-2", key).load()


def test_a_damaged_blob_is_refused(tmp_path):
    store = CredentialStore(tmp_path, "s", derive_key("k"))
    store.save(b"secret")
    data = bytearray(stored_row("s").blob)
    data[-1] ^= 1
    with engine_for(config.DATABASE_URL).begin() as conn:
        conn.execute(session_credentials.update().values(blob=bytes(data)))
    with pytest.raises(CredentialsUnreadable, match="damaged"):
        store.load()


def test_nothing_stored_loads_as_none_and_delete_is_idempotent(tmp_path):
    store = CredentialStore(tmp_path, "s", derive_key("k"))
    assert store.load() is None
    store.delete()
    assert not store.exists()
    store.save(b"x")
    assert store.exists()
    store.delete()
    assert not store.exists() and stored_row("s") is None


def test_cred_files_of_older_versions_move_into_the_table(tmp_path):
    key = derive_key("k")
    path = legacy_file(tmp_path, "session-1", key, b"the old login")
    other = legacy_file(tmp_path, "session-2", derive_key("another key"), b"theirs")
    readable, unreadable = check_key(tmp_path, key)
    assert (readable, unreadable) == (["session-1"], ["session-2"])
    assert not path.exists() and stored_row("session-1") is not None
    assert CredentialStore(tmp_path, "session-1", key).load() == b"the old login"
    # A file this key cannot open stays for the right key, and is not imported.
    assert other.exists() and stored_row("session-2") is None
    with pytest.raises(CredentialsUnreadable, match="session-2"):
        CredentialStore(tmp_path, "session-2", key).load()
    assert CredentialStore(tmp_path, "session-2", derive_key("another key")).load() == b"theirs"
    assert not other.exists()


def test_a_row_written_since_the_upgrade_wins_over_a_left_over_file(tmp_path):
    key = derive_key("k")
    CredentialStore(tmp_path, "session-1", key).save(b"newer")
    path = legacy_file(tmp_path, "session-1", key, b"older")
    assert CredentialStore(tmp_path, "session-1", key).load() == b"newer"
    assert not path.exists()


def test_credentials_sealed_under_the_old_derivation_are_read_and_sealed_again(tmp_path):
    """An installation upgraded with a passphrase key: its rows were sealed under the HKDF key;
    the session host's start (check_key) reads every one and seals it under the scrypt key."""
    passphrase = "kata sandi lama ISP kami"
    CredentialStore(tmp_path, "session-1", legacy_key(passphrase)).save(b"linked before")
    legacy_file(tmp_path, "session-2", legacy_key(passphrase), b"a file before")
    old_id = stored_row("session-1").key_id
    key = derive_key(passphrase)

    assert check_key(tmp_path, key) == (["session-1", "session-2"], [])
    assert {stored_row(s).key_id for s in ("session-1", "session-2")} == {key_id(key)} != {old_id}
    # What is stored now opens with the stretched key alone (a client process knows only it).
    assert (
        AESGCM(key).decrypt(
            bytes(stored_row("session-1").blob)[4:16],
            bytes(stored_row("session-1").blob)[16:],
            b"session-1",
        )
        == b"linked before"
    )
    assert CredentialStore(tmp_path, "session-2", key).load() == b"a file before"


def test_an_upgrade_that_lost_a_race_keeps_what_was_saved_meanwhile(tmp_path):
    """Two hosts start on the upgraded version at once: one seals the old row again, its number
    runs and saves newer credentials; the other, which read the old row a moment before, must
    not put the old credentials back over them."""
    passphrase = "kata sandi lama ISP kami"
    CredentialStore(tmp_path, "session-1", legacy_key(passphrase)).save(b"linked before")
    read_by_the_second_host = bytes(stored_row("session-1").blob)
    key = derive_key(passphrase)
    first = CredentialStore(tmp_path, "session-1", key)
    assert first.load() == b"linked before"
    first.save(b"updated since")

    second = CredentialStore(tmp_path, "session-1", key)
    assert second._upgrade(read_by_the_second_host) == b"updated since"
    assert CredentialStore(tmp_path, "session-1", key).load() == b"updated since"
