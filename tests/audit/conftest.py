"""A store fixture parametrised over SQLite (a temporary file) and PostgreSQL (a fresh schema).

PostgreSQL is taken from ``CONSENT_TEST_POSTGRES_URL`` (default: the local test database; under
pytest-xdist, a database of the worker's own beside it).
When it cannot be reached the PostgreSQL cases skip loudly, or fail when
``CONSENT_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from consent.audit import BaseStore, Decision, Receipt, open_store
from tests.workers import DEFAULT_POSTGRES_URL, POSTGRES_URL_VARIABLE

# Under pytest-xdist, the worker's own database (see tests/conftest.py).
POSTGRES_URL = os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL)
KEY = "test-key-1:" + "0123456789abcdef" * 2
CATEGORIES = ("necessary", "preferences", "analytics", "marketing")

_postgres_problem: list[str | None] = []


def _postgres_unreachable() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per run)."""
    if not _postgres_problem:
        try:
            import psycopg

            with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _postgres_problem.append(None)
        except Exception as exc:  # any failure means the same: no server to test against
            _postgres_problem.append(f"{type(exc).__name__}: {exc}")
    return _postgres_problem[0]


@dataclass
class Backend:
    """A database the tests may also reach behind the store's back, as an attacker would."""

    kind: str
    url: str
    path: Path | None = None
    schema: str | None = None

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        """Raw SQL with ``?`` placeholders, the append-only triggers bypassed."""
        self.query(statement, params, fetch=False)

    def query(
        self,
        statement: str,
        params: Sequence[Any] = (),
        *,
        fetch: bool = True,
        bypass_guards: bool = True,
    ) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            assert self.path is not None
            lite = sqlite3.connect(self.path)
            try:
                if bypass_guards:
                    triggers = lite.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
                    for (name,) in triggers.fetchall():
                        lite.execute(f'DROP TRIGGER "{name}"')
                rows = lite.execute(statement, tuple(params)).fetchall()
                lite.commit()
            finally:
                lite.close()
            return rows if fetch else []
        import psycopg

        with psycopg.connect(
            POSTGRES_URL, autocommit=True, options=f"-c search_path={self.schema}"
        ) as conn:
            if bypass_guards:
                conn.execute("SET session_replication_role = replica")  # user triggers off
            cur = conn.execute(statement.replace("?", "%s"), tuple(params))
            return list(cur.fetchall()) if fetch and cur.description else []

    def drop(self) -> None:
        if self.kind == "postgres":
            import psycopg

            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def new_backend(kind: str, tmp_path: Path) -> Backend:
    if kind == "sqlite":
        path = tmp_path / f"audit-{secrets.token_hex(4)}.db"
        return Backend("sqlite", f"sqlite:///{path}", path=path)
    problem = _postgres_unreachable()
    if problem is not None:
        message = f"PostgreSQL at {POSTGRES_URL} is not reachable ({problem})"
        if os.environ.get("CONSENT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CONSENT_REQUIRE_POSTGRES=1 but {message}")
        pytest.skip(f"SKIPPING POSTGRES AUDIT TESTS: {message}")
    schema = f"audit_test_{secrets.token_hex(6)}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    return Backend("postgres", f"{POSTGRES_URL}{separator}schema={schema}", schema=schema)


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    created = new_backend(request.param, tmp_path)
    yield created
    created.drop()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[BaseStore]:
    opened = open_store(backend.url, KEY)
    yield opened
    await opened.close()


def decision(
    consent_id: str = "visitor-1",
    *,
    action: str = "accept_all",
    granted: Sequence[str] = CATEGORIES,
    locale: str = "en",
    texts: dict[str, str] | None = None,
    method: str = "banner",
    path: str = "/news/1",
    rule: str = "gdpr",
    client: str | None = None,
    policy_version: str = "2025-01",
) -> Decision:
    chosen = frozenset(granted) | {"necessary"}
    return Decision.create(
        consent_id=consent_id,
        action=action,
        method=method,
        granted=chosen,
        refused=frozenset(CATEGORIES) - chosen,
        policy_version=policy_version,
        locale=locale,
        texts=texts if texts is not None else {"title": f"Cookies ({locale})", "accept": "OK"},
        path=path,
        rule=rule,
        client=client,
    )


def fill(backend: Backend, decisions: Sequence[Decision]) -> list[Receipt]:
    """Record ``decisions`` from synchronous code (for the command-line tests)."""

    async def run() -> list[Receipt]:
        opened = open_store(backend.url, KEY)
        try:
            return [await opened.record(item) for item in decisions]
        finally:
            await opened.close()

    return asyncio.run(run())


MakeDecision = Callable[..., Decision]
