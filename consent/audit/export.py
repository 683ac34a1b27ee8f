"""Streaming export of receipts as JSON Lines or CSV, read in batches so memory stays flat."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Literal, TextIO

from consent.audit.base import BaseStore
from consent.audit.model import RECEIPT_FIELDS, AuditError, Receipt, format_time, parse_time

ExportFormat = Literal["jsonl", "csv"]

CSV_FIELDS: tuple[str, ...] = tuple(spec.name for spec in RECEIPT_FIELDS)


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
    texts = {}
    for spec in RECEIPT_FIELDS:
        value = getattr(receipt, spec.name)
        if value is None:
            texts[spec.name] = ""
        elif spec.kind == "time":
            texts[spec.name] = format_time(value)
        elif spec.kind == "list":
            texts[spec.name] = " ".join(sorted(value))
        else:
            texts[spec.name] = str(value)
    return texts


def receipt_from_csv(row: dict[str, str]) -> Receipt:
    """Read back a row written by :func:`csv_row` (empty optional values become None)."""
    row = {name: unguard_cell(value) for name, value in row.items() if isinstance(value, str)}
    values: dict[str, object] = {}
    try:
        for spec in RECEIPT_FIELDS:
            text = row.get(spec.name, "") if spec.later else row[spec.name]
            if spec.nullable and not text:
                values[spec.name] = None
            elif spec.kind == "int":
                values[spec.name] = int(text)
            elif spec.kind == "time":
                values[spec.name] = parse_time(text)
            elif spec.kind == "list":
                values[spec.name] = frozenset(text.split())
            else:
                values[spec.name] = text
        return Receipt(**values)  # type: ignore[arg-type]
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
