"""Anchors: signed copies of the chain's end, appended to a file outside the database.

The chain and its signed head live in the database, so whoever can write to the database can
delete the newest receipts and put back an older, genuinely signed head row: the shorter chain
still verifies. An anchor line remembers, somewhere that person cannot rewrite, how far the
chain had reached and with which MAC; ``verify --anchor`` then fails when the database is
behind its last anchor or holds a different receipt at an anchored ``seq``.

The file is opened for appending only, one JSON object per line, each line signed with the
audit key; several worker processes may append to the same file (each line is one ``write``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from consent.audit.chain import Keyring, anchor_is_genuine, sign_anchor
from consent.audit.model import Anchor, AuditError, Receipt, canonical_json, parse_time

if TYPE_CHECKING:
    from consent.audit.base import BaseStore

logger = logging.getLogger("consent")

_FILE_MODE = 0o600


class AnchorError(AuditError):
    """An anchor file that cannot be trusted: unreadable, malformed or forged."""


def anchor_line(anchor: Anchor) -> bytes:
    data = anchor.content()
    data["mac"] = anchor.mac
    return canonical_json(data) + b"\n"


def append_anchor(path: str | os.PathLike[str], anchor: Anchor) -> None:
    """Append one line; the file is created readable by its owner only."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _FILE_MODE)
    try:
        # One write per line: appends from several processes never interleave inside a line.
        os.write(fd, anchor_line(anchor))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_anchors(path: str | os.PathLike[str], audit_key: Keyring | bytes | str) -> list[Anchor]:
    """Every anchor in the file, each MAC checked; the first bad line raises AnchorError."""
    keyring = Keyring.parse(audit_key)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnchorError(f"cannot read the anchor file {os.fspath(path)!r}: {exc}") from exc
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        source = f"{os.fspath(path)} line {number}"
        try:
            data = json.loads(line)
            if data.get("kind") != "anchor" or data.get("v") != 1:
                raise ValueError("not an anchor line")
            anchor = Anchor(
                seq=int(data["seq"]),
                head_mac=str(data["head_mac"]),
                count=int(data["count"]),
                at=parse_time(str(data["at"])),
                key_id=str(data["key_id"]),
                mac=str(data["mac"]),
                source=source,
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise AnchorError(f"anchor {source} is malformed: {exc}") from exc
        if not anchor_is_genuine(anchor, keyring):
            raise AnchorError(
                f"anchor {source} has a bad MAC: forged, altered, or signed with a key "
                "this keyring does not hold"
            )
        anchors.append(anchor)
    return anchors


@dataclass
class AnchorSchedule:
    """Where and how often the middleware anchors: once ``every`` receipts recorded by this
    process are not anchored yet, or ``interval`` seconds after the first of them, whichever
    comes first; and on close. A quiet site thus never leaves its newest receipts unanchored
    for longer than ``interval``."""

    path: str
    every: int = 100
    interval: float = 300.0
    _since_last: int = field(default=0, init=False)
    _pending: Receipt | None = field(default=None, init=False)
    _timer: asyncio.TimerHandle | None = field(default=None, init=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        if self.every < 1 or self.interval <= 0:
            raise AuditError("anchors need every >= 1 and a positive interval")

    def after_record(self, store: BaseStore, receipt: Receipt) -> None:
        """Called after each successful append; starts a background write when one is due."""
        self._since_last += 1
        if self._pending is None or receipt.seq > self._pending.seq:
            self._pending = receipt
        if self._since_last >= self.every:
            self._flush(store)
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._flush, store)

    def _flush(self, store: BaseStore) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        receipt, self._pending = self._pending, None
        self._since_last = 0
        if receipt is None:
            return
        task = asyncio.get_running_loop().create_task(self._write(store, receipt))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, store: BaseStore, receipt: Receipt) -> None:
        # Never in the decision's way: a failure is logged and the next anchor tries again.
        try:
            count = await store.count()
            anchor = sign_anchor(receipt.seq, receipt.mac, count, datetime.now(UTC), store.keyring)
            await asyncio.to_thread(append_anchor, self.path, anchor)
        except Exception:
            logger.exception("could not write an audit anchor to %s", self.path)

    async def drain(self, store: BaseStore) -> None:
        """On close: anchor the receipts recorded since the last anchor, and wait for it."""
        self._flush(store)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
