"""Purge and batched iteration, the operations written once for both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consent.audit import AuditError, BaseStore, Receipt
from tests.audit.conftest import Backend, decision


async def record(store: BaseStore, count: int) -> list[Receipt]:
    return [await store.record(decision(f"v{index % 4}")) for index in range(count)]


async def test_iteration_reads_every_receipt_in_order_across_batches(store: BaseStore) -> None:
    receipts = await record(store, 11)
    seen = [receipt async for receipt in store.iter_receipts(batch_size=3)]
    assert seen == receipts


async def test_purge_keeps_the_remaining_chain_verifiable(store: BaseStore) -> None:
    receipts = await record(store, 8)
    report, checkpoint = await store.purge(receipts[3].recorded_at)
    assert report.ok
    assert checkpoint is not None
    assert (checkpoint.seq, checkpoint.deleted, checkpoint.mac) == (3, 3, receipts[2].mac)
    remaining = [receipt async for receipt in store.iter_receipts()]
    assert remaining == receipts[3:]
    after = await store.verify()
    assert after.ok, after.problem
    assert (after.first_seq, after.checkpoints, after.checked) == (4, 1, 5)


async def test_purge_then_more_receipts_then_another_purge(store: BaseStore) -> None:
    receipts = await record(store, 5)
    await store.purge(receipts[2].recorded_at)
    receipts += await record(store, 4)
    report, checkpoint = await store.purge(receipts[6].recorded_at)
    assert report.ok and checkpoint is not None
    assert (checkpoint.checkpoint_id, checkpoint.seq, checkpoint.deleted) == (2, 6, 4)
    final = await store.verify()
    assert final.ok and final.checkpoints == 2 and final.first_seq == 7


async def test_purging_everything_still_verifies(store: BaseStore) -> None:
    receipts = await record(store, 4)
    _, checkpoint = await store.purge(datetime.now(UTC) + timedelta(days=1))
    assert checkpoint is not None and checkpoint.seq == receipts[-1].seq
    report = await store.verify()
    assert report.ok and report.checked == 0
    assert (await store.record(decision())).seq == 5
    assert (await store.verify()).ok


async def test_nothing_old_enough_means_no_checkpoint(store: BaseStore) -> None:
    await record(store, 3)
    report, checkpoint = await store.purge(datetime.now(UTC) - timedelta(days=30))
    assert report.ok and checkpoint is None
    assert (await store.verify()).checked == 3


async def test_deleting_a_kept_row_after_purge_is_still_detected(
    store: BaseStore, backend: Backend
) -> None:
    receipts = await record(store, 8)
    await store.purge(receipts[3].recorded_at)
    backend.execute("DELETE FROM receipts WHERE seq = ?", (6,))
    report = await store.verify()
    assert report.problem is not None
    assert (report.problem.seq, report.problem.receipt_id) == (7, receipts[6].receipt_id)


async def test_deleting_a_checkpoint_is_detected(store: BaseStore, backend: Backend) -> None:
    receipts = await record(store, 6)
    await store.purge(receipts[2].recorded_at)
    backend.execute("DELETE FROM checkpoints")
    report = await store.verify()
    assert report.problem is not None
    assert (report.problem.seq, report.problem.receipt_id) == (3, receipts[2].receipt_id)


async def test_altering_a_checkpoint_is_detected(store: BaseStore, backend: Backend) -> None:
    receipts = await record(store, 6)
    await store.purge(receipts[2].recorded_at)
    backend.execute("UPDATE checkpoints SET deleted = ?", (1,))
    report = await store.verify()
    assert report.problem is not None and "checkpoint" in report.problem.reason


async def test_a_tampered_chain_is_not_purged(store: BaseStore, backend: Backend) -> None:
    receipts = await record(store, 6)
    backend.execute("UPDATE receipts SET method = 'script' WHERE seq = ?", (2,))
    report, checkpoint = await store.purge(receipts[4].recorded_at)
    assert checkpoint is None
    assert report.problem is not None and report.problem.seq == 2
    assert backend.query("SELECT COUNT(*) FROM receipts") == [(6,)]


async def test_purge_needs_an_aware_cutoff(store: BaseStore) -> None:
    with pytest.raises(AuditError):
        await store.purge(datetime(2025, 1, 1))  # naive on purpose
