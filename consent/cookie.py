"""The signed consent cookie: the only module that knows itsdangerous.

Value layout: ``<base64url JSON payload>.<timestamp>.<signature>``. The payload is signed,
not encrypted, and nothing in it is secret. Browsers never read it: the banner script gets
the state the server verified from the page or from the state endpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadData, TimestampSigner

from consent.names import COOKIE_HOST_PREFIX

_SALT = "consent.cookie.v1"
# Real values stay near 200 bytes; anything far larger is not ours and not worth verifying.
MAX_COOKIE_VALUE = 1024
_MAX_REMEMBERED = 8192  # verified values kept; about 2 MB at most
# How far ahead of our clock a value may have been signed (another server's clock).
_CLOCK_SKEW = 300


@dataclass(frozen=True, slots=True)
class CookiePayload:
    consent_id: str
    granted: frozenset[str]
    policy_version: str
    decided_at: int  # Unix seconds, UTC
    receipt_id: str | None = None
    # A receipt of the browser's GPC signal is stored for this consent id: not recorded again.
    signal: bool = False

    @property
    def decided_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.decided_at, UTC)


class ConsentCookieCodec:
    """Signs with the first key, verifies with every key (rotation), enforces lifetime and version."""

    def __init__(self, secret_keys: Sequence[str], *, max_age: int, policy_version: str) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        # itsdangerous signs with the last key of its list; ours signs with the first.
        self._signer = TimestampSigner(
            list(reversed(secret_keys)), salt=_SALT, digest_method=hashlib.sha256
        )
        self._max_age = max_age
        self._policy_version = policy_version
        self._verified: dict[str, tuple[CookiePayload | None, float]] = {}

    def encode(self, payload: CookiePayload) -> str:
        body: dict[str, object] = {
            "v": payload.policy_version,
            "g": sorted(payload.granted),
            "i": payload.consent_id,
            "t": payload.decided_at,
        }
        if payload.receipt_id:
            body["r"] = payload.receipt_id
        if payload.signal:
            body["s"] = 1
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode()
        encoded = base64.urlsafe_b64encode(raw).rstrip(b"=")
        return self._signer.sign(encoded).decode("ascii")

    def decode(self, value: str | None, *, now: float | None = None) -> CookiePayload | None:
        """The payload, or None for anything missing, forged, expired, stale or unreadable."""
        return self.decode_until(value, time.time() if now is None else now)[0]

    def decode_until(self, value: str | None, now: float) -> tuple[CookiePayload | None, float]:
        """The payload as :meth:`decode` gives it at ``now``, and until when that answer holds
        (the lifetime's end, or the moment a value signed ahead of our clock becomes valid)."""
        if not value or len(value) > MAX_COOKIE_VALUE:
            return None, math.inf
        # A visitor sends the same value with every request: the signature is checked once,
        # the lifetime every time.
        verified = self._verified.get(value)
        if verified is None:
            verified = self._verify(value)
            if len(self._verified) >= _MAX_REMEMBERED:
                self._verified.clear()
            self._verified[value] = verified
        payload, signed_at = verified
        if payload is None:
            return None, math.inf
        age = now - signed_at
        if age > self._max_age:
            return None, math.inf
        if age < -_CLOCK_SKEW:
            return None, signed_at - _CLOCK_SKEW
        return payload, signed_at + self._max_age

    def _verify(self, value: str) -> tuple[CookiePayload | None, float]:
        if not _canonical(value):
            return None, 0.0
        try:
            encoded, signed_at = self._signer.unsign(value, return_timestamp=True)
        except (BadData, UnicodeError, ValueError):
            return None, 0.0
        try:
            raw = base64.urlsafe_b64decode(encoded + b"=" * (-len(encoded) % 4))
            body = json.loads(raw)
        except (binascii.Error, ValueError):
            return None, 0.0
        return _payload_from_body(body, self._policy_version), signed_at.timestamp()


def _canonical(value: str) -> bool:
    """Base64 tolerates other values in the unused bits of its last character; we do not,
    so that changing any single character of a cookie invalidates it."""
    parts = value.split(".")
    if len(parts) != 3:
        return False
    for part in parts:
        try:
            decoded = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError):
            return False
        if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode("ascii") != part:
            return False
    return True


def _payload_from_body(body: object, policy_version: str) -> CookiePayload | None:
    if not isinstance(body, dict):
        return None
    version, granted, consent_id, decided_at = (body.get(k) for k in ("v", "g", "i", "t"))
    receipt_id = body.get("r")
    if version != policy_version or not isinstance(consent_id, str) or not consent_id:
        return None
    if not isinstance(granted, list) or not all(isinstance(g, str) for g in granted):
        return None
    if not isinstance(decided_at, int) or isinstance(decided_at, bool):
        return None
    if receipt_id is not None and not isinstance(receipt_id, str):
        return None
    return CookiePayload(
        consent_id=consent_id,
        granted=frozenset(granted),
        policy_version=version,
        decided_at=decided_at,
        receipt_id=receipt_id,
        signal=body.get("s") == 1,
    )


def cookie_name_for(name: str, *, secure: bool, domain: str | None) -> str:
    """The name one of the middleware's cookies has on this site: ``__Host-`` prefixed where
    the browser can enforce it (Secure, no Domain), the configured name elsewhere."""
    if not secure or domain or name.lower().startswith(("__host-", "__secure-")):
        return name
    return COOKIE_HOST_PREFIX + name


def parse_cookie_header(header: str, wanted: Iterable[str]) -> dict[str, str]:
    """The values of the wanted cookies; the first occurrence of a name wins, as in browsers."""
    names = set(wanted)
    found: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if sep and name in names and name not in found:
            found[name] = value.strip().strip('"')
    return found
