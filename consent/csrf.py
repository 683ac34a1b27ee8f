"""CSRF tokens bound to the visitor.

The visitor holds a random nonce in a strictly necessary cookie; the token in the form is an
HMAC of that nonce. A token lifted from one visitor's page fails for anyone else, and nothing
has to be stored on the server.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from collections.abc import Sequence

_NONCE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def is_valid_nonce(nonce: str | None) -> bool:
    return bool(nonce) and bool(_NONCE_SHAPE.match(nonce or ""))


def _token(key: str, nonce: str) -> str:
    # The one-shot digest: no HMAC object to build for a page that needs one token.
    digest = hmac.digest(key.encode(), b"consent csrf v1|" + nonce.encode(), "sha256")
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


def token_for(nonce: str, keys: Sequence[str]) -> str:
    return _token(keys[0], nonce)


def verify_token(token: str | None, nonce: str | None, keys: Sequence[str]) -> bool:
    if not token or not is_valid_nonce(nonce) or len(token) > 64:
        return False
    assert nonce is not None
    # Every key is tried, so a page rendered just before a key rotation still posts.
    return any(hmac.compare_digest(_token(key, nonce), token) for key in keys)
