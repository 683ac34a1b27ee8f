"""Keyed digests of the site's secret key: BLAKE2b's own keyed mode, one personalisation per use.

Python builds BLAKE2b in; HMAC-SHA256 goes through OpenSSL, whose one-shot call, made once per
page view with its code and tables cold after the app's rendering, takes several times as long
as BLAKE2b's (``bench/bench_in_place.py``). The CSRF token and the page's validator are made on
every page view.
"""

from __future__ import annotations

import functools
import hashlib

_MAX_KEY = 64  # BLAKE2b's longest key


@functools.lru_cache(maxsize=16)
def _key(secret: str) -> bytes:
    raw = secret.encode()
    if len(raw) <= _MAX_KEY:
        return raw
    # A longer secret is hashed down to a key; all of it counts.
    return hashlib.blake2b(raw, digest_size=_MAX_KEY, person=b"consent key").digest()


# A few secrets (rotation) times the few uses: set by the configuration, never by requests.
@functools.lru_cache(maxsize=32)
def _keyed(secret: str, person: bytes, size: int) -> hashlib.blake2b:
    return hashlib.blake2b(key=_key(secret), digest_size=size, person=person)


def keyed_hex(secret: str, data: bytes, *, person: bytes, size: int) -> str:
    """``size`` bytes of BLAKE2b of ``data`` keyed by ``secret``, in hex; ``person`` (at most
    16 bytes) keeps each use's digests apart from every other's."""
    # Copying a state that has taken in the key block costs about half of keying anew.
    digest = _keyed(secret, person, size).copy()
    digest.update(data)
    return digest.hexdigest()
