"""The encryption key of session credentials: how WA_ENCRYPTION_KEY becomes 32 bytes."""

import pytest

from webapp.core.credentials import SCRYPT_SALT, MissingEncryptionKey, derive_key, legacy_key


def test_a_base64_key_is_used_as_is_and_an_empty_one_refused():
    assert derive_key("A" * 43 + "=") == b"\x00" * 32
    with pytest.raises(MissingEncryptionKey):
        derive_key("")


def test_a_passphrase_is_stretched_with_scrypt():
    import hashlib

    expected = hashlib.scrypt(
        b"a passphrase", salt=SCRYPT_SALT, n=2**15, r=8, p=1, dklen=32, maxmem=64 * 2**20
    )
    assert derive_key("a passphrase") == expected != legacy_key("a passphrase")


def test_a_generated_key_is_the_same_in_both_derivations():
    generated = "A" * 43 + "="
    assert derive_key(generated) == legacy_key(generated) == b"\x00" * 32
