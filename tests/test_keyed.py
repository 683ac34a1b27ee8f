import hashlib

import pytest

from consent.keyed import keyed_hex


def test_a_short_secret_is_blake2b_s_key_as_it_is() -> None:
    expected = hashlib.blake2b(b"data", key=b"s" * 64, digest_size=8, person=b"p").hexdigest()
    assert keyed_hex("s" * 64, b"data", person=b"p", size=8) == expected


def test_every_byte_of_a_long_secret_counts() -> None:
    first = keyed_hex("s" * 64 + "a", b"data", person=b"p", size=8)
    assert first != keyed_hex("s" * 64 + "b", b"data", person=b"p", size=8)
    assert first != keyed_hex("s" * 64, b"data", person=b"p", size=8)


def test_uses_and_secrets_are_kept_apart() -> None:
    one = keyed_hex("k" * 32, b"data", person=b"consent etag", size=8)
    assert one != keyed_hex("k" * 32, b"data", person=b"consent csrf v2", size=8)
    assert one != keyed_hex("j" * 32, b"data", person=b"consent etag", size=8)
    assert len(one) == 16


def test_a_personalisation_longer_than_blake2b_takes_is_an_error() -> None:
    with pytest.raises(ValueError, match="person"):
        keyed_hex("k", b"data", person=b"p" * 17, size=8)
