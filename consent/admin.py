"""The admin view at <prefix>/admin: chain status, acceptance charts, lookup and export.

Server-rendered pages without any script, behind HTTP Basic authentication, with a strict
Content-Security-Policy whose only allowance is the page's own nonce-bearing ``<style>``.
It is off unless ``admin_user`` and ``admin_password`` are both configured (the endpoints
check that before calling in here).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import logging
import math
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any
from weakref import WeakKeyDictionary

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from consent.audit import AuditError, AuditUnavailable, BaseStore, Receipt
from consent.audit.export import CSV_FIELDS, RowWriter, receipt_texts
from consent.audit.stats import StatsRow, compute_stats
from consent.cspreports import report_rows
from consent.names import NECESSARY
from consent.runtime import ConsentRuntime

logger = logging.getLogger("consent")

REALM = "consent admin"
CHART_DAYS = 30
CSP_ROWS = 50
MAX_CONSENT_ID = 200
_BATCH = 1000
_CHUNK = 64 * 1024
_TEMPLATE = "consent/admin.html"

# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), and a dash
# pattern per series so that the lines differ without colour too.
_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
_DASHES = ("", "8 4", "2 4", "10 4 2 4", "4 4", "12 3 3 3 3 3", "1 3")


# ----- entry point -------------------------------------------------------------------------


async def admin_response(request: Request, runtime: ConsentRuntime) -> Response:
    """Answer any request under the admin prefix; the caller checked that admin is enabled."""
    nonce = secrets.token_urlsafe(16)
    headers = _security_headers(nonce)
    config = runtime.config
    limiter = _limiters.setdefault(runtime, LoginLimiter())
    client = request.client.host if request.client else ""
    # Refused before the credentials are even looked at: a guesser learns nothing while limited.
    wait = limiter.retry_after(client)
    if wait > 0:
        return PlainTextResponse(
            "Too many failed logins; try again later",
            status_code=429,
            headers={**headers, "retry-after": str(math.ceil(wait))},
        )
    credentials = request.headers.get("authorization")
    if not authorised(credentials, config.admin_user or "", config.admin_password or ""):
        if credentials:  # a browser's first request, before it asks for a password, is no guess
            limiter.failed(client)
        return PlainTextResponse(
            "Authentication required",
            status_code=401,
            headers={**headers, "www-authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
        )
    if request.method not in ("GET", "HEAD"):
        return PlainTextResponse(
            "Method not allowed", status_code=405, headers={**headers, "allow": "GET, HEAD"}
        )
    page = request.scope["path"][len(runtime.urls.admin) :].strip("/")
    view = _View(request, runtime, nonce, headers)
    try:
        if page == "":
            if "consent_id" in request.query_params:
                return await view.lookup()
            return await view.overview()
        if page == "lookup":
            return await view.lookup()
        if page == "export":
            return await view.export()
    except (AuditUnavailable, AuditError):
        logger.exception("the admin view could not read the audit store")
        return view.message(
            "Store unavailable",
            "The receipt store cannot be read right now. Nothing was changed; try again later.",
            status_code=503,
        )
    return view.message("Not found", "There is no admin page at this address.", status_code=404)


class LoginLimiter:
    """Failed logins allowed per client address and in total, as token buckets.

    Each bucket holds ``burst`` failures and refills at ``burst`` per ``window`` seconds. The
    overall bucket stops guessing spread over many addresses; its price is that such an
    attack also locks out the real operator for a while (the command line still works).
    """

    def __init__(
        self,
        *,
        burst: int = 5,
        overall_burst: int = 50,
        window: float = 60.0,
        max_clients: int = 4096,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self._burst = burst
        self._overall_burst = overall_burst
        self._window = window
        self._max_clients = max_clients
        self._clock = clock
        self._clients: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._overall = (float(overall_burst), clock())

    def _level(self, bucket: tuple[float, float], burst: int) -> float:
        tokens, at = bucket
        return min(float(burst), tokens + (self._clock() - at) * burst / self._window)

    def _wait(self, tokens: float, burst: int) -> float:
        return 0.0 if tokens >= 1 else (1 - tokens) * self._window / burst

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        overall = self._wait(self._level(self._overall, self._overall_burst), self._overall_burst)
        bucket = self._clients.get(client)
        mine = 0.0 if bucket is None else self._wait(self._level(bucket, self._burst), self._burst)
        return max(overall, mine)

    def failed(self, client: str) -> None:
        now = self._clock()
        self._overall = (self._level(self._overall, self._overall_burst) - 1, now)
        bucket = self._clients.pop(client, (float(self._burst), now))
        self._clients[client] = (self._level(bucket, self._burst) - 1, now)
        # Bounded memory: the addresses that failed longest ago are forgotten first (the
        # overall bucket still counts their failures).
        while len(self._clients) > self._max_clients:
            self._clients.popitem(last=False)


_limiters: WeakKeyDictionary[ConsentRuntime, LoginLimiter] = WeakKeyDictionary()


def authorised(header: str | None, user: str, password: str) -> bool:
    """HTTP Basic credentials checked in constant time; both parts are always compared.

    Digests are compared rather than the values so that the time taken does not reveal the
    length of the configured user name or password either.
    """
    given_user, given_password = _basic_credentials(header)
    user_ok = hmac.compare_digest(_digest(given_user), _digest(user.encode()))
    password_ok = hmac.compare_digest(_digest(given_password), _digest(password.encode()))
    return user_ok & password_ok & bool(user) & bool(password)


def _basic_credentials(header: str | None) -> tuple[bytes, bytes]:
    if not header:
        return b"", b""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return b"", b""
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return b"", b""
    user, separator, password = decoded.partition(b":")
    return (user, password) if separator else (b"", b"")


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def _security_headers(nonce: str) -> dict[str, str]:
    return {
        "cache-control": "no-store",
        "content-security-policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "x-robots-tag": "noindex, nofollow",
    }


# ----- pages -------------------------------------------------------------------------------


class _View:
    def __init__(
        self, request: Request, runtime: ConsentRuntime, nonce: str, headers: dict[str, str]
    ) -> None:
        self.request = request
        self.runtime = runtime
        self.nonce = nonce
        self.headers = headers
        self.base = runtime.urls_for(str(request.scope.get("root_path", ""))).admin

    def render(self, page: str, title: str, *, status_code: int = 200, **context: Any) -> Response:
        html = self.runtime.templates.render(
            _TEMPLATE,
            page=page,
            title=title,
            nonce=self.nonce,
            base=self.base,
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers=self.headers)

    def message(self, title: str, text: str, status_code: int) -> Response:
        return self.render("message", title, status_code=status_code, message=text)

    async def store(self) -> BaseStore:
        store = await self.runtime.store()
        if not isinstance(store, BaseStore):  # an integration's own store: no chain to read
            raise AuditUnavailable(f"{type(store).__name__} does not support the admin view")
        return store

    async def overview(self) -> Response:
        store = await self.store()
        today = datetime.now(UTC).date()
        days = [today - timedelta(days=offset) for offset in range(CHART_DAYS - 1, -1, -1)]
        since = datetime.combine(days[0], time(), tzinfo=UTC)
        # Only what was appended since the last verification is walked: the overview stays
        # quick at any size (`consent audit verify --full` rereads everything).
        report = await store.verify(full=False)
        total = report.held
        by_day = {row.key: row for row in await compute_stats(store, by="day", since=since)}
        by_locale = await compute_stats(store, by="locale", since=since)
        categories = _chart_categories(self.runtime.config.category_ids, by_day.values())
        violations = await report_rows(store, self.runtime.catalogue, since=days[0], limit=CSP_ROWS)
        return self.render(
            "overview",
            "Overview",
            report=report,
            total=total,
            days=[DayFigures.of(day, by_day.get(day.isoformat()), categories) for day in days],
            categories=categories,
            rate_chart=rate_chart(days, by_day, categories),
            count_chart=count_chart(days, by_day),
            locales=by_locale,
            percent=percent,
            violations=violations,
            csp_mode=self.runtime.csp_mode.value,
            first_day=days[0].isoformat(),
            last_day=days[-1].isoformat(),
        )

    async def lookup(self) -> Response:
        consent_id = self.request.query_params.get("consent_id", "").strip()
        if not consent_id:
            return self.render("lookup", "Lookup", consent_id="", receipts=[], notices={})
        if len(consent_id) > MAX_CONSENT_ID:
            return self.message(
                "Bad request", f"A consent id has at most {MAX_CONSENT_ID} characters.", 400
            )
        store = await self.store()
        receipts = await store.receipts_for(consent_id)
        notices: dict[str, dict[str, str] | None] = {}
        for texts_hash in dict.fromkeys(receipt.texts_hash for receipt in receipts):
            found = await store.notice(texts_hash)
            notices[texts_hash] = dict(found) if found is not None else None
        if self.request.query_params.get("format") == "json":
            document = {
                "consent_id": consent_id,
                "receipts": [receipt.to_json() for receipt in receipts],
                "notices": notices,
            }
            return Response(
                json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                status_code=200 if receipts else 404,
                media_type="application/json",
                headers={
                    **self.headers,
                    "content-disposition": 'attachment; filename="consent-history.json"',
                },
            )
        return self.render(
            "lookup",
            "Lookup",
            status_code=200 if receipts else 404,
            consent_id=consent_id,
            receipts=[receipt_fields(receipt) for receipt in receipts],
            notices=notices,
        )

    async def export(self) -> Response:
        params = self.request.query_params
        fmt = params.get("format", "jsonl")
        try:
            if fmt not in ("jsonl", "csv"):
                raise ValueError(f"unknown format {fmt!r}: jsonl or csv")
            since = parse_moment(params.get("since", ""))
            until = parse_moment(params.get("until", ""))
        except ValueError as exc:
            return self.message("Bad request", f"{exc}.", 400)
        store = await self.store()
        # The first batch is read before answering, so an unavailable store gets the 503
        # page instead of a download cut short.
        first = await store.rows_after(0, _BATCH, since=since, until=until)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        media_type = "application/x-ndjson" if fmt == "jsonl" else "text/csv; charset=utf-8"
        return StreamingResponse(
            _export_chunks(store, first, fmt, since, until),
            media_type=media_type,
            headers={
                **self.headers,
                "content-disposition": f'attachment; filename="consent-receipts-{stamp}.{fmt}"',
            },
        )


async def _export_chunks(
    store: BaseStore,
    first: list[tuple[Any, ...]],
    fmt: str,
    since: datetime | None,
    until: datetime | None,
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    rows_out = RowWriter(buffer, fmt, store.dialect)
    batch = first
    while True:
        rows_out.write(batch)
        if buffer.tell() >= _CHUNK or len(batch) < _BATCH:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        if len(batch) < _BATCH:
            break
        # A failure from here on cuts the download short: the client sees an incomplete
        # transfer rather than a file that looks whole.
        batch = await store.rows_after(int(batch[-1][0]), _BATCH, since=since, until=until)
    if buffer.tell():
        yield buffer.getvalue().encode()


def parse_moment(text: str) -> datetime | None:
    """An ISO date or date-time (UTC when no zone is given); empty means no bound."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO date or time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def receipt_fields(receipt: Receipt) -> list[tuple[str, str]]:
    """Every field of a receipt as label and text, in the order of the export."""
    row = receipt_texts(receipt)  # shown as HTML text: no spreadsheet guard needed
    return [(name, row[name]) for name in CSV_FIELDS]


