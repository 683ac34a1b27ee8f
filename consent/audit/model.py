"""Value objects of the receipt store: what a decision is, what a stored receipt is.

Nothing here does I/O, so the HTTP layer can build a :class:`Decision` without importing a
database driver.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from consent.errors import ConsentError

# Crockford's base32: no I, L, O or U, so ids read aloud without ambiguity.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CATEGORY_ID = re.compile(r"[^\s,;]+")


class AuditError(ConsentError, ValueError):
    """The caller asked for something impossible: a bad URL, a bad key, a malformed decision."""


class AuditUnavailable(ConsentError, RuntimeError):
    """The store cannot write or read now (database down, locked beyond the timeout, ...)."""


def canonical_json(value: object) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8. The chain MACs depend on it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hash_texts(texts: Mapping[str, str]) -> str:
    """The ``texts_hash`` of a notice: SHA-256 hex of its ``[key, text]`` pairs sorted by key,
    as compact UTF-8 JSON (the same digest the locale catalogue computes)."""
    pairs = sorted(texts.items())
    return hashlib.sha256(
        json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()


def format_time(moment: datetime) -> str:
    """UTC, microseconds, ``Z``: fixed width, so the text sorts like the time."""
    if moment.tzinfo is None:
        raise AuditError("receipt times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def new_receipt_id(now: float | None = None) -> str:
    """A 26-character ULID-like id: 48 bits of milliseconds then 80 random bits.

    Ids sort roughly by creation time, which keeps the unique index append-friendly.
    """
    millis = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def receipt_path(target: str, keep: Iterable[str] = ()) -> str:
    """What a receipt keeps of the address a decision was given on: the path, and of the query
    only the parameters named in ``keep`` (search terms, tokens and ids in a query string are
    personal data the proof does not need). The fragment is never kept."""
    parts = urlsplit(target)
    allowed = frozenset(keep)
    if not allowed or not parts.query:
        return parts.path
    kept = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name in allowed
    ]
    return parts.path + ("?" + urlencode(kept) if kept else "")


@dataclass(frozen=True, slots=True)
class Decision:
    """One visitor decision as the HTTP layer hands it over."""

    consent_id: str
    action: str
    method: str
    granted: frozenset[str]
    refused: frozenset[str]
    policy_version: str
    locale: str
    texts_hash: str
    texts: Mapping[str, str] = field(compare=False, hash=False)
    path: str
    rule: str
    client: str | None = None
    tc_string: str | None = None  # the IAB TCF string the decision gave vendors
    ac_string: str | None = None  # Google's Additional Consent string beside it
    # Added with regions: the visitor's region code, the model applied there, the GPP string.
    region: str | None = None
    privacy_model: str | None = None
    gpp: str | None = None

    @classmethod
    def create(
        cls,
        *,
        consent_id: str,
        action: str,
        method: str,
        granted: frozenset[str] | set[str],
        refused: frozenset[str] | set[str],
        policy_version: str,
        locale: str,
        texts: Mapping[str, str],
        path: str = "",
        rule: str = "default",
        client: str | None = None,
        region: str | None = None,
        privacy_model: str | None = None,
        gpp: str | None = None,
    ) -> Decision:
        """Build a decision whose ``texts_hash`` is computed from ``texts``."""
        return cls(
            consent_id=consent_id,
            action=action,
            method=method,
            granted=frozenset(granted),
            refused=frozenset(refused),
            policy_version=policy_version,
            locale=locale,
            texts_hash=hash_texts(texts),
            texts=dict(texts),
            path=path,
            rule=rule,
            client=client,
            region=region,
            privacy_model=privacy_model,
            gpp=gpp,
        )

    def validate(self) -> None:
        """Refuse a decision the store could not prove later."""
        for name in ("consent_id", "action", "method", "policy_version", "locale", "rule"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise AuditError(f"decision.{name} must be a non-empty string")
        if not isinstance(self.path, str):
            raise AuditError("decision.path must be a string")
        for name in ("client", "tc_string", "ac_string", "region", "privacy_model", "gpp"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise AuditError(f"decision.{name} must be a string or None")
        for category in self.granted | self.refused:
            if not isinstance(category, str) or not _CATEGORY_ID.fullmatch(category):
                raise AuditError(f"bad category id {category!r}")
        both = self.granted & self.refused
        if both:
            raise AuditError(f"categories both granted and refused: {sorted(both)}")
        if not _HEX64.fullmatch(self.texts_hash):
            raise AuditError("decision.texts_hash must be 64 lowercase hex digits")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.texts.items()):
            raise AuditError("decision.texts must map strings to strings")
        if hash_texts(self.texts) != self.texts_hash:
            raise AuditError(
                "decision.texts_hash does not match decision.texts; "
                "compute it with consent.audit.hash_texts"
            )


@dataclass(frozen=True, slots=True)
class Receipt:
    """A stored decision, chained to the one before it in the store."""

    receipt_id: str
    seq: int
    recorded_at: datetime
    previous_receipt_id: str | None
    consent_id: str
    action: str
    method: str
    granted: frozenset[str]
    refused: frozenset[str]
    policy_version: str
    locale: str
    texts_hash: str
    path: str
    rule: str
    client: str | None
    key_id: str
    mac: str
    tc_string: str | None = None
    ac_string: str | None = None
    region: str | None = None
    privacy_model: str | None = None
    gpp: str | None = None

    def content(self) -> dict[str, object]:
        """Everything the MAC covers, in JSON types (the MAC itself excluded).

        A field added after the first format is optional and enters the MAC only once set,
        so the receipts stored before it keep verifying.
        """
        data: dict[str, object] = {"v": 1}
        for name, kind, later in _CONTENT_FIELDS:
            value = getattr(self, name)
            if value is None:
                if later:
                    continue
            elif kind == "time":
                value = format_time(value)
            elif kind == "list":
                value = sorted(value)
            data[name] = value
        return data

    def to_json(self) -> dict[str, object]:
        data = self.content()
        del data["v"]
        data["mac"] = self.mac
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Receipt:
        """The inverse of :meth:`to_json`, for reading an export back."""
        try:
            values = {
                spec.name: _from_json(spec, data.get(spec.name) if spec.later else data[spec.name])
                for spec in RECEIPT_FIELDS
            }
            return cls(**values)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"not a receipt: {exc}") from exc


FieldKind = Literal["int", "text", "time", "list"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One receipt field as the stores, the MAC and the exports see it."""

    name: str
    kind: FieldKind
    nullable: bool
    later: bool  # added after the first format: optional, in the MAC only when set


