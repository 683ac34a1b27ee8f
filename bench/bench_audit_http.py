"""Decisions per second through HTTP, with the receipt store behind uvicorn worker processes.

    python bench/bench_audit_http.py [--decisions N] [--clients N] [--workers N]
                                     [--postgres URL | --no-postgres]

The same harness as the load test (tests/load): a small site wrapped by the middleware,
served by ``uvicorn --workers N`` on a loopback port; each decision is a page view (for the
CSRF cookie and token) and a JSON decision post, by a new visitor. Reports decisions per second
and how long the verification of the resulting chain takes, for SQLite (a temporary file) and
PostgreSQL (a throw-away schema, skipped when unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.load.test_audit_load import Site, drive, inspect_store  # noqa: E402


def postgres_reachable(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception:  # any failure means the same here: nothing to measure against
        return False
    return True


def drop_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def _measure(label: str, url: str, args: argparse.Namespace, tmp: Path) -> None:
    site = Site(tmp, url, workers=args.workers)
    try:
        await site.wait_ready()
        run = await drive(site, args.decisions, clients=args.clients)
    finally:
        site.stop()
    stored = await inspect_store(url)
    verify_rate = stored.count / stored.verify_seconds if stored.verify_seconds else 0.0
    print(
        f"{label:<12} {len(run.tally.acknowledged):>9} {run.seconds:>9.1f} {run.rate:>12.0f}"
        f" {stored.count:>9} {'ok' if stored.verified else 'FAILED':>7} {verify_rate:>12.0f}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CONSENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    print(f"{args.decisions} decisions, {args.clients} clients, {args.workers} workers\n")
    print(
        f"{'store':<12} {'acked':>9} {'seconds':>9} {'decisions/s':>12}"
        f" {'stored':>9} {'verify':>7} {'verify r/s':>12}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_measure("SQLite", f"sqlite:///{Path(tmp) / 'audit.db'}", args, Path(tmp)))
    if args.no_postgres or not postgres_reachable(args.postgres):
        print("PostgreSQL   skipped (not requested or not reachable)")
        return 0
    schema = f"bench_http_{secrets.token_hex(4)}"
    separator = "&" if "?" in args.postgres else "?"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"{args.postgres}{separator}schema={schema}"
            asyncio.run(_measure("PostgreSQL", url, args, Path(tmp)))
    finally:
        drop_schema(args.postgres, schema)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
