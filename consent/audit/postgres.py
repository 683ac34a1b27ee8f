"""The shared receipt store for many app servers: PostgreSQL through psycopg 3.

The pool is created and opened on first use, never at construction, so a site starts while
the database is down and recovers when it returns. Appends serialise on the single chain-head
row (``SELECT ... FOR UPDATE``) and take ``recorded_at`` from the database clock, so the order
of ``seq`` and of time agree across app servers whose clocks drift.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from consent.audit.base import BaseStore
from consent.audit.chain import Keyring, build_receipt, sign_checkpoint, sign_head
from consent.audit.migrations import LATEST_VERSION, VERSION_TABLE, pending
from consent.audit.model import AuditUnavailable, Checkpoint, Decision, Head, Receipt
from consent.audit.rows import RECEIPT_COLUMNS, receipt_from_row, receipt_to_row

# Queries interpolate only constants like this one and fixed clauses: hence the S608 waivers.
_COLUMNS = RECEIPT_COLUMNS
_INSERT = f"INSERT INTO receipts ({_COLUMNS}) VALUES ({', '.join(['%s'] * 17)})"  # noqa: S608


def _to_row(receipt: Receipt) -> tuple[object, ...]:
    return receipt_to_row(receipt, time=lambda moment: moment, categories=lambda names: names)


def _from_row(row: tuple[Any, ...]) -> Receipt:
    return receipt_from_row(
        row, time=lambda moment: moment.astimezone(UTC), categories=lambda names: names
    )


def _range(since: datetime | None, until: datetime | None) -> tuple[str, list[object]]:
    clauses, params = "", list[object]()
    if since is not None:
        clauses += " AND recorded_at >= %s"
        params.append(since)
    if until is not None:
        clauses += " AND recorded_at < %s"
        params.append(until)
    return clauses, params


def _lock_id(schema: str | None) -> int:
    """A stable advisory-lock id per schema, so stores in different schemas do not wait."""
    digest = hashlib.sha256(f"consent-audit:{schema or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresStore(BaseStore):
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
        if self._pool is not None and self._migrated:
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
        return self._pool

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
    async def _append(self, decision: Decision, ticket: int) -> Receipt:
        async with self._connection(ticket) as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT seq, mac, clock_timestamp() FROM chain_head WHERE id = 1 FOR UPDATE"
            )
            head_row = await cur.fetchone()
            if head_row is None:
                raise AuditUnavailable("the chain head row is missing")
            seq, mac, now = head_row
            await conn.execute(
                "INSERT INTO notices (texts_hash, texts, first_seen) VALUES (%s, %s, %s)"
                " ON CONFLICT (texts_hash) DO NOTHING",
                (decision.texts_hash, Jsonb(dict(decision.texts)), now),
            )
            cur = await conn.execute(
                "SELECT receipt_id FROM receipts WHERE consent_id = %s ORDER BY seq DESC LIMIT 1",
                (decision.consent_id,),
            )
            previous = await cur.fetchone()
            receipt = build_receipt(
                decision,
                seq=seq + 1,
                previous_mac=mac,
                previous_receipt_id=previous[0] if previous else None,
                recorded_at=now.astimezone(UTC),
                keyring=self.keyring,
            )
            await conn.execute(_INSERT, _to_row(receipt))
            head = sign_head(receipt.seq, receipt.mac, self.keyring)
            await conn.execute(
                "UPDATE chain_head SET seq = %s, mac = %s, key_id = %s, signature = %s"
                " WHERE id = 1",
                (head.seq, head.mac, head.key_id, head.signature),
            )
        return receipt

    async def receipts_for(self, consent_id: str) -> list[Receipt]:
        async with self._connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM receipts WHERE consent_id = %s ORDER BY seq",  # noqa: S608
                (consent_id,),
            )
            return [_from_row(row) for row in await cur.fetchall()]

    async def notice(self, texts_hash: str) -> Mapping[str, str] | None:
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT texts FROM notices WHERE texts_hash = %s", (texts_hash,)
            )
            row = await cur.fetchone()
        return None if row is None else dict(row[0])

    async def ping(self) -> bool:
        try:
            async with self._connection() as conn:
                await conn.execute("SELECT 1")
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
    async def receipts_after(
        self,
        after_seq: int,
        limit: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Receipt]:
        clauses, params = _range(since, until)
        async with self._connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM receipts WHERE seq > %s{clauses} ORDER BY seq LIMIT %s",  # noqa: S608
                (after_seq, *params, limit),
            )
            return [_from_row(row) for row in await cur.fetchall()]

    async def count(self, *, since: datetime | None = None, until: datetime | None = None) -> int:
        clauses, params = _range(since, until)
        async with self._connection() as conn:
            cur = await conn.execute(f"SELECT COUNT(*) FROM receipts WHERE true{clauses}", params)  # noqa: S608
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def checkpoints(self) -> list[Checkpoint]:
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT checkpoint_id, seq, mac, deleted, cutoff, created_at, key_id, signature"
                " FROM checkpoints ORDER BY checkpoint_id"
            )
            rows = await cur.fetchall()
        return [
            Checkpoint(
                r[0], r[1], r[2], r[3], r[4].astimezone(UTC), r[5].astimezone(UTC), r[6], r[7]
            )
            for r in rows
        ]

    async def head(self) -> Head | None:
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT seq, mac, key_id, signature FROM chain_head WHERE id = 1"
            )
            row = await cur.fetchone()
        return None if row is None else Head(*row)

    async def notices(self) -> dict[str, dict[str, str]]:
        async with self._connection() as conn:
            cur = await conn.execute("SELECT texts_hash, texts FROM notices")
            return {row[0]: dict(row[1]) for row in await cur.fetchall()}

    async def _purge_prefix(self, cutoff: datetime, max_seq: int) -> Checkpoint | None:
        async with self._connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT clock_timestamp() FROM chain_head WHERE id = 1 FOR UPDATE"
            )
            locked = await cur.fetchone()
            now = locked[0].astimezone(UTC) if locked else datetime.now(UTC)
            cur = await conn.execute(
                "SELECT MIN(seq), MAX(seq),"
                " (SELECT MIN(seq) FROM receipts WHERE recorded_at >= %s) FROM receipts",
                (cutoff,),
            )
            bounds = await cur.fetchone()
            if bounds is None or bounds[0] is None:
                return None
            first, last, keep_from = bounds
            upto = min(last if keep_from is None else keep_from - 1, max_seq)
            if upto < first:
                return None
            cur = await conn.execute(
                "SELECT mac, (SELECT COUNT(*) FROM receipts WHERE seq <= %s)"
                " FROM receipts WHERE seq = %s",
                (upto, upto),
            )
            found = await cur.fetchone()
            if found is None:
                return None
            mac, deleted = found
            cur = await conn.execute(
                "SELECT checkpoint_id, signature FROM checkpoints"
                " ORDER BY checkpoint_id DESC LIMIT 1"
            )
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
                "INSERT INTO checkpoints (checkpoint_id, seq, mac, deleted, cutoff, created_at,"
                " key_id, signature) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
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
            await conn.execute(
                "SELECT set_config('consent_audit.purge_upto', %s, true)", (str(upto),)
            )
            await conn.execute("DELETE FROM receipts WHERE seq <= %s", (upto,))
            await conn.execute("SELECT set_config('consent_audit.purge_upto', '', true)")
        return checkpoint
