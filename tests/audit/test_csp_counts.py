"""Consent policy violation counts in the audit store, on both databases."""

from __future__ import annotations

import pytest

from consent.audit import BaseStore, open_store
from consent.audit.migrations import LATEST_VERSION, MIGRATIONS
from consent.csp import ReportCounter, Violation
from consent.cspreports import CspReports
from tests.audit.conftest import KEY, Backend

PIXEL = ("img-src", "px.ads.example", "/news/a")
SCRIPT = ("script-src", "tags.ads.example", "/")


async def test_counts_add_up_across_flushes_with_first_and_last_day(store: BaseStore) -> None:
    await store.add_csp_counts([(*PIXEL, 3), (*SCRIPT, 1)], "2026-11-01", keep_days=90, keep=10)
    await store.add_csp_counts([(*PIXEL, 2)], "2026-11-20", keep_days=90, keep=10)
    rows = await store.csp_counts("2026-01-01", 10)
    assert rows == [
        (*PIXEL, 5, "2026-11-01", "2026-11-20"),
        (*SCRIPT, 1, "2026-11-01", "2026-11-01"),
    ]
    assert await store.csp_counts("2026-11-02", 10) == [rows[0]]
    assert await store.csp_counts("2026-01-01", 1) == [rows[0]]


async def test_the_table_is_bounded_by_age_and_by_number(store: BaseStore) -> None:
    await store.add_csp_counts([(*SCRIPT, 9)], "2026-01-01", keep_days=90, keep=10)
    many = [("img-src", f"h{n}.example", "/", n + 1) for n in range(6)]
    await store.add_csp_counts(many, "2026-11-01", keep_days=90, keep=4)
    rows = await store.csp_counts("2000-01-01", 100)
    # The old script is gone though it was the most reported; of the rest the top four stay.
    assert [row[1] for row in rows] == ["h5.example", "h4.example", "h3.example", "h2.example"]


async def test_reports_flush_in_batches_and_wait_while_the_store_is_down(
    store: BaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]

    async def current() -> BaseStore:
        return store

    reports = CspReports(
        current, counter=ReportCounter(), clock=lambda: now[0], today=lambda: "2026-11-30"
    )
    body = b'{"csp-report": {"effective-directive": "img-src", "blocked-uri": "https://px.ads.example/p?u=1", "document-uri": "https://paper.example/news/a?x=y"}}'
    assert reports.receive(body) == 1
    assert reports.receive(body) == 1
    assert await store.csp_counts("2026-01-01", 10) == []  # not due yet: one write per batch
    failing = store.add_csp_counts

    async def down(*args: object, **kwargs: object) -> None:
        from consent.audit import AuditUnavailable

        raise AuditUnavailable("injected outage")

    monkeypatch.setattr(store, "add_csp_counts", down)
    assert await reports.flush() is False
    assert reports.counter.pending == 2  # kept in memory
    assert reports.receive(body) == 1
    monkeypatch.setattr(store, "add_csp_counts", failing)
    assert await reports.flush() is True
    assert reports.counter.pending == 0
    assert await store.csp_counts("2026-01-01", 10) == [(*PIXEL, 3, "2026-11-30", "2026-11-30")]
    now[0] = 31.0
    assert reports.receive(body) == 1  # due: flushed by a task of its own
    await reports.close()
    assert (await store.csp_counts("2026-01-01", 10))[0][3] == 4


async def test_a_version_4_store_gains_the_counts_table(backend: Backend) -> None:
    store = open_store(backend.url, KEY)
    try:
        await store.ping()
    finally:
        await store.close()
    # The database as the release before migration 5 left it.
    backend.execute("DROP TABLE csp_violations")
    for later in MIGRATIONS[5:]:  # and the receipt columns added after it
        backend.execute(f"ALTER TABLE receipts DROP COLUMN {later.description.split('.')[1]}")
    backend.execute("DELETE FROM schema_version WHERE version >= 5")
    assert backend.query("SELECT MAX(version) FROM schema_version")[0][0] == 4
    store = open_store(backend.url, KEY)
    try:
        await store.add_csp_counts([(*PIXEL, 1)], "2026-11-30", keep_days=90, keep=10)
        assert await store.csp_counts("2026-11-30", 10) == [(*PIXEL, 1, "2026-11-30", "2026-11-30")]
    finally:
        await store.close()
    assert backend.query("SELECT MAX(version) FROM schema_version")[0][0] == LATEST_VERSION == 13


def test_violation_rows_hold_nothing_of_the_visitor() -> None:
    assert list(Violation.__slots__) == ["directive", "blocked_host", "path"]
