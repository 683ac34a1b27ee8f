"""PostgreSQL only: receipts partitioned by month, retention by dropping whole months, and the
indexes the look-ups use (read from ``EXPLAIN``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consent.audit import BaseStore, Receipt, open_store
from consent.audit.chain import Keyring, build_receipt, sign_head
from consent.audit.schema import POSTGRES, Queries
from consent.audit.stats import compute_stats
from tests.audit.conftest import KEY, Backend, decision, new_backend

pytestmark = pytest.mark.postgres

_Q = Queries(POSTGRES)


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Backend]:
    created = new_backend("postgres", tmp_path)
    yield created
    created.drop()


def months(backend: Backend) -> list[str]:
    rows = backend.query(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'receipts'::regclass ORDER BY c.relname"
    )
    return [str(row[0]) for row in rows]


def plan(backend: Backend, query: str, params: tuple[object, ...]) -> str:
    import psycopg

    with psycopg.connect(backend.url.split("?")[0], autocommit=True) as conn:
        conn.execute(f'SET search_path = "{backend.schema}"')
        conn.execute("SET enable_seqscan = off")  # tiny tables: ask whether an index serves
        rows = conn.execute(f"EXPLAIN {query}", params).fetchall()
    return "\n".join(str(row[0]) for row in rows)


async def backdated(store: BaseStore, backend: Backend, ages: list[int]) -> list[Receipt]:
    """Receipts recorded ``ages`` days ago, chained after the store's head, written as an
    older release would have (the partitions of their months are created first)."""
    await store.ping()  # migrates
    keyring = Keyring.parse(KEY)
    seq, mac = backend.query("SELECT seq, mac FROM chain_head")[0]
    made = []
    for age in ages:
        moment = datetime.now(UTC) - timedelta(days=age)
        backend.query("SELECT consent_audit_partition(?)", (moment,))
        item = decision(f"old-{age}", locale="de")
        receipt = build_receipt(
            item,
            seq=seq + 1,
            previous_mac=mac,
            previous_receipt_id=None,
            recorded_at=moment,
            keyring=keyring,
        )
        backend.execute(
            "INSERT INTO notices (texts_hash, texts, first_seen) VALUES (?, ?::jsonb, now())"
            " ON CONFLICT DO NOTHING",
            (item.texts_hash, json.dumps(dict(item.texts))),
        )
        backend.execute(_Q.insert_receipt.replace("%s", "?"), POSTGRES.to_row(receipt))
        seq, mac = receipt.seq, receipt.mac
        made.append(receipt)
    head = sign_head(seq, mac, keyring)
    backend.execute(
        "UPDATE chain_head SET seq = ?, mac = ?, key_id = ?, signature = ?",
        (head.seq, head.mac, head.key_id, head.signature),
    )
    for statement in _Q.add_stats:
        backend.execute(statement.replace("%s", "?"), (made[0].seq - 1, seq))
    return made


async def test_receipts_land_in_the_partition_of_their_month(pg: Backend) -> None:
    store = open_store(pg.url, KEY)
    try:
        receipt = await store.record(decision())
    finally:
        await store.close()
    month = receipt.recorded_at.strftime("receipts_y%Ym%m")
    assert month in months(pg)
    rows = pg.query(f"SELECT receipt_id FROM {month}")  # noqa: S608 - our own table name
    assert rows == [(receipt.receipt_id,)]
    following = (receipt.recorded_at.replace(day=1) + timedelta(days=32)).strftime(
        "receipts_y%Ym%m"
    )
    assert following in months(pg)  # created ahead, so the turn of the month never fails


async def test_purge_drops_whole_months_and_the_chain_still_verifies(pg: Backend) -> None:
    store = open_store(pg.url, KEY)
    try:
        old = await backdated(store, pg, [100, 95, 65, 40])
        recent = await store.record(decision("recent"))
        before = months(pg)
        report, checkpoint = await store.purge(datetime.now(UTC) - timedelta(days=50))
        assert report.ok and checkpoint is not None
        assert (checkpoint.seq, checkpoint.deleted) == (old[2].seq, 3)
        gone = {r.recorded_at.strftime("receipts_y%Ym%m") for r in old[:3]}
        kept_month = old[3].recorded_at.strftime("receipts_y%Ym%m")
        # A month that ended before the cutoff is dropped whole; one holding kept receipts stays.
        assert set(months(pg)) == set(before) - (gone - {kept_month})
        remaining = [r.receipt_id for r in await store.receipts_after(0, 10)]
        assert remaining == [old[3].receipt_id, recent.receipt_id]
        full = await store.verify(full=True)
        assert full.ok and full.checkpoints == 1 and full.first_seq == old[3].seq
        rows = await compute_stats(store, by="locale")
        assert {row.key: row.decisions for row in rows} == {"de": 1, "en": 1}
        await store.record(decision("after-the-purge"))
    finally:
        await store.close()


async def test_the_look_ups_use_their_indexes(pg: Backend) -> None:
    store = open_store(pg.url, KEY)
    try:
        await backdated(store, pg, [70, 40])
        receipt = await store.record(decision("visitor"))
    finally:
        await store.close()
    by_visitor = plan(pg, _Q.receipts_for, (receipt.consent_id,))
    assert "Seq Scan" not in by_visitor and "consent_id" in by_visitor
    by_seq = plan(pg, _Q.receipt_at, (receipt.seq,))
    assert "Seq Scan" not in by_seq and "pkey" in by_seq
    day = receipt.recorded_at.replace(hour=0, minute=0, second=0, microsecond=0)
    clauses, params = _Q.range_clause(day, day + timedelta(days=1))
    query = POSTGRES.sql(f"{_Q.receipts_after}{clauses} ORDER BY seq LIMIT 10")
    by_time = plan(pg, query, (0, *params))
    scanned = {m for m in months(pg) if m in by_time}
    assert scanned == {receipt.recorded_at.strftime("receipts_y%Ym%m")}  # pruned to one month
