"""Recording and reading receipts, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from consent.audit import AuditError, AuditUnavailable, BaseStore, Receipt, hash_texts, open_store
from consent.audit.chain import Keyring, build_receipt, sign_head
from consent.audit.migrations import LATEST_VERSION, MIGRATIONS, VERSION_TABLE
from consent.audit.model import RECEIPT_FIELDS
from consent.audit.schema import POSTGRES, SQLITE, Queries
from consent.audit.stats import compute_stats
from consent.audit.store import AuditStore, postgres_conninfo, sqlite_path
from tests.audit.conftest import KEY, POSTGRES_URL, Backend, decision


async def test_one_receipt_per_decision_with_every_field(store: BaseStore) -> None:
    made = decision(
        "visitor-a",
        action="custom",
        granted=["analytics"],
        locale="de",
        method="preferences_page",
        path="/news/42",
        rule="gdpr",
        client="203.0.113.0/24",
    )
    before = datetime.now(UTC) - timedelta(seconds=5)
    receipt = await store.record(made)
    stored = await store.receipts_for("visitor-a")
    assert stored == [receipt]
    assert receipt.seq == 1
    assert receipt.previous_receipt_id is None
    assert before <= receipt.recorded_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert receipt.recorded_at.utcoffset() == timedelta(0)
    assert receipt.consent_id == made.consent_id
    assert receipt.action == "custom"
    assert receipt.method == "preferences_page"
    assert receipt.granted == frozenset({"necessary", "analytics"})
    assert receipt.refused == frozenset({"preferences", "marketing"})
    assert receipt.policy_version == made.policy_version
    assert receipt.locale == "de"
    assert receipt.texts_hash == hash_texts(made.texts)
    assert receipt.path == "/news/42"
    assert receipt.rule == "gdpr"
    assert receipt.client == "203.0.113.0/24"
    assert len(receipt.mac) == 64
    assert isinstance(store, AuditStore)


async def test_no_client_hint_is_stored_by_default(store: BaseStore, backend: Backend) -> None:
    await store.record(decision())
    assert backend.query("SELECT client FROM receipts") == [(None,)]


async def test_receipts_come_oldest_first_and_link_to_the_previous(store: BaseStore) -> None:
    first = await store.record(decision("v1", action="accept_all"))
    other = await store.record(decision("v2"))
    second = await store.record(decision("v1", action="custom", granted=["analytics"]))
    third = await store.record(decision("v1", action="withdraw", granted=[]))
    history = await store.receipts_for("v1")
    assert [r.receipt_id for r in history] == [
        first.receipt_id,
        second.receipt_id,
        third.receipt_id,
    ]
    assert [r.previous_receipt_id for r in history] == [None, first.receipt_id, second.receipt_id]
    assert [r.seq for r in history] == [1, 3, 4]
    assert other.previous_receipt_id is None
    assert await store.receipts_for("nobody") == []


async def test_notices_are_stored_once_per_hash(store: BaseStore, backend: Backend) -> None:
    english = decision("a", locale="en")
    french = decision("b", locale="fr")
    for item in (english, french, decision("c", locale="en"), decision("d", locale="en")):
        await store.record(item)
    assert backend.query("SELECT COUNT(*) FROM notices") == [(2,)]
    assert await store.notice(english.texts_hash) == english.texts
    assert await store.notice(french.texts_hash) == french.texts
    assert await store.notice("0" * 64) is None


async def test_a_bad_decision_is_refused_and_nothing_stored(
    store: BaseStore, backend: Backend
) -> None:
    made = decision()
    broken = type(made)(
        **{**{n: getattr(made, n) for n in made.__dataclass_fields__}, "texts_hash": "1" * 64}
    )
    with pytest.raises(AuditError):
        await store.record(broken)
    await store.record(made)
    assert backend.query("SELECT COUNT(*) FROM receipts") == [(1,)]


async def test_a_clean_chain_verifies(store: BaseStore) -> None:
    for index in range(7):
        await store.record(decision(f"v{index % 2}"))
    report = await store.verify()
    assert report.ok, report.problem
    assert (report.checked, report.first_seq, report.last_seq) == (7, 1, 7)
    assert report.head is not None and report.head.seq == 7


async def test_an_empty_store_verifies(store: BaseStore) -> None:
    report = await store.verify()
    assert report.ok and report.checked == 0


async def test_concurrent_tasks_and_two_stores_lose_nothing(
    store: BaseStore, backend: Backend
) -> None:
    second = open_store(backend.url, KEY)
    try:
        tasks = [
            (store if index % 2 else second).record(decision(f"v{index}")) for index in range(24)
        ]
        receipts = await asyncio.gather(*tasks)
    finally:
        await second.close()
    assert sorted(r.seq for r in receipts) == list(range(1, 25))
    assert len({r.receipt_id for r in receipts}) == 24
    assert (await store.verify()).ok


async def test_migrations_are_applied_once(store: BaseStore, backend: Backend) -> None:
    await store.record(decision())
    again = open_store(backend.url, KEY)
    await again.record(decision())
    await again.close()
    versions = backend.query("SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == [step.version for step in MIGRATIONS]
    assert MIGRATIONS[-1].version == LATEST_VERSION


async def test_the_database_refuses_edits_outside_purge(store: BaseStore, backend: Backend) -> None:
    await store.record(decision())
    for statement in (
        "UPDATE receipts SET action = 'reject_all'",
        "DELETE FROM receipts",
        "DELETE FROM notices",
    ):
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match=r"append-only|purge"):
            backend.query(statement, fetch=False, bypass_guards=False)
    assert backend.query("SELECT action FROM receipts") == [("accept_all",)]


async def test_key_rotation_keeps_old_receipts_verifiable(backend: Backend) -> None:
    old_key = "old:" + "o" * 32
    rotated = "new:" + "n" * 32 + "," + old_key
    first = open_store(backend.url, old_key)
    await first.record(decision("v"))
    await first.close()
    second = open_store(backend.url, rotated)
    receipt = await second.record(decision("v"))
    report = await second.verify()
    await second.close()
    assert receipt.key_id == "new"
    assert report.ok, report.problem
    only_new = open_store(backend.url, "new:" + "n" * 32)
    report = await only_new.verify()
    await only_new.close()
    assert report.problem is not None and report.problem.seq == 1


async def test_ping_answers_true_when_reachable(store: BaseStore) -> None:
    assert await store.ping() is True


async def test_a_closed_store_is_unavailable(backend: Backend) -> None:
    closed = open_store(backend.url, KEY)
    await closed.record(decision())
    await closed.close()
    with pytest.raises(AuditUnavailable):
        await closed.record(decision())


async def test_postgres_down_constructs_and_raises_unavailable() -> None:
    started = time.monotonic()
    down = open_store("postgresql://postgres@127.0.0.1:1/test", KEY, timeout=1.0)
    assert time.monotonic() - started < 0.5  # nothing connects at construction
    with pytest.raises(AuditUnavailable):
        await down.record(decision())
    assert await down.ping() is False
    await down.close()
    assert time.monotonic() - started < 10


async def test_sqlite_unwritable_path_raises_then_recovers(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    store = open_store(f"sqlite:///{blocker / 'audit.db'}", KEY)
    with pytest.raises(AuditUnavailable):
        await store.record(decision())
    assert await store.ping() is False
    blocker.unlink()
    receipt = await store.record(decision())  # the next call reconnects
    assert receipt.seq == 1
    await store.close()


async def test_sqlite_locked_beyond_the_timeout_raises_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = open_store(f"sqlite:///{path}", KEY, timeout=0.3)
    await store.record(decision())
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(AuditUnavailable):
            await store.record(decision())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (await store.record(decision())).seq == 2
    await store.close()


async def test_sqlite_receipts_survive_a_new_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'dir' / 'audit.db'}"
    first = open_store(url, KEY)
    receipt: Receipt = await first.record(decision())
    await first.close()
    second = open_store(url, KEY)
    assert await second.receipts_for(receipt.consent_id) == [receipt]
    await second.close()


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/audit.db", "var/audit.db"),
        ("sqlite:////srv/consent/audit.db", "/srv/consent/audit.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    assert sqlite_path(url) == path


def test_postgres_urls_keep_libpq_parameters_and_take_the_schema() -> None:
    conninfo, schema = postgres_conninfo("postgres://u@h:5433/db?sslmode=require&schema=audit_x")
    assert conninfo == "postgresql://u@h:5433/db?sslmode=require"
    assert schema == "audit_x"
    assert postgres_conninfo("postgresql://u@h/db")[1] is None


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "sqlite://", "sqlite://relative.db", "postgresql://h/db?schema=Bad-Name"]
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(AuditError):
        open_store(url, KEY)


def test_bad_keys_and_pool_sizes_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with pytest.raises(AuditError):
        open_store(url, "")
    with pytest.raises(AuditError):
        open_store(url, KEY, pool_size=0)


async def test_memory_store_works_in_one_process() -> None:
    store = open_store("sqlite:///:memory:", KEY)
    await store.record(decision())
    assert (await store.verify()).ok
    await store.close()


async def test_sqlite_files_are_created_for_their_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the usual default, which leaves new files world-readable
    try:
        path = tmp_path / "audit.db"
        store = open_store(f"sqlite:///{path}", KEY)
        await store.record(decision())
        modes = {
            name: stat.S_IMODE((tmp_path / name).stat().st_mode)
            for name in ("audit.db", "audit.db-wal", "audit.db-shm")
        }
        await store.close()
    finally:
        os.umask(previous)
    assert modes == {"audit.db": 0o600, "audit.db-wal": 0o600, "audit.db-shm": 0o600}


async def test_sqlite_purged_receipts_leave_no_trace_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = open_store(f"sqlite:///{path}", KEY)
    marker = "visitor-to-be-forgotten-7f3a"
    for index in range(20):
        await store.record(decision(f"{marker}-{index}", path=f"/{marker}/{index}"))
    report, checkpoint = await store.purge(datetime.now(UTC) + timedelta(seconds=1))
    assert report.ok and checkpoint is not None and checkpoint.deleted == 20
    kept = await store.record(decision("visitor-kept"))
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("audit.db"))
    await store.close()
    assert kept.consent_id.encode() in files
    assert marker.encode() not in files


def _version_2_store(backend: Backend, count: int) -> list[Receipt]:
    """A database as the release with migrations 1 and 2 left it, holding ``count`` receipts
    chained as that release chained them, written behind the store's back."""
    dialect = SQLITE if backend.kind == "sqlite" else POSTGRES
    statements = [VERSION_TABLE[backend.kind]]
    for step in MIGRATIONS[:2]:
        statements += step.statements(dialect.name)
    if backend.kind == "postgres":
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{backend.schema}"')
            conn.execute(f'SET search_path = "{backend.schema}"')
            for statement in statements:
                conn.execute(statement)  # no parameters: plpgsql's % stays as it is
    else:
        for statement in statements:
            backend.query(statement, fetch=False, bypass_guards=False)
    for step in MIGRATIONS[:2]:
        backend.query(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
            (step.version, step.description, "2025-01-01T00:00:00.000000Z"),
            fetch=False,
            bypass_guards=False,
        )
    keyring = Keyring.parse(KEY)
    receipts, mac = [], ""
    start = datetime.now(UTC) - timedelta(days=70)
    for index in range(count):
        made = decision(f"v{index}", locale=("en", "fr")[index % 2])
        receipt = build_receipt(
            made,
            seq=index + 1,
            previous_mac=mac,
            previous_receipt_id=None,
            recorded_at=start + timedelta(days=index * 10),
            keyring=keyring,
        )
        texts = json.dumps(dict(made.texts))
        backend.query(
            "INSERT INTO notices (texts_hash, texts, first_seen) VALUES (?, ?, ?)"
            " ON CONFLICT (texts_hash) DO NOTHING",
            (made.texts_hash, texts, dialect.encode_time(start)),
            fetch=False,
            bypass_guards=False,
        )
        # The columns of that release: none of the receipt fields added later.
        first = [i for i, spec in enumerate(RECEIPT_FIELDS) if not spec.later]
        row = dialect.to_row(receipt)
        names = ", ".join(RECEIPT_FIELDS[i].name for i in first)
        insert = f"INSERT INTO receipts ({names}) VALUES ({', '.join('?' for _ in first)})"  # noqa: S608
        backend.query(
            insert,
            [row[i] for i in first],
            fetch=False,
            bypass_guards=False,
        )
        receipts.append(receipt)
        mac = receipt.mac
    head = sign_head(receipts[-1].seq, mac, keyring)
    backend.query(
        "UPDATE chain_head SET seq = ?, mac = ?, key_id = ?, signature = ? WHERE id = 1",
        (head.seq, head.mac, head.key_id, head.signature),
        fetch=False,
        bypass_guards=False,
    )
    return receipts


