import os
import stat

import pytest

from workers.credentials import (
    CredentialStore,
    CredentialsUnreadable,
    MissingEncryptionKey,
    derive_key,
)


def test_round_trip_is_encrypted_and_private(tmp_path):
    store = CredentialStore(tmp_path, "session-1", derive_key("a passphrase"))
    store.save(b'{"phone": "6281234567890"}')
    raw = store.path.read_bytes()
    assert b"6281234567890" not in raw
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.load() == b'{"phone": "6281234567890"}'


def test_a_wrong_key_fails_loudly(tmp_path):
    CredentialStore(tmp_path, "session-1", derive_key("right")).save(b"secret")
    with pytest.raises(CredentialsUnreadable, match="WA_ENCRYPTION_KEY"):
        CredentialStore(tmp_path, "session-1", derive_key("wrong")).load()


def test_a_file_copied_to_another_session_is_refused(tmp_path):
    key = derive_key("k")
    CredentialStore(tmp_path, "session-1", key).save(b"secret")
    (tmp_path / "session-2.cred").write_bytes((tmp_path / "session-1.cred").read_bytes())
    with pytest.raises(CredentialsUnreadable):
        CredentialStore(tmp_path, "session-2", key).load()


def test_a_damaged_file_is_refused(tmp_path):
    store = CredentialStore(tmp_path, "s", derive_key("k"))
    store.save(b"secret")
    data = bytearray(store.path.read_bytes())
    data[-1] ^= 1
    store.path.write_bytes(bytes(data))
    with pytest.raises(CredentialsUnreadable):
        store.load()


def test_nothing_stored_loads_as_none_and_delete_is_idempotent(tmp_path):
    store = CredentialStore(tmp_path, "s", derive_key("k"))
    assert store.load() is None
    store.delete()
    assert not store.exists()


def test_a_base64_key_is_used_as_is_and_an_empty_one_refused():
    assert derive_key("A" * 43 + "=") == b"\x00" * 32
    with pytest.raises(MissingEncryptionKey):
        derive_key("")
