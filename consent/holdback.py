"""Which elements of a page wait for consent, decided in the contract's order:
the site's own markup, then operator rules, then the built-in catalogue."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from consent.catalogue import Catalogue, Service
from consent.config import TrackerRule
from consent.names import ATTR_CATEGORY, ATTR_VENDOR
from consent.rewriter import Element, Hold

# The attributes that make each kind of element fetch something.
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
    "link": ("href", "imagesrcset"),
    "input": ("src",),
}
_SRCSET = frozenset({"srcset", "imagesrcset"})
# Elements that take room on the page: a held one is announced by a placeholder in place.
_EMBED_TAGS = frozenset({"iframe", "embed", "object", "video", "audio"})
_LINK_RELS_THAT_FETCH = frozenset(
    {"preload", "prefetch", "preconnect", "dns-prefetch", "modulepreload", "stylesheet"}
)
# Every type a browser runs as a classic script or a module (HTML's JavaScript MIME types);
# old pasted tags still use the legacy ones.
_SCRIPT_TYPES = frozenset(
    {
        "",
        "module",
        "application/ecmascript",
        "application/javascript",
        "application/x-ecmascript",
        "application/x-javascript",
        "text/ecmascript",
        "text/javascript",
        "text/javascript1.0",
        "text/javascript1.1",
        "text/javascript1.2",
        "text/javascript1.3",
        "text/javascript1.4",
        "text/javascript1.5",
        "text/jscript",
        "text/livescript",
        "text/x-ecmascript",
        "text/x-javascript",
    }
)

# Bounds of the remembered answers: per visitor state and locale, and how many states.
_MAX_MEMO_ENTRIES = 4096
_MAX_MEMOS = 64
_MAX_MEMO_TEXT = 16384

PlaceholderFactory = Callable[[str, str], bytes]  # (category id, vendor name) -> markup


@dataclass(frozen=True, slots=True)
class Verdict:
    """The purpose an element serves, and who is behind it when that is known."""

    category: str
    service: Service | None = None
    vendor: str | None = None
    embed: bool = False  # shown in place: a held one gets a placeholder


class HoldbackPolicy:
    """Classifies elements once per page view; shared by all requests, holds no request state."""

    def __init__(self, catalogue: Catalogue, rules: Sequence[TrackerRule]) -> None:
        self._catalogue = catalogue
        self._host_rules = tuple((r.host.lower().strip("."), r) for r in rules if r.host)
        self._inline_rules = tuple((r.inline, r) for r in rules if r.inline)
        self._memos: dict[
            tuple[frozenset[str], Hashable], dict[tuple[bytes, str | None], Hold | None]
        ] = {}

    def verdict(self, element: Element) -> Verdict | None:
        """The category an element belongs to, or None for first-party, harmless markup.

        The site's own ``data-consent-category`` decides first, then the operator's rules
        (hosts of every URL the element fetches, then inline patterns), then the catalogue.
        """
        marked = (element.attrs.get(ATTR_CATEGORY) or "").strip().lower()
        if marked:
            vendor = (element.attrs.get(ATTR_VENDOR) or "").strip() or None
            if vendor is None:
                vendor = next(filter(None, map(_host, _urls(element))), None)
            return Verdict(marked, vendor=vendor, embed=element.tag in _EMBED_TAGS)
        if element.tag == "link" and not _fetching_link(element):
            return None
        urls = _urls(element)
        inline = element.text if element.text and _executable(element) else None
        rule = self._rule(urls, inline)
        if rule is not None:
            vendor = rule.vendor or rule.host or None
            return Verdict(rule.category, vendor=vendor, embed=element.tag in _EMBED_TAGS)
        service = None
        for url in urls:
            service = self._catalogue.match_url(url)
            if service is not None:
                break
        if service is None and inline is not None:
            service = self._catalogue.match_inline(inline)
        if service is None:
            return None
        # Only players, posts, maps and threads are announced in place: a tracking frame or
        # an ad slot is no content the visitor misses. A script that builds such an embed
        # (X, Instagram, Disqus...) stands where it will appear, so it is announced too.
        embed = service.embed and (element.tag in _EMBED_TAGS or element.tag == "script")
        return Verdict(service.category, service, service.name, embed)

    def _rule(self, urls: Sequence[str], inline: str | None) -> TrackerRule | None:
        for url in urls:
            host = _host(url)
            if host is None:
                continue
            for rule_host, rule in self._host_rules:
                if host == rule_host or host.endswith("." + rule_host):
                    return rule
        if inline is not None:
            for pattern, rule in self._inline_rules:
                if pattern in inline:
                    return rule
        return None

    def classifier(
        self,
        granted: frozenset[str],
        placeholder: PlaceholderFactory | None,
        *,
        memo_key: Hashable | None = None,
    ) -> Callable[[Element], Hold | None]:
        """The rewriter's callback for one page view of a visitor who granted ``granted``.

        With a ``memo_key`` (what else the answer depends on: the placeholder's locale and
        charset), answers are remembered across page views by the element's exact bytes.
        """
        memo: dict[tuple[bytes, str | None], Hold | None] | None = None
        if memo_key is not None:
            memo = self._memos.get((granted, memo_key))
            if memo is None:
                if len(self._memos) >= _MAX_MEMOS:
                    self._memos.clear()
                memo = self._memos[(granted, memo_key)] = {}

        def decide(element: Element) -> Hold | None:
            verdict = self.verdict(element)
            if verdict is None or verdict.category in granted:
                return None
            markup = b""
            if placeholder is not None and verdict.embed:
                markup = placeholder(verdict.category, verdict.vendor or "")
            return Hold(category=verdict.category, vendor=verdict.vendor, placeholder=markup)

        if memo is None:
            return decide
        remembered = memo

        def classify(element: Element) -> Hold | None:
            if not element.raw or (element.text is not None and len(element.text) > _MAX_MEMO_TEXT):
                return decide(element)
            key = (element.raw, element.text)
            try:
                return remembered[key]
            except KeyError:
                hold = decide(element)
                if len(remembered) >= _MAX_MEMO_ENTRIES:
                    remembered.clear()
                remembered[key] = hold
                return hold

        return classify


def _executable(element: Element) -> bool:
    """Inline JSON, templates and other data blocks never run, so never need consent."""
    script_type = (element.attrs.get("type") or "").strip().lower().split(";")[0].strip()
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
        if name in _SRCSET:
            for part in value.split(","):
                candidate = part.strip().split(None, 1)
                if candidate:
                    urls.append(candidate[0])
        else:
            urls.append(value.strip())
    return urls


def _host(url: str) -> str | None:
    # Browsers read a backslash in an http(s) URL as a slash.
    url = url.replace("\\", "/")
    if not (url.startswith("//") or "://" in url[:12]):
        return None
    try:
        host = urlsplit(url if not url.startswith("//") else "https:" + url).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None
