"""Acceptance figures computed from known decisions."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter

import pytest

from consent.audit import BaseStore, Decision, open_store, stats
from consent.audit.stats import compute_stats
from tests.audit.conftest import KEY, Backend, decision, fill

DECISIONS = [
    decision("a", locale="en", granted=["analytics", "marketing", "preferences"]),
    decision("b", locale="en", action="reject_all", granted=[]),
    decision("c", locale="en", action="custom", granted=["analytics"]),
    decision("d", locale="fr", action="custom", granted=["preferences"]),
    decision("e", locale="fr", granted=["analytics", "marketing", "preferences"]),
    decision("f", locale="de", action="close", granted=[]),
]


def expected_rates(items: list[Decision]) -> dict[str, float]:
    granted: Counter[str] = Counter()
    offered: Counter[str] = Counter()
    for item in items:
        for category in (item.granted | item.refused) - {"necessary"}:
            offered[category] += 1
            granted[category] += category in item.granted
    return {category: granted[category] / offered[category] for category in offered}


def computed(backend: Backend, by: str) -> list[dict[str, object]]:
    async def run() -> list[dict[str, object]]:
        store: BaseStore = open_store(backend.url, KEY)
        try:
            return [row.to_json() for row in await compute_stats(store, by=by)]  # type: ignore[arg-type]
        finally:
            await store.close()

    return asyncio.run(run())


@pytest.fixture
def filled(backend: Backend) -> Backend:
    fill(backend, DECISIONS)
    return backend


def rates(row: dict[str, object]) -> dict[str, float]:
    categories = row["categories"]
    assert isinstance(categories, dict)
    return {name: figures["rate"] for name, figures in categories.items()}


def test_by_locale(filled: Backend) -> None:
    rows = computed(filled, "locale")
    assert [row["key"] for row in rows] == sorted({d.locale for d in DECISIONS})
    for row in rows:
        group = [d for d in DECISIONS if d.locale == row["key"]]
        assert row["decisions"] == len(group)
        assert rates(row) == pytest.approx(expected_rates(group))
        assert row["actions"] == dict(Counter(d.action for d in group))


def test_by_day(filled: Backend) -> None:
    rows = computed(filled, "day")
    assert len(rows) == 1  # all recorded just now (a test run across midnight could split)
    assert rows[0]["decisions"] == len(DECISIONS)
    assert rates(rows[0]) == pytest.approx(expected_rates(DECISIONS))


def test_by_category(filled: Backend) -> None:
    rows = computed(filled, "category")
    overall = expected_rates(DECISIONS)
    assert [row["key"] for row in rows] == sorted(overall)
    for row in rows:
        assert rates(row) == pytest.approx({row["key"]: overall[str(row["key"])]})
        assert row["key"] != "necessary"


def test_the_table_and_json_outputs(filled: Backend) -> None:
    table = io.StringIO()
    assert stats(filled.url, KEY, table, by="locale") == 0
    lines = table.getvalue().splitlines()
    assert lines[0].split()[:2] == ["locale", "decisions"]
    french = next(line for line in lines if line.startswith("fr "))
    assert f"{expected_rates(DECISIONS[3:5])['marketing'] * 100:.1f}%" in french

    as_json = io.StringIO()
    assert stats(filled.url, KEY, as_json, by="category", as_json=True) == 0
    document = json.loads(as_json.getvalue())
    assert document["by"] == "category"
    assert len(document["rows"]) == 3


def test_an_empty_store_gives_an_empty_table(backend: Backend) -> None:
    out = io.StringIO()
    assert stats(backend.url, KEY, out, by="day") == 0
    assert out.getvalue().splitlines() == ["day  decisions"]


def test_by_method(backend: Backend) -> None:
    fill(backend, [*DECISIONS, decision("g", method="preferences_page", granted=["analytics"])])
    rows = computed(backend, "method")
    assert [row["key"] for row in rows] == ["banner", "preferences_page"]
    assert rows[0]["decisions"] == len(DECISIONS)
    assert rates(rows[0]) == pytest.approx(expected_rates(DECISIONS))
    assert rates(rows[1]) == {"analytics": 1.0, "marketing": 0.0, "preferences": 0.0}


def test_counts_come_from_the_database_table(filled: Backend) -> None:
    """Appends keep decision_stats up to date in their own transaction."""
    rows = filled.query(
        "SELECT SUM(decisions) FROM decision_stats WHERE category = ''", bypass_guards=False
    )
    assert int(rows[0][0]) == len(DECISIONS)
    offered = filled.query(
        "SELECT category, SUM(decisions), SUM(granted) FROM decision_stats"
        " WHERE category <> '' GROUP BY category ORDER BY category",
        bypass_guards=False,
    )
    granted: Counter[str] = Counter()
    for item in DECISIONS:
        granted.update(item.granted - {"necessary"})
    assert [(c, int(o), int(g)) for c, o, g in offered] == [
        (c, len(DECISIONS), granted[c]) for c in ("analytics", "marketing", "preferences")
    ]


async def test_a_range_cutting_through_days_reads_those_receipts(store: BaseStore) -> None:
    for item in DECISIONS:
        await store.record(item)
    receipts = [receipt async for receipt in store.iter_receipts()]
    middle = receipts[2].recorded_at
    before = await compute_stats(store, by="locale", until=middle)
    after = await compute_stats(store, by="locale", since=middle)
    assert sum(row.decisions for row in before) == 2
    assert sum(row.decisions for row in after) == len(DECISIONS) - 2
    whole_days = await compute_stats(
        store, by="locale", since=middle.replace(hour=0, minute=0, second=0, microsecond=0)
    )
    assert sum(row.decisions for row in whole_days) == len(DECISIONS)


async def test_purge_takes_its_receipts_out_of_the_counts(store: BaseStore) -> None:
    for item in DECISIONS:
        await store.record(item)
    receipts = [receipt async for receipt in store.iter_receipts()]
    _, checkpoint = await store.purge(receipts[3].recorded_at)
    assert checkpoint is not None and checkpoint.deleted == 3
    rows = await compute_stats(store, by="locale")
    assert {row.key: row.decisions for row in rows} == {"de": 1, "fr": 2}
    assert rows[0].rate("analytics") == 0.0