# ----- figures and charts ------------------------------------------------------------------


def _chart_categories(configured: Sequence[str], rows: Iterable[StatsRow]) -> list[str]:
    """The configured categories first, in their order, then any others found in receipts."""
    seen = {category for row in rows for category in row.offered}
    ordered = [c for c in configured if c != NECESSARY]
    return ordered + sorted(seen - set(ordered) - {NECESSARY})


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


@dataclass(frozen=True, slots=True)
class CategoryFigure:
    category: str
    granted: int
    offered: int

    @property
    def rate(self) -> float | None:
        return None if self.offered == 0 else self.granted / self.offered

    @property
    def text(self) -> str:
        return percent(self.rate)


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: str
    decisions: int
    categories: tuple[CategoryFigure, ...]

    @classmethod
    def of(cls, day: date, row: StatsRow | None, categories: Sequence[str]) -> DayFigures:
        if row is None:
            return cls(day.isoformat(), 0, tuple(CategoryFigure(c, 0, 0) for c in categories))
        return cls(
            day.isoformat(),
            row.decisions,
            tuple(CategoryFigure(c, row.granted[c], row.offered[c]) for c in categories),
        )


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    colour: str
    dash: str
    path: str
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


_WIDTH, _HEIGHT = 720, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 704, 16, 244


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart in SVG user units; the template only draws it. Every chart shares the frame."""

    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    series: tuple[Series, ...] = ()
    bars: tuple[Bar, ...] = ()
    width: int = _WIDTH
    height: int = _HEIGHT
    left: int = _LEFT
    top: int = _TOP
    right: int = _RIGHT
    bottom: int = _BOTTOM


def _day_ticks(days: Sequence[date], x_of: Any) -> tuple[Tick, ...]:
    # Counted back from the newest day, so that today always has its label.
    marks = set(range(len(days) - 1, -1, -7))
    return tuple(Tick(x_of(i), days[i].strftime("%m-%d")) for i in sorted(marks))


def _coordinate(value: float) -> float:
    return round(value, 1)


def rate_chart(
    days: Sequence[date], by_day: dict[str, StatsRow], categories: Sequence[str]
) -> Chart:
    """One line per category: the share of that day's decisions that granted it.

    Days without decisions leave a gap in the line rather than a misleading zero.
    """
    step = (_RIGHT - _LEFT) / max(len(days) - 1, 1)

    def x_of(index: int) -> float:
        return _coordinate(_LEFT + index * step)

    def y_of(rate: float) -> float:
        return _coordinate(_BOTTOM - rate * (_BOTTOM - _TOP))

    series = []
    for number, category in enumerate(categories):
        points: list[Point] = []
        commands: list[str] = []
        previous_present = False
        for index, day in enumerate(days):
            row = by_day.get(day.isoformat())
            rate = row.rate(category) if row is not None else None
            if row is None or rate is None:
                previous_present = False
                continue
            x, y = x_of(index), y_of(rate)
            commands.append(f"{'L' if previous_present else 'M'}{x} {y}")
            previous_present = True
            label = (
                f"{category}, {day.isoformat()}: {percent(rate)} "
                f"({row.granted[category]} of {row.offered[category]})"
            )
            points.append(Point(x, y, label))
        series.append(
            Series(
                name=category,
                colour=_COLOURS[number % len(_COLOURS)],
                dash=_DASHES[number % len(_DASHES)],
                path=" ".join(commands),
                points=tuple(points),
            )
        )
    y_ticks = tuple(Tick(y_of(share / 100), f"{share}%") for share in (0, 25, 50, 75, 100))
    return Chart(
        _day_ticks(days, x_of),
        y_ticks,
        series=tuple(series),
    )


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 × 10^n that is at least ``value`` (an axis maximum)."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= value:
                return factor * magnitude
        magnitude *= 10


def count_chart(days: Sequence[date], by_day: dict[str, StatsRow]) -> Chart:
    """One bar per day: how many decisions were recorded."""
    slot = (_RIGHT - _LEFT) / len(days)
    counts = [by_day[d.isoformat()].decisions if d.isoformat() in by_day else 0 for d in days]
    top = _nice_ceiling(max(counts, default=0) or 1)

    def x_of(index: int) -> float:
        return _coordinate(_LEFT + (index + 0.5) * slot)

    def y_of(count: float) -> float:
        return _coordinate(_BOTTOM - count / top * (_BOTTOM - _TOP))

    bars = []
    for index, (day, count) in enumerate(zip(days, counts, strict=True)):
        if count == 0:
            continue
        y = y_of(count)
        noun = "decision" if count == 1 else "decisions"
        bars.append(
            Bar(
                x=_coordinate(_LEFT + index * slot + slot * 0.15),
                y=y,
                width=_coordinate(slot * 0.7),
                height=_coordinate(_BOTTOM - y),
                label=f"{day.isoformat()}: {count} {noun}",
            )
        )
    step = top // 4 if top % 4 == 0 else top // 2 if top % 2 == 0 else top
    y_ticks = tuple(Tick(y_of(value), str(value)) for value in range(0, top + 1, step))
    return Chart(
        _day_ticks(days, x_of),
        y_ticks,
        bars=tuple(bars),
    )
