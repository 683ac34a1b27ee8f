"""Several worker processes appending to one store at once lose nothing (BRIEF: Proof)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from consent.audit import open_store
from tests.audit.conftest import KEY, Backend

WRITER = """
import asyncio, sys
from consent.audit import Decision, open_store

async def main(url, key, worker, count):
    store = open_store(url, key)
    try:
        for index in range(count):
            await store.record(Decision.create(
                consent_id=f"w{worker}-{index}", action="accept_all", method="script",
                granted={"necessary", "analytics"}, refused={"marketing"},
                policy_version="1", locale="en", texts={"title": "Cookies"},
            ))
    finally:
        await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""

WORKERS = 4
EACH = 25


def test_concurrent_processes_write_every_receipt_once(backend: Backend) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, backend.url, KEY, str(worker), str(EACH)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(WORKERS)
    ]
    for process in processes:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors

    async def check() -> None:
        store = open_store(backend.url, KEY)
        try:
            receipts = [receipt async for receipt in store.iter_receipts()]
            report = await store.verify()
        finally:
            await store.close()
        assert [r.seq for r in receipts] == list(range(1, WORKERS * EACH + 1))
        expected = {f"w{w}-{i}" for w in range(WORKERS) for i in range(EACH)}
        assert {r.consent_id for r in receipts} == expected
        assert report.ok, report.problem

    asyncio.run(check())
