"""What both backends share: the operations beyond recording that the command line needs.

A backend implements the small abstract methods (one transaction each); verification,
iteration and purge are written once here on top of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime

from consent.audit.anchor import AnchorSchedule
from consent.audit.breaker import CircuitBreaker, CircuitOpen
from consent.audit.chain import ChainVerifier, Keyring, VerifyReport
from consent.audit.model import (
    Anchor,
    AuditError,
    AuditUnavailable,
    Checkpoint,
    Decision,
    Head,
    Receipt,
)

BATCH_SIZE = 2000


_CATCH_UP_ROUNDS = 5


class BaseStore(ABC):
    """An audit store; see :class:`consent.audit.store.AuditStore` for the public part."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self.breaker = CircuitBreaker()
        self.anchors: AnchorSchedule | None = None

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

    @abstractmethod
    async def _append(self, decision: Decision, ticket: int) -> Receipt:
        """Append in one transaction; call ``self.breaker.check(ticket)`` before waiting."""

    @abstractmethod
    async def receipts_for(self, consent_id: str) -> list[Receipt]: ...

    @abstractmethod
    async def notice(self, texts_hash: str) -> Mapping[str, str] | None: ...

    @abstractmethod
    async def ping(self) -> bool: ...

    @abstractmethod
    async def close(self) -> None: ...

    # -- for the command line and the admin view -----------------------------------------
    @abstractmethod
    async def receipts_after(
        self,
        after_seq: int,
        limit: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Receipt]:
        """Up to ``limit`` receipts with ``seq > after_seq`` in ``seq`` order."""

    @abstractmethod
    async def count(self, *, since: datetime | None = None, until: datetime | None = None) -> int:
        """How many receipts were recorded in ``[since, until)``."""

    @abstractmethod
    async def checkpoints(self) -> list[Checkpoint]:
        """Every purge checkpoint, oldest first."""

    @abstractmethod
    async def head(self) -> Head | None: ...

    @abstractmethod
    async def notices(self) -> dict[str, dict[str, str]]: ...

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
    ) -> AsyncIterator[Receipt]:
        """Every receipt in ``seq`` order, read in batches (keyset pagination on ``seq``)."""
        after = 0
        while True:
            batch = await self.receipts_after(after, batch_size, since=since, until=until)
            for receipt in batch:
                yield receipt
            if len(batch) < batch_size:
                return
            after = batch[-1].seq

    async def verify(self, anchors: Sequence[Anchor] = ()) -> VerifyReport:
        """Walk the whole chain; the report names the first problem found.

        ``anchors`` (read from outside the database, MACs checked) must each match the
        receipt or checkpoint at their ``seq``, and the chain must reach the newest one.
        """
        verifier = ChainVerifier(self.keyring)
        verifier.anchors(anchors)
        verifier.checkpoints(await self.checkpoints())
        last_seq = 0
        intact = True
        async for receipt in self.iter_receipts():
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
        return verifier.finish(head, await self.notices())

    async def purge(self, older_than: datetime) -> tuple[VerifyReport, Checkpoint | None]:
        """Delete receipts recorded before ``older_than``, after verifying the chain.

        A chain that does not verify is left alone: purging it would sign over the damage.
        """
        if older_than.tzinfo is None:
            raise AuditError("the purge cutoff must be timezone-aware")
        report = await self.verify()
        if not report.ok or report.last_seq is None:
            return report, None
        return report, await self._purge_prefix(older_than.astimezone(UTC), report.last_seq)
