"""The receipt fields regions add (region, privacy_model, gpp) on SQLite and PostgreSQL:
stored, covered by the MAC once set, exported and read back, and absent where unset."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Literal

from consent.audit import Decision
from consent.audit.base import BaseStore
from consent.audit.export import export_receipts, read_csv, read_jsonl
from tests.audit.conftest import Backend, decision

GPP = "DBABBg~BUoAAACA.QA"


def regional(consent_id: str) -> Decision:
    made = decision(consent_id, action="gpc", method="gpc", granted=("analytics",), rule="gpc")
    return replace(made, region="US-CA", privacy_model="opt_out", gpp=GPP)


async def test_region_fields_are_stored_verified_and_exported(store: BaseStore) -> None:
    before = await store.record(decision("eu-visitor"))
    stored = await store.record(regional("us-visitor"))
    assert (before.region, before.privacy_model, before.gpp) == (None, None, None)
    assert (stored.region, stored.privacy_model, stored.gpp) == ("US-CA", "opt_out", GPP)
    (read,) = await store.receipts_for("us-visitor")
    assert read == stored
    assert "region" not in before.content() and stored.content()["gpp"] == GPP
    assert (await store.verify(full=True)).ok
    formats: tuple[Literal["jsonl", "csv"], ...] = ("jsonl", "csv")
    for fmt in formats:
        out = io.StringIO()
        assert await export_receipts(store, out, fmt=fmt) == 2
        out.seek(0)
        back = read_jsonl(out) if fmt == "jsonl" else read_csv(out)
        assert [r.gpp for r in back] == [None, GPP], fmt
    out = io.StringIO()
    await export_receipts(store, out, fmt="csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[1]["region"] == "US-CA" and rows[1]["privacy_model"] == "opt_out"


async def test_an_altered_region_fails_verification(store: BaseStore, backend: Backend) -> None:
    await store.record(regional("us-visitor"))
    await store.record(decision("later"))
    assert (await store.verify(full=True)).ok
    backend.execute("UPDATE receipts SET region = ? WHERE consent_id = ?", ("DE", "us-visitor"))
    report = await store.verify(full=True)
    assert not report.ok and report.problem is not None
    assert report.problem.seq == 1  # the altered receipt, named
