"""Server-side enforcement: cookies of refused purposes never leave the server.

Browser-only consent tools cannot stop a `Set-Cookie` header; here every header the wrapped
app sends is checked against the purpose its cookie serves.
"""

from __future__ import annotations

import logging
import re
import time
from calendar import monthrange, timegm
from collections.abc import Iterable, Mapping, Sequence

from consent.catalogue import Catalogue

logger = logging.getLogger("consent")

_MAX_REPORTED = 500
# Cookie name prefixes that only add rules for the browser (RFC 6265bis); the purpose is the
# same as the bare name's. Browsers match them regardless of case.
_HOST_PREFIX = "__host-"
_SECURE_PREFIX = "__secure-"
_GLOB_CHARS = frozenset("*?")

# One decision post names the cookies to expire (its Cookie header) and the host (its Host
# header): both are the visitor's to choose, so what the answer carries is bounded.
MAX_EXPIRY_HEADERS = 64
MAX_EXPIRY_BYTES = 8192  # a proxy in front needs header buffers above this (see the docs)
MAX_DOMAIN_LEVELS = 4  # Domain= variants per name: "news.example" up to "a.b.www.news.example"
_MAX_COOKIE_NAME = 256
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOSTNAME = re.compile(r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9-]{1,63}")


class CookiePolicy:
    """Which cookies may be stored, by purpose: the middleware's own, the operator's table
    (exact names or globs such as ``ab_*``), then the catalogue's first-party cookies."""

    def __init__(
        self,
        catalogue: Catalogue,
        operator_table: Mapping[str, str],
        *,
        own_cookies: Iterable[str],
        required: frozenset[str],
        block_undeclared: bool,
    ) -> None:
        self._catalogue = catalogue
        self._operator = {k: v for k, v in operator_table.items() if not _GLOB_CHARS & set(k)}
        globs = [(k, v) for k, v in operator_table.items() if _GLOB_CHARS & set(k)]
        self._operator_globs = tuple((_glob(k), v) for k, v in globs)
        self._own = frozenset(own_cookies)
        self._required = required
        self._necessary = min(required) if required else ""
        self._block_undeclared = block_undeclared
        # Names the app set that nobody declared, for the operator to classify.
        self.undeclared: set[str] = set()

    def category_of(self, cookie_name: str) -> str | None:
        """The purpose a cookie stored on the site's own domain serves, or None if unknown."""
        category = self._lookup(cookie_name)
        if category is None:
            bare = _unprefixed(cookie_name)
            if bare != cookie_name:
                return self._lookup(bare)
        return category

    def _lookup(self, name: str) -> str | None:
        if name in self._own:
            return self._necessary
        category = self._operator.get(name)
        if category is not None:
            return category
        for pattern, glob_category in self._operator_globs:
            if pattern.fullmatch(name):
                return glob_category
        match = self._catalogue.match_cookie(name, party="first")
        return match[0].category if match else None

    def allows(self, set_cookie_value: str, granted: frozenset[str]) -> bool:
        """Whether one ``Set-Cookie`` value of the wrapped app may reach the browser."""
        name, attributes = _parse_set_cookie(set_cookie_value)
        if _deletes(attributes):
            return True  # removing a cookie never needs consent
        category = self.category_of(name) if name else None
        if category is None:
            self._report(name)
            return not self._block_undeclared
        return category in granted or category in self._required

    def filter_headers(
        self, headers: list[tuple[bytes, bytes]], granted: frozenset[str]
    ) -> list[tuple[bytes, bytes]]:
        """Response headers without the ``Set-Cookie`` values of purposes not ``granted``."""
        return [
            (name, value)
            for name, value in headers
            if name.lower() != b"set-cookie" or self.allows(value.decode("latin-1"), granted)
        ]

    def withdrawn(self, cookie_names: Iterable[str], granted: frozenset[str]) -> list[str]:
        """Cookies the browser holds that belong to purposes no longer granted."""
        names: list[str] = []
        for name in dict.fromkeys(cookie_names):  # a name sent twice is expired once
            category = self.category_of(name)
            if category is not None and category not in granted and category not in self._required:
                names.append(name)
        return names

    def _report(self, name: str) -> None:
        if name not in self.undeclared and len(self.undeclared) < _MAX_REPORTED:
            self.undeclared.add(name)
            logger.warning(
                "cookie %r set by the application is not declared; add it to [cookies] in the "
                "consent configuration with its purpose",
                name,
            )


def expiry_headers(
    names: Sequence[str], host: str, *, secure: bool, cookie_domain: str | None = None
) -> list[str]:
    """`Set-Cookie` values that delete each cookie host-only and on the parent domains
    trackers usually write to, since a browser deletes only an exact domain match.

    For ``www.news.example``: host-only, ``Domain=.www.news.example`` and
    ``Domain=.news.example``; never a bare top-level domain, which browsers refuse. The
    domains come from the configured cookie domain when the host is not under it, and at most
    ``MAX_DOMAIN_LEVELS`` of them from the top; the whole answer stays within
    ``MAX_EXPIRY_HEADERS`` headers and ``MAX_EXPIRY_BYTES`` bytes, whatever the request said.
    """
    domains: list[str | None] = [None, *_expiry_domains(host, cookie_domain)]
    suffix = "; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax"
    values: list[str] = []
    size = 0
    for name in dict.fromkeys(names):
        if len(name) > _MAX_COOKIE_NAME or not _TOKEN.fullmatch(name):
            continue  # no browser holds such a cookie; the name only costs bytes
        lowered = name.lower()
        if lowered.startswith(_HOST_PREFIX):
            # The browser keeps such a cookie only host-only and Secure; so must its deletion.
            batch = [f"{name}={suffix}; Secure"]
        else:
            end = "; Secure" if secure or lowered.startswith(_SECURE_PREFIX) else ""
            batch = [
                f"{name}=" + (f"; Domain={domain}" if domain else "") + suffix + end
                for domain in domains
            ]
        size += sum(map(len, batch))
        if len(values) + len(batch) > MAX_EXPIRY_HEADERS or size > MAX_EXPIRY_BYTES:
            break
        values.extend(batch)
    return values


