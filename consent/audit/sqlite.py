"""The embedded receipt store: one SQLite file shared by every worker process of a site.

Each store owns one thread and that thread's one connection: sqlite3 calls block, and a single
connection per process keeps the locking simple. Appends take the database write lock with
``BEGIN IMMEDIATE`` so the next ``seq`` is read and written under it; WAL with
``synchronous=FULL`` makes a receipt durable once ``COMMIT`` returns. The SQL itself is shared
with PostgreSQL (``schema.py``).
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

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
    format_time,
)
from consent.audit.schema import SQLITE, Queries

T = TypeVar("T")

_FILE_MODE = 0o600
_Q = Queries(SQLITE)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SQLiteStore(BaseStore):
    dialect = SQLITE
    queries = _Q

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
            self._retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL"))
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

    def _retry_busy(self, attempt: Callable[[], object]) -> None:
        """Retry ``attempt`` while the database is busy, up to the timeout. Taking the write
        lock, and switching a new file to WAL while another process migrates it, report
        "busy" at once instead of waiting like other statements."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                attempt()
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.001, 0.02))  # noqa: S311 - jitter, not secrecy

    def _write(self, conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in an immediate (write-locked) transaction, retrying while busy."""
        self._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    async def _read(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return await self._call(lambda conn: conn.execute(query, params).fetchall())

    # -- the public protocol --------------------------------------------------------------
    async def _append_batch(self, decisions: Sequence[Decision], ticket: int) -> list[Receipt]:
        return await self._call(
            lambda conn: self._write(conn, lambda c: self._append_rows(c, decisions)), ticket
        )

    def _append_rows(
        self, conn: sqlite3.Connection, decisions: Sequence[Decision]
    ) -> list[Receipt]:
        now = datetime.now(UTC)
        seq, mac = conn.execute(_Q.lock_head).fetchone()
        notices = {d.texts_hash: d.texts for d in decisions}
        conn.executemany(
            _Q.insert_notice,
            [
                (texts_hash, canonical_json(dict(texts)).decode(), format_time(now))
                for texts_hash, texts in notices.items()
            ],
        )
        ids = list(dict.fromkeys(d.consent_id for d in decisions))
        previous = dict(conn.execute(_Q.previous_of_many(len(ids)), ids).fetchall())
        receipts = build_batch(
            decisions,
            seq=seq,
            previous_mac=mac,
            previous_ids=previous,
            recorded_at=now,
            keyring=self.keyring,
        )
        conn.executemany(_Q.insert_receipt, [SQLITE.to_row(receipt) for receipt in receipts])
        head = sign_head(receipts[-1].seq, receipts[-1].mac, self.keyring)
        conn.execute(_Q.update_head, (head.seq, head.mac, head.key_id, head.signature))
        for statement in _Q.add_stats:
            conn.execute(statement, (seq, head.seq))
        return receipts

    async def ping(self) -> bool:
        try:
            return bool(await self._read("SELECT 1"))
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
    async def _save_verified_head(self, verified: VerifiedHead) -> None:
        content = canonical_json(verified.content()).decode()
        await self._call(
            lambda conn: self._write(
                conn, lambda c: c.execute(_Q.save_verified_head, (content, verified.signature))
            )
        )

    async def _write_many(self, statements: Sequence[tuple[str, Sequence[object]]]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            for query, params in statements:
                conn.execute(query, params)

        await self._call(lambda conn: self._write(conn, run))

    async def _purge_prefix(self, cutoff: datetime, max_seq: int) -> Checkpoint | None:
        def purge(conn: sqlite3.Connection) -> Checkpoint | None:
            first, last, keep_from = conn.execute(
                _Q.purge_bounds, (format_time(cutoff),)
            ).fetchone()
            if first is None:
                return None
            upto = min(last if keep_from is None else keep_from - 1, max_seq)
            if upto < first:
                return None
            mac, deleted = conn.execute(_Q.purge_end, (upto, upto)).fetchone()
            previous = conn.execute(_Q.last_checkpoint).fetchone()
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
                _Q.insert_checkpoint,
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
            for statement in _Q.subtract_stats:
                conn.execute(statement, (first - 1, upto))
            conn.execute(_Q.drop_empty_stats)
            conn.execute("INSERT OR REPLACE INTO purge_guard (id, upto) VALUES (1, ?)", (upto,))
            conn.execute(_Q.delete_upto, (upto,))
            conn.execute("DELETE FROM purge_guard")
            return checkpoint

        def purge_and_flush(conn: sqlite3.Connection) -> Checkpoint | None:
            checkpoint = self._write(conn, purge)
            # The deleted rows' old pages also sit in the write-ahead log until it is copied
            # back and emptied; best effort, since a reader in another process may hold it.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return checkpoint

        return await self._call(purge_and_flush)
