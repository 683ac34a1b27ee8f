"""Streaming export of receipts as JSON Lines or CSV, read in batches so memory stays flat."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Literal, TextIO

from consent.audit.base import BaseStore
from consent.audit.model import AuditError, Receipt, format_time, parse_time

ExportFormat = Literal["jsonl", "csv"]

CSV_FIELDS = (
    "seq",
    "receipt_id",
    "recorded_at",
    "previous_receipt_id",
    "consent_id",
    "action",
    "method",
    "granted",
    "refused",
    "policy_version",
    "locale",
    "texts_hash",
    "path",
    "rule",
    "client",
    "key_id",
    "mac",
)


# A spreadsheet opening the file runs a cell that starts with one of these as a formula
# (OWASP, CSV injection); policy versions, rules, methods and client hints come from
# configuration or integrations and may start with anything.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_GUARD = "'"


def guard_cell(value: str) -> str:
    """A leading apostrophe makes spreadsheets show the cell as text. A value that starts
    with an apostrophe gets one too, so :func:`unguard_cell` restores every value exactly."""
    return _GUARD + value if value.startswith((*_FORMULA_START, _GUARD)) else value


def unguard_cell(value: str) -> str:
    return value[1:] if value.startswith(_GUARD) else value


def csv_row(receipt: Receipt) -> dict[str, str]:
    """One CSV line, every cell guarded against formula injection (see :func:`guard_cell`)."""
    return {name: guard_cell(value) for name, value in receipt_texts(receipt).items()}


def receipt_texts(receipt: Receipt) -> dict[str, str]:
    """Every field as text: category lists space-separated, absent values empty."""
    return {
        "seq": str(receipt.seq),
        "receipt_id": receipt.receipt_id,
        "recorded_at": format_time(receipt.recorded_at),
        "previous_receipt_id": receipt.previous_receipt_id or "",
        "consent_id": receipt.consent_id,
        "action": receipt.action,
        "method": receipt.method,
        "granted": " ".join(sorted(receipt.granted)),
        "refused": " ".join(sorted(receipt.refused)),
        "policy_version": receipt.policy_version,
        "locale": receipt.locale,
        "texts_hash": receipt.texts_hash,
        "path": receipt.path,
        "rule": receipt.rule,
        "client": receipt.client or "",
        "key_id": receipt.key_id,
        "mac": receipt.mac,
    }


def receipt_from_csv(row: dict[str, str]) -> Receipt:
    """Read back a row written by :func:`csv_row` (empty optional values become None)."""
    row = {name: unguard_cell(value) for name, value in row.items() if isinstance(value, str)}
    try:
        return Receipt(
            receipt_id=row["receipt_id"],
            seq=int(row["seq"]),
            recorded_at=parse_time(row["recorded_at"]),
            previous_receipt_id=row["previous_receipt_id"] or None,
            consent_id=row["consent_id"],
            action=row["action"],
            method=row["method"],
            granted=frozenset(row["granted"].split()),
            refused=frozenset(row["refused"].split()),
            policy_version=row["policy_version"],
            locale=row["locale"],
            texts_hash=row["texts_hash"],
            path=row["path"],
            rule=row["rule"],
            client=row["client"] or None,
            key_id=row["key_id"],
            mac=row["mac"],
        )
    except (KeyError, ValueError) as exc:
        raise AuditError(f"not an exported receipt: {exc}") from exc


def csv_writer(out: TextIO) -> csv.DictWriter[str]:
    # CRLF line ends (RFC 4180) also make the writer quote a lone CR inside a value, which a
    # "\n" terminator would let through and so split the row for every reader.
    return csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\r\n")


def read_jsonl(lines: Iterator[str] | TextIO) -> Iterator[Receipt]:
    for line in lines:
        if line.strip():
            yield Receipt.from_json(json.loads(line))


def read_csv(stream: TextIO) -> Iterator[Receipt]:
    for row in csv.DictReader(stream):
        yield receipt_from_csv(row)


async def export_receipts(
    store: BaseStore,
    out: TextIO,
    *,
    fmt: ExportFormat = "jsonl",
    since: datetime | None = None,
    until: datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write the receipts recorded in ``[since, until)`` in ``seq`` order; returns the count."""
    if fmt not in ("jsonl", "csv"):
        raise AuditError(f"unknown export format {fmt!r}: jsonl or csv")
    writer = csv_writer(out)
    if fmt == "csv":
        writer.writeheader()
    written = 0
    async for receipt in store.iter_receipts(since=since, until=until):
        if fmt == "jsonl":
            out.write(json.dumps(receipt.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
        else:
            writer.writerow(csv_row(receipt))
        written += 1
        if on_progress is not None and written % 1000 == 0:
            on_progress(written)
    if on_progress is not None:
        on_progress(written)
    return written