async def test_a_version_2_store_is_upgraded_and_keeps_verifying(backend: Backend) -> None:
    """Migrations 3 and 4 on a database written before them: old receipts keep verifying,
    the decision counts are computed from them, and (PostgreSQL) they move into months."""
    made = _version_2_store(backend, 7)
    store = open_store(backend.url, KEY)
    try:
        report = await store.verify(full=False)
        assert report.ok, report.problem
        assert report.checked == 7
        assert [r.receipt_id for r in await store.receipts_after(0, 10)] == [
            r.receipt_id for r in made
        ]
        rows = await compute_stats(store, by="locale")
        assert {row.key: row.decisions for row in rows} == {"en": 4, "fr": 3}
        await store.record(decision("after-the-upgrade"))
        assert (await store.verify(full=True)).ok
    finally:
        await store.close()
    assert backend.query("SELECT MAX(version) FROM schema_version")[0][0] == LATEST_VERSION
    if backend.kind == "postgres":
        months = backend.query(
            "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'receipts'::regclass"
        )[0][0]
        assert months >= 3  # 70 days of receipts, this month and the next


async def test_concurrent_records_commit_together_in_arrival_order(store: BaseStore) -> None:
    made = [decision(f"c{index}") for index in range(40)]
    receipts = await asyncio.gather(*(store.record(item) for item in made))
    assert [r.seq for r in receipts] == list(range(1, 41))
    assert [r.consent_id for r in receipts] == [item.consent_id for item in made]
    assert (await store.verify()).ok


async def test_sqlite_look_ups_use_their_indexes(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"
    store = open_store(f"sqlite:///{path}", KEY)
    try:
        await store.record(decision())
    finally:
        await store.close()
    queries = Queries(SQLITE)
    lite = sqlite3.connect(path)
    try:

        def plan(query: str, params: tuple[object, ...]) -> str:
            rows = lite.execute(f"EXPLAIN QUERY PLAN {query}", params).fetchall()
            return " | ".join(str(row[-1]) for row in rows)

        assert "USING INDEX receipts_consent_id" in plan(queries.receipts_for, ("visitor-1",))
        assert "USING INTEGER PRIMARY KEY" in plan(queries.receipt_at, (1,))
        clauses, params = queries.range_clause(datetime.now(UTC), None)
        ranged = plan(f"{queries.receipts_after}{clauses} ORDER BY seq LIMIT 5", (0, *params))
        assert "PRIMARY KEY" in ranged or "receipts_recorded_at" in ranged
        stats = plan(queries.stats("day", "2025-01-01", None)[0], ("x",))
        assert "decision_stats" in stats and "receipts" not in stats  # the counts, not a scan
    finally:
        lite.close()
