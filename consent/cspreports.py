"""Consent policy reports: counted in memory per process, added to the audit store in batches.

Every worker counts what it receives (``ReportCounter``: bounded, rate-limited) and adds its
counts to the store's ``csp_violations`` table now and then, so that every worker, the command
line and the admin view read the same totals. A write per report would put the store's lock
in the path of a flood of reports; a flush every ``FLUSH_SECONDS`` or ``FLUSH_REPORTS`` costs
one short transaction instead. While the store is down the counts wait in memory (within the
counter's bounds) and go with the next flush that succeeds.

No timer runs: a report that arrives after the interval flushes those before it, and closing
the runtime flushes the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from consent.audit import AuditStore, AuditUnavailable, BaseStore
from consent.catalogue import Catalogue, not_tracker_hosts
from consent.csp import ReportCounter, Violation, parse_reports

logger = logging.getLogger("consent")

FLUSH_SECONDS = 30.0
FLUSH_REPORTS = 500
# The store keeps the most reported keys, and none last seen more than this many days ago.
KEEP_KEYS = 5000
KEEP_DAYS = 90


class CspReports:
    def __init__(
        self,
        store: Callable[[], Awaitable[AuditStore]],
        *,
        counter: ReportCounter | None = None,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], str] = lambda: datetime.now(UTC).date().isoformat(),
    ) -> None:
        self._store = store
        self.counter = counter if counter is not None else ReportCounter()
        self._clock = clock
        self._today = today
        self._last_flush = clock()
        self._flushing: asyncio.Task[bool] | None = None

    def receive(self, body: bytes) -> int:
        """Count the violations of one report body; return how many were counted."""
        counted = self.counter.add(parse_reports(body))
        if counted and self._due() and (self._flushing is None or self._flushing.done()):
            # A task of its own: the reporting browser does not wait for the store.
            self._flushing = asyncio.create_task(self.flush())
        return counted

    def _due(self) -> bool:
        return (
            self.counter.pending >= FLUSH_REPORTS
            or self._clock() - self._last_flush >= FLUSH_SECONDS
        )

    async def flush(self) -> bool:
        """Add the counts held to the store; False (counts kept) when it cannot be reached."""
        self._last_flush = self._clock()
        counts = self.counter.snapshot()
        if not counts:
            return True
        try:
            store = await self._store()
            if store.breaker.state == "open":
                return False  # decisions come first; the counts wait for a healthy store
            await store.add_csp_counts(
                [_row(violation, count) for violation, count in counts],
                self._today(),
                keep_days=KEEP_DAYS,
                keep=KEEP_KEYS,
            )
        except AuditUnavailable:
            logger.warning("consent: policy report counts kept in memory, the store is down")
            return False
        self.counter.settle(counts)
        return True

    async def close(self) -> None:
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        await self.flush()


# What a blocked "host" is when the browser reports no URL: inline code, eval and the like.
_NOT_A_HOST = frozenset(
    {"inline", "eval", "self", "data", "blob", "wasm-eval", "trusted-types-policy", "unknown"}
)


@dataclass(frozen=True, slots=True)
class ReportRow:
    directive: str
    blocked_host: str
    path: str
    reports: int
    first_day: str
    last_day: str
    # "catalogue" (a known service), "library" (the not-trackers list), "none" (unknown
    # host: worth adding) or "not a host" (inline code, eval).
    known: str
    category: str | None
    service: str | None


def classify(
    rows: Iterable[tuple[object, ...]], catalogue: Catalogue, libraries: frozenset[str]
) -> list[ReportRow]:
    out = []
    for directive, host, path, reports, first_day, last_day in rows:
        name = str(host)
        service = None if name in _NOT_A_HOST else catalogue.match_host(name)
        if name in _NOT_A_HOST:
            known = "not a host"
        elif service is not None:
            known = "catalogue"
        elif any(name == lib or name.endswith("." + lib) for lib in libraries):
            known = "library"
        else:
            known = "none"
        out.append(
            ReportRow(
                str(directive),
                name,
                str(path),
                int(str(reports)),
                str(first_day),
                str(last_day),
                known,
                service.category if service is not None else None,
                service.name if service is not None else None,
            )
        )
    return out


async def report_rows(
    store: BaseStore, catalogue: Catalogue, *, since: date, limit: int
) -> list[ReportRow]:
    rows = await store.csp_counts(since.isoformat(), limit)
    return classify(rows, catalogue, not_tracker_hosts())


def _row(violation: Violation, count: int) -> tuple[str, str, str, int]:
    return (violation.directive, violation.blocked_host, violation.path, count)
