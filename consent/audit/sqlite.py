"""The embedded receipt store: one SQLite file shared by every worker process of a site.

Each store owns one thread and that thread's one connection: sqlite3 calls block, and a single
connection per process keeps the locking simple. Appends take the database write lock with
``BEGIN IMMEDIATE`` so the next ``seq`` is read and written under it; WAL with
``synchronous=FULL`` makes a receipt durable once ``COMMIT`` returns.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from consent.audit.base import BaseStore
from consent.audit.chain import Keyring, build_receipt, sign_checkpoint, sign_head
from consent.audit.migrations import LATEST_VERSION, VERSION_TABLE, pending
from consent.audit.model import (
    AuditUnavailable,
    Checkpoint,
    Decision,
    Head,
    Receipt,
    canonical_json,
    format_time,
    parse_time,
)
from consent.audit.rows import RECEIPT_COLUMNS, receipt_from_row, receipt_to_row

T = TypeVar("T")

_FILE_MODE = 0o600

# Queries interpolate only constants like this one and fixed clauses: hence the S608 waivers.
_COLUMNS = RECEIPT_COLUMNS
_INSERT = f"INSERT INTO receipts ({_COLUMNS}) VALUES ({', '.join('?' * 17)})"  # noqa: S608


def _to_row(receipt: Receipt) -> tuple[object, ...]:
    return receipt_to_row(receipt, time=format_time, categories=lambda names: json.dumps(names))


def _from_row(row: tuple[Any, ...]) -> Receipt:
    return receipt_from_row(row, time=parse_time, categories=lambda text: json.loads(text))


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _range(since: datetime | None, until: datetime | None) -> tuple[str, list[object]]:
    clauses, params = "", list[object]()
    if since is not None:
        clauses += " AND recorded_at >= ?"
        params.append(format_time(since))
    if until is not None:
        clauses += " AND recorded_at < ?"
        params.append(format_time(until))
    return clauses, params


class SQLiteStore(BaseStore):
    def __init__(self, path: str, keyring: Keyring, *, timeout: float = 10.0) -> None:
        super().__init__(keyring)
        self.path = path
        self._timeout = timeout
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None  # touched only in the executor thread
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- plumbing -------------------------------------------------------------------------
    async def _call(self, work: Callable[[sqlite3.Connection], T], ticket: int | None = None) -> T:
        if self._closed:
            raise AuditUnavailable("the audit store is closed")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="consent-audit-sqlite")
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._run, work, ticket
        )

    def _run(self, work: Callable[[sqlite3.Connection], T], ticket: int | None = None) -> T:
        if ticket is not None:
            # Calls queue on this one thread: once the call ahead of them failed, they leave
            # at once instead of each waiting out the lock timeout in turn.
            self.breaker.check(ticket)
        try:
            if self._conn is None:
                self._conn = self._connect()
            return work(self._conn)
        except (sqlite3.Error, OSError) as exc:
            self._disconnect()  # the next call reconnects from scratch
            if ticket is not None:
                # Opened here, in this thread, before the next queued call starts: counted
                # only once the result reached the event loop, it would let one more through.
                self.breaker.failed(ticket)
            raise AuditUnavailable(f"SQLite audit store {self.path!r}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # Receipts are personal data: a file we create is for its owner only. SQLite gives
            # the -wal and -shm files it creates beside it the same mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, _FILE_MODE))
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            # Purged receipts are overwritten with zeros rather than left in free pages.
            conn.execute("PRAGMA secure_delete=ON")
            self._write(conn, self._migrate)
        except BaseException:
            conn.close()
            raise
        return conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute(VERSION_TABLE["sqlite"])
        current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
        if current > LATEST_VERSION:
            raise sqlite3.OperationalError(
                f"schema version {current} is newer than this release knows ({LATEST_VERSION})"
            )
        for step in pending(current):
            for statement in step.sqlite:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (step.version, step.description, format_time(datetime.now(UTC))),
            )

    def _write(self, conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in an immediate (write-locked) transaction, retrying while busy."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.001, 0.02))  # noqa: S311 - jitter, not secrecy
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    # -- the public protocol --------------------------------------------------------------
    async def _append(self, decision: Decision, ticket: int) -> Receipt:
        return await self._call(
            lambda conn: self._write(conn, lambda c: self._append_row(c, decision)), ticket
        )

    def _append_row(self, conn: sqlite3.Connection, decision: Decision) -> Receipt:
        now = datetime.now(UTC)
        conn.execute(
            "INSERT INTO notices (texts_hash, texts, first_seen) VALUES (?, ?, ?)"
            " ON CONFLICT (texts_hash) DO NOTHING",
            (decision.texts_hash, canonical_json(dict(decision.texts)).decode(), format_time(now)),
        )
        seq, mac = conn.execute("SELECT seq, mac FROM chain_head WHERE id = 1").fetchone()
        previous = conn.execute(
            "SELECT receipt_id FROM receipts WHERE consent_id = ? ORDER BY seq DESC LIMIT 1",
            (decision.consent_id,),
        ).fetchone()
        receipt = build_receipt(
            decision,
            seq=seq + 1,
            previous_mac=mac,
            previous_receipt_id=previous[0] if previous else None,
            recorded_at=now,
            keyring=self.keyring,
        )
        conn.execute(_INSERT, _to_row(receipt))
        head = sign_head(receipt.seq, receipt.mac, self.keyring)
        conn.execute(
            "UPDATE chain_head SET seq = ?, mac = ?, key_id = ?, signature = ? WHERE id = 1",
            (head.seq, head.mac, head.key_id, head.signature),
        )
        return receipt

    async def receipts_for(self, consent_id: str) -> list[Receipt]:
        def read(conn: sqlite3.Connection) -> list[Receipt]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM receipts WHERE consent_id = ? ORDER BY seq",  # noqa: S608
                (consent_id,),
            )
            return [_from_row(row) for row in rows]

        return await self._call(read)

    async def notice(self, texts_hash: str) -> Mapping[str, str] | None:
        def read(conn: sqlite3.Connection) -> dict[str, str] | None:
            row = conn.execute(
                "SELECT texts FROM notices WHERE texts_hash = ?", (texts_hash,)
            ).fetchone()
            return None if row is None else dict(json.loads(row[0]))

        return await self._call(read)

    async def ping(self) -> bool:
        try:
            return bool(await self._call(lambda conn: conn.execute("SELECT 1").fetchone()[0]))
        except AuditUnavailable:
            return False

    async def close(self) -> None:
        if self._closed:
            return
        if self.anchors is not None:
            await self.anchors.drain(self)
        if self._executor is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._disconnect)
            self._executor.shutdown(wait=False)
        self._closed = True

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
        query = f"SELECT {_COLUMNS} FROM receipts WHERE seq > ?{clauses} ORDER BY seq LIMIT ?"  # noqa: S608

        def read(conn: sqlite3.Connection) -> list[Receipt]:
            return [_from_row(row) for row in conn.execute(query, (after_seq, *params, limit))]

        return await self._call(read)

    async def count(self, *, since: datetime | None = None, until: datetime | None = None) -> int:
        clauses, params = _range(since, until)
        query = f"SELECT COUNT(*) FROM receipts WHERE 1 = 1{clauses}"  # noqa: S608
        return int(await self._call(lambda conn: conn.execute(query, params).fetchone()[0]))

    async def checkpoints(self) -> list[Checkpoint]:
        def read(conn: sqlite3.Connection) -> list[Checkpoint]:
            rows = conn.execute(
                "SELECT checkpoint_id, seq, mac, deleted, cutoff, created_at, key_id, signature"
                " FROM checkpoints ORDER BY checkpoint_id"
            )
            return [
                Checkpoint(r[0], r[1], r[2], r[3], parse_time(r[4]), parse_time(r[5]), r[6], r[7])
                for r in rows
            ]

        return await self._call(read)

    async def head(self) -> Head | None:
        def read(conn: sqlite3.Connection) -> Head | None:
            row = conn.execute(
                "SELECT seq, mac, key_id, signature FROM chain_head WHERE id = 1"
            ).fetchone()
            return None if row is None else Head(*row)

        return await self._call(read)

    async def notices(self) -> dict[str, dict[str, str]]:
        def read(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
            rows = conn.execute("SELECT texts_hash, texts FROM notices")
            return {row[0]: dict(json.loads(row[1])) for row in rows}

        return await self._call(read)

    async def _purge_prefix(self, cutoff: datetime, max_seq: int) -> Checkpoint | None:
        def purge(conn: sqlite3.Connection) -> Checkpoint | None:
            first, last = conn.execute("SELECT MIN(seq), MAX(seq) FROM receipts").fetchone()
            if first is None:
                return None
            keep_from = conn.execute(
                "SELECT MIN(seq) FROM receipts WHERE recorded_at >= ?", (format_time(cutoff),)
            ).fetchone()[0]
            upto = min(last if keep_from is None else keep_from - 1, max_seq)
            if upto < first:
                return None
            mac = conn.execute("SELECT mac FROM receipts WHERE seq = ?", (upto,)).fetchone()[0]
            deleted = conn.execute(
                "SELECT COUNT(*) FROM receipts WHERE seq <= ?", (upto,)
            ).fetchone()[0]
            previous = conn.execute(
                "SELECT checkpoint_id, signature FROM checkpoints"
                " ORDER BY checkpoint_id DESC LIMIT 1"
            ).fetchone()
            checkpoint = sign_checkpoint(
                checkpoint_id=previous[0] + 1 if previous else 1,
                seq=upto,
                mac=mac,
                deleted=deleted,
                cutoff=cutoff,
                created_at=datetime.now(UTC),
                previous_signature=previous[1] if previous else "",
                keyring=self.keyring,
            )
            conn.execute(
                "INSERT INTO checkpoints (checkpoint_id, seq, mac, deleted, cutoff, created_at,"
                " key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    checkpoint.checkpoint_id,
                    checkpoint.seq,
                    checkpoint.mac,
                    checkpoint.deleted,
                    format_time(checkpoint.cutoff),
                    format_time(checkpoint.created_at),
                    checkpoint.key_id,
                    checkpoint.signature,
                ),
            )
            conn.execute("INSERT OR REPLACE INTO purge_guard (id, upto) VALUES (1, ?)", (upto,))
            conn.execute("DELETE FROM receipts WHERE seq <= ?", (upto,))
            conn.execute("DELETE FROM purge_guard")
            return checkpoint

        def purge_and_flush(conn: sqlite3.Connection) -> Checkpoint | None:
            checkpoint = self._write(conn, purge)
            # The deleted rows' old pages also sit in the write-ahead log until it is copied
            # back and emptied; best effort, since a reader in another process may hold it.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return checkpoint

        return await self._call(purge_and_flush)
