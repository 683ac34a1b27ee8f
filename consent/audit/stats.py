"""Decision counts and acceptance rates per category, by day, locale or category."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TextIO

from consent.audit.base import BaseStore
from consent.audit.model import AuditError, Receipt
from consent.names import NECESSARY

StatsBy = Literal["day", "locale", "category"]


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


def _counted(receipt: Receipt) -> frozenset[str]:
    # "necessary" cannot be refused, so its rate would only ever read 100 %.
    return (receipt.granted | receipt.refused) - {NECESSARY}


async def compute_stats(
    store: BaseStore,
    *,
    by: StatsBy = "day",
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[StatsRow]:
    """Groups sorted by key; with ``by="category"`` each row holds one category."""
    if by not in ("day", "locale", "category"):
        raise AuditError(f"unknown grouping {by!r}: day, locale or category")
    rows: dict[str, StatsRow] = {}
    async for receipt in store.iter_receipts(since=since, until=until):
        categories = _counted(receipt)
        if by == "category":
            for category in categories:
                row = rows.setdefault(category, StatsRow(category))
                row.add(receipt, frozenset({category}))
            continue
        key = receipt.recorded_at.date().isoformat() if by == "day" else receipt.locale
        rows.setdefault(key, StatsRow(key)).add(receipt, categories)
    return [rows[key] for key in sorted(rows)]


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
