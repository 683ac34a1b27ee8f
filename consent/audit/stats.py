"""Decision counts and acceptance rates per category, by day, locale, method or category.

The counts come from the database: every append adds its receipts to ``decision_stats``
(one row per day, locale, method, action and category) in the same transaction, and a purge
takes them out again, so a figure over millions of receipts is a ``GROUP BY`` over a few
thousand rows. Only the receipts of a day a range cuts through are read one by one.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, TextIO

from consent.audit.base import BaseStore
from consent.audit.model import AuditError, Receipt
from consent.names import NECESSARY

StatsBy = Literal["day", "locale", "method", "category"]
GROUPINGS: tuple[StatsBy, ...] = ("day", "locale", "method", "category")


@dataclass(slots=True)
class StatsRow:
    """One group of decisions. ``offered`` counts decisions where a category was granted or
    refused; its acceptance rate is ``granted / offered``."""

    key: str
    decisions: int = 0
    granted: Counter[str] = field(default_factory=Counter)
    offered: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)

    def rate(self, category: str) -> float | None:
        offered = self.offered[category]
        return None if offered == 0 else self.granted[category] / offered

    def add(self, receipt: Receipt, categories: frozenset[str]) -> None:
        self.decisions += 1
        self.actions[receipt.action] += 1
        for category in categories:
            self.offered[category] += 1
            if category in receipt.granted:
                self.granted[category] += 1

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "decisions": self.decisions,
            "actions": dict(sorted(self.actions.items())),
            "categories": {
                category: {
                    "granted": self.granted[category],
                    "offered": self.offered[category],
                    "rate": self.rate(category),
                }
                for category in sorted(self.offered)
            },
        }

    def add_counts(
        self, category: str, action: str, decisions: int, granted: int, *, counted: bool
    ) -> None:
        """Counts from ``decision_stats``: ``category == ""`` counts decisions, otherwise the
        decisions that offered the category and those that granted it. ``counted``: these
        are the row's own decisions (the "" counts, or a category row's own category)."""
        if category:
            self.offered[category] += decisions
            self.granted[category] += granted
        if counted:
            self.decisions += decisions
            self.actions[action] += decisions


def _counted(receipt: Receipt) -> frozenset[str]:
    # "necessary" cannot be refused, so its rate would only ever read 100 %.
    return (receipt.granted | receipt.refused) - {NECESSARY}


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _split(
    since: datetime | None, until: datetime | None
) -> tuple[bool, str | None, str | None, list[tuple[datetime | None, datetime | None]]]:
    """Whole days ``[first, last)`` that the daily counts answer, and the stretches at either
    end that cut through a day and are read receipt by receipt."""
    since = None if since is None else since.astimezone(UTC)
    until = None if until is None else until.astimezone(UTC)
    first = last = None
    edges: list[tuple[datetime | None, datetime | None]] = []
    if since is not None:
        start = since.date() if since == _midnight(since.date()) else since.date() + timedelta(1)
        first = start.isoformat()
        if since != _midnight(start):
            edges.append((since, _midnight(start)))
    if until is not None:
        last = until.date().isoformat()
        if until != _midnight(until.date()):
            edges.append((_midnight(until.date()), until))
    if first is not None and last is not None and first >= last:
        return False, None, None, [(since, until)]  # within one day, or an empty range
    return True, first, last, edges


async def compute_stats(
    store: BaseStore,
    *,
    by: StatsBy = "day",
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[StatsRow]:
    """Groups sorted by key; with ``by="category"`` each row holds one category."""
    if by not in GROUPINGS:
        raise AuditError(f"unknown grouping {by!r}: {', '.join(GROUPINGS)}")
    rows: dict[str, StatsRow] = {}
    whole_days, first, last, edges = _split(since, until)
    if whole_days:
        for key, category, action, decisions, granted in await store.stats_rows(by, first, last):
            if by == "category" and not category:
                continue  # the decision counts: a category row counts its own
            row = rows.setdefault(str(key), StatsRow(str(key)))
            row.add_counts(
                str(category),
                str(action),
                int(str(decisions)),
                int(str(granted)),
                counted=by == "category" or not category,
            )
    for low, high in edges:
        async for receipt in store.iter_receipts(since=low, until=high):
            categories = _counted(receipt)
            if by == "category":
                for category in categories:
                    row = rows.setdefault(category, StatsRow(category))
                    row.add(receipt, frozenset({category}))
                continue
            key = {
                "day": receipt.recorded_at.date().isoformat(),
                "locale": receipt.locale,
                "method": receipt.method,
            }[by]
            rows.setdefault(key, StatsRow(key)).add(receipt, categories)
    return [rows[key] for key in sorted(rows) if rows[key].decisions]


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def render_table(rows: list[StatsRow], by: StatsBy, out: TextIO) -> None:
    """A plain-text table: one line per group, the acceptance rate of each category."""
    if by == "category":
        header = ["category", "decisions", "granted", "refused", "acceptance"]
        lines = [
            [
                row.key,
                str(row.decisions),
                str(row.granted[row.key]),
                str(row.offered[row.key] - row.granted[row.key]),
                _percent(row.rate(row.key)),
            ]
            for row in rows
        ]
    else:
        categories = sorted({category for row in rows for category in row.offered})
        header = [by, "decisions", *categories]
        lines = [
            [row.key, str(row.decisions), *(_percent(row.rate(c)) for c in categories)]
            for row in rows
        ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    for cells in (header, *lines):
        line = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        out.write(line.rstrip() + "\n")


def render_json(rows: list[StatsRow], by: StatsBy, out: TextIO) -> None:
    json.dump({"by": by, "rows": [row.to_json() for row in rows]}, out, indent=2)
    out.write("\n")
