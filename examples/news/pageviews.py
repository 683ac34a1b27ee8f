"""The site's own audience measurement: page views posted by ``analytics.js``, kept in SQLite."""

import sqlite3
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pageview (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    client_time TEXT NOT NULL,
    path TEXT NOT NULL,
    referrer TEXT NOT NULL,
    lang TEXT NOT NULL,
    uid TEXT NOT NULL
)
"""

MAX_TEXT = 2048


@dataclass(frozen=True, slots=True)
class PageView:
    path: str
    referrer: str = ""
    lang: str = ""
    client_time: str = ""
    uid: str = ""
    received_at: datetime | None = None


class PageViewStore:
    """Page views in ``<data_dir>/pageviews.db``, or in memory when there is no directory.

    One connection guarded by a lock: the demo's writes are tiny, and a single connection is
    the only way an in-memory database is shared between requests.
    """

    def __init__(self, data_dir: Path | None = None) -> None:
        if data_dir is None:
            target = ":memory:"
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            target = str(data_dir / "pageviews.db")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._db.execute(_SCHEMA)
        # Apps are often dropped without a shutdown (tests, reloads): close with the store.
        self._closer = weakref.finalize(self, self._db.close)

    def add(self, view: PageView) -> None:
        received = view.received_at or datetime.now(UTC)
        row = (
            received.isoformat(timespec="seconds"),
            view.client_time[:64],
            view.path[:MAX_TEXT],
            view.referrer[:MAX_TEXT],
            view.lang[:16],
            view.uid[:64],
        )
        with self._lock:
            self._db.execute(
                "INSERT INTO pageview (received_at, client_time, path, referrer, lang, uid)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )

    def count(self) -> int:
        with self._lock:
            (total,) = self._db.execute("SELECT count(*) FROM pageview").fetchone()
        return int(total)

    def distinct_visitors(self) -> int:
        with self._lock:
            (total,) = self._db.execute(
                "SELECT count(DISTINCT uid) FROM pageview WHERE uid != ''"
            ).fetchone()
        return int(total)

    def latest(self, limit: int = 20) -> list[PageView]:
        with self._lock:
            rows = self._db.execute(
                "SELECT path, referrer, lang, client_time, uid, received_at FROM pageview"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            PageView(
                path=path,
                referrer=referrer,
                lang=lang,
                client_time=client_time,
                uid=uid,
                received_at=datetime.fromisoformat(received_at),
            )
            for path, referrer, lang, client_time, uid, received_at in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._closer()
