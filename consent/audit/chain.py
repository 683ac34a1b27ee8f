"""The hash chain: keys, MACs, and the walk that verifies a stored chain.

Every receipt's MAC covers its own content and the MAC of the receipt before it in the store,
so changing, removing, inserting or reordering any receipt breaks every MAC after it. A purge
leaves a signed checkpoint holding the last deleted MAC, and the chain's end is kept in a signed
head row, so cutting either end shows too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from consent.audit.model import (
    Anchor,
    AuditError,
    Checkpoint,
    Decision,
    Head,
    Receipt,
    VerifiedHead,
    canonical_json,
    hash_texts,
    new_receipt_id,
)

MIN_KEY_BYTES = 16
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def _derived_id(secret: bytes) -> str:
    return "k" + hashlib.sha256(b"consent-audit-key-id\0" + secret).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class Keyring:
    """Audit keys by id. The first key signs; every key verifies (rotation).

    Parsed from ``"id1:secret1,id2:secret2"``; an entry without ``id:`` gets an id derived from
    its secret, so a single plain key keeps the same id once it joins a keyring.
    """

    keys: tuple[tuple[str, bytes], ...]
    _by_id: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise AuditError("the audit key is empty: set CONSENT_AUDIT_KEY")
        by_id: dict[str, bytes] = {}
        for key_id, secret in self.keys:
            if len(secret) < MIN_KEY_BYTES:
                raise AuditError(f"audit key {key_id!r} is shorter than {MIN_KEY_BYTES} bytes")
            if key_id in by_id:
                raise AuditError(f"audit key id {key_id!r} appears twice")
            by_id[key_id] = secret
        object.__setattr__(self, "_by_id", by_id)

    @classmethod
    def parse(cls, value: Keyring | bytes | str) -> Keyring:
        if isinstance(value, Keyring):
            return value
        if isinstance(value, bytes):
            return cls(((_derived_id(value), value),))
        if not isinstance(value, str):
            raise AuditError("the audit key must be bytes or a string")
        keys: list[tuple[str, bytes]] = []
        for entry in value.split(","):
            entry = entry.strip()
            if not entry:
                continue
            key_id, sep, secret = entry.partition(":")
            if sep and secret and _KEY_ID.fullmatch(key_id):
                keys.append((key_id, secret.encode()))
            else:
                keys.append((_derived_id(entry.encode()), entry.encode()))
        return cls(tuple(keys))

    @property
    def signing_id(self) -> str:
        return self.keys[0][0]

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._by_id

    def sign(self, key_id: str, payload: bytes) -> str:
        secret = self._by_id.get(key_id)
        if secret is None:
            raise AuditError(f"unknown audit key id {key_id!r}")
        return hmac.new(secret, payload, hashlib.sha256).hexdigest()

    def check(self, key_id: str, payload: bytes, mac: str) -> bool:
        if key_id not in self._by_id:
            return False
        return hmac.compare_digest(self.sign(key_id, payload), mac)


def receipt_payload(receipt: Receipt, previous_mac: str) -> bytes:
    return canonical_json(receipt.content()) + b"\n" + previous_mac.encode()


def checkpoint_payload(checkpoint: Checkpoint, previous_signature: str) -> bytes:
    return canonical_json(checkpoint.content()) + b"\n" + previous_signature.encode()


def head_payload(head: Head) -> bytes:
    return canonical_json(head.content())


def verified_payload(verified: VerifiedHead) -> bytes:
    return canonical_json(verified.content())


def sign_verified_head(
    *,
    seq: int,
    mac: str,
    checkpoints: int,
    checkpoint_signature: str,
    notices: int,
    verified_at: datetime,
    keyring: Keyring,
) -> VerifiedHead:
    unsigned = VerifiedHead(
        seq, mac, checkpoints, checkpoint_signature, notices, verified_at, keyring.signing_id, ""
    )
    return replace(unsigned, signature=keyring.sign(unsigned.key_id, verified_payload(unsigned)))


def anchor_payload(anchor: Anchor) -> bytes:
    return canonical_json(anchor.content())


def sign_anchor(seq: int, head_mac: str, count: int, at: datetime, keyring: Keyring) -> Anchor:
    unsigned = Anchor(seq, head_mac, count, at, keyring.signing_id, "")
    return Anchor(
        seq,
        head_mac,
        count,
        at,
        unsigned.key_id,
        keyring.sign(unsigned.key_id, anchor_payload(unsigned)),
    )


def anchor_is_genuine(anchor: Anchor, keyring: Keyring) -> bool:
    return keyring.check(anchor.key_id, anchor_payload(anchor), anchor.mac)


def build_receipt(
    decision: Decision,
    *,
    seq: int,
    previous_mac: str,
    previous_receipt_id: str | None,
    recorded_at: datetime,
    keyring: Keyring,
) -> Receipt:
    """The next link of the chain for ``decision`` (the caller holds the append lock)."""
    unsigned = Receipt(
        receipt_id=new_receipt_id(recorded_at.timestamp()),
        seq=seq,
        recorded_at=recorded_at,
        previous_receipt_id=previous_receipt_id,
        consent_id=decision.consent_id,
        action=decision.action,
        method=decision.method,
        granted=frozenset(decision.granted),
        refused=frozenset(decision.refused),
        policy_version=decision.policy_version,
        locale=decision.locale,
        texts_hash=decision.texts_hash,
        path=decision.path,
        rule=decision.rule,
        client=decision.client,
        key_id=keyring.signing_id,
        mac="",
        tc_string=decision.tc_string,
        ac_string=decision.ac_string,
        region=decision.region,
        privacy_model=decision.privacy_model,
        gpp=decision.gpp,
    )
    mac = keyring.sign(unsigned.key_id, receipt_payload(unsigned, previous_mac))
    return _replace_mac(unsigned, mac)


def build_batch(
    decisions: Sequence[Decision],
    *,
    seq: int,
    previous_mac: str,
    previous_ids: dict[str, str],
    recorded_at: datetime,
    keyring: Keyring,
) -> list[Receipt]:
    """The next links for ``decisions``, in order, after the receipt ``seq`` whose MAC is
    ``previous_mac``. ``previous_ids`` maps a consent id to its newest stored receipt and is
    updated as the batch links a visitor's decisions to one another."""
    receipts = []
    for decision in decisions:
        seq += 1
        receipt = build_receipt(
            decision,
            seq=seq,
            previous_mac=previous_mac,
            previous_receipt_id=previous_ids.get(decision.consent_id),
            recorded_at=recorded_at,
            keyring=keyring,
        )
        previous_ids[decision.consent_id] = receipt.receipt_id
        previous_mac = receipt.mac
        receipts.append(receipt)
    return receipts