def _kind_of(annotation: object) -> tuple[FieldKind, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        inner = [arg for arg in args if arg is not type(None)]
        return _kind_of(inner[0])[0], True
    if annotation is int:
        return "int", False
    if annotation is str:
        return "text", False
    if annotation is datetime:
        return "time", False
    if typing.get_origin(annotation) is frozenset:
        return "list", False
    raise TypeError(f"no field kind for {annotation!r}")


def _receipt_fields() -> tuple[FieldSpec, ...]:
    hints = typing.get_type_hints(Receipt)
    specs = []
    for spec in fields(Receipt):
        kind, nullable = _kind_of(hints[spec.name])
        later = spec.default is not MISSING
        if later and (not nullable or spec.default is not None):
            raise TypeError(f"a receipt field added later must default to None: {spec.name}")
        specs.append(FieldSpec(spec.name, kind, nullable, later))
    # seq first: the primary key, the order every listing pages in and every export starts with.
    specs.sort(key=lambda spec: spec.name != "seq")
    return tuple(specs)


def _from_json(spec: FieldSpec, value: Any) -> object:
    if value is None and spec.nullable:
        return None
    if spec.kind == "int":
        return int(value)
    if spec.kind == "time":
        return parse_time(str(value))
    if spec.kind == "list":
        if isinstance(value, str):
            raise TypeError(f"{spec.name} must be a list")
        return frozenset(str(item) for item in value)
    return str(value)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a purge leaves behind: where the deleted prefix of the chain ended."""

    checkpoint_id: int
    seq: int  # last deleted receipt
    mac: str  # that receipt's MAC: the remaining chain continues from it
    deleted: int
    cutoff: datetime
    created_at: datetime
    key_id: str
    signature: str  # HMAC over the above and the previous checkpoint's signature

    def content(self) -> dict[str, object]:
        return {
            "v": 1,
            "checkpoint_id": self.checkpoint_id,
            "seq": self.seq,
            "mac": self.mac,
            "deleted": self.deleted,
            "cutoff": format_time(self.cutoff),
            "created_at": format_time(self.created_at),
            "key_id": self.key_id,
        }


@dataclass(frozen=True, slots=True)
class Head:
    """The end of the chain, signed, so that removing the newest receipts shows."""

    seq: int
    mac: str
    key_id: str
    signature: str

    def content(self) -> dict[str, object]:
        return {"v": 1, "head_seq": self.seq, "head_mac": self.mac, "key_id": self.key_id}


@dataclass(frozen=True, slots=True)
class VerifiedHead:
    """How far the chain was last verified, signed, so that the next verification need only
    walk what was appended since (see ``ChainVerifier.resume``)."""

    seq: int
    mac: str
    checkpoints: int  # purge checkpoints held then
    checkpoint_signature: str  # the newest one's signature ("" when none)
    notices: int  # notices held then (they are never deleted)
    verified_at: datetime
    key_id: str
    signature: str

    def content(self) -> dict[str, object]:
        return {
            "v": 1,
            "kind": "verified",
            "seq": self.seq,
            "mac": self.mac,
            "checkpoints": self.checkpoints,
            "checkpoint_signature": self.checkpoint_signature,
            "notices": self.notices,
            "verified_at": format_time(self.verified_at),
            "key_id": self.key_id,
        }

    @classmethod
    def from_content(cls, content: Mapping[str, Any], signature: str) -> VerifiedHead:
        try:
            return cls(
                seq=int(content["seq"]),
                mac=str(content["mac"]),
                checkpoints=int(content["checkpoints"]),
                checkpoint_signature=str(content["checkpoint_signature"]),
                notices=int(content["notices"]),
                verified_at=parse_time(str(content["verified_at"])),
                key_id=str(content["key_id"]),
                signature=signature,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"not a verified head: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Anchor:
    """A signed copy of the chain's end kept outside the database (see ``anchor.py``).

    The database can be rolled back or cut short by whoever writes to it; an anchor written
    elsewhere remembers how far the chain had already reached, and with which MAC.
    """

    seq: int
    head_mac: str
    count: int  # receipts held by the store when the anchor was taken
    at: datetime
    key_id: str
    mac: str  # HMAC over content()
    source: str = field(default="", compare=False)  # "FILE line N" once read back

    def content(self) -> dict[str, object]:
        return {
            "v": 1,
            "kind": "anchor",
            "seq": self.seq,
            "head_mac": self.head_mac,
            "count": self.count,
            "at": format_time(self.at),
            "key_id": self.key_id,
        }

    def describe(self) -> str:
        where = f"anchor {self.source}" if self.source else "anchor"
        return f"{where} (seq {self.seq}, taken {format_time(self.at)})"


# Every receipt field in column order: the stores, the MAC and the exports all read it.
RECEIPT_FIELDS: tuple[FieldSpec, ...] = _receipt_fields()
# What the MAC covers, flattened for the loop every append and every verification runs.
_CONTENT_FIELDS = tuple(
    (spec.name, spec.kind, spec.later) for spec in RECEIPT_FIELDS if spec.name != "mac"
)
