"""The URL-driven factory of stores."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from consent.audit.anchor import AnchorSchedule
from consent.audit.base import BaseStore
from consent.audit.chain import Keyring
from consent.audit.model import AuditError

DEFAULT_AUDIT_URL = "sqlite:///var/consent-audit.db"
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


# The HTTP layer's name for a store: the abstract base every backend derives from.
AuditStore = BaseStore


def sqlite_path(url: str) -> str:
    """``sqlite:///relative.db`` is relative, ``sqlite:////abs.db`` absolute."""
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or len(rest) < 2:
        raise AuditError(f"bad SQLite URL {url!r}: use sqlite:///relative.db or sqlite:////abs.db")
    return rest[1:].split("?", 1)[0]


def postgres_conninfo(url: str) -> tuple[str, str | None]:
    """The libpq URL without our own ``schema`` parameter, and that schema."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = None
    kept = []
    for name, value in query:
        if name == "schema":
            schema = value
        else:
            kept.append((name, value))
    if schema is not None and not _SCHEMA.fullmatch(schema):
        raise AuditError(f"bad schema name {schema!r}: lowercase letters, digits and _")
    scheme = "postgresql" if parts.scheme in {"postgresql", "postgres"} else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment)), schema


_SQLITE_TIMEOUT = 15.0
_PG_TIMEOUT = 5.0


def open_store(
    url: str,
    audit_key: Keyring | bytes | str,
    *,
    pool_size: int = 4,
    timeout: float | None = None,
    anchor_file: str | None = None,
    anchor_every: int = 100,
    anchor_interval: float = 300.0,
) -> BaseStore:
    """A store for ``url``; nothing connects until the first call.

    ``sqlite:///path.db`` (relative) or ``sqlite:////abs/path.db``;
    ``postgresql://user@host:port/db`` (or ``postgres://``), optionally with ``?schema=name``
    to keep the tables in their own schema. ``audit_key`` is one secret or a keyring
    ``"id1:secret1,id2:secret2"`` whose first key signs. ``timeout`` bounds how long a call
    waits for a lock or a connection before raising ``AuditUnavailable``: by default 15 s for
    SQLite, where writers on one machine queue for the file's lock and always get their turn,
    and 5 s for PostgreSQL, where waiting longer means a server that is down or far away.
    ``anchor_file`` turns on anchors: after every ``anchor_every`` receipts or
    ``anchor_interval`` seconds, a signed copy of the chain's end is appended there, in the
    background (see ``consent.audit.anchor``).
    """
    keyring = Keyring.parse(audit_key)
    if pool_size < 1:
        raise AuditError("pool_size must be at least 1")
    if timeout is not None and timeout <= 0:
        raise AuditError("timeout must be positive")
    store = _open(url, keyring, pool_size, timeout)
    if anchor_file:
        store.anchors = AnchorSchedule(anchor_file, every=anchor_every, interval=anchor_interval)
    return store


def _open(url: str, keyring: Keyring, pool_size: int, timeout: float | None) -> BaseStore:
    if url.startswith("sqlite://"):
        from consent.audit.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url), keyring, timeout=timeout or _SQLITE_TIMEOUT)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from consent.audit.postgres import PostgresStore
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise AuditError(
                "PostgreSQL support needs the extra: pip install 'asgi-consent[postgres]'"
            ) from exc
        conninfo, schema = postgres_conninfo(url)
        return PostgresStore(
            conninfo, keyring, schema=schema, pool_size=pool_size, timeout=timeout or _PG_TIMEOUT
        )
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise AuditError(
        f"unsupported audit store URL scheme {scheme!r}: use sqlite:// or postgresql://"
    )
