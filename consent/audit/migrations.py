"""Versioned schema of the receipt store, one ordered list for both databases.

Each backend applies the pending steps at its first connection, inside one write transaction
that also holds the store's migration lock, so two processes starting together apply each step
once. A step is never edited after release; changes come as a new step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from consent.audit.model import RECEIPT_FIELDS
from consent.audit.schema import POSTGRES, SQLITE, stats_rollup

Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgres


VERSION_TABLE = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    ),
    "postgres": (
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version integer PRIMARY KEY, description text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    ),
}

_SQLITE_V1 = (
    """CREATE TABLE receipts (
        seq INTEGER PRIMARY KEY,
        receipt_id TEXT NOT NULL UNIQUE,
        recorded_at TEXT NOT NULL,
        previous_receipt_id TEXT,
        consent_id TEXT NOT NULL,
        action TEXT NOT NULL,
        method TEXT NOT NULL,
        granted TEXT NOT NULL,
        refused TEXT NOT NULL,
        policy_version TEXT NOT NULL,
        locale TEXT NOT NULL,
        texts_hash TEXT NOT NULL,
        path TEXT NOT NULL,
        rule TEXT NOT NULL,
        client TEXT,
        key_id TEXT NOT NULL,
        mac TEXT NOT NULL
    )""",
    "CREATE INDEX receipts_consent_id ON receipts (consent_id, seq)",
    "CREATE INDEX receipts_recorded_at ON receipts (recorded_at)",
    """CREATE TABLE notices (
        texts_hash TEXT PRIMARY KEY,
        texts TEXT NOT NULL,
        first_seen TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE checkpoints (
        checkpoint_id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        mac TEXT NOT NULL,
        deleted INTEGER NOT NULL,
        cutoff TEXT NOT NULL,
        created_at TEXT NOT NULL,
        key_id TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
    """CREATE TABLE chain_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        mac TEXT NOT NULL,
        key_id TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
    "INSERT INTO chain_head (id, seq, mac, key_id, signature) VALUES (1, 0, '', '', '')",
)

_POSTGRES_V1 = (
    """CREATE TABLE receipts (
        seq bigint PRIMARY KEY,
        receipt_id text NOT NULL UNIQUE,
        recorded_at timestamptz NOT NULL,
        previous_receipt_id text,
        consent_id text NOT NULL,
        action text NOT NULL,
        method text NOT NULL,
        granted text[] NOT NULL,
        refused text[] NOT NULL,
        policy_version text NOT NULL,
        locale text NOT NULL,
        texts_hash text NOT NULL,
        path text NOT NULL,
        rule text NOT NULL,
        client text,
        key_id text NOT NULL,
        mac text NOT NULL
    )""",
    "CREATE INDEX receipts_consent_id ON receipts (consent_id, seq)",
    "CREATE INDEX receipts_recorded_at ON receipts (recorded_at)",
    """CREATE TABLE notices (
        texts_hash text PRIMARY KEY,
        texts jsonb NOT NULL,
        first_seen timestamptz NOT NULL
    )""",
    """CREATE TABLE checkpoints (
        checkpoint_id bigint PRIMARY KEY,
        seq bigint NOT NULL UNIQUE,
        mac text NOT NULL,
        deleted bigint NOT NULL,
        cutoff timestamptz NOT NULL,
        created_at timestamptz NOT NULL,
        key_id text NOT NULL,
        signature text NOT NULL
    )""",
    """CREATE TABLE chain_head (
        id integer PRIMARY KEY CHECK (id = 1),
        seq bigint NOT NULL,
        mac text NOT NULL,
        key_id text NOT NULL,
        signature text NOT NULL
    )""",
    "INSERT INTO chain_head (id, seq, mac, key_id, signature) VALUES (1, 0, '', '', '')",
)

# Guards against accidents, not against an attacker with write access to the database (who can
# drop a trigger): verification never relies on them. Purge opens the guard for the rows it
# deletes, inside its own transaction.
_SQLITE_V2 = (
    """CREATE TABLE purge_guard (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        upto INTEGER NOT NULL
    )""",
    """CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
    BEGIN SELECT RAISE(ABORT, 'consent audit: receipts are append-only'); END""",
    """CREATE TRIGGER receipts_purge_only BEFORE DELETE ON receipts
    WHEN OLD.seq > COALESCE((SELECT upto FROM purge_guard WHERE id = 1), 0)
    BEGIN SELECT RAISE(ABORT, 'consent audit: receipts are deleted only by purge'); END""",
    """CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'consent audit: checkpoints are append-only'); END""",
    """CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'consent audit: checkpoints are append-only'); END""",
    """CREATE TRIGGER notices_no_update BEFORE UPDATE ON notices
    BEGIN SELECT RAISE(ABORT, 'consent audit: notices are append-only'); END""",
    """CREATE TRIGGER notices_no_delete BEFORE DELETE ON notices
    BEGIN SELECT RAISE(ABORT, 'consent audit: notices are append-only'); END""",
)


def _guard_function(create: str, receipts: str) -> str:
    """The PostgreSQL guard: a purge may delete receipts up to the seq it opened for itself
    (``receipts`` tells a receipts table by its name); every other change is refused."""
    return f"""{create} FUNCTION consent_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND {receipts} THEN
            IF OLD.seq <= COALESCE(
                NULLIF(current_setting('consent_audit.purge_upto', true), '')::bigint, 0
            ) THEN
                RETURN OLD;
            END IF;
        END IF;
        RAISE EXCEPTION 'consent audit: % on % is refused (append-only)', TG_OP, TG_TABLE_NAME;
    END
    $$"""


_POSTGRES_V2 = (
    _guard_function("CREATE", "TG_TABLE_NAME = 'receipts'"),
    *(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
        " FOR EACH ROW EXECUTE FUNCTION consent_audit_guard()"
        for table in ("receipts", "checkpoints", "notices")
    ),
    *(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION consent_audit_guard()"
        for table in ("receipts", "checkpoints", "notices")
    ),
)

_V3_TABLES = {
    dialect.name: (
        "CREATE TABLE verified_head ("
        f" id {dialect.types['int']} PRIMARY KEY CHECK (id = 1),"
        f" content {dialect.types['text']} NOT NULL, signature {dialect.types['text']} NOT NULL)",
        "CREATE TABLE decision_stats ("
        + "".join(
            f" {name} {dialect.types['text']} NOT NULL,"
            for name in ("day", "locale", "method", "action", "category")
        )
        + f" decisions {dialect.types['int']} NOT NULL, granted {dialect.types['int']} NOT NULL,"
        " PRIMARY KEY (day, locale, method, action, category))"
        + (" WITHOUT ROWID" if dialect.name == "sqlite" else ""),
        # Counts for the receipts already stored; appends and purges keep them up to date.
        *stats_rollup(dialect, "1 = 1"),
    )
    for dialect in (SQLITE, POSTGRES)
}

# PostgreSQL: receipts partitioned by month of recorded_at, so that retention drops whole
# months instead of deleting rows one by one. The primary key and the receipt_id key must
# hold the partition key too. Existing receipts are copied over in this one transaction.
_POSTGRES_V4 = (
    "ALTER TABLE receipts RENAME TO receipts_unpartitioned",
    "ALTER TABLE receipts_unpartitioned RENAME CONSTRAINT receipts_pkey"
    " TO receipts_unpartitioned_pkey",
    "ALTER TABLE receipts_unpartitioned RENAME CONSTRAINT receipts_receipt_id_key"
    " TO receipts_unpartitioned_receipt_id_key",
    "DROP INDEX receipts_consent_id",
    "DROP INDEX receipts_recorded_at",
    # The first release's columns; both keys now hold the partition key.
    _POSTGRES_V1[0]
    .replace("seq bigint PRIMARY KEY", "seq bigint NOT NULL")
    .replace("receipt_id text NOT NULL UNIQUE", "receipt_id text NOT NULL")
    .replace(
        "mac text NOT NULL\n    )",
        "mac text NOT NULL,\n        PRIMARY KEY (seq, recorded_at),"
        "\n        UNIQUE (receipt_id, recorded_at)\n    ) PARTITION BY RANGE (recorded_at)",
    ),
    "CREATE INDEX receipts_consent_id ON receipts (consent_id, seq)",
    "CREATE INDEX receipts_recorded_at ON receipts (recorded_at)",
    # The month holding ``moment`` (UTC), as table receipts_yYYYYmMM; nothing when it exists.
    """CREATE FUNCTION consent_audit_partition(moment timestamptz) RETURNS text
    LANGUAGE plpgsql AS $$
    DECLARE
        first timestamp := date_trunc('month', moment AT TIME ZONE 'UTC');
        name text := 'receipts_y' || to_char(first, 'YYYY"m"MM');
    BEGIN
        IF to_regclass(quote_ident(name)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF receipts FOR VALUES FROM (%L) TO (%L)',
                name, first AT TIME ZONE 'UTC', (first + interval '1 month') AT TIME ZONE 'UTC'
            );
        END IF;
        RETURN name;
    END
    $$""",
    "SELECT consent_audit_partition(month AT TIME ZONE 'UTC') FROM generate_series("
    " date_trunc('month', COALESCE((SELECT MIN(recorded_at) FROM receipts_unpartitioned),"
    " now()) AT TIME ZONE 'UTC'),"
    " date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month',"
    " interval '1 month') AS month",
    # Row triggers now fire on a month's partition: its name starts with receipts_y.
    _guard_function(
        "CREATE OR REPLACE",
        "(TG_TABLE_NAME = 'receipts' OR TG_TABLE_NAME LIKE 'receipts_y%')",
    ),
    "INSERT INTO receipts SELECT * FROM receipts_unpartitioned",
    "DROP TABLE receipts_unpartitioned",
    "CREATE TRIGGER receipts_append_only BEFORE UPDATE OR DELETE ON receipts"
    " FOR EACH ROW EXECUTE FUNCTION consent_audit_guard()",
    "CREATE TRIGGER receipts_no_truncate BEFORE TRUNCATE ON receipts"
    " FOR EACH STATEMENT EXECUTE FUNCTION consent_audit_guard()",
)

# Violation counts of the consent policy's reports, one row per directive, blocked host and
# page path (no visitor data); rows are bounded by the flush that writes them.
_V5_TABLES = {
    dialect.name: (
        "CREATE TABLE csp_violations ("
        + "".join(
            f" {name} {dialect.types['text']} NOT NULL,"
            for name in ("directive", "blocked_host", "path")
        )
        + f" reports {dialect.types['int']} NOT NULL,"
        f" first_day {dialect.types['text']} NOT NULL, last_day {dialect.types['text']} NOT NULL,"
        " PRIMARY KEY (directive, blocked_host, path))"
        + (" WITHOUT ROWID" if dialect.name == "sqlite" else ""),
        "CREATE INDEX csp_violations_last_day ON csp_violations (last_day)",
    )
    for dialect in (SQLITE, POSTGRES)
}


def add_column(version: int, name: str) -> Migration:
    """The step that adds the receipt field ``name`` (see docs/architecture.md), its SQL type
    taken from the ``Receipt`` dataclass for each database.

    A field added after the first release defaults to None: receipts stored before it have no
    value, and a missing value stays out of the MAC.
    """
    spec = next((spec for spec in RECEIPT_FIELDS if spec.name == name), None)
    if spec is None:
        raise ValueError(f"Receipt has no field {name!r}")
    if not spec.later:
        raise ValueError(f"a receipt field added later must default to None: {name}")
    sqlite, postgres = (
        (f"ALTER TABLE receipts ADD COLUMN {name} {dialect.column_type(spec)}",)
        for dialect in (SQLITE, POSTGRES)
    )
    return Migration(version, f"receipts.{name}", sqlite, postgres)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "receipts, notices, checkpoints, chain head", _SQLITE_V1, _POSTGRES_V1),
    Migration(2, "append-only guards", _SQLITE_V2, _POSTGRES_V2),
    Migration(
        3,
        "verified head; decision counts for statistics",
        _V3_TABLES["sqlite"],
        _V3_TABLES["postgres"],
    ),
    Migration(4, "receipts partitioned by month (PostgreSQL)", (), _POSTGRES_V4),
    Migration(5, "consent policy violation counts", _V5_TABLES["sqlite"], _V5_TABLES["postgres"]),
    add_column(9, "tc_string"),
    add_column(10, "ac_string"),
    add_column(11, "region"),
    add_column(12, "privacy_model"),
    add_column(13, "gpp"),
)

LATEST_VERSION = MIGRATIONS[-1].version


def pending(current: int) -> tuple[Migration, ...]:
    """The steps after ``current``, in order."""
    return tuple(step for step in MIGRATIONS if step.version > current)
