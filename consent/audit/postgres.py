"""The shared receipt store for many app servers: PostgreSQL through psycopg 3.

The pool is created and opened on first use, never at construction, so a site starts while
the database is down and recovers when it returns. Appends serialise on the single chain-head
row (``SELECT ... FOR UPDATE``) and take ``recorded_at`` from the database clock, so the order
of ``seq`` and of time agree across app servers whose clocks drift. The SQL itself is shared
with SQLite (``schema.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from consent.audit.base import BaseStore
from consent.audit.chain import Keyring, build_batch, sign_checkpoint, sign_head
from consent.audit.migrations import LATEST_VERSION, VERSION_TABLE, pending
from consent.audit.model import (
    AuditUnavailable,
    Checkpoint,
    Decision,
    Receipt,
    VerifiedHead,
    canonical_json,
)
from consent.audit.schema import POSTGRES, Queries

_Q = Queries(POSTGRES)
# The months whose partitions must exist: this one and the next, created a month ahead so an
# append never finds its month missing, and checked again every _PARTITION_CHECK seconds.
_ENSURE_PARTITIONS = (
    "SELECT consent_audit_partition(clock_timestamp()),"
    " consent_audit_partition(clock_timestamp() + interval '1 month')"
)
_PARTITION_CHECK = 12 * 3600.0
_PARTITIONS = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = 'receipts'::regclass ORDER BY c.relname"
)


_PARTITION_NAME = re.compile(r"receipts_y(\d{4})m(\d{2})")


def _month_end(partition: str) -> datetime | None:
    """When the month a partition named by ``consent_audit_partition`` holds ends (UTC)."""
    match = _PARTITION_NAME.fullmatch(partition)
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def _lock_id(schema: str | None) -> int:
    """A stable advisory-lock id per schema, so stores in different schemas do not wait."""
    digest = hashlib.sha256(f"consent-audit:{schema or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresStore(BaseStore):
    dialect = POSTGRES
    queries = _Q

    def __init__(
        self,
        conninfo: str,
        keyring: Keyring,
        *,
        schema: str | None = None,
        pool_size: int = 4,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(keyring)
        self._conninfo = conninfo
        self._schema = schema
        self._pool_size = pool_size
        self._timeout = timeout
        self._pool: AsyncConnectionPool | None = None
        self._migrated = False
        self._partitions_checked = 0.0  # when, by the monotonic clock
        self._setup_lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self._schema!r})"

    # -- plumbing -------------------------------------------------------------------------
    def _new_pool(self) -> AsyncConnectionPool:
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in self._conninfo:
            kwargs["connect_timeout"] = max(2, int(self._timeout))
        if self._schema:
            kwargs["options"] = f"-c search_path={self._schema}"
        return AsyncConnectionPool(
            self._conninfo,
            kwargs=kwargs,
            min_size=1,
            max_size=self._pool_size,
            open=False,
            timeout=self._timeout,
            check=AsyncConnectionPool.check_connection,
            name="consent-audit",
        )

    async def _ready_pool(self, ticket: int | None = None) -> AsyncConnectionPool:
        if self._closed:
            raise AuditUnavailable("the audit store is closed")
        if self._pool is not None and self._migrated and not self._partitions_due():
            return self._pool
        async with self._setup_lock:
            if ticket is not None:
                # Callers queue on this lock while the first one waits for a server that may be
                # down: once it failed, the rest leave at once.
                self.breaker.check(ticket)
            if self._pool is None:
                self._pool = self._new_pool()
                await self._pool.open(wait=False)
            if not self._migrated:
                async with self._pool.connection() as conn:
                    await self._migrate(conn)
                self._migrated = True
            if self._partitions_due():
                async with self._pool.connection() as conn:
                    await conn.execute(_ENSURE_PARTITIONS)
                self._partitions_checked = time.monotonic()
        return self._pool

    def _partitions_due(self) -> bool:
        # Twice a day is plenty for partitions created a month ahead.
        return time.monotonic() - self._partitions_checked > _PARTITION_CHECK or (
            self._partitions_checked == 0.0
        )

    @asynccontextmanager
    async def _connection(
        self, ticket: int | None = None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            pool = await self._ready_pool(ticket)
            if ticket is not None:
                self.breaker.check(ticket)
            async with pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:  # the pool's timeouts are psycopg errors too
            raise AuditUnavailable(f"PostgreSQL audit store: {exc}") from exc

    async def _read(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall()

    async def _migrate(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_id(self._schema),))
            if self._schema:
                await conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema))
                )
            await conn.execute(VERSION_TABLE["postgres"])
            cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            row = await cur.fetchone()
            current = int(row[0]) if row else 0
            if current > LATEST_VERSION:
                raise psycopg.errors.FeatureNotSupported(
                    f"schema version {current} is newer than this release knows ({LATEST_VERSION})"
                )
            for step in pending(current):
                for statement in step.postgres:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_version (version, description) VALUES (%s, %s)",
                    (step.version, step.description),
                )

    # -- the public protocol --------------------------------------------------------------
    async def _append_batch(self, decisions: Sequence[Decision], ticket: int) -> list[Receipt]:
        async with self._connection(ticket) as conn, conn.transaction():
            cur = await conn.execute(_Q.lock_head)
            head_row = await cur.fetchone()
            if head_row is None:
                raise AuditUnavailable("the chain head row is missing")
            seq, mac, now = head_row
            notices = {d.texts_hash: d.texts for d in decisions}
            async with conn.cursor() as many:
                await many.executemany(
                    _Q.insert_notice,
                    [(h, Jsonb(dict(texts)), now) for h, texts in notices.items()],
                )
            ids = list(dict.fromkeys(d.consent_id for d in decisions))
            cur = await conn.execute(_Q.previous_of_many(len(ids)), ids)
            previous = {row[0]: row[1] for row in await cur.fetchall()}
            receipts = build_batch(
                decisions,
                seq=seq,
                previous_mac=mac,
                previous_ids=previous,
                recorded_at=now.astimezone(UTC),
                keyring=self.keyring,
            )
            async with conn.cursor() as many:
                await many.executemany(
                    _Q.insert_receipt, [POSTGRES.to_row(receipt) for receipt in receipts]
                )
            head = sign_head(receipts[-1].seq, receipts[-1].mac, self.keyring)
            await conn.execute(_Q.update_head, (head.seq, head.mac, head.key_id, head.signature))
            for statement in _Q.add_stats:
                await conn.execute(statement, (seq, head.seq))
        return receipts

    async def ping(self) -> bool:
        try:
            await self._read("SELECT 1")
        except AuditUnavailable:
            return False
        return True

    async def close(self) -> None:
        if self.anchors is not None and not self._closed:
            await self.anchors.drain(self)
        self._closed = True
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # -- for the command line -------------------------------------------------------------
    async def _save_verified_head(self, verified: VerifiedHead) -> None:
        content = canonical_json(verified.content()).decode()
        async with self._connection() as conn:
            await conn.execute(_Q.save_verified_head, (content, verified.signature))

    async def _write_many(self, statements: Sequence[tuple[str, Sequence[object]]]) -> None:
        async with self._connection() as conn, conn.transaction():
            for query, params in statements:
                await conn.execute(query, params)

    async def _purge_prefix(self, cutoff: datetime, max_seq: int) -> Checkpoint | None:
        async with self._connection() as conn, conn.transaction():
            cur = await conn.execute(_Q.lock_head)
            locked = await cur.fetchone()
            now = locked[2].astimezone(UTC) if locked else datetime.now(UTC)
            cur = await conn.execute(_Q.purge_bounds, (cutoff,))
            bounds = await cur.fetchone()
            if bounds is None or bounds[0] is None:
                return None
            first, last, keep_from = bounds
            upto = min(last if keep_from is None else keep_from - 1, max_seq)
            if upto < first:
                return None
            cur = await conn.execute(_Q.purge_end, (upto, upto))
            found = await cur.fetchone()
            if found is None:
                return None
            mac, deleted = found
            cur = await conn.execute(_Q.last_checkpoint)
            previous = await cur.fetchone()
            checkpoint = sign_checkpoint(
                checkpoint_id=previous[0] + 1 if previous else 1,
                seq=upto,
                mac=mac,
                deleted=deleted,
                cutoff=cutoff,
                created_at=now,
                previous_signature=previous[1] if previous else "",
                keyring=self.keyring,
            )
            await conn.execute(
                _Q.insert_checkpoint,
                (
                    checkpoint.checkpoint_id,
                    checkpoint.seq,
                    checkpoint.mac,
                    checkpoint.deleted,
                    checkpoint.cutoff,
                    checkpoint.created_at,
                    checkpoint.key_id,
                    checkpoint.signature,
                ),
            )
            for statement in _Q.subtract_stats:
                await conn.execute(statement, (first - 1, upto))
            await conn.execute(_Q.drop_empty_stats)
            # Whole months go at once: a dropped partition leaves no row behind to vacuum. Only
            # months that ended before the cutoff and before this month, whose receipts all
            # fall in the purged prefix; this month's partition stays for the next appends.
            cur = await conn.execute(_PARTITIONS)
            for (name,) in await cur.fetchall():
                end = _month_end(name)
                if end is None or end > min(cutoff, now.replace(day=1, hour=0, minute=0)):
                    continue
                table = sql.Identifier(name)
                cur = await conn.execute(sql.SQL("SELECT MAX(seq) FROM {}").format(table))
                newest = await cur.fetchone()
                if newest is not None and newest[0] is not None and newest[0] <= upto:
                    await conn.execute(sql.SQL("DROP TABLE {}").format(table))
            await conn.execute(
                "SELECT set_config('consent_audit.purge_upto', %s, true)", (str(upto),)
            )
            await conn.execute(_Q.delete_upto, (upto,))
            await conn.execute("SELECT set_config('consent_audit.purge_upto', '', true)")
        return checkpoint
