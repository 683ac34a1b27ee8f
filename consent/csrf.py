"""CSRF tokens bound to the visitor.

The visitor holds a random nonce in a strictly necessary cookie; the token in the form is a
MAC of that nonce under the site's secret key (keyed BLAKE2b, ``consent.keyed``). A token
lifted from one visitor's page fails for anyone else, and nothing has to be stored on the
server.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
import secrets
from collections import deque
from collections.abc import Sequence

from consent.keyed import keyed_hex

_NONCE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


_NONCE_BYTES = 24  # 32 base64url characters
_MARKER_BYTES = 12  # 16 characters
_URL_SAFE = bytes.maketrans(b"+/", b"-_")
_PAIR_BYTES = _NONCE_BYTES + _MARKER_BYTES
_POOL = 64  # pairs drawn at once: 2,304 bytes
_drawn: deque[tuple[str, str]] = deque()
os.register_at_fork(after_in_child=_drawn.clear)


def new_nonce() -> str:
    return secrets.token_urlsafe(_NONCE_BYTES)


def new_nonce_and_marker() -> tuple[str, str]:
    """A nonce as ``new_nonce`` makes it and a 16-character random marker in the same alphabet
    (what ``secrets.token_urlsafe(12)`` gives), from disjoint bytes of the system's CSPRNG.
    Both byte counts are multiples of three, so each part of the encoding is exactly the
    encoding of its own bytes.

    Drawn ``_POOL`` pairs at a time: a page that needs a pair costs a fraction of a call into
    the CSPRNG (a system call), not one. Each pair is handed out once: a deque's popleft is
    atomic, so two threads never get the same one, and a forked child empties the pool it
    inherits, so it never hands out what its parent does."""
    try:
        return _drawn.popleft()
    except IndexError:
        pass
    drawn = (
        # What base64.urlsafe_b64encode does, without its two Python calls.
        binascii.b2a_base64(os.urandom(_PAIR_BYTES * _POOL), newline=False)
        .translate(_URL_SAFE)
        .decode("ascii")
    )
    width = _PAIR_BYTES // 3 * 4
    cut = _NONCE_BYTES // 3 * 4
    pairs = iter(
        [(drawn[at : at + cut], drawn[at + cut : at + width]) for at in range(0, len(drawn), width)]
    )
    first = next(pairs)
    _drawn.extend(pairs)
    return first


def is_valid_nonce(nonce: str | None) -> bool:
    return bool(nonce) and bool(_NONCE_SHAPE.match(nonce or ""))


def _token(key: str, nonce: str) -> str:
    return keyed_hex(key, nonce.encode(), person=b"consent csrf v2", size=24)


def _token_v1(key: str, nonce: str) -> str:
    # What the releases before made (HMAC-SHA256): pages already open in a browser still post.
    digest = hmac.digest(key.encode(), b"consent csrf v1|" + nonce.encode(), "sha256")
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


def token_for(nonce: str, keys: Sequence[str]) -> str:
    return _token(keys[0], nonce)


def verify_token(token: str | None, nonce: str | None, keys: Sequence[str]) -> bool:
    # A posted token may hold any character: compare_digest raises on those not ASCII.
    if not token or not is_valid_nonce(nonce) or len(token) > 64 or not token.isascii():
        return False
    assert nonce is not None
    # Every key is tried, so a page rendered just before a key rotation still posts.
    return any(
        hmac.compare_digest(make(key, nonce), token) for make in (_token, _token_v1) for key in keys
    )
