"""A Content-Security-Policy built from the visitor's choice, and the reports it brings back.

The rewriter holds back what it can see in the markup. A tag manager or any script that runs
can still add a tracker afterwards, which no server-side rewriting can see. A policy that
names the hosts a visitor's choice allows makes the browser refuse the rest: a marketing pixel
injected at run time for a visitor who refused marketing is not loaded at all.

The policy restricts where scripts, frames, images, connections, media, workers and objects
come from (one ``default-src``; styles, fonts and the manifest stay open):
the site itself and its registrable domain, the operator's own domains, hosts declared
necessary, the libraries, fonts and CDNs of the catalogue's not-trackers list, and the hosts
of the categories granted. It allows inline code and ``eval`` as a page without it would,
since it is about *where* things load from, not about cross-site scripting; a page's own
nonce is kept, which makes browsers require it of inline scripts as the page's own policy
already does. It is sent as a second header beside the application's policy: browsers
enforce both, so it can only take away.

A header past ``max_length`` is shortened: hosts are first folded into their registrable
domains (``*.vendor.com``), and if that is not enough a granted category's hosts give way to
``https:`` in every directive, so that the header stays deliverable. That visitor's policy
then no longer limits the hosts of that category; the docs say so.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from consent.catalogue import Catalogue
from consent.lru import LruCache
from consent.parties import registrable_domain

# The host list is written once, in default-src, which scripts, frames, images, connections,
# media, workers and objects fall back to; styles, fonts and the manifest are opened again, as
# they carry no tracking the catalogue knows and a page without them is unreadable. Data and
# blob URLs are made by the page itself and carry no request.
RESTRICTED = "default-src"
_BASE_SOURCES = ("'self'", "'unsafe-inline'", "'unsafe-eval'", "data:", "blob:")
_OPENED = (
    "style-src * 'unsafe-inline' data: blob:",
    "font-src * data: blob:",
    "manifest-src *",
)
DEFAULT_MAX_LENGTH = 6144


class CspMode(StrEnum):
    OFF = "off"
    REPORT_ONLY = "report-only"
    ENFORCE = "enforce"

    @property
    def header_name(self) -> str:
        if self is CspMode.ENFORCE:
            return "content-security-policy"
        return "content-security-policy-report-only"


def _sources(hosts: Iterable[str]) -> list[str]:
    """A catalogue host covers itself and its subdomains; CSP needs both spelled out.

    An address has no subdomains, and a wildcard before it is no valid source."""
    out: list[str] = []
    for host in sorted(set(hosts)):
        out.append(host)
        if not _is_address(host):
            out.append(f"*.{host}")
    return out


def _is_address(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host


def _folded(hosts: Iterable[str]) -> list[str]:
    return _sources({registrable_domain(host) or host for host in hosts})


class PolicyBuilder:
    """Policies for every combination of granted categories, made once and kept."""

    def __init__(
        self,
        catalogue: Catalogue,
        categories: Sequence[str],
        *,
        necessary_hosts: Iterable[str] = (),
        own_domains: Iterable[str] = (),
        library_hosts: Iterable[str] = (),
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        by_category: dict[str, set[str]] = {category: set() for category in categories}
        for service in catalogue.services:
            hosts = by_category.setdefault(service.category, set())
            hosts.update(service.hosts)
            hosts.update(rule.split("/", 1)[0] for rule in service.urls)
        self._by_category = {category: frozenset(hosts) for category, hosts in by_category.items()}
        self._always = (
            frozenset(necessary_hosts) | frozenset(own_domains) | frozenset(library_hosts)
        )
        self._max_length = max_length
        self._cache: LruCache[tuple[frozenset[str], str], str] = LruCache(256)

    def policy(
        self,
        granted: Iterable[str],
        site_host: str,
        *,
        nonce: str | None = None,
        report_path: str | None = None,
    ) -> str:
        """The policy for a visitor who granted ``granted`` on a page of ``site_host``."""
        # Kept by the host as the request named it, so a page costs no domain look-up.
        key = (frozenset(granted), site_host)
        body = self._cache.get(key)
        if body is None:
            host = site_host.rsplit(":", 1)[0] if site_host.count(":") == 1 else site_host
            site = host if _is_address(host) else registrable_domain(host) or host
            body = self._build(key[0], site)
            self._cache.put(key, body)
        if nonce:
            body = body.replace(f"{RESTRICTED} 'self'", f"{RESTRICTED} 'self' 'nonce-{nonce}'", 1)
        if report_path:
            # report-uri only: browsers that know report-to ignore report-uri beside it and
            # send batches through the Reporting API, which headless Chromium did not deliver
            # at all in the test suite; report-uri reports are sent at once by every browser.
            body += f"; report-uri {report_path}"
        return body

    def _build(self, granted: frozenset[str], site: str) -> str:
        # No site when the request named no usable host: 'self' still covers the page.
        fixed = set(self._always) | ({site} if site else set())
        categories = sorted(c for c in granted if c in self._by_category)
        variable = {c: self._by_category[c] for c in categories}
        body = self._render(_sources(fixed), {c: _sources(h) for c, h in variable.items()})
        if len(body) <= self._max_length:
            return body
        folded = {c: _folded(h) for c, h in variable.items()}
        body = self._render(_folded(fixed), folded)
        # Largest categories give way first, until the header fits.
        for category in sorted(folded, key=lambda c: -len(folded[c])):
            if len(body) <= self._max_length:
                break
            folded[category] = ["https:"]
            body = self._render(_folded(fixed), folded)
        return body

    @staticmethod
    def _render(fixed: list[str], granted: Mapping[str, list[str]]) -> str:
        hosts = list(dict.fromkeys([*fixed, *(s for sources in granted.values() for s in sources)]))
        if "https:" in hosts:
            hosts = ["https:"]
        return "; ".join([" ".join([RESTRICTED, *_BASE_SOURCES, *hosts]), *_OPENED])


# -- reports -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Violation:
    """What one report says, with nothing that identifies the visitor."""

    directive: str
    blocked_host: str
    path: str


MAX_REPORT_BYTES = 64 * 1024
_MAX_REPORTS_PER_BODY = 32


def _directive(value: object) -> str:
    text = str(value or "").strip().split(" ", 1)[0].lower()
    return text if text.replace("-", "").isalpha() and len(text) <= 40 else "unknown"


def _blocked_host(value: object) -> str:
    text = str(value or "").strip()
    if text in {"inline", "eval", "self", "data", "blob", "wasm-eval", "trusted-types-policy"}:
        return text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return "unknown"
    return host[:253] if host else "unknown"


def _page_path(value: object) -> str:
    try:
        path = urlsplit(str(value or "")).path or "/"
    except ValueError:
        return "unknown"
    return path[:200]


def parse_reports(body: bytes) -> list[Violation]:
    """Violations in a report body: the Reporting API's list or the older ``csp-report``.

    Query strings, fragments, user names, source positions and samples are dropped: they can
    carry personal data, and the counts need none of them.
    """
    if len(body) > MAX_REPORT_BYTES:
        return []
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    items: list[object]
    if isinstance(document, dict) and isinstance(document.get("csp-report"), dict):
        legacy = document["csp-report"]
        items = [
            {
                "effectiveDirective": legacy.get("effective-directive")
                or legacy.get("violated-directive"),
                "blockedURL": legacy.get("blocked-uri"),
                "documentURL": legacy.get("document-uri"),
            }
        ]
    elif isinstance(document, list):
        items = [
            entry.get("body")
            for entry in document[:_MAX_REPORTS_PER_BODY]
            if isinstance(entry, dict) and entry.get("type") == "csp-violation"
        ]
    else:
        return []
    found = []
    for item in items:
        if isinstance(item, dict):
            found.append(
                Violation(
                    _directive(item.get("effectiveDirective")),
                    _blocked_host(item.get("blockedURL")),
                    _page_path(item.get("documentURL")),
                )
            )
    return found


class ReportCounter:
    """Violation counts kept in memory, bounded in keys and in reports accepted per second."""

    def __init__(self, *, max_keys: int = 2048, per_second: float = 50.0, burst: int = 200) -> None:
        # Least recently seen first: when full, the oldest rare violation makes room.
        self._counts: OrderedDict[Violation, int] = OrderedDict()
        self._max_keys = max_keys
        self._rate = per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = time.monotonic()
        self.dropped = 0

    def add(self, violations: Iterable[Violation]) -> int:
        """Count what the rate allows; return how many were counted."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        counted = 0
        for violation in violations:
            if self._tokens < 1:
                self.dropped += 1
                continue
            self._tokens -= 1
            self._counts[violation] = self._counts.get(violation, 0) + 1
            self._counts.move_to_end(violation)
            if len(self._counts) > self._max_keys:
                self._counts.popitem(last=False)
            counted += 1
        return counted

    def top(self, limit: int = 50) -> list[tuple[Violation, int]]:
        return sorted(self._counts.items(), key=lambda item: (-item[1], item[0].blocked_host))[
            :limit
        ]

    @property
    def pending(self) -> int:
        """Reports counted and not yet settled."""
        return sum(self._counts.values())

    def snapshot(self) -> list[tuple[Violation, int]]:
        """Every count held, for a flush to the store; ``settle`` them once written."""
        return list(self._counts.items())

    def settle(self, written: Iterable[tuple[Violation, int]]) -> None:
        """Take written counts away; reports counted during the write stay for the next."""
        for violation, count in written:
            left = self._counts.get(violation, 0) - count
            if left > 0:
                self._counts[violation] = left
            else:
                self._counts.pop(violation, None)
