"""Every kind of change made behind the store's back fails verification, naming the first bad
receipt (COMPLIANCE E.27)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from consent.audit import BaseStore, Receipt
from tests.audit.conftest import Backend, decision, new_backend

Tamper = Callable[[Backend, list[Receipt]], str | None]  # returns the receipt_id to be named


def alter_field(backend: Backend, receipts: list[Receipt]) -> str | None:
    backend.execute("UPDATE receipts SET action = 'reject_all' WHERE seq = ?", (3,))
    return receipts[2].receipt_id


def alter_locale_of_the_first(backend: Backend, receipts: list[Receipt]) -> str | None:
    backend.execute("UPDATE receipts SET locale = 'fr' WHERE seq = ?", (1,))
    return receipts[0].receipt_id


def alter_mac(backend: Backend, receipts: list[Receipt]) -> str | None:
    backend.execute("UPDATE receipts SET mac = ? WHERE seq = ?", ("0" * 64, 4))
    return receipts[3].receipt_id


def delete_row(backend: Backend, receipts: list[Receipt]) -> str | None:
    backend.execute("DELETE FROM receipts WHERE seq = ?", (3,))
    return receipts[3].receipt_id  # the first receipt after the gap


def delete_first_rows(backend: Backend, receipts: list[Receipt]) -> str | None:
    backend.execute("DELETE FROM receipts WHERE seq <= ?", (2,))
    return receipts[2].receipt_id


def insert_forged_at_the_end(backend: Backend, receipts: list[Receipt]) -> str | None:
    last = receipts[-1]
    _insert_copy(backend, last, seq=last.seq + 1, receipt_id="01FORGED0000000000000000000")
    backend.execute("UPDATE chain_head SET seq = ?, mac = ?", (last.seq + 1, "f" * 64))
    return "01FORGED0000000000000000000"


def insert_forged_in_the_middle(backend: Backend, receipts: list[Receipt]) -> str | None:
    for receipt in reversed(receipts[2:]):
        backend.execute("UPDATE receipts SET seq = ? WHERE seq = ?", (receipt.seq + 1, receipt.seq))
    _insert_copy(backend, receipts[0], seq=3, receipt_id="01FORGED0000000000000000001")
    return "01FORGED0000000000000000001"


def swap_seq(backend: Backend, receipts: list[Receipt]) -> str | None:
    backend.execute("UPDATE receipts SET seq = -1 WHERE seq = ?", (2,))
    backend.execute("UPDATE receipts SET seq = 2 WHERE seq = ?", (5,))
    backend.execute("UPDATE receipts SET seq = 5 WHERE seq = ?", (-1,))
    return receipts[4].receipt_id  # now standing at seq 2


def delete_newest(backend: Backend, receipts: list[Receipt]) -> str | None:
    backend.execute("DELETE FROM receipts WHERE seq = ?", (receipts[-1].seq,))
    return None


def _insert_copy(backend: Backend, source: Receipt, *, seq: int, receipt_id: str) -> None:
    backend.execute(
        "INSERT INTO receipts (seq, receipt_id, recorded_at, previous_receipt_id, consent_id,"
        " action, method, granted, refused, policy_version, locale, texts_hash, path, rule,"
        " client, key_id, mac)"
        " SELECT ?, ?, recorded_at, previous_receipt_id, 'intruder', action, method, granted,"
        " refused, policy_version, locale, texts_hash, path, rule, client, key_id, mac"
        " FROM receipts WHERE receipt_id = ?",
        (seq, receipt_id, source.receipt_id),
    )


CASES: dict[str, tuple[Tamper, int]] = {
    # name: (tampering, seq of the first bad receipt)
    "alter a field": (alter_field, 3),
    "alter the first receipt": (alter_locale_of_the_first, 1),
    "replace a mac": (alter_mac, 4),
    "delete a row": (delete_row, 4),
    "delete the oldest rows": (delete_first_rows, 3),
    "insert a forged row at the end": (insert_forged_at_the_end, 7),
    "insert a forged row in the middle": (insert_forged_in_the_middle, 3),
    "swap two rows' seq": (swap_seq, 2),
    "delete the newest row": (delete_newest, 6),
}


async def record_six(store: BaseStore) -> list[Receipt]:
    return [await store.record(decision(f"v{index % 3}")) for index in range(6)]


@pytest.mark.parametrize("case", list(CASES))
async def test_tampering_is_detected_and_named(
    case: str, store: BaseStore, backend: Backend
) -> None:
    tamper, bad_seq = CASES[case]
    receipts = await record_six(store)
    assert (await store.verify()).ok
    expected = tamper(backend, receipts)
    report = await store.verify()
    assert not report.ok
    assert report.problem is not None
    assert report.problem.seq == bad_seq
    if expected is not None:
        assert report.problem.receipt_id == expected
        assert expected in report.problem.describe()


async def test_an_altered_notice_is_detected(store: BaseStore, backend: Backend) -> None:
    receipts = await record_six(store)
    texts = '{"title": "We value your privacy"}'
    if backend.kind == "sqlite":
        backend.execute("UPDATE notices SET texts = ?", (texts,))
    else:
        backend.execute("UPDATE notices SET texts = ?::jsonb", (texts,))
    report = await store.verify()
    assert report.problem is not None and receipts[0].texts_hash in report.problem.reason


async def test_a_deleted_notice_is_detected(store: BaseStore, backend: Backend) -> None:
    await record_six(store)
    backend.execute("DELETE FROM notices")
    report = await store.verify()
    assert report.problem is not None and "missing" in report.problem.reason


async def test_a_rewound_head_is_detected(store: BaseStore, backend: Backend) -> None:
    receipts = await record_six(store)
    backend.execute("DELETE FROM receipts WHERE seq = ?", (6,))
    backend.execute("UPDATE chain_head SET seq = ?, mac = ?", (5, receipts[4].mac))
    report = await store.verify()
    assert report.problem is not None and "head" in report.problem.reason


async def test_wiping_everything_but_the_head_is_detected(
    store: BaseStore, backend: Backend
) -> None:
    await record_six(store)
    backend.execute("DELETE FROM receipts")
    report = await store.verify()
    assert report.problem is not None and report.problem.seq == 1


def test_postgres_tests_fail_instead_of_skipping_when_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("tests.audit.conftest._postgres_problem", ["connection refused"])
    monkeypatch.setenv("CONSENT_REQUIRE_POSTGRES", "1")
    with pytest.raises(pytest.fail.Exception, match="CONSENT_REQUIRE_POSTGRES"):
        new_backend("postgres", tmp_path)
    monkeypatch.delenv("CONSENT_REQUIRE_POSTGRES")
    with pytest.raises(pytest.skip.Exception, match="SKIPPING POSTGRES"):
        new_backend("postgres", tmp_path)


# Incremental verification walks only what was appended since the verified head: here seq 3
# to 6 after a verification at seq 2. Changes there are found as by the full walk; older
# receipts are checked at their ends (the receipt at the verified seq, the oldest one).
INCREMENTAL: dict[str, tuple[Tamper, int]] = {
    "alter a field": (alter_field, 3),
    "replace a mac": (alter_mac, 4),
    "delete a row": (delete_row, 4),
    "delete the oldest rows": (delete_first_rows, 1),
    "insert a forged row at the end": (insert_forged_at_the_end, 7),
    "insert a forged row in the middle": (insert_forged_in_the_middle, 3),
    "swap two rows' seq": (swap_seq, 2),
    "delete the newest row": (delete_newest, 6),
}


@pytest.mark.parametrize("case", list(INCREMENTAL))
async def test_tampering_after_the_verified_head_is_found_incrementally(
    case: str, store: BaseStore, backend: Backend
) -> None:
    tamper, bad_seq = INCREMENTAL[case]
    receipts = [await store.record(decision(f"v{index}")) for index in range(2)]
    assert (await store.verify()).ok  # leaves the verified head at seq 2
    receipts += [await store.record(decision(f"v{index % 3}")) for index in range(4)]
    expected = tamper(backend, receipts)
    report = await store.verify(full=False)
    assert report.problem is not None, case
    assert report.problem.seq == bad_seq
    if expected is not None and bad_seq > 2:
        assert report.problem.receipt_id == expected


async def test_an_untouched_chain_is_walked_from_the_verified_head(store: BaseStore) -> None:
    await record_six(store)
    assert (await store.verify(full=False)).checked == 6  # no verified head yet: everything
    await store.record(decision("later"))
    report = await store.verify(full=False)
    assert report.ok, report.problem
    assert (report.checked, report.resumed_from, report.first_seq, report.held) == (1, 6, 7, 7)
    again = await store.verify(full=False)
    assert (again.ok, again.checked, again.held) == (True, 0, 7)


async def test_an_older_receipt_altered_after_verification_needs_the_full_walk(
    store: BaseStore, backend: Backend
) -> None:
    receipts = await record_six(store)
    assert (await store.verify()).ok
    alter_locale_of_the_first(backend, receipts)
    assert (await store.verify(full=False)).ok  # not reread: the documented limit
    report = await store.verify(full=True)
    assert report.problem is not None and report.problem.seq == 1


async def test_a_forged_verified_head_is_detected(store: BaseStore, backend: Backend) -> None:
    await record_six(store)
    assert (await store.verify()).ok
    content = backend.query("SELECT content FROM verified_head")[0][0]
    backend.execute(
        "UPDATE verified_head SET content = ?", (content.replace('"seq":6', '"seq":5'),)
    )
    report = await store.verify(full=False)
    assert report.problem is not None and "verified head was altered" in report.problem.reason


async def test_a_removed_checkpoint_is_detected_incrementally(
    store: BaseStore, backend: Backend
) -> None:
    receipts = await record_six(store)
    await store.purge(receipts[2].recorded_at)
    assert (await store.verify()).ok
    backend.execute("DELETE FROM checkpoints")
    report = await store.verify(full=False)
    assert report.problem is not None


async def test_a_deleted_notice_is_detected_incrementally(
    store: BaseStore, backend: Backend
) -> None:
    await store.record(decision("a", locale="en"))
    french = await store.record(decision("b", locale="fr"))
    assert (await store.verify()).ok
    backend.execute("DELETE FROM notices WHERE texts_hash = ?", (french.texts_hash,))
    report = await store.verify(full=False)
    assert report.problem is not None and "notices were removed" in report.problem.reason


async def test_a_rewound_head_with_newer_verified_head_is_detected(
    store: BaseStore, backend: Backend
) -> None:
    receipts = await record_six(store)
    assert (await store.verify()).ok
    backend.execute("DELETE FROM receipts WHERE seq = ?", (6,))
    backend.execute("UPDATE chain_head SET seq = ?, mac = ?", (5, receipts[4].mac))
    report = await store.verify(full=False)
    assert report.problem is not None and report.problem.seq == 6