def _expiry_domains(host: str, cookie_domain: str | None) -> list[str]:
    """``Domain`` values a tracker on this site may have used, most specific first.

    The request's host counts only when it is a well-formed name (and, with a configured
    cookie domain, one under it); labels deeper than ``MAX_DOMAIN_LEVELS`` below the top-level
    domain are never used, so a host of a thousand labels costs what a short one does.
    """
    bare_host = _bare_host(host)
    configured = cookie_domain.strip().lower().strip(".") if cookie_domain else None
    base = bare_host
    if _is_ip(bare_host) or not _HOSTNAME.fullmatch(bare_host) or len(bare_host) > 253:
        base = configured or ""
    elif configured and not (bare_host == configured or bare_host.endswith("." + configured)):
        base = configured
    labels = base.split(".") if base else []
    if len(labels) < 2:
        return []
    depth = min(len(labels), MAX_DOMAIN_LEVELS + 1)
    return ["." + ".".join(labels[-n:]) for n in range(depth, 1, -1)]


def _unprefixed(name: str) -> str:
    lowered = name[:9].lower()
    for prefix in (_HOST_PREFIX, _SECURE_PREFIX):
        if lowered.startswith(prefix):
            return name[len(prefix) :]
    return name


def _parse_set_cookie(value: str) -> tuple[str, list[tuple[str, str]]]:
    """The cookie's name and its attributes in order (lower-cased names). A pair without
    ``=`` is a value with an empty name (RFC 6265bis)."""
    pair, _, rest = value.partition(";")
    name = pair.split("=", 1)[0].strip() if "=" in pair else ""
    attributes: list[tuple[str, str]] = []
    for item in rest.split(";"):
        key, _, attribute_value = item.partition("=")
        key = key.strip().lower()
        if key:
            attributes.append((key, attribute_value.strip()))
    return name, attributes


def _deletes(attributes: Sequence[tuple[str, str]]) -> bool:
    """Whether every browser reads the cookie as removed: a Max-Age of zero or less, or
    (without Max-Age, which wins) an Expires in the past.

    As in browsers, an attribute whose value cannot be read is skipped, so the last readable
    one decides: ``Max-Age=60; Max-Age=x`` keeps the cookie for a minute. An Expires that is
    no real calendar date (31 February) makes Chromium keep a session cookie: not a deletion.
    """
    max_age: int | None = None
    expires: int | None = None
    for key, value in attributes:
        if key == "max-age" and re.fullmatch(r"-?\d+", value):
            max_age = int(value)
        elif key == "expires":
            when = cookie_date(value)
            if when is not None:
                expires = when
    if max_age is not None:
        return max_age <= 0
    return expires is not None and expires <= time.time()


_DATE_DELIMITERS = re.compile(r"[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_TIME = re.compile(r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\D.*)?")
_DAY = re.compile(r"(\d{1,2})(?:\D.*)?")
_YEAR = re.compile(r"(\d{2,4})(?:\D.*)?")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def cookie_date(text: str) -> int | None:
    """Unix seconds of an ``Expires`` value, read as browsers read it (RFC 6265, 5.1.1):
    the tokens may come in any order and in any of the formats servers have used."""
    found_time: tuple[int, int, int] | None = None
    day = month = year = None
    for token in _DATE_DELIMITERS.split(text[:256]):
        if not token:
            continue
        if found_time is None and (m := _TIME.fullmatch(token)):
            found_time = (int(m[1]), int(m[2]), int(m[3]))
        elif day is None and (m := _DAY.fullmatch(token)):
            day = int(m[1])
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS.index(token[:3].lower()) + 1
        elif year is None and (m := _YEAR.fullmatch(token)):
            year = int(m[1])
    if found_time is None or day is None or month is None or year is None:
        return None
    year += 1900 if 70 <= year <= 99 else 2000 if year <= 69 else 0
    hour, minute, second = found_time
    if not (year >= 1601 and hour <= 23 and minute <= 59 and second <= 59):
        return None
    # A day the month does not have is no date for Chromium (the cookie stays, for the
    # session), while other readers roll it over: such a value never counts as a date here.
    if not 1 <= day <= monthrange(min(year, 9999), month)[1]:
        return None
    return timegm((year, month, day, hour, minute, second))


def _bare_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal, with or without a port
        return host[: host.find("]") + 1] if "]" in host else host
    return host.split(":", 1)[0].rstrip(".")


def _is_ip(host: str) -> bool:
    return host.startswith("[") or host.replace(".", "").isdigit()


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    )
