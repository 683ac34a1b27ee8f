"""A receipt as a table row, shared by the stores; each store says how it writes times and
category lists."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from consent.audit.model import Receipt

RECEIPT_COLUMNS = (
    "seq, receipt_id, recorded_at, previous_receipt_id, consent_id, action, method, granted,"
    " refused, policy_version, locale, texts_hash, path, rule, client, key_id, mac"
)
COLUMN_COUNT = 17


def receipt_to_row(
    receipt: Receipt,
    *,
    time: Callable[[datetime], object],
    categories: Callable[[list[str]], object],
) -> tuple[object, ...]:
    return (
        receipt.seq,
        receipt.receipt_id,
        time(receipt.recorded_at),
        receipt.previous_receipt_id,
        receipt.consent_id,
        receipt.action,
        receipt.method,
        categories(sorted(receipt.granted)),
        categories(sorted(receipt.refused)),
        receipt.policy_version,
        receipt.locale,
        receipt.texts_hash,
        receipt.path,
        receipt.rule,
        receipt.client,
        receipt.key_id,
        receipt.mac,
    )


def receipt_from_row(
    row: tuple[Any, ...],
    *,
    time: Callable[[Any], datetime],
    categories: Callable[[Any], Iterable[str]],
) -> Receipt:
    return Receipt(
        seq=row[0],
        receipt_id=row[1],
        recorded_at=time(row[2]),
        previous_receipt_id=row[3],
        consent_id=row[4],
        action=row[5],
        method=row[6],
        granted=frozenset(categories(row[7])),
        refused=frozenset(categories(row[8])),
        policy_version=row[9],
        locale=row[10],
        texts_hash=row[11],
        path=row[12],
        rule=row[13],
        client=row[14],
        key_id=row[15],
        mac=row[16],
    )
