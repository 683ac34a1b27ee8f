"""Receipts carry the TC string and the AC string of a decision, in SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from consent.audit import BaseStore, Receipt
from tests.audit.conftest import Backend, decision

TC = "CQb1AAAQb1AAAEsACBDEBwFgAAAAAAAAACiQAAAAAAAA.IAAA"
AC = "2~89.2822~dv.89.2822"


async def test_strings_are_stored_read_and_covered_by_the_mac(
    store: BaseStore, backend: Backend
) -> None:
    made = dataclasses.replace(decision("tcf-visitor"), tc_string=TC, ac_string=AC)
    receipt = await store.record(made)
    assert (receipt.tc_string, receipt.ac_string) == (TC, AC)
    [stored] = await store.receipts_for("tcf-visitor")
    assert (stored.tc_string, stored.ac_string) == (TC, AC)
    assert stored.content()["tc_string"] == TC
    assert Receipt.from_json(stored.to_json()) == stored
    assert (await store.verify()).ok
    # Another string in the database is an altered receipt.
    backend.execute("UPDATE receipts SET tc_string = ? WHERE consent_id = ?", ("CQ", "tcf-visitor"))
    assert not (await store.verify()).ok


async def test_receipts_without_tcf_keep_verifying(store: BaseStore) -> None:
    receipt = await store.record(decision("plain"))
    assert receipt.tc_string is None and receipt.ac_string is None
    assert "tc_string" not in receipt.content()
    assert (await store.verify()).ok
