"""What both backends share: the operations beyond recording that the command line needs.

A backend implements the small abstract methods (one transaction each); verification,
iteration and purge are written once here on top of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from consent.audit.anchor import AnchorSchedule
from consent.audit.breaker import CircuitBreaker, CircuitOpen
from consent.audit.chain import ChainVerifier, Keyring, VerifyReport, sign_verified_head
from consent.audit.model import (
    Anchor,
    AuditError,
    AuditUnavailable,
    Checkpoint,
    Decision,
    Head,
    Receipt,
    VerifiedHead,
)
from consent.audit.schema import Dialect, Queries

BATCH_SIZE = 2000
# Decisions waiting while a commit runs go together in the next one; a bound keeps one
# transaction (and the lock it holds) short.
COMMIT_BATCH = 256

_CATCH_UP_ROUNDS = 5


@dataclass(slots=True)
class _Waiting:
    decision: Decision
    ticket: int
    done: asyncio.Future[Receipt]


class BaseStore(ABC):
    """An audit store: ``record``, ``receipts_for``, ``notice``, ``ping`` and ``close`` are
    what the HTTP layer uses; the rest serves the command line and the admin view."""

    dialect: ClassVar[Dialect]
    queries: ClassVar[Queries]

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self.breaker = CircuitBreaker()
        self.anchors: AnchorSchedule | None = None
        self._waiting: list[_Waiting] = []
        self._committer: asyncio.Task[None] | None = None

    # -- the public protocol -------------------------------------------------------------
    async def record(self, decision: Decision) -> Receipt:
        """Append a receipt, durable before returning; raises ``AuditUnavailable`` at once
        while the circuit is open (see ``breaker.py``)."""
        decision.validate()
        ticket = self.breaker.admit()
        try:
            receipt = await self._append(decision, ticket)
        except CircuitOpen:
            raise
        except AuditUnavailable:
            self.breaker.failed(ticket)
            raise
        except BaseException:
            self.breaker.abandoned(ticket)
            raise
        self.breaker.succeeded()
        if self.anchors is not None:
            self.anchors.after_record(self, receipt)
        return receipt

    async def _append(self, decision: Decision, ticket: int) -> Receipt:
        """Queue the decision for the next group commit and wait until it is durable.

        Decisions that arrive while a commit is running are written together by the next
        one: one transaction, one flush to disk, one turn on the chain's lock for all of
        them, in the order they arrived. Each caller still returns only once its receipt is
        committed, so an acknowledged decision is a stored one.
        """
        done: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(decision, ticket, done))
        if self._committer is None or self._committer.done():
            # A task of its own: a caller that gives up must not stop the others' commit.
            self._committer = asyncio.create_task(self._commit_waiting())
        return await done

    async def _commit_waiting(self) -> None:
        while self._waiting:
            taken = self._waiting[:COMMIT_BATCH]
            del self._waiting[:COMMIT_BATCH]
            batch: list[_Waiting] = []
            for waiting in taken:
                if waiting.done.done():
                    continue  # its caller was cancelled before the commit began
                try:
                    self.breaker.check(waiting.ticket)
                except CircuitOpen as exc:
                    waiting.done.set_exception(exc)
                    continue
                batch.append(waiting)
            if not batch:
                continue
            try:
                receipts = await self._append_batch(
                    [waiting.decision for waiting in batch], batch[0].ticket
                )
            except Exception as exc:
                for waiting in batch:
                    if not waiting.done.done():
                        waiting.done.set_exception(exc)
                continue
            for waiting, receipt in zip(batch, receipts, strict=True):
                if not waiting.done.done():
                    waiting.done.set_result(receipt)

    @abstractmethod
    async def _append_batch(self, decisions: Sequence[Decision], ticket: int) -> list[Receipt]:
        """Append every decision in one transaction, in order; call
        ``self.breaker.check(ticket)`` before waiting for the lock."""

    async def receipts_for(self, consent_id: str) -> list[Receipt]:
        """A visitor's receipts, oldest first."""
        rows = await self._read(self.queries.receipts_for, (consent_id,))
        return [self.dialect.from_row(row) for row in rows]

    async def notice(self, texts_hash: str) -> Mapping[str, str] | None:
        """The texts shown under ``texts_hash``, or None."""
        rows = await self._read(self.queries.notice, (texts_hash,))
        return None if not rows else dict(self.dialect.decode_json(rows[0][0]))

    @abstractmethod
    async def ping(self) -> bool: ...

    @abstractmethod
    async def close(self) -> None: ...

    # -- for the command line and the admin view -----------------------------------------
    async def rows_after(
        self,
        after_seq: int,
        limit: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[tuple[Any, ...]]:
        """Up to ``limit`` receipt rows (``schema.COLUMN_NAMES``, in the dialect's types) with
        ``seq > after_seq`` in ``seq`` order: what export reads, without building objects."""
        clauses, params = self.queries.range_clause(since, until)
        query = self.dialect.sql(f"{self.queries.receipts_after}{clauses} ORDER BY seq LIMIT ?")
        return await self._read(query, (after_seq, *params, limit))

    async def receipts_after(
        self,
        after_seq: int,
        limit: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Receipt]:
        """Up to ``limit`` receipts with ``seq > after_seq`` in ``seq`` order."""
        rows = await self.rows_after(after_seq, limit, since=since, until=until)
        return [self.dialect.from_row(row) for row in rows]

    async def count(self, *, since: datetime | None = None, until: datetime | None = None) -> int:
        """How many receipts were recorded in ``[since, until)``."""
        clauses, params = self.queries.range_clause(since, until)
        rows = await self._read(self.queries.count + clauses, params)
        return int(rows[0][0])

    async def checkpoints(self) -> list[Checkpoint]:
        """Every purge checkpoint, oldest first."""
        time = self.dialect.decode_time
        return [
            Checkpoint(r[0], r[1], r[2], r[3], time(r[4]), time(r[5]), r[6], r[7])
            for r in await self._read(self.queries.checkpoints)
        ]

    async def head(self) -> Head | None:
        rows = await self._read(self.queries.head)
        return Head(*rows[0]) if rows else None

    async def notices(self) -> dict[str, dict[str, str]]:
        decode = self.dialect.decode_json
        return {r[0]: dict(decode(r[1])) for r in await self._read(self.queries.notices)}

    async def receipt_at(self, seq: int) -> Receipt | None:
        rows = await self._read(self.queries.receipt_at, (seq,))
        return self.dialect.from_row(rows[0]) if rows else None

    async def first_seq(self) -> int | None:
        """The smallest ``seq`` held (an index look-up), or None when empty."""
        value = (await self._read(self.queries.first_seq))[0][0]
        return None if value is None else int(value)

    async def verified_head(self) -> VerifiedHead | None:
        """The signed record of how far the chain was last verified, if any."""
        rows = await self._read(self.queries.verified_head)
        if not rows:
            return None
        return VerifiedHead.from_content(json.loads(rows[0][0]), rows[0][1])

    @abstractmethod
    async def _save_verified_head(self, verified: VerifiedHead) -> None: ...

    @abstractmethod
    async def _read(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only query in this store's dialect."""

    async def stats_rows(
        self, by: str, first_day: str | None, last_day: str | None
    ) -> list[tuple[Any, ...]]:
        """Daily counts grouped by ``by`` over the days ``[first_day, last_day)``: rows of
        ``(key, category, action, decisions, granted)`` (see ``consent.audit.stats``)."""
        return await self._read(*self.queries.stats(by, first_day, last_day))

    async def add_csp_counts(
        self, counts: Sequence[tuple[str, str, str, int]], day: str, *, keep_days: int, keep: int
    ) -> None:
        """Add ``(directive, blocked_host, path, reports)`` counts seen on ``day``
        (YYYY-MM-DD) in one transaction, then drop rows last seen more than ``keep_days``
        before it and all but the ``keep`` most reported."""
        q = self.queries
        cutoff = (date.fromisoformat(day) - timedelta(days=keep_days)).isoformat()
        statements: list[tuple[str, Sequence[object]]] = [
            (q.add_csp, (*row, day, day)) for row in counts
        ]
        statements += [(q.drop_old_csp, (cutoff,)), (q.keep_top_csp, (keep,))]
        await self._write_many(statements)

    async def csp_counts(self, since_day: str, limit: int) -> list[tuple[Any, ...]]:
        """The most reported violations last seen on or after ``since_day``: rows of
        ``(directive, blocked_host, path, reports, first_day, last_day)``."""
        return await self._read(self.queries.csp_counts, (since_day, limit))

    @abstractmethod
    async def _write_many(self, statements: Sequence[tuple[str, Sequence[object]]]) -> None:
        """Statements of this store's dialect, in one transaction."""

    @abstractmethod
    async def _purge_prefix(self, cutoff: datetime, max_seq: int) -> Checkpoint | None:
        """Delete the oldest receipts recorded before ``cutoff`` (never past ``max_seq``),
        leaving a signed checkpoint, in one transaction."""

    async def iter_receipts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        batch_size: int = BATCH_SIZE,
        after: int = 0,
    ) -> AsyncIterator[Receipt]:
        """Every receipt with ``seq > after`` in ``seq`` order, read in batches (keyset
        pagination on ``seq``)."""
        while True:
            batch = await self.receipts_after(after, batch_size, since=since, until=until)
            for receipt in batch:
                yield receipt
            if len(batch) < batch_size:
                return
            after = batch[-1].seq

    async def verify(self, anchors: Sequence[Anchor] = (), *, full: bool = True) -> VerifyReport:
        """Check the chain; the report names the first problem found.

        ``full`` walks every receipt. Otherwise the walk starts at the signed verified head
        left by the last successful verification: the receipts appended since are walked,
        and the older part is checked at its ends (the receipt at the verified ``seq`` keeps
        its MAC, the oldest receipt follows the last purge, no checkpoint or notice went
        missing) but not reread. Either way a successful walk moves the verified head.

        ``anchors`` (read from outside the database, MACs checked) must each match the
        receipt or checkpoint at their ``seq``, and the chain must reach the newest one.
        """
        verifier = ChainVerifier(self.keyring)
        verifier.anchors(anchors)
        checkpoints = await self.checkpoints()
        verifier.checkpoints(checkpoints)
        notices_seen = None
        start = None if full else await self._resume_point(verifier, checkpoints, anchors)
        if start is not None:
            notices_seen = start.notices
        after = start.seq if start is not None else verifier.expected_seq - 1
        last_seq = after
        intact = verifier.problem is None
        if intact:
            async for receipt in self.iter_receipts(after=after):
                if not verifier.receipt(receipt):
                    intact = False
                    break
                last_seq = receipt.seq
        head = await self.head()
        # On a live store receipts keep arriving during the walk: the head read afterwards
        # vouches for the walk once the receipts appended meanwhile are walked too. A receipt
        # beyond the head never gets vouched for and fails in finish().
        for _ in range(_CATCH_UP_ROUNDS):
            if not intact or head is None or last_seq >= head.seq:
                break
            while last_seq < head.seq:
                batch = await self.receipts_after(last_seq, 1000)
                if not batch:
                    break
                for receipt in batch:
                    if receipt.seq > head.seq:
                        break
                    if not verifier.receipt(receipt):
                        intact = False
                        break
                    last_seq = receipt.seq
                if not intact or batch[-1].seq > head.seq:
                    break
            head = await self.head()
        notices = await self.notices()
        report = verifier.finish(head, notices, notices_seen=notices_seen)
        if start is not None:
            report = report.resumed(start.seq)
        if report.ok and head is not None and head.seq > 0:
            await self._remember_verified(report, head, checkpoints, len(notices), start)
        return report

    async def _resume_point(
        self,
        verifier: ChainVerifier,
        checkpoints: Sequence[Checkpoint],
        anchors: Sequence[Anchor],
    ) -> VerifiedHead | None:
        """Where an incremental walk may start, after checking the part it will not reread;
        None means walk everything (no verified head yet, or a purge went past it)."""
        if verifier.problem is not None:
            return None
        verified = await self.verified_head()
        if verified is None:
            return None
        purged_to = checkpoints[-1].seq if checkpoints else 0
        first = await self.first_seq()
        at = await self.receipt_at(verified.seq) if verified.seq > purged_to else None
        anchored = {
            anchor.seq: await self.receipt_at(anchor.seq)
            for anchor in anchors
            if purged_to < anchor.seq < verified.seq
        }
        if not verifier.resume(verified, checkpoints, first, at, anchored):
            return None
        return verified if verified.seq > purged_to else None

    async def _remember_verified(
        self,
        report: VerifyReport,
        head: Head,
        checkpoints: Sequence[Checkpoint],
        notices: int,
        start: VerifiedHead | None,
    ) -> None:
        if start is not None and start.seq == head.seq and start.notices == notices:
            return  # nothing new: leave the row alone rather than write on every look
        verified = sign_verified_head(
            seq=head.seq,
            mac=head.mac,
            checkpoints=len(checkpoints),
            checkpoint_signature=checkpoints[-1].signature if checkpoints else "",
            notices=notices,
            verified_at=datetime.now(UTC),
            keyring=self.keyring,
        )
        # A read-only role may verify too: the next walk then just starts further back.
        with contextlib.suppress(AuditUnavailable):
            await self._save_verified_head(verified)

    async def purge(self, older_than: datetime) -> tuple[VerifyReport, Checkpoint | None]:
        """Delete receipts recorded before ``older_than``, after verifying the chain.

        A chain that does not verify is left alone: purging it would sign over the damage.
        """
        if older_than.tzinfo is None:
            raise AuditError("the purge cutoff must be timezone-aware")
        report = await self.verify(full=False)
        if not report.ok or report.head is None or report.head.seq == 0:
            return report, None
        return report, await self._purge_prefix(older_than.astimezone(UTC), report.head.seq)