def sign_head(seq: int, mac: str, keyring: Keyring) -> Head:
    head = Head(seq=seq, mac=mac, key_id=keyring.signing_id, signature="")
    return Head(seq, mac, head.key_id, keyring.sign(head.key_id, head_payload(head)))


def sign_checkpoint(
    *,
    checkpoint_id: int,
    seq: int,
    mac: str,
    deleted: int,
    cutoff: datetime,
    created_at: datetime,
    previous_signature: str,
    keyring: Keyring,
) -> Checkpoint:
    unsigned = Checkpoint(
        checkpoint_id, seq, mac, deleted, cutoff, created_at, keyring.signing_id, ""
    )
    signature = keyring.sign(unsigned.key_id, checkpoint_payload(unsigned, previous_signature))
    return Checkpoint(
        checkpoint_id, seq, mac, deleted, cutoff, created_at, unsigned.key_id, signature
    )


def _replace_mac(receipt: Receipt, mac: str) -> Receipt:
    values = {name: getattr(receipt, name) for name in Receipt.__dataclass_fields__}
    values["mac"] = mac
    return Receipt(**values)


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing verification found wrong."""

    seq: int | None
    receipt_id: str | None
    reason: str

    def describe(self) -> str:
        where = "store"
        if self.seq is not None:
            where = f"receipt seq {self.seq}"
            if self.receipt_id:
                where += f" (receipt_id {self.receipt_id})"
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    checked: int
    first_seq: int | None
    last_seq: int | None
    checkpoints: int
    head: Head | None
    problem: Problem | None
    anchors: int = 0  # anchors whose MAC matched the receipt or checkpoint at their seq
    held: int = 0  # receipts the store holds (the chain has no gaps once it verifies)
    resumed_from: int | None = None  # the verified head an incremental walk started after

    def resumed(self, seq: int) -> VerifyReport:
        return replace(self, resumed_from=seq)


class ChainVerifier:
    """Walks a chain fed in ``seq`` order, remembering only the first problem.

    Start with the checkpoints (oldest first), then feed receipts, then call :meth:`finish`
    with the head row and the stored notices' hashes.
    """

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._expected_seq = 1
        self._previous_mac = ""
        self._checkpoints = 0
        self._checked = 0
        self._first_seq: int | None = None
        self._last_seq: int | None = None
        self._texts_hashes: set[str] = set()
        self._anchored: dict[int, list[Anchor]] = {}
        self._newest_anchor: Anchor | None = None
        self._anchors_matched = 0
        self._purged_to = 0
        self.problem: Problem | None = None

    @property
    def expected_seq(self) -> int:
        return self._expected_seq

    def _fail(self, seq: int | None, receipt_id: str | None, reason: str) -> None:
        if self.problem is None:
            self.problem = Problem(seq, receipt_id, reason)

    def anchors(self, anchors: Iterable[Anchor]) -> None:
        """Anchors read from outside the database (their MACs already checked); call first.

        Each one pins the MAC at its ``seq`` and says the chain reached at least that far.
        """
        for anchor in anchors:
            self._anchored.setdefault(anchor.seq, []).append(anchor)
            if self._newest_anchor is None or anchor.seq > self._newest_anchor.seq:
                self._newest_anchor = anchor

    def _match_anchors(self, seq: int, mac: str, receipt_id: str | None) -> bool:
        for anchor in self._anchored.get(seq, ()):
            if not hmac.compare_digest(anchor.head_mac, mac):
                self._fail(
                    seq,
                    receipt_id,
                    f"differs from {anchor.describe()}: history rewritten after it was anchored",
                )
                return False
            self._anchors_matched += 1
        return True

    def checkpoints(self, checkpoints: Iterable[Checkpoint]) -> None:
        previous_signature = ""
        last_seq = 0
        for checkpoint in checkpoints:
            payload = checkpoint_payload(checkpoint, previous_signature)
            if not self._keyring.check(checkpoint.key_id, payload, checkpoint.signature):
                self._fail(
                    checkpoint.seq,
                    None,
                    f"checkpoint {checkpoint.checkpoint_id} was altered, forged or removed "
                    "before it (bad signature)",
                )
                return
            if checkpoint.seq <= last_seq:
                self._fail(checkpoint.seq, None, "checkpoints out of order")
                return
            if not self._match_anchors(checkpoint.seq, checkpoint.mac, None):
                return
            previous_signature = checkpoint.signature
            last_seq = checkpoint.seq
            self._checkpoints += 1
            self._expected_seq = checkpoint.seq + 1
            self._previous_mac = checkpoint.mac
            self._purged_to = checkpoint.seq

    def resume(
        self,
        verified: VerifiedHead,
        checkpoints: Sequence[Checkpoint],
        first_seq: int | None,
        at_verified: Receipt | None,
        anchored: Mapping[int, Receipt | None],
    ) -> bool:
        """Continue after ``verified`` instead of from the oldest receipt; call after
        :meth:`checkpoints`. Checks what the walk will not reread: the signed verified head
        itself, that no checkpoint it knew went missing, the receipt at its ``seq``, the
        oldest receipt, and the receipts at anchored ``seq`` in between. False when the walk
        must not go on (a problem, recorded) or cannot start there (a purge went past it).
        """
        if self.problem is not None:
            return False
        if not self._keyring.check(verified.key_id, verified_payload(verified), verified.signature):
            self._fail(None, None, "the verified head was altered (bad signature)")
            return False
        known = verified.checkpoints
        if len(checkpoints) < known or (
            known and checkpoints[known - 1].signature != verified.checkpoint_signature
        ):
            self._fail(None, None, "purge checkpoints were removed or replaced since verified")
            return False
        if verified.seq <= self._purged_to:
            return False  # purged past it: walk what the purge left, from its checkpoint
        if first_seq != self._purged_to + 1:
            expected = self._purged_to + 1
            if first_seq is None or first_seq > expected:
                self._fail(expected, None, f"the oldest receipts (from seq {expected}) are missing")
            else:
                self._fail(first_seq, None, f"out of place: the chain starts at seq {expected}")
            return False
        if at_verified is None or at_verified.seq != verified.seq:
            self._fail(verified.seq, None, "the verified receipt is missing (removed)")
            return False
        if not hmac.compare_digest(at_verified.mac, verified.mac):
            self._fail(
                verified.seq,
                at_verified.receipt_id,
                "MAC differs from the verified head: altered or replaced since verified",
            )
            return False
        for seq in sorted(anchored):
            receipt = anchored[seq]
            if receipt is None:
                self._fail(seq, None, "an anchored receipt is missing (removed)")
                return False
            if not self._match_anchors(seq, receipt.mac, receipt.receipt_id):
                return False
        if not self._match_anchors(verified.seq, verified.mac, at_verified.receipt_id):
            return False
        self._expected_seq = verified.seq + 1
        self._previous_mac = verified.mac
        return True

    def receipt(self, receipt: Receipt) -> bool:
        """Check one receipt; False once a problem is known (the caller may stop)."""
        if self.problem is not None:
            return False
        if receipt.seq != self._expected_seq:
            if receipt.seq > self._expected_seq:
                missing = f"seq {self._expected_seq}"
                if receipt.seq - 1 > self._expected_seq:
                    missing += f" to {receipt.seq - 1}"
                reason = f"receipts {missing} are missing (removed)"
            else:
                reason = f"out of place: expected seq {self._expected_seq} (inserted or reordered)"
            self._fail(receipt.seq, receipt.receipt_id, reason)
            return False
        if receipt.key_id not in self._keyring:
            self._fail(
                receipt.seq, receipt.receipt_id, f"signed with unknown key {receipt.key_id!r}"
            )
            return False
        payload = receipt_payload(receipt, self._previous_mac)
        if not self._keyring.check(receipt.key_id, payload, receipt.mac):
            self._fail(
                receipt.seq,
                receipt.receipt_id,
                "MAC mismatch: altered, forged, or moved from another position",
            )
            return False
        if not self._match_anchors(receipt.seq, receipt.mac, receipt.receipt_id):
            return False
        if self._first_seq is None:
            self._first_seq = receipt.seq
        self._last_seq = receipt.seq
        self._checked += 1
        self._texts_hashes.add(receipt.texts_hash)
        self._expected_seq += 1
        self._previous_mac = receipt.mac
        return True

    def finish(
        self,
        head: Head | None,
        notices: Mapping[str, Mapping[str, str]],
        *,
        notices_seen: int | None = None,
    ) -> VerifyReport:
        """``notices_seen``: how many notices the verified head an incremental walk started
        from knew of; notices are never deleted, so fewer now means some were removed."""
        if self.problem is None:
            self._check_head(head)
        if self.problem is None:
            self._check_newest_anchor()
        if self.problem is None and notices_seen is not None and len(notices) < notices_seen:
            self._fail(None, None, "notices were removed since verified")
        if self.problem is None:
            self._check_notices(notices)
        return VerifyReport(
            ok=self.problem is None,
            checked=self._checked,
            first_seq=self._first_seq,
            last_seq=self._last_seq,
            checkpoints=self._checkpoints,
            head=head,
            problem=self.problem,
            anchors=self._anchors_matched,
            held=self._expected_seq - 1 - self._purged_to if self.problem is None else 0,
        )

    def _check_newest_anchor(self) -> None:
        anchor = self._newest_anchor
        last = self._expected_seq - 1
        if anchor is not None and anchor.seq > last:
            self._fail(
                None,
                None,
                f"the database is behind its last {anchor.describe()}: the chain ends at seq "
                f"{last}, so receipts were removed or the database was rolled back",
            )

    def _check_head(self, head: Head | None) -> None:
        last = self._expected_seq - 1
        if head is None:
            self._fail(None, None, "the chain head row is missing")
            return
        if head.seq == 0 and not head.mac and not head.signature and last == 0:
            return  # a store nothing was ever written to
        if not self._keyring.check(head.key_id, head_payload(head), head.signature):
            self._fail(None, None, "the chain head was altered (bad signature)")
        elif head.seq > last:
            span = f"{last + 1}" if head.seq == last + 1 else f"{last + 1} to {head.seq}"
            self._fail(last + 1, None, f"the newest receipts (seq {span}) are missing (removed)")
        elif head.seq < last or head.mac != self._previous_mac:
            self._fail(head.seq, None, "the chain head does not match the last receipt")

    def _check_notices(self, notices: Mapping[str, Mapping[str, str]]) -> None:
        for texts_hash, texts in notices.items():
            if hash_texts(texts) != texts_hash:
                self._fail(None, None, f"notice {texts_hash} was altered")
                return
        for texts_hash in sorted(self._texts_hashes - notices.keys()):
            self._fail(None, None, f"notice {texts_hash} is referenced but missing")
            return
