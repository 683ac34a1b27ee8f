"""Which elements of a page wait for consent, decided in the contract's order:
the site's own markup, then operator rules, then the built-in catalogue."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from consent.catalogue import Catalogue, Service
from consent.config import TrackerRule
from consent.names import ATTR_CATEGORY
from consent.rewriter import Element, Hold

# The attribute that makes each kind of element fetch something.
_URL_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "script": ("src",),
    "iframe": ("src",),
    "img": ("src", "srcset"),
    "embed": ("src",),
    "object": ("data",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "source": ("src", "srcset"),
    "track": ("src",),
    "link": ("href",),
    "input": ("src",),
}
_EMBED_TAGS = frozenset({"iframe", "embed", "object", "video", "audio"})
_LINK_RELS_THAT_FETCH = frozenset(
    {"preload", "prefetch", "preconnect", "dns-prefetch", "modulepreload", "stylesheet"}
)

PlaceholderFactory = Callable[[str, str], bytes]  # (category id, vendor name) -> markup


@dataclass(frozen=True, slots=True)
class Verdict:
    category: str
    service: Service | None = None
    vendor: str | None = None


class HoldbackPolicy:
    """Classifies elements once per page view; shared by all requests, holds no request state."""

    def __init__(
        self, catalogue: Catalogue, rules: Sequence[TrackerRule], known_categories: Sequence[str]
    ) -> None:
        self._catalogue = catalogue
        self._known = frozenset(known_categories)
        self._host_rules = tuple((r.host.lower().strip("."), r) for r in rules if r.host)
        self._inline_rules = tuple((r.inline, r) for r in rules if r.inline)
        # Services met on the pages served, for the vendor lists; bounded by the catalogue.
        self.seen: dict[str, Service] = {}

    def verdict(self, element: Element) -> Verdict | None:
        """The category an element belongs to, or None for first-party, harmless markup."""
        marked = element.attrs.get(ATTR_CATEGORY)
        if marked:
            return Verdict(marked)
        if element.tag == "link" and not _fetching_link(element):
            return None
        for url in _urls(element):
            host = _host(url)
            if host is None:
                continue
            for rule_host, rule in self._host_rules:
                if host == rule_host or host.endswith("." + rule_host):
                    return Verdict(rule.category, vendor=rule.vendor or rule_host)
            service = self._catalogue.match_url(url)
            if service is not None:
                self.seen.setdefault(service.id, service)
                return Verdict(service.category, service, service.name)
        if element.text and _executable(element):
            for pattern, rule in self._inline_rules:
                if pattern in element.text:
                    return Verdict(rule.category, vendor=rule.vendor)
            service = self._catalogue.match_inline(element.text)
            if service is not None:
                self.seen.setdefault(service.id, service)
                return Verdict(service.category, service, service.name)
        return None

    def classifier(
        self, granted: frozenset[str], placeholder: PlaceholderFactory | None
    ) -> Callable[[Element], Hold | None]:
        def classify(element: Element) -> Hold | None:
            verdict = self.verdict(element)
            if verdict is None or verdict.category in granted:
                return None
            vendor = verdict.vendor or ""
            markup = b""
            if placeholder is not None and element.tag in _EMBED_TAGS:
                markup = placeholder(verdict.category, vendor)
            return Hold(category=verdict.category, vendor=verdict.vendor, placeholder=markup)

        return classify


_SCRIPT_TYPES = frozenset(
    {"", "text/javascript", "application/javascript", "module", "text/ecmascript", "application/ecmascript"}
)


def _executable(element: Element) -> bool:
    """Inline JSON, templates and other data blocks never run, so never need consent."""
    script_type = (element.attrs.get("type") or "").strip().lower().split(";")[0]
    return script_type in _SCRIPT_TYPES


def _fetching_link(element: Element) -> bool:
    rels = (element.attrs.get("rel") or "").lower().split()
    return any(rel in _LINK_RELS_THAT_FETCH for rel in rels)


def _urls(element: Element) -> list[str]:
    urls: list[str] = []
    for name in _URL_ATTRIBUTES.get(element.tag, ()):
        value = element.attrs.get(name)
        if not value:
            continue
        if name == "srcset":
            urls.extend(part.strip().split(" ")[0] for part in value.split(",") if part.strip())
        else:
            urls.append(value.strip())
    return urls


def _host(url: str) -> str | None:
    if not (url.startswith("//") or "://" in url[:12]):
        return None
    try:
        host = urlsplit(url if not url.startswith("//") else "https:" + url).hostname
    except ValueError:
        return None
    return host.lower() if host else None
