"""Which elements of a page wait for consent, decided in the contract's order:
the site's own markup, then operator rules, then the built-in catalogue."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from hashlib import blake2b

from consent._scanner import LazyAttrs, nonce_value, tag_key
from consent.catalogue import Catalogue, Service
from consent.config import TrackerRule
from consent.names import ATTR_CATEGORY, ATTR_VENDOR, MARKETING
from consent.parties import Parties
from consent.rewriter import LINK_RELS_WITHOUT_FETCH, Answers, Element, Hold, Known, rewrite
from consent.urls import UrlTarget, host_of, resolve

# The attributes that make each kind of element fetch something; SVG's ``href`` and its older
# ``xlink:href`` spelling load images, scripts and filters.
_URL_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "script": ("src", "href", "xlink:href"),
    "iframe": ("src",),
    "frame": ("src",),
    "img": ("src", "srcset"),
    "embed": ("src",),
    "object": ("data",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "source": ("src", "srcset"),
    "track": ("src",),
    "link": ("href", "imagesrcset"),
    "input": ("src",),
    "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
    "feimage": ("href", "xlink:href"),
}
# Fetching attributes of any element: legacy backgrounds (body, table cells) and link pings.
_ANY_ELEMENT_URLS: tuple[str, ...] = ("background", "ping")
# Joined once rather than for every element, in the order the URLs are tried.
_FETCHING_ATTRIBUTES = {tag: names + _ANY_ELEMENT_URLS for tag, names in _URL_ATTRIBUTES.items()}
_SRCSET = frozenset({"srcset", "imagesrcset"})
_SPACE_SEPARATED = frozenset({"ping"})
# How each attribute's value holds its URLs: one, a srcset's candidates, or a list of them.
_ONE_URL, _SRCSET_URLS, _SPACED_URLS = range(3)


def _reading(name: str) -> int:
    if name in _SRCSET:
        return _SRCSET_URLS
    return _SPACED_URLS if name in _SPACE_SEPARATED else _ONE_URL


# Worked out once per tag rather than for every attribute of every element.
_READINGS = {
    tag: tuple((name, _reading(name)) for name in names)
    for tag, names in _FETCHING_ATTRIBUTES.items()
}
_ANY_ELEMENT_READINGS = tuple((name, _reading(name)) for name in _ANY_ELEMENT_URLS)
# Elements that take room on the page: a held one is announced by a placeholder in place.
_EMBED_TAGS = frozenset({"iframe", "embed", "object", "video", "audio"})
# Active content: what runs, frames a document or plugs in, wherever it comes from.
_ACTIVE_TAGS = frozenset({"script", "iframe", "frame", "embed", "object"})
# What may wait as unclassified for where it comes from: active content, and pixels and hints
# that fetch code, told apart by their attributes.
_HELD_FROM_ELSEWHERE = _ACTIVE_TAGS | {"img", "input", "link"}
# What a preload or prefetch hint fetches that runs or reports ("" is a prefetch's default).
_CODE_DESTINATIONS = frozenset({"", "script", "fetch", "document", "worker", "sharedworker"})
# An image this small, or hidden, is a beacon: nobody is meant to see it.
_PIXEL_SIZES = frozenset({"0", "1", "0px", "1px"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# How deep ``srcdoc`` documents inside ``srcdoc`` documents are read; deeper ones are held.
_MAX_SRCDOC_DEPTH = 4
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
# Longer tags and bases are answered each time rather than remembered; longer scripts are
# remembered by a digest of their text (what the answer to one costs to work out again is
# far more than what hashing it costs, and its text is too long to keep).
_MAX_MEMO_TEXT = 16384
_TEXT_DIGEST_SIZE = 16

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

    def __init__(
        self,
        catalogue: Catalogue,
        rules: Sequence[TrackerRule],
        *,
        unclassified: str | None = None,
        parties: Parties | None = None,
    ) -> None:
        self._catalogue = catalogue
        # The category unknown third-party active content waits for; None lets it run.
        self._unclassified = unclassified if parties is not None else None
        self._parties = parties or Parties()
        self._host_rules = tuple((r.host.lower().strip("."), r) for r in rules if r.host)
        self._inline_rules = tuple((r.inline, r) for r in rules if r.inline)
        self._any_rules = bool(self._host_rules or self._inline_rules)
        # Remembering classifiers by (granted, memo key, site), with their answers.
        self._memos: dict[tuple[frozenset[str], Hashable, str | None], _Remembered] = {}

    def verdict(self, element: Element, site: str | None = None) -> Verdict | None:
        """The category an element belongs to, or None for first-party, harmless markup.

        The site's own ``data-consent-category`` decides first, then the operator's rules
        (hosts of every URL the element fetches, then inline patterns), then the catalogue,
        then, on a page served from ``site``, the default for unknown third parties.
        """
        return self._verdict(element, 0, site)

    def _verdict(self, element: Element, depth: int, site: str | None = None) -> Verdict | None:
        base = element.base
        tag = element.tag
        attrs = element.attrs
        if isinstance(attrs, LazyAttrs):
            # Read once here: every test below asks for names of it.
            attrs = attrs.parsed()
        marked = attrs.get(ATTR_CATEGORY)
        if marked:
            marked = marked.strip().lower()
        if marked:
            vendor = (attrs.get(ATTR_VENDOR) or "").strip() or None
            if vendor is None:
                hosts = (resolve(url, base) for url in _urls(tag, attrs))
                vendor = next(filter(None, hosts), None)
            return Verdict(marked, vendor=vendor, embed=tag in _EMBED_TAGS)
        # Each URL is read once, here, for the rules, the catalogue and the third-party test.
        targets = [host_of(url, base) for url in _urls(tag, attrs)]
        text = element.text
        inline = text if text and _executable(attrs) else None
        rule = self._rule(targets, inline) if self._any_rules else None
        if rule is not None:
            vendor = rule.vendor or rule.host or None
            return Verdict(rule.category, vendor=vendor, embed=tag in _EMBED_TAGS)
        service = None
        match = self._catalogue.match_target
        for target in targets:
            if target is not None:
                service = match(target[0], target[1])
                if service is not None:
                    break
        if service is None and inline is not None:
            service = self._catalogue.match_inline(inline)
        if service is None:
            srcdoc = attrs.get("srcdoc") if tag == "iframe" else None
            if srcdoc is not None:
                return self._srcdoc_verdict(srcdoc, depth, site)
            if not element.complete and tag == "script" and _executable(attrs):
                # Only the start of this script was read: nothing in it proves it harmless.
                return Verdict(MARKETING)
            # Media, sources and the like with no script of their own are let through
            # whoever serves them: no third party is looked for.
            if (
                self._unclassified is not None
                and site
                and (inline is not None or tag in _HELD_FROM_ELSEWHERE)
            ):
                return self._unknown_party(tag, attrs, targets, inline, site)
            return None
        # Only players, posts, maps and threads are announced in place: a tracking frame or
        # an ad slot is no content the visitor misses. A script that builds such an embed
        # (X, Instagram, Disqus...) stands where it will appear, so it is announced too.
        embed = service.embed and (tag in _EMBED_TAGS or tag == "script")
        return Verdict(service.category, service, service.name, embed)

    def _unknown_party(
        self,
        tag: str,
        attrs: Mapping[str, str | None],
        targets: Sequence[UrlTarget | None],
        inline: str | None,
        site: str,
    ) -> Verdict | None:
        """Active content from a third party nobody classified waits as *unclassified*:
        scripts, frames, plug-ins and pixels from another site, and inline code that loads
        from one. Libraries, fonts and CDNs, and the operator's own domains, are no third party.
        """
        category = self._unclassified
        assert category is not None
        # The URLs first: most are the site's own, and then what the element is never matters.
        # Other elements (media, sources, backgrounds) from another site are let through
        # whoever serves them: their hosts need no test.
        for target in targets if tag in _HELD_FROM_ELSEWHERE else ():
            if target is None:
                continue
            host = target[0]
            if self._parties.third_party(host, site):
                if (
                    tag in _ACTIVE_TAGS
                    or (tag in ("img", "input") and _pixel(attrs))
                    or (tag == "link" and _preloads_code(attrs))
                ):
                    return Verdict(category, vendor=host, embed=tag in _EMBED_TAGS)
                break
        if inline is not None:
            loaded = self._parties.loaded_host(inline, site)
            if loaded is not None:
                return Verdict(category, vendor=loaded)
        return None

    def _srcdoc_verdict(self, srcdoc: str, depth: int, site: str | None) -> Verdict | None:
        """A frame whose document is given inline waits for what that document would load."""
        if depth >= _MAX_SRCDOC_DEPTH:
            return Verdict(MARKETING, embed=True)
        found: list[Verdict] = []

        def look(inner: Element) -> Hold | None:
            if not found:
                verdict = self._verdict(inner, depth + 1, site)
                if verdict is not None:
                    found.append(verdict)
            return None

        rewrite(srcdoc.encode("utf-8", "surrogatepass"), look)
        if not found:
            return None
        return replace(found[0], embed=True)

    def _rule(self, targets: Sequence[UrlTarget | None], inline: str | None) -> TrackerRule | None:
        if not self._host_rules:
            targets = ()  # nothing to compare hosts with
        for target in targets:
            if target is None:
                continue
            host = target[0]
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
        site: str | None = None,
    ) -> Callable[[Element], Hold | None]:
        """The rewriter's callback for one page view of a visitor who granted ``granted``,
        on a page served from the host ``site`` (what third parties are judged against).

        With a ``memo_key`` (what else the answer depends on: the placeholder's locale and
        charset), answers are remembered across page views by the element's exact bytes.
        """
        if memo_key is None:
            return self._decider(granted, placeholder, site)
        key = (granted, memo_key, site)
        memos = self._memos
        remembered = memos.pop(key, None)
        if remembered is not None:
            # Kept in the order of use: what is forgotten first is what was used longest ago,
            # so that requests naming many sites (a forged Host) cannot push out the one in use
            # unless they come between two of its page views.
            memos[key] = remembered
        else:
            if len(memos) >= _MAX_MEMOS:
                # One goes, not all: a site with more visitor states and locales than the
                # bound would otherwise lose every warm answer at once, each time.
                del memos[next(iter(memos))]
            # Made once per key, not per page view: the key names all its answers depend on,
            # the placeholder's locale and charset among them, so the first page's factory
            # answers for the pages after it.
            decide = self._decider(granted, placeholder, site)
            remembered = memos[key] = _Remembered(decide, Answers())
        return remembered

    def _decider(
        self, granted: frozenset[str], placeholder: PlaceholderFactory | None, site: str | None
    ) -> Callable[[Element], Hold | None]:
        def decide(element: Element) -> Hold | None:
            verdict = self._verdict(element, 0, site)
            if verdict is None or verdict.category in granted:
                return None
            markup = b""
            if placeholder is not None and verdict.embed:
                markup = placeholder(verdict.category, verdict.vendor or "")
            return Hold(category=verdict.category, vendor=verdict.vendor, placeholder=markup)

        return decide


_UNKNOWN: Hold | None = Hold("")  # no answer is this object


class _Remembered:
    """A page view's classifier with its answers remembered by the element's exact bytes; the
    rewriter's compiled scan reads ``known`` to pass known harmless tags by (``Remembering``)."""

    __slots__ = ("_decide", "known")

    def __init__(self, decide: Callable[[Element], Hold | None], known: Known) -> None:
        self._decide = decide
        self.known = known

    def __call__(self, element: Element) -> Hold | None:
        raw = element.raw
        base = element.base
        # A script cut at the rewriter's limit is answered on what was read of it: the same
        # text may be all of another script, whose answer must not stand for this one. An
        # <image> inside <svg> is SVG's (its tag stays "image"), and the same bytes in HTML are
        # an <img>: only the HTML one, which the compiled scan looks up, is remembered. A tag
        # is kept by its bytes and the page's base, which a page can write at any length: a
        # long one is not kept.
        if (
            not raw
            or not element.complete
            or element.tag == "image"
            or len(raw) > _MAX_MEMO_TEXT
            or (base is not None and len(base) > _MAX_MEMO_TEXT)
        ):
            return self._decide(element)
        text = element.text
        text_key: str | tuple[bytes] | None = text
        if text is not None and len(text) > _MAX_MEMO_TEXT:
            # Latin-1 gives back the bytes the text was read from. In a tuple: a str and bytes
            # of the same characters hash alike, and comparing them warns under `python -b`.
            text_key = (blake2b(text.encode("latin-1"), digest_size=_TEXT_DIGEST_SIZE).digest(),)
        key = (tag_key(raw, nonce_value(raw)), text_key, base)
        known = self.known
        # Most calls are for tags not yet known (the compiled scan answers known ones itself):
        # a miss is told by a marker, not by raising an exception.
        hold = known.get(key, _UNKNOWN)
        if hold is not _UNKNOWN:
            return hold
        hold = self._decide(element)
        if len(known) >= _MAX_MEMO_ENTRIES:
            known.clear()
        # Adds the answer unless another thread gave one for this key meanwhile, which then
        # stands: never replacing one, this needs no new epoch, and skips Answers' own
        # __setitem__ (as costly as the rest of a miss).
        return known.setdefault(key, hold)


