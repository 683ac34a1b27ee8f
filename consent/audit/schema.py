"""The receipt layout, once: columns derived from :class:`~consent.audit.model.Receipt`, and
one dialect object per database for what differs (placeholders, times, category lists,
locking).

Every query the stores run is written here with ``?`` placeholders and rendered for each
dialect, so the two stores share their SQL and a new receipt field is one edit of the
``Receipt`` dataclass plus a migration step (:func:`add_column`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from consent.audit.model import (
    RECEIPT_FIELDS,
    FieldKind,
    FieldSpec,
    Receipt,
    format_time,
    parse_time,
)
from consent.names import NECESSARY

Kind = FieldKind
RECEIPT_COLUMNS: tuple[FieldSpec, ...] = RECEIPT_FIELDS
COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in RECEIPT_COLUMNS)
SELECT_LIST = ", ".join(COLUMN_NAMES)


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one database does differently; everything else is shared SQL."""

    name: Literal["sqlite", "postgres"]
    placeholder: str
    types: dict[Kind, str]
    encode_time: Callable[[datetime], object]
    decode_time: Callable[[Any], datetime]
    encode_list: Callable[[list[str]], object]
    decode_list: Callable[[Any], Sequence[str]]
    decode_json: Callable[[Any], Any]  # a notice's texts as read back
    time_text: Callable[[Any], str]  # a stored time as format_time writes it
    lock_suffix: str  # appended to the head read of an append or a purge
    now: str  # the clock appends take recorded_at from, as SQL
    day_of: str  # the UTC day (YYYY-MM-DD) of a time column, {} standing for the column
    each: str  # a category list as rows with a ``value`` column named c, {} for the list

    def sql(self, text: str) -> str:
        """Shared SQL (``?`` placeholders) in this dialect's placeholder style."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def to_row(self, receipt: Receipt) -> tuple[object, ...]:
        encoders: dict[Kind, Callable[[Any], object]] = {
            "int": _same,
            "text": _same,
            "time": self.encode_time,
            "list": lambda names: self.encode_list(sorted(names)),
        }
        return tuple(
            None
            if (value := getattr(receipt, column.name)) is None
            else encoders[column.kind](value)
            for column in RECEIPT_COLUMNS
        )

    def from_row(self, row: Sequence[Any]) -> Receipt:
        values: dict[str, object] = {}
        for column, value in zip(RECEIPT_COLUMNS, row, strict=True):
            if value is None or column.kind in ("int", "text"):
                values[column.name] = value
            elif column.kind == "time":
                values[column.name] = self.decode_time(value)
            else:
                values[column.name] = frozenset(self.decode_list(value))
        return Receipt(**values)  # type: ignore[arg-type]

    def column_type(self, column: FieldSpec) -> str:
        return self.types[column.kind] + ("" if column.nullable else " NOT NULL")


def _same(value: object) -> object:
    return value


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _json_list(names: list[str]) -> str:
    return json.dumps(names)


def _parse_json_list(text: str) -> list[str]:
    return list(json.loads(text))


SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    types={"int": "INTEGER", "text": "TEXT", "time": "TEXT", "list": "TEXT"},
    encode_time=format_time,
    decode_time=parse_time,
    encode_list=_json_list,
    decode_list=_parse_json_list,
    decode_json=json.loads,
    time_text=str,  # stored as format_time wrote it
    # BEGIN IMMEDIATE already holds the database's write lock.
    lock_suffix="",
    now="",
    day_of="substr({}, 1, 10)",
    each="json_each({}) AS c",
)

POSTGRES = Dialect(
    name="postgres",
    placeholder="%s",
    types={"int": "bigint", "text": "text", "time": "timestamptz", "list": "text[]"},
    encode_time=_same,
    decode_time=_utc,
    encode_list=_same,
    decode_list=_same,  # type: ignore[arg-type]
    decode_json=_same,  # jsonb arrives decoded
    time_text=format_time,
    lock_suffix=" FOR UPDATE",
    # The database clock, so that seq and time agree across app servers whose clocks drift.
    now=", clock_timestamp()",
    day_of="to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    each="unnest({}) AS c(value)",
)

DIALECTS = {dialect.name: dialect for dialect in (SQLITE, POSTGRES)}


class Queries:
    """Every statement the stores run, rendered once per dialect."""

    def __init__(self, dialect: Dialect) -> None:
        s = dialect.sql
        marks = ", ".join("?" * len(RECEIPT_COLUMNS))
        self.insert_receipt = s(f"INSERT INTO receipts ({SELECT_LIST}) VALUES ({marks})")  # noqa: S608
        self.receipts_for = s(
            f"SELECT {SELECT_LIST} FROM receipts WHERE consent_id = ? ORDER BY seq"  # noqa: S608
        )
        self.previous_of = s(
            "SELECT receipt_id FROM receipts WHERE consent_id = ? ORDER BY seq DESC LIMIT 1"
        )
        self.receipts_after = f"SELECT {SELECT_LIST} FROM receipts WHERE seq > ?"  # noqa: S608
        self.receipt_at = s(f"SELECT {SELECT_LIST} FROM receipts WHERE seq = ?")  # noqa: S608
        self.count = "SELECT COUNT(*) FROM receipts WHERE 1 = 1"
        self.lock_head = s(
            f"SELECT seq, mac{dialect.now} FROM chain_head WHERE id = 1{dialect.lock_suffix}"  # noqa: S608
        )
        self.head = "SELECT seq, mac, key_id, signature FROM chain_head WHERE id = 1"
        self.update_head = s(
            "UPDATE chain_head SET seq = ?, mac = ?, key_id = ?, signature = ? WHERE id = 1"
        )
        self.insert_notice = s(
            "INSERT INTO notices (texts_hash, texts, first_seen) VALUES (?, ?, ?)"
            " ON CONFLICT (texts_hash) DO NOTHING"
        )
        self.notice = s("SELECT texts FROM notices WHERE texts_hash = ?")
        self.notices = "SELECT texts_hash, texts FROM notices"
        self.checkpoints = (
            "SELECT checkpoint_id, seq, mac, deleted, cutoff, created_at, key_id, signature"
            " FROM checkpoints ORDER BY checkpoint_id"
        )
        self.last_checkpoint = (
            "SELECT checkpoint_id, signature FROM checkpoints ORDER BY checkpoint_id DESC LIMIT 1"
        )
        self.insert_checkpoint = s(
            "INSERT INTO checkpoints (checkpoint_id, seq, mac, deleted, cutoff, created_at,"
            " key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self.purge_bounds = s(
            "SELECT MIN(seq), MAX(seq), (SELECT MIN(seq) FROM receipts WHERE recorded_at >= ?)"
            " FROM receipts"
        )
        self.purge_end = s(
            "SELECT mac, (SELECT COUNT(*) FROM receipts WHERE seq <= ?) FROM receipts WHERE seq = ?"
        )
        self.delete_upto = s("DELETE FROM receipts WHERE seq <= ?")
        self.first_seq = "SELECT MIN(seq) FROM receipts"
        self.verified_head = "SELECT content, signature FROM verified_head WHERE id = 1"
        self.save_verified_head = s(
            "INSERT INTO verified_head (id, content, signature) VALUES (1, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET content = excluded.content,"
            " signature = excluded.signature"
        )
        # The decision counts behind statistics, kept up to date by every append and purge
        # for the receipts in a seq range (added, or subtracted when purged).
        self.add_stats = tuple(s(q) for q in stats_rollup(dialect, "seq > ? AND seq <= ?"))
        self.subtract_stats = tuple(
            s(q) for q in stats_rollup(dialect, "seq > ? AND seq <= ?", sign="-")
        )
        self.drop_empty_stats = "DELETE FROM decision_stats WHERE decisions = 0"
        # Consent policy violations: counts added by each flush, rows kept bounded by age and
        # by number (the most reported stay).
        self.add_csp = s(
            "INSERT INTO csp_violations (directive, blocked_host, path, reports, first_day,"
            " last_day) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (directive, blocked_host, path)"
            " DO UPDATE SET reports = csp_violations.reports + excluded.reports,"
            " last_day = excluded.last_day"
        )
        self.drop_old_csp = s("DELETE FROM csp_violations WHERE last_day < ?")
        self.keep_top_csp = s(
            "DELETE FROM csp_violations WHERE (directive, blocked_host, path) NOT IN"
            " (SELECT directive, blocked_host, path FROM csp_violations"
            " ORDER BY reports DESC, last_day DESC LIMIT ?)"
        )
        self.csp_counts = s(
            "SELECT directive, blocked_host, path, reports, first_day, last_day"
            " FROM csp_violations WHERE last_day >= ?"
            " ORDER BY reports DESC, blocked_host, directive, path LIMIT ?"
        )
        self._dialect = dialect

    def previous_of_many(self, count: int) -> str:
        """The newest receipt of each of ``count`` consent ids: (consent_id, receipt_id)."""
        marks = ", ".join("?" * count)
        return self._dialect.sql(
            "SELECT consent_id, receipt_id FROM receipts WHERE seq IN"  # noqa: S608
            f" (SELECT MAX(seq) FROM receipts WHERE consent_id IN ({marks}) GROUP BY consent_id)"
        )

    def stats(self, key: str, since: str | None, until: str | None) -> tuple[str, list[object]]:
        """Decisions per ``key`` (day, locale, method or category), category and action, over
        the days ``[since, until)``: ``(key, category, action, decisions, granted)`` rows."""
        if key not in STATS_KEYS:
            raise ValueError(f"unknown statistics key {key!r}")
        clauses, params = "", list[object]()
        if since is not None:
            clauses += " AND day >= ?"
            params.append(since)
        if until is not None:
            clauses += " AND day < ?"
            params.append(until)
        return self._dialect.sql(
            f"SELECT {key}, category, action, SUM(decisions), SUM(granted) FROM decision_stats"  # noqa: S608
            f" WHERE 1 = 1{clauses} GROUP BY {key}, category, action"
        ), params

    def range_clause(
        self, since: datetime | None, until: datetime | None
    ) -> tuple[str, list[object]]:
        """Conditions on ``recorded_at`` for ``[since, until)``, to follow a ``WHERE``."""
        dialect = self._dialect
        clauses, params = "", list[object]()
        if since is not None:
            clauses += " AND recorded_at >= ?"
            params.append(dialect.encode_time(since))
        if until is not None:
            clauses += " AND recorded_at < ?"
            params.append(dialect.encode_time(until))
        return dialect.sql(clauses), params


STATS_KEYS = ("day", "locale", "method", "category")


def stats_rollup(dialect: Dialect, where: str, *, sign: str = "") -> tuple[str, ...]:
    """Statements that add (or with ``sign="-"`` subtract) the receipts matching ``where`` to
    the ``decision_stats`` counts: one row per day, locale, method and action with
    ``category = ''`` counting decisions, and one per category offered, counting the decisions
    that offered it and those that granted it. ``necessary`` is left out: it cannot be refused.
    """
    day = dialect.day_of.format("recorded_at")
    keys = f"{day}, locale, method, action"
    insert = (
        "INSERT INTO decision_stats (day, locale, method, action, category, decisions, granted) "
    )
    upsert = (
        " ON CONFLICT (day, locale, method, action, category) DO UPDATE SET"
        " decisions = decision_stats.decisions + excluded.decisions,"
        " granted = decision_stats.granted + excluded.granted"
    )
    necessary = f"'{NECESSARY}'"
    # Only the constants above and the caller's fixed condition go into the text: hence S608.
    return (
        f"{insert}SELECT {keys}, '', {sign}COUNT(*), 0 FROM receipts WHERE {where}"  # noqa: S608
        f" GROUP BY {keys}{upsert}",
        *(
            f"{insert}SELECT {keys}, c.value, {sign}COUNT(*), {granted} FROM receipts,"  # noqa: S608
            f" {dialect.each.format(column)} WHERE {where} AND c.value <> {necessary}"
            f" GROUP BY {keys}, c.value{upsert}"
            for column, granted in (("granted", f"{sign}COUNT(*)"), ("refused", "0"))
        ),
    )
