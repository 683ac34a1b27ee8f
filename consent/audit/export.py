"""Streaming export of receipts as JSON Lines or CSV, read in batches so memory stays flat."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, TextIO

from consent.audit.base import BATCH_SIZE, BaseStore
from consent.audit.model import RECEIPT_FIELDS, AuditError, Receipt, format_time, parse_time
from consent.audit.schema import Dialect

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


def json_converter(dialect: Dialect) -> Callable[[Sequence[Any]], dict[str, object]]:
    """Stored row to the dict of :meth:`Receipt.to_json`, keys already in sorted order, without
    building a :class:`Receipt` on the way: export's hot loop."""
    plan = sorted(
        ((index, spec.name, spec.kind, spec.later) for index, spec in enumerate(RECEIPT_FIELDS)),
        key=lambda step: step[1],
    )
    time_text, decode_list = dialect.time_text, dialect.decode_list

    def convert(row: Sequence[Any]) -> dict[str, object]:
        data: dict[str, object] = {}
        for index, name, kind, later in plan:
            value = row[index]
            if value is None:
                if later:
                    continue
            elif kind == "time":
                value = time_text(value)
            elif kind == "list":
                value = list(decode_list(value))
            data[name] = value
        return data

    return convert


class RowWriter:
    """Stored receipt rows (``BaseStore.rows_after``) as JSON Lines or CSV on a text stream;
    the CSV header goes out first. Shared by ``consent audit export`` and the admin download."""

    def __init__(self, out: TextIO, fmt: str, dialect: Dialect) -> None:
        if fmt not in ("jsonl", "csv"):
            raise AuditError(f"unknown export format {fmt!r}: jsonl or csv")
        self._out = out
        self._jsonl = fmt == "jsonl"
        self._dialect = dialect
        self._convert = json_converter(dialect)
        self._dumps = json.JSONEncoder(ensure_ascii=False).encode
        self._csv = csv_writer(out)
        if not self._jsonl:
            self._csv.writeheader()

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        if self._jsonl:
            self._out.write("".join(self._dumps(self._convert(row)) + "\n" for row in rows))
        else:
            self._csv.writerows(csv_row(self._dialect.from_row(row)) for row in rows)


async def export_receipts(
    store: BaseStore,
    out: TextIO,
    *,
    fmt: ExportFormat = "jsonl",
    since: datetime | None = None,
    until: datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write the receipts recorded in ``[since, until)`` in ``seq`` order; returns the count.

    Rows are read in batches (keyset pagination on ``seq``) and written a batch at a time.
    """
    rows_out = RowWriter(out, fmt, store.dialect)
    written = 0
    after = 0
    while True:
        rows = await store.rows_after(after, BATCH_SIZE, since=since, until=until)
        if not rows:
            break
        rows_out.write(rows)
        written += len(rows)
        after = int(rows[-1][0])
        if on_progress is not None:
            on_progress(written)
        if len(rows) < BATCH_SIZE:
            break
    if on_progress is not None and written == 0:
        on_progress(0)
    return written