def _executable(attrs: Mapping[str, str | None]) -> bool:
    """Inline JSON, templates and other data blocks never run, so never need consent."""
    script_type = (attrs.get("type") or "").strip().lower().split(";")[0].strip()
    return script_type in _SCRIPT_TYPES


def _preloads_code(attrs: Mapping[str, str | None]) -> bool:
    """A hint that fetches a script, a module, a document or data ahead of time."""
    rels = (attrs.get("rel") or "").lower().split()
    kind = (attrs.get("as") or "").strip().lower()
    if "modulepreload" in rels or "prerender" in rels:
        return True
    return bool({"preload", "prefetch"} & set(rels)) and kind in _CODE_DESTINATIONS


def _pixel(attrs: Mapping[str, str | None]) -> bool:
    width = (attrs.get("width") or "").strip().lower()
    height = (attrs.get("height") or "").strip().lower()
    if width in _PIXEL_SIZES and height in _PIXEL_SIZES:
        return True
    return "hidden" in attrs or bool(_HIDDEN_STYLE.search(attrs.get("style") or ""))


def _fetching_link(attrs: Mapping[str, str | None]) -> bool:
    rels = (attrs.get("rel") or "").lower().split()
    return not LINK_RELS_WITHOUT_FETCH.issuperset(rels) or "stylesheet" in rels


