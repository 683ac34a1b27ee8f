"""Keys, MACs and the verifier, without a database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.audit import AuditError, Keyring, Receipt
from consent.audit.chain import (
    ChainVerifier,
    VerifyReport,
    build_receipt,
    sign_checkpoint,
    sign_head,
)
from consent.audit.model import hash_texts
from tests.audit.conftest import decision

SECRET = "s" * 32
START = datetime(2025, 1, 1, tzinfo=UTC)


def make_chain(length: int, keyring: Keyring) -> list[Receipt]:
    chain: list[Receipt] = []
    previous_mac = ""
    for index in range(length):
        receipt = build_receipt(
            decision(f"visitor-{index % 3}"),
            seq=index + 1,
            previous_mac=previous_mac,
            previous_receipt_id=None,
            recorded_at=START + timedelta(seconds=index),
            keyring=keyring,
        )
        chain.append(receipt)
        previous_mac = receipt.mac
    return chain


def run(
    chain: list[Receipt], keyring: Keyring, *, head_of: list[Receipt] | None = None
) -> VerifyReport:
    verifier = ChainVerifier(keyring)
    verifier.checkpoints([])
    for receipt in chain:
        if not verifier.receipt(receipt):
            break
    reference = chain if head_of is None else head_of
    head = sign_head(reference[-1].seq, reference[-1].mac, keyring) if reference else None
    notices = {hash_texts(decision().texts): dict(decision().texts)}
    return verifier.finish(head, notices)


def test_keyring_parses_ids_and_signs_with_the_first() -> None:
    keyring = Keyring.parse(f"new:{SECRET}, old:{'o' * 20}")
    assert keyring.signing_id == "new"
    assert "old" in keyring
    assert "other" not in keyring


def test_a_plain_key_gets_a_stable_derived_id() -> None:
    alone = Keyring.parse(SECRET)
    in_ring = Keyring.parse(f"next:{'n' * 16},{SECRET}")
    assert alone.signing_id in in_ring
    assert alone.signing_id == Keyring.parse(SECRET.encode()).signing_id
    assert alone.signing_id != Keyring.parse("t" * 32).signing_id


@pytest.mark.parametrize("bad", ["", "short", f"a:{SECRET},a:{SECRET}", " , "])
def test_bad_keys_are_refused(bad: str) -> None:
    with pytest.raises(AuditError):
        Keyring.parse(bad)


def test_a_clean_chain_verifies() -> None:
    keyring = Keyring.parse(SECRET)
    report = run(make_chain(5, keyring), keyring)
    assert report.ok, report.problem
    assert (report.checked, report.first_seq, report.last_seq) == (5, 1, 5)


def test_another_key_does_not_verify() -> None:
    chain = make_chain(3, Keyring.parse(f"a:{SECRET}"))
    report = run(chain, Keyring.parse(f"a:{'z' * 32}"))
    assert not report.ok
    assert report.problem is not None and report.problem.seq == 1


def test_a_rotated_keyring_verifies_both_generations() -> None:
    old = Keyring.parse(f"old:{SECRET}")
    rotated = Keyring.parse(f"new:{'n' * 32},old:{SECRET}")
    chain = make_chain(2, old)
    tail = build_receipt(
        decision(),
        seq=3,
        previous_mac=chain[-1].mac,
        previous_receipt_id=None,
        recorded_at=START,
        keyring=rotated,
    )
    assert tail.key_id == "new"
    assert run([*chain, tail], rotated).ok
    assert not run([*chain, tail], Keyring.parse(f"new:{'n' * 32}")).ok


fields = st.sampled_from(
    ["action", "method", "locale", "policy_version", "consent_id", "path", "rule", "texts_hash"]
)


@given(st.integers(2, 10), st.data(), fields)
def test_altering_any_field_names_that_receipt(
    length: int, data: st.DataObject, field: str
) -> None:
    keyring = Keyring.parse(SECRET)
    original = make_chain(length, keyring)
    chain = list(original)
    index = data.draw(st.integers(0, length - 1))
    chain[index] = dataclasses.replace(chain[index], **{field: getattr(chain[index], field) + "x"})
    report = run(chain, keyring, head_of=original)
    assert report.problem is not None
    assert report.problem.seq == index + 1
    assert report.problem.receipt_id == chain[index].receipt_id


@given(st.integers(3, 10), st.data())
def test_removing_a_receipt_names_the_one_after_the_gap(length: int, data: st.DataObject) -> None:
    keyring = Keyring.parse(SECRET)
    chain = make_chain(length, keyring)
    index = data.draw(st.integers(0, length - 2))
    removed = chain[:index] + chain[index + 1 :]
    report = run(removed, keyring, head_of=chain)
    assert report.problem is not None
    assert report.problem.seq == index + 2
    assert report.problem.receipt_id == chain[index + 1].receipt_id
    assert "missing" in report.problem.reason


@given(st.integers(2, 10))
def test_removing_the_newest_receipt_shows_at_the_head(length: int) -> None:
    keyring = Keyring.parse(SECRET)
    chain = make_chain(length, keyring)
    report = run(chain[:-1], keyring, head_of=chain)
    assert report.problem is not None
    assert report.problem.seq == length
    assert "newest" in report.problem.reason


@given(st.integers(3, 10), st.data())
def test_swapping_two_positions_is_caught_at_the_first(length: int, data: st.DataObject) -> None:
    keyring = Keyring.parse(SECRET)
    original = make_chain(length, keyring)
    chain = list(original)
    first = data.draw(st.integers(0, length - 2))
    second = data.draw(st.integers(first + 1, length - 1))
    a, b = chain[first], chain[second]
    chain[first] = dataclasses.replace(b, seq=a.seq)
    chain[second] = dataclasses.replace(a, seq=b.seq)
    report = run(chain, keyring, head_of=original)
    assert report.problem is not None
    assert report.problem.seq == first + 1
    assert report.problem.receipt_id == b.receipt_id


def test_a_forged_receipt_without_the_key_is_caught() -> None:
    keyring = Keyring.parse(SECRET)
    chain = make_chain(3, keyring)
    forger = Keyring.parse(f"{keyring.signing_id}:{'f' * 32}")
    forged = build_receipt(
        decision("intruder"),
        seq=4,
        previous_mac=chain[-1].mac,
        previous_receipt_id=None,
        recorded_at=START,
        keyring=forger,
    )
    report = run([*chain, forged], keyring)
    assert report.problem is not None
    assert report.problem.seq == 4
    assert report.problem.receipt_id == forged.receipt_id


def test_checkpoints_chain_and_anchor_the_remaining_receipts() -> None:
    keyring = Keyring.parse(SECRET)
    chain = make_chain(6, keyring)
    checkpoint = sign_checkpoint(
        checkpoint_id=1,
        seq=3,
        mac=chain[2].mac,
        deleted=3,
        cutoff=START,
        created_at=START,
        previous_signature="",
        keyring=keyring,
    )
    verifier = ChainVerifier(keyring)
    verifier.checkpoints([checkpoint])
    assert all(verifier.receipt(receipt) for receipt in chain[3:])
    notices = {hash_texts(decision().texts): dict(decision().texts)}
    report = verifier.finish(sign_head(6, chain[-1].mac, keyring), notices)
    assert report.ok and report.checkpoints == 1 and report.first_seq == 4

    altered = dataclasses.replace(checkpoint, seq=2)
    verifier = ChainVerifier(keyring)
    verifier.checkpoints([altered])
    verifier.receipt(chain[3])
    assert not verifier.finish(None, {}).ok


def test_a_tampered_head_or_notice_is_caught() -> None:
    keyring = Keyring.parse(SECRET)
    chain = make_chain(2, keyring)
    verifier = ChainVerifier(keyring)
    for receipt in chain:
        verifier.receipt(receipt)
    head = sign_head(2, chain[-1].mac, keyring)
    bad_head = dataclasses.replace(head, seq=1)
    assert not verifier.finish(bad_head, {}).ok

    for notices in ({}, {chain[0].texts_hash: {"title": "something else"}}):
        verifier = ChainVerifier(keyring)
        for receipt in chain:
            verifier.receipt(receipt)
        report = verifier.finish(head, notices)
        assert report.problem is not None
        assert "notice" in report.problem.reason
