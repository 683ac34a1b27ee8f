"""Receipt store throughput: appends per second, verification speed and size per receipt.

    python bench/bench_audit.py [--quick] [--postgres URL]

For SQLite (a temporary file) and PostgreSQL (a throw-away schema, skipped when unreachable):
durable appends one after another and from 8 concurrent tasks, then a chain of 20 000
receipts written in bulk and verified, and the bytes each receipt takes on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consent.audit import BaseStore, Decision, Keyring, open_store  # noqa: E402
from consent.audit.chain import build_receipt, sign_head  # noqa: E402
from consent.audit.model import Receipt  # noqa: E402

KEY = "bench:" + "b" * 32
TEXTS = {
    "title": "We use cookies",
    "body": "We and our partners use cookies to measure audiences and show ads. " * 3,
    "accept": "Accept all",
    "reject": "Reject all",
}


def make_decision(index: int) -> Decision:
    granted = {"necessary", "analytics"} if index % 3 else {"necessary"}
    return Decision.create(
        consent_id=secrets.token_urlsafe(16),
        action="custom" if index % 3 else "reject_all",
        method="banner",
        granted=granted,
        refused={"necessary", "preferences", "analytics", "marketing"} - granted,
        policy_version="2025-01",
        locale="en",
        texts=TEXTS,
        path=f"/news/{index % 500}",
        rule="gdpr",
    )


@dataclass
class Row:
    store: str
    sequential: float
    concurrent: float
    verify: float
    bytes_per_receipt: float


async def appends(store: BaseStore, count: int, tasks: int) -> float:
    per_task = count // tasks

    async def worker(offset: int) -> None:
        for index in range(per_task):
            await store.record(make_decision(offset + index))

    started = time.perf_counter()
    await asyncio.gather(*(worker(n * per_task) for n in range(tasks)))
    return per_task * tasks / (time.perf_counter() - started)


def bulk_chain(count: int, start_seq: int, previous_mac: str) -> list[Receipt]:
    """A valid chain continuation built in memory, to fill a store quickly."""
    keyring = Keyring.parse(KEY)
    moment = datetime.now(UTC) - timedelta(days=30)
    chain = []
    for index in range(count):
        receipt = build_receipt(
            make_decision(index),
            seq=start_seq + index,
            previous_mac=previous_mac,
            previous_receipt_id=None,
            recorded_at=moment + timedelta(milliseconds=index),
            keyring=keyring,
        )
        chain.append(receipt)
        previous_mac = receipt.mac
    return chain


def fill_sqlite(path: Path, count: int) -> None:
    from consent.audit.schema import SQLITE, Queries

    conn = sqlite3.connect(path)
    seq, mac = conn.execute("SELECT seq, mac FROM chain_head").fetchone()
    chain = bulk_chain(count, seq + 1, mac)
    head = sign_head(chain[-1].seq, chain[-1].mac, Keyring.parse(KEY))
    with conn:
        conn.executemany(
            Queries(SQLITE).insert_receipt, [SQLITE.to_row(receipt) for receipt in chain]
        )
        conn.execute(
            "UPDATE chain_head SET seq = ?, mac = ?, key_id = ?, signature = ?",
            (head.seq, head.mac, head.key_id, head.signature),
        )
    conn.close()


def fill_postgres(url: str, schema: str, count: int) -> None:
    import psycopg

    from consent.audit.schema import POSTGRES, Queries

    with psycopg.connect(url, options=f"-c search_path={schema}") as conn:
        row = conn.execute("SELECT seq, mac FROM chain_head").fetchone()
        assert row is not None
        chain = bulk_chain(count, row[0] + 1, row[1])
        head = sign_head(chain[-1].seq, chain[-1].mac, Keyring.parse(KEY))
        # The store makes this month's partition and the next; the backdated receipts may fall
        # in the month before (on the first days of a month), which it never needed itself.
        for moment in (chain[0].recorded_at, chain[-1].recorded_at):
            conn.execute("SELECT consent_audit_partition(%s)", (moment,))
        with conn.cursor() as cur:
            cur.executemany(
                Queries(POSTGRES).insert_receipt, [POSTGRES.to_row(receipt) for receipt in chain]
            )
        conn.execute(
            "UPDATE chain_head SET seq = %s, mac = %s, key_id = %s, signature = %s",
            (head.seq, head.mac, head.key_id, head.signature),
        )


async def measure(
    name: str,
    url: str,
    fill: Callable[[int], None],
    size: Callable[[], float],
    appends_n: int,
    chain_n: int,
) -> Row:
    store = open_store(url, KEY, pool_size=8)
    try:
        sequential = await appends(store, appends_n, 1)
        concurrent = await appends(store, appends_n, 8)
        fill(chain_n)
        started = time.perf_counter()
        report = await store.verify()
        elapsed = time.perf_counter() - started
        assert report.ok, report.problem
        per_receipt = size() / report.checked
        return Row(name, sequential, concurrent, report.checked / elapsed, per_receipt)
    finally:
        await store.close()


def sqlite_row(tmp: Path, appends_n: int, chain_n: int) -> Row:
    path = tmp / "audit.db"

    def size() -> float:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.close()
        return float(path.stat().st_size)

    return asyncio.run(
        measure(
            "SQLite (WAL, synchronous=FULL)",
            f"sqlite:///{path}",
            lambda n: fill_sqlite(path, n),
            size,
            appends_n,
            chain_n,
        )
    )


def postgres_row(url: str, appends_n: int, chain_n: int) -> Row | None:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure: nothing to measure against
        print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        return None
    schema = f"audit_bench_{secrets.token_hex(4)}"

    def size() -> float:
        with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as conn:
            conn.execute("VACUUM receipts")
            # A partitioned table has no storage of its own: its months' partitions hold it.
            row = conn.execute(
                "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('receipts')"
            ).fetchone()
        return float(row[0]) if row else 0.0

    try:
        return asyncio.run(
            measure(
                "PostgreSQL",
                f"{url}?schema={schema}",
                lambda n: fill_postgres(url, schema, n),
                size,
                appends_n,
                chain_n,
            )
        )
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CONSENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    appends_n, chain_n = (200, 2000) if args.quick else (2000, 20000)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(sqlite_row(Path(tmp), appends_n, chain_n))
    pg = postgres_row(args.postgres, appends_n, chain_n)
    if pg is not None:
        rows.append(pg)
    print(f"{appends_n} durable appends per run, verify over about {chain_n} receipts\n")
    header = (
        "store",
        "appends/s (1 task)",
        "appends/s (8 tasks)",
        "verify receipts/s",
        "bytes/receipt",
    )
    print("  ".join(f"{h:>20}" if i else f"{h:<32}" for i, h in enumerate(header)))
    for row in rows:
        cells = (
            f"{row.sequential:,.0f}",
            f"{row.concurrent:,.0f}",
            f"{row.verify:,.0f}",
            f"{row.bytes_per_receipt:,.0f}",
        )
        print(f"{row.store:<32}  " + "  ".join(f"{cell:>20}" for cell in cells))


if __name__ == "__main__":
    main()