def _urls(tag: str, attrs: Mapping[str, str | None]) -> list[str]:
    """Every URL an element ``tag`` with ``attrs`` would fetch, as the page's text."""
    if tag == "link" and not _fetching_link(attrs):
        readings = _ANY_ELEMENT_READINGS
    else:
        readings = _READINGS.get(tag, _ANY_ELEMENT_READINGS)
    get = attrs.get
    urls: list[str] = []
    for name, reading in readings:
        value = get(name)
        if not value:
            continue
        if reading == _ONE_URL:
            urls.append(value)
        elif reading == _SRCSET_URLS:
            urls += _srcset_urls(value)
        else:
            urls += value.split()
    if "".join(urls).isascii():
        return urls
    return [url if url.isascii() else _page_text(url) for url in urls]


_HIGH_BYTES = re.compile("[\x80-\xff]+")


def _utf8_run(match: re.Match[str]) -> str:
    run = match.group()
    try:
        return run.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return run


def _page_text(value: str) -> str:
    """Attribute text comes as bytes read one to a character: UTF-8 sequences are put back
    together, so a host written with a full-width dot is read as the browser reads it."""
    return _HIGH_BYTES.sub(_utf8_run, value)


_ASCII_SPACE = "\t\n\f\r "
# A candidate's URL: what follows the spaces and commas before it, up to a space.
_SRCSET_URL = re.compile(r"[\t\n\f\r ,]*([^\t\n\f\r ]*)")


def _srcset_urls(value: str) -> list[str]:
    """The URLs of a ``srcset``, split as HTML's srcset parser splits it (commas may appear
    inside URLs; descriptors may hold commas inside parentheses)."""
    urls: list[str] = []
    pos, n = 0, len(value)
    while True:
        start, pos = _SRCSET_URL.match(value, pos).span(1)  # type: ignore[union-attr]
        if start >= n:
            return urls
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            # Descriptors run to the next comma; only a parenthesis can hide one.
            comma = value.find(",", pos)
            if comma < 0:
                comma = n
            hidden = value.find("(", pos, comma) >= 0
            pos = _after_descriptors(value, pos) if hidden else min(comma + 1, n)
        if url:
            urls.append(url)


def _after_descriptors(value: str, pos: int) -> int:
    """Where the candidate after the descriptors at ``pos`` begins: after the first comma
    outside parentheses."""
    depth, n = 0, len(value)
    while pos < n:
        char = value[pos]
        pos += 1
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == "," and not depth:
            break
    return pos
