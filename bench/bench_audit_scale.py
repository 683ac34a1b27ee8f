"""The receipt store at a large publisher's scale: every figure against its target.

    python bench/bench_audit_scale.py [--receipts N] [--postgres URL | --no-postgres]
                                      [--no-sqlite] [--keep DIR]

For each store (SQLite in a temporary file, PostgreSQL in a throw-away schema) N receipts
(10 million by default) are generated straight into the database as a valid chain spread
over the last 90 days, not through HTTP; then it measures durable appends from 64 concurrent
tasks (group commit), a full and an incremental verification, statistics by day, locale,
category and method, the admin overview, a JSON Lines export, look-ups by consent id and the
bytes each receipt takes. Each line prints the figure and its target.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consent.audit import BaseStore, Decision, Keyring, open_store  # noqa: E402
from consent.audit.chain import build_receipt, sign_head  # noqa: E402
from consent.audit.export import export_receipts  # noqa: E402
from consent.audit.model import Receipt, canonical_json, hash_texts  # noqa: E402
from consent.audit.schema import POSTGRES, SELECT_LIST, SQLITE, Queries  # noqa: E402
from consent.audit.stats import GROUPINGS, compute_stats  # noqa: E402

KEY = "scale:" + "s" * 32
DAYS = 90
CHUNK = 50_000
LOCALES = ("en", "fr", "de", "es", "it", "nl", "pl", "pt", "sv", "da")
METHODS = ("banner", "banner", "banner", "preferences_page", "script")
CATEGORIES = ("preferences", "analytics", "marketing")
TEXTS = {
    locale: {"title": f"Cookies ({locale})", "body": "We use cookies. " * 10, "accept": "OK"}
    for locale in LOCALES
}


def _decision(rng: random.Random, index: int) -> Decision:
    locale = LOCALES[index % len(LOCALES)]
    kind = rng.random()
    if kind < 0.55:
        action, granted = "accept_all", set(CATEGORIES)
    elif kind < 0.8:
        action, granted = "reject_all", set()
    else:
        action, granted = "custom", {c for c in CATEGORIES if rng.random() < 0.5}
    return Decision.create(
        consent_id=secrets.token_urlsafe(16),
        action=action,
        method=METHODS[index % len(METHODS)],
        granted=granted | {"necessary"},
        refused=set(CATEGORIES) - granted,
        policy_version="2025-01",
        locale=locale,
        texts=TEXTS[locale],
        path=f"/news/{index % 1000}",
        rule="gdpr",
    )


def _chain(count: int, keyring: Keyring) -> Iterator[list[Receipt]]:
    """Rows of a valid chain from seq 1, in chunks, recorded evenly over the last DAYS."""
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / max(count, 1)
    previous = ""
    chunk: list[Receipt] = []
    for index in range(count):
        receipt = build_receipt(
            _decision(rng, index),
            seq=index + 1,
            previous_mac=previous,
            previous_receipt_id=None,
            recorded_at=start + step * index,
            keyring=keyring,
        )
        previous = receipt.mac
        chunk.append(receipt)
        if len(chunk) == CHUNK or index == count - 1:
            yield chunk
            chunk = []


def _notices_rows() -> list[tuple[str, str]]:
    return [(hash_texts(texts), canonical_json(texts).decode()) for texts in TEXTS.values()]


def fill_sqlite(path: Path, count: int) -> float:
    asyncio.run(_touch(f"sqlite:///{path}"))  # creates and migrates the file
    keyring = Keyring.parse(KEY)
    queries = Queries(SQLITE)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # generation only; the store itself runs FULL
    started = time.perf_counter()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    conn.executemany(
        "INSERT OR IGNORE INTO notices (texts_hash, texts, first_seen) VALUES (?, ?, ?)",
        [(h, t, now) for h, t in _notices_rows()],
    )
    last = None
    for chunk in _chain(count, keyring):
        conn.execute("BEGIN")
        conn.executemany(queries.insert_receipt, [SQLITE.to_row(r) for r in chunk])
        conn.execute("COMMIT")
        last = chunk[-1]
        _progress(last.seq, count, started)
    assert last is not None
    head = sign_head(last.seq, last.mac, keyring)
    conn.execute("BEGIN")
    conn.execute(queries.update_head, (head.seq, head.mac, head.key_id, head.signature))
    for statement in queries.add_stats:
        conn.execute(statement, (0, head.seq))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return count / (time.perf_counter() - started)


def fill_postgres(url: str, schema: str, count: int) -> float:
    import psycopg

    asyncio.run(_touch(f"{url}?schema={schema}"))
    keyring = Keyring.parse(KEY)
    queries = Queries(POSTGRES)
    started = time.perf_counter()
    with psycopg.connect(url, options=f"-c search_path={schema}", autocommit=True) as conn:
        from psycopg.types.json import Jsonb

        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO notices (texts_hash, texts, first_seen) VALUES (%s, %s, now())"
                " ON CONFLICT DO NOTHING",
                [
                    (h, Jsonb(TEXTS[loc]))
                    for (h, _), loc in zip(_notices_rows(), LOCALES, strict=True)
                ],
            )
        # The months the generated receipts fall in (the store makes only this one and the next).
        conn.execute(
            "SELECT consent_audit_partition(now() - make_interval(days => d))"
            " FROM generate_series(0, %s, 7) AS d",
            (DAYS + 7,),
        )
        last = None
        for chunk in _chain(count, keyring):
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY receipts ({SELECT_LIST}) FROM STDIN") as copy,
            ):
                for receipt in chunk:
                    copy.write_row(POSTGRES.to_row(receipt))
            last = chunk[-1]
            _progress(last.seq, count, started)
        assert last is not None
        head = sign_head(last.seq, last.mac, keyring)
        with conn.transaction():
            conn.execute(queries.update_head, (head.seq, head.mac, head.key_id, head.signature))
            for statement in queries.add_stats:
                conn.execute(statement, (0, head.seq))
        conn.execute("VACUUM ANALYZE receipts")
    return count / (time.perf_counter() - started)


def _progress(done: int, total: int, started: float) -> None:
    if sys.stderr.isatty():
        rate = done / max(time.perf_counter() - started, 1e-9)
        sys.stderr.write(f"\r  generated {done:,}/{total:,} ({rate:,.0f}/s)")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


async def _touch(url: str) -> None:
    store = open_store(url, KEY)
    try:
        await store.ping()
    finally:
        await store.close()


def _line(what: str, figure: str, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("  ok" if ok else "  MISSED")
    target = f"  (target {target})" if target else ""
    print(f"  {what:<44} {figure:>22}{target}{verdict}", flush=True)


async def measure(url: str, count: int, size: float) -> None:
    store = open_store(url, KEY, pool_size=8)
    try:
        await _measure(store, count, size)
    finally:
        await store.close()


async def _measure(store: BaseStore, count: int, size: float) -> None:
    rng = random.Random(11)
    _line("size per receipt", f"{size / count:,.0f} bytes")

    started = time.perf_counter()
    report = await store.verify(full=True)
    elapsed = time.perf_counter() - started
    assert report.ok, report.problem
    _line("full verify", f"{elapsed:,.1f} s, {count / elapsed:,.0f}/s")

    tasks, each = 64, 40
    started = time.perf_counter()

    async def writer(offset: int) -> None:
        for index in range(each):
            await store.record(_decision(rng, offset + index))

    await asyncio.gather(*(writer(n * each) for n in range(tasks)))
    elapsed = time.perf_counter() - started
    _line("durable appends, 64 tasks", f"{tasks * each / elapsed:,.0f}/s")

    started = time.perf_counter()
    report = await store.verify(full=False)
    elapsed = time.perf_counter() - started
    assert report.ok and report.checked == tasks * each, report
    _line(
        f"incremental verify ({report.checked:,} new)",
        f"{elapsed * 1000:,.0f} ms",
        "< 1 s",
        elapsed < 1,
    )

    since = datetime.combine(
        datetime.now(UTC).date() - timedelta(days=29), datetime.min.time(), UTC
    )
    started = time.perf_counter()
    await store.verify(full=False)
    await compute_stats(store, by="day", since=since)
    await compute_stats(store, by="locale", since=since)
    elapsed = time.perf_counter() - started
    _line(
        "admin overview (verify + 30-day stats)", f"{elapsed * 1000:,.0f} ms", "< 1 s", elapsed < 1
    )

    for by in GROUPINGS:
        started = time.perf_counter()
        rows = await compute_stats(store, by=by)
        elapsed = time.perf_counter() - started
        assert sum(row.decisions for row in rows) >= count or by == "category"
        _line(
            f"stats --by {by} ({len(rows)} rows)", f"{elapsed * 1000:,.0f} ms", "< 1 s", elapsed < 1
        )

    limit = min(count, 1_000_000)
    until = (await store.receipt_at(limit)).recorded_at  # type: ignore[union-attr]
    started = time.perf_counter()
    written = await export_receipts(store, _Sink(), until=until)
    elapsed = time.perf_counter() - started
    rate = written / elapsed
    _line(f"export JSON Lines ({written:,})", f"{rate:,.0f}/s", ">= 50,000/s", rate >= 50_000)

    ids = [r.consent_id for r in await store.receipts_after(rng.randrange(count - 1000), 1000)]
    started = time.perf_counter()
    for consent_id in ids[:500]:
        assert await store.receipts_for(consent_id)
    elapsed = (time.perf_counter() - started) / 500
    _line("look-up by consent id", f"{elapsed * 1000:,.2f} ms", "< 10 ms", elapsed < 0.01)


class _Sink(io.StringIO):
    """Counts what export writes without keeping it."""

    def write(self, text: str) -> int:
        return len(text)


def run_sqlite(count: int, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory(dir=keep) as tmp:
        path = Path(tmp) / "audit.db"
        print(f"SQLite (WAL, synchronous=FULL), {count:,} receipts", flush=True)
        rate = fill_sqlite(path, count)
        _line("generated straight into the file", f"{rate:,.0f}/s")
        asyncio.run(measure(f"sqlite:///{path}", count, float(path.stat().st_size)))


def run_postgres(url: str, count: int) -> None:
    import psycopg

    schema = f"audit_scale_{secrets.token_hex(4)}"
    print(f"PostgreSQL, {count:,} receipts", flush=True)
    try:
        rate = fill_postgres(url, schema, count)
        _line("generated straight into the table (COPY)", f"{rate:,.0f}/s")
        with psycopg.connect(url, options=f"-c search_path={schema}") as conn:
            row = conn.execute(
                "SELECT SUM(pg_total_relation_size(inhrelid)) FROM pg_inherits"
                " WHERE inhparent = 'receipts'::regclass"
            ).fetchone()
        asyncio.run(measure(f"{url}?schema={schema}", count, float(row[0]) if row else 0.0))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receipts", type=int, default=10_000_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CONSENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--keep", type=Path, help="directory for the SQLite file (default: /tmp)")
    args = parser.parse_args()
    if args.receipts < 2000:
        parser.error("--receipts must be at least 2000")
    if not args.no_sqlite:
        run_sqlite(args.receipts, args.keep)
    if not args.no_postgres:
        run_postgres(args.postgres, args.receipts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
