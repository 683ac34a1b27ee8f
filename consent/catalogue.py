"""The catalogue of known third-party services: who runs a host, a snippet or a cookie.

The facts live as TOML data in ``consent/services``; this module loads and checks them and
answers the rewriter's questions ("which service is behind this URL, snippet or cookie?")
fast enough to be asked for every element of every page.
"""

from __future__ import annotations

import functools
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from types import ModuleType, NotImplementedType
from typing import Any, Final, Protocol, TypeVar

from consent._scanner import speedups
from consent.errors import ConsentError
from consent.names import ANALYTICS, MARKETING, NECESSARY, PREFERENCES
from consent.urls import host_of

DEFAULT_CATEGORY_IDS: Final = (NECESSARY, PREFERENCES, ANALYTICS, MARKETING)
PARTIES: Final = frozenset({"first", "third"})
URL_CACHE_SIZE: Final = 8192
HOST_CACHE_SIZE: Final = 4096
# Longer names are no host (253 characters at most) and not worth a cache slot.
_MAX_CACHED_HOST: Final = 300
# Cookie patterns are looked up by this many leading characters of their literal start.
_BUCKET: Final = 3
# The same tag snippets come back on every page; remember the verdict for short texts.
INLINE_CACHE_SIZE: Final = 256
INLINE_CACHE_MAX_CHARS: Final = 16384

_DATA_PACKAGE: Final = "consent"
_DATA_DIR: Final = "services"
_NOT_TRACKERS_FILE: Final = "_not_trackers.toml"
_SOURCES_FILE: Final = "_sources.toml"

_ID_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_HOST_RE: Final = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]*[a-z][a-z0-9-]*")
# An inline signature is searched from its first punctuation character: the prefix tree
# is then only tried where such a character stands, not at every letter of the script,
# and the few words before the anchor are compared once the rest has matched.
_ANCHORS: Final = "?_[:'/\"=-(."
_MIN_ANCHORED: Final = 4
# What may follow a host name mentioned in a script: the end of a URL's host or a string.
_HOST_END: Final = r"(?=[/:'\"?\\#\s),;&]|$)"
_HOST_TAIL: Final = re.compile(r"[A-Za-z0-9.-]*")
# What a script does to load or call a third party: build an element, set a source, send a
# beacon or a request, write markup. A host named in a script counts only near one of these:
# a URL in a string or a settings object, with nothing that fetches it, is no tag. Every
# branch starts with a literal (``fetch`` checks the boundary before it once its ``f`` has
# matched), so the engine skips ahead to where one can begin instead of trying each branch
# at every character. Each branch comes with a word that every match of it contains: most
# scripts contain none of those words, and looking for them is many times faster than
# running the expression.
_LOADERS: Final = (
    ("createElement", r"createElement\s*\("),
    ("src", r"\.src\s*=[^=]"),
    ("src", r"\[\s*['\"]src['\"]\s*\]\s*=[^=]"),
    ("setAttribute", r"setAttribute\s*\(\s*['\"](?:src|href)['\"]"),
    ("Image", r"new\s+Image\b"),
    ("sendBeacon", r"sendBeacon\s*\("),
    ("fetch", r"f(?<!\wf)etch\s*\("),
    ("XMLHttpRequest", r"XMLHttpRequest"),
    ("write", r"document\s*\.\s*write"),
    ("importScripts", r"importScripts\s*\("),
    (".get", r"\.getScript\s*\("),
    (".get", r"\.getJSON\s*\("),
    (".ajax", r"\.ajax\s*\("),
    ("$.", r"\$\.(?:get|post)\s*\("),
    ("innerHTML", r"innerHTML\s*\+?=[^=]"),
    ("insertAdjacentHTML", r"insertAdjacentHTML\s*\("),
)
LOADS: Final = re.compile("|".join(branch for _, branch in _LOADERS))
# The most characters other than white space that a branch has before its word (``document.``
# before ``write``); the other branches begin with theirs. (``\s`` in a ``str`` pattern is
# what ``str.isspace`` says.)
_LOADER_LEADS: Final = {"src": 2, "Image": 3, "write": 9}
_LOADER_WORDS: Final = tuple(dict.fromkeys(word for word, _ in _LOADERS))
LOAD_REACH: Final = 1000
# Signatures that are calls of a vendor's API (``fbq('init'``, ``_paq.push``,
# ``window.optimizely``) rather than pieces of its URLs.
_CALL_LIKE: Final = re.compile(r"[(=\[]|\.push\b|\.cmd\b|\.que\b|^window\.|^_|\b_[a-z]")
_MAX_HOST: Final = 253


def may_load(text: str) -> bool:
    """Whether a script holds any word that something fetching is written with; without
    one, no host or URL in it is ever loaded by it."""
    global _last_asked
    last = _last_asked
    if last[0] is text:
        return last[1]
    answer = _LOADER_SEARCH.search(text) is not None
    _last_asked = (text, answer)
    return answer


# The catalogue and then the third-party test ask about the same script in turn: the last
# answer is kept, for that very string (one tuple, replaced whole, so threads read either).
_last_asked: tuple[str, bool] = ("", False)


def loads_near(text: str, start: int, end: int) -> bool:
    """Whether the script fetches something between ``start`` and ``end``: a match of
    ``LOADS`` that lies within them."""
    start = max(0, start)
    pos = start
    # Every match holds a loader word, so it begins near one: the expression is tried only
    # there, not at each place of the stretch.
    while (found := _LOADER_SEARCH.search(text, pos, end)) is not None:
        word, _, number = found
        lead = _LOADER_LEADS.get(_LOADER_WORDS[number], 0)
        first = word if lead == 0 else _lead_start(text, start, word, lead)
        for at in range(first, word + 1):
            if LOADS.match(text, at, end) is not None:
                return True
        pos = word + 1
    return False


def _lead_start(text: str, start: int, word: int, lead: int) -> int:
    """The earliest place, ``start`` or after, where a match of ``LOADS`` may begin that
    holds the loader word beginning at ``word`` after ``lead`` characters other than white
    space at most."""
    budget = lead
    at = word
    while at > start:
        if not text[at - 1].isspace():
            if budget == 0:
                break
            budget -= 1
        at -= 1
    return at


_REQUIRED: Final = ("id", "name", "vendor", "category", "privacy_policy")
_OPTIONAL: Final = (
    "hosts",
    "urls",
    "inline",
    "inline_hosts",
    "cookies",
    "google",
    "embed",
    "source",
)
_COOKIE_KEYS: Final = frozenset({"name", "pattern", "lifetime_days", "party", "purpose", "source"})
# A data file's tables: whole services, and additions to a service defined elsewhere (an
# imported source adds the cookies and hosts it knows to a hand-written service).
_FILE_KEYS: Final = frozenset({"source", "services", "extends"})
_EXTEND_KEYS: Final = frozenset({"id", "source", "hosts", "cookies"})

# Hosts that many unrelated customers share (cloud storage, CDNs, site builders, the big
# platforms' own domains): a claim on one of them would hold every site behind it. A
# service names its own subdomain of such a host, or a ``urls`` rule, instead.
SHARED_HOSTS: Final = frozenset(
    {
        "akamaihd.net",
        "akamaized.net",
        "amazonaws.com",
        "appspot.com",
        "azureedge.net",
        "azurewebsites.net",
        "b-cdn.net",
        "blob.core.windows.net",
        "cloudflare.com",
        "cloudfront.net",
        "edgekey.net",
        "edgesuite.net",
        "fastly.net",
        "firebaseapp.com",
        "github.com",
        "github.io",
        "githubusercontent.com",
        "gitlab.io",
        "google.com",
        "googleapis.com",
        "googleusercontent.com",
        "gstatic.com",
        "herokuapp.com",
        "kxcdn.com",
        "microsoft.com",
        "netlify.app",
        "pages.dev",
        "s3.amazonaws.com",
        "vercel.app",
        "web.app",
        "windows.net",
        "wordpress.com",
        "wp.com",
    }
)
# Names any site may give its own cookies. A tracker's first-party cookie is enforced (the
# site's own Set-Cookie of that name is dropped without consent), so such a name may only be
# described as stored on the vendor's domain, or belong to a necessary service.
GENERIC_COOKIE_NAMES: Final = frozenset(
    {
        "ab",
        "ad",
        "ads",
        "auth",
        "basket",
        "c",
        "campaign",
        "cart",
        "cid",
        "client_id",
        "clientid",
        "consent",
        "cookieconsent",
        "cookie_consent",
        "cookies",
        "country",
        "currency",
        "data",
        "device",
        "device_id",
        "deviceid",
        "exp",
        "experiment",
        "guid",
        "id",
        "info",
        "lang",
        "language",
        "locale",
        "login",
        "mode",
        "pid",
        "pref",
        "prefs",
        "preferences",
        "ref",
        "referrer",
        "region",
        "s",
        "sess",
        "session",
        "session_id",
        "settings",
        "sid",
        "source",
        "ssid",
        "state",
        "t",
        "test",
        "test_cookie",
        "testcookie",
        "theme",
        "timezone",
        "token",
        "track",
        "tracking",
        "tz",
        "uid",
        "user",
        "user_id",
        "userid",
        "username",
        "uuid",
        "v",
        "variant",
        "vid",
        "visit",
        "visitor",
        "visitor_id",
        "visitorid",
        # Short or plain words that sources list as some vendor's first-party cookie.
        "a1",
        "a1s",
        "adid",
        "auid",
        "blurtime",
        "currentcontact",
        "dpm",
        "dsid",
        "dst",
        "europe",
        "fid",
        "focustime",
        "opout",
        "pagereferrer",
        "pses",
        "querystring",
        "searchterm",
        "sidebarpinned",
        "sitereferrer",
        "sp",
        "ucid",
        "version",
        "visitorstatus",
    }
)
# Web frameworks' session and CSRF cookies: sites need them to work, whoever lists them.
FRAMEWORK_COOKIES: Final = frozenset(
    {
        ".ASPXAUTH",
        "ASP.NET_SessionId",
        "ASPSESSIONID*",
        "CAKEPHP",
        "JSESSIONID",
        "PHPSESSID",
        "XSRF-TOKEN",
        "__RequestVerificationToken",
        "_csrf",
        "ci_session",
        "connect.sid",
        "csrftoken",
        "csrf_token",
        "laravel_session",
        "rack.session",
        "sessionid",
        "_session_id",
    }
)
# A first-party pattern needs this many literal characters before its first wildcard.
_MIN_PATTERN_PREFIX: Final = 3

_T = TypeVar("_T")


class CatalogueError(ConsentError, ValueError):
    """The service data is not valid; the message names the file and the service id."""


@dataclass(frozen=True, slots=True)
class CookieSpec:
    """One cookie (or family of cookies, when ``pattern``) a service stores."""

    name: str
    pattern: bool
    lifetime_days: int  # 0: ends with the browser session
    party: str  # "first" (the site's own domain) or "third" (the vendor's domain)
    purpose: str
    source: str = ""  # where the cookie is documented, when not its service's source

    def matches(self, cookie_name: str) -> bool:
        if self.pattern:
            return _glob_regex(self.name).fullmatch(cookie_name) is not None
        return cookie_name == self.name


@dataclass(frozen=True, slots=True)
class Service:
    """A third party a page may load: its hosts, the snippets that reveal it, its cookies."""

    id: str
    name: str
    vendor: str
    category: str
    hosts: tuple[str, ...]
    inline: tuple[str, ...]
    cookies: tuple[CookieSpec, ...]
    privacy_policy: str
    google: bool = False  # a Google tag that Consent Mode v2 defaults must precede
    embed: bool = False  # a player or widget shown in an iframe: replaced by a placeholder
    # "host/path-prefix" rules that win over the plain host (one host, several services).
    urls: tuple[str, ...] = ()
    # False for hosts that pages also link to (share links), so a mention in a script is no sign.
    inline_hosts: bool = True
    # Where the facts come from: a source id of ``_sources.toml`` or an https:// address.
    source: str = ""


@functools.lru_cache(maxsize=1024)
def _glob_regex(glob: str) -> re.Pattern[str]:
    return re.compile(_glob_source(glob))


def _glob_source(glob: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)


def _anchor_index(signature: str) -> int:
    """Where to start searching for a signature: its first punctuation character, which
    leaves the longest and so the most telling part to look for; -1 when there is none or
    too little follows it."""
    for index, char in enumerate(signature):
        if char in _ANCHORS:
            return index if index <= len(signature) - _MIN_ANCHORED else -1
    return -1


def _trie_regex(words: Iterable[str]) -> str:
    """An alternation of literals as a prefix tree, so ``re`` tries each character once.

    At every node longer continuations come before the end of a word: the match found at
    a position is the longest literal starting there.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_node(trie)


def _trie_node(node: Mapping[str, Any]) -> str:
    ends = "" in node
    branches = [re.escape(char) + _trie_node(child) for char, child in node.items() if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends:
        return "(?:" + body + ")?"
    return body


# Read once, as the rewriter reads it: a catalogue made later searches with what is here now.
_speedups: ModuleType | None = speedups()


class _CompiledLiterals(Protocol):
    def search(
        self, text: str, pos: int, endpos: int, /
    ) -> tuple[int, int, int] | NotImplementedType | None: ...


class LiteralSearch:
    """Literal strings looked for together in a text, as the expression of their prefix tree
    (:func:`_trie_regex`) followed by ``lookahead`` finds them: the earliest match at or after
    a position, and there the longest literal after which the lookahead holds.

    ``lookahead`` may look at the one character after a match, or at the end of the text,
    and at nothing else: the compiled search (for text decoded from latin-1, which scripts
    are) is given the characters it lets through. Text of a wider kind is searched with the
    expression, which gives the same answers (a test compares the two).
    """

    __slots__ = ("_compiled", "_number", "_regex", "words")

    def __init__(self, words: Sequence[str], lookahead: str = "") -> None:
        if not all(words):
            raise ValueError("an empty literal matches everywhere")
        self.words = tuple(words)
        # A literal given twice answers as its first copy.
        self._number: dict[str, int] = {}
        for number, word in enumerate(self.words):
            self._number.setdefault(word, number)
        # The prefix tree of no literal is empty, which would match everywhere.
        tree = _trie_regex(sorted(self._number)) if self.words else "(?!)"
        self._regex = re.compile(tree + lookahead)
        follow: str | None = None
        if lookahead:
            after = re.compile(lookahead)
            if after.match("") is None:
                raise ValueError("the compiled search lets a match end the text")
            # The second character keeps ``$`` from matching before a final newline: only
            # the character right after a match is judged.
            follow = "".join(chr(c) for c in range(256) if after.match(chr(c) + "x"))
            if after.match("\n") is not None and "\n" not in follow:
                raise ValueError("the compiled search has no end before a final newline")
        self._compiled: _CompiledLiterals | None = None
        if _speedups is not None and self.words:
            self._compiled = _speedups.Literals(self.words, follow)

    def search(
        self, text: str, pos: int = 0, endpos: int = sys.maxsize
    ) -> tuple[int, int, int] | None:
        """``(start, end, number)`` of the earliest match at or after ``pos`` in
        ``text[:endpos]``, ``number`` being the literal's place in ``words``; None when there
        is none."""
        compiled = self._compiled
        if compiled is not None:
            found = compiled.search(text, pos, endpos)
            if found is not NotImplemented:
                return found
        match = self._regex.search(text, pos, endpos)
        if match is None:
            return None
        return match.start(), match.end(), self._number[match.group()]


# One pass over a script finds whether any of the words is in it, where a search for each
# word would read it once a word.
_LOADER_SEARCH: Final = LiteralSearch(_LOADER_WORDS)


def _suffixes(host: str) -> Iterator[str]:
    """``a.b.c`` yields ``a.b.c``, ``b.c``, ``c``: the host, then each parent domain."""
    start = 0
    while True:
        yield host[start:]
        dot = host.find(".", start)
        if dot < 0:
            return
        start = dot + 1


class Catalogue:
    """An immutable, indexed set of services."""

    __slots__ = (
        "_by_host",
        "_by_id",
        "_cookie_buckets",
        "_cookie_exact",
        "_cookie_patterns",
        "_cookie_regexes",
        "_host_alone_cached",
        "_host_search",
        "_match_host_cached",
        "_match_inline_cached",
        "_match_url_cached",
        "_sig_chain",
        "_sig_search",
        "_url_rules",
        "services",
    )

    services: tuple[Service, ...]

    def __init__(self, services: Sequence[Service]) -> None:
        self.services = tuple(services)
        self._by_id = {service.id: service for service in self.services}
        self._by_host: dict[str, Service] = {}
        self._url_rules: dict[str, list[tuple[str, Service]]] = {}
        for service in self.services:
            for host in service.hosts:
                self._by_host.setdefault(host, service)
            for rule in service.urls:
                host, _, path = rule.partition("/")
                self._url_rules.setdefault(host, []).append(("/" + path.lower(), service))
        for rules in self._url_rules.values():
            rules.sort(key=lambda item: len(item[0]), reverse=True)
        self._sig_chain: dict[str, list[tuple[str, Service, bool]]] = {}
        self._sig_search: LiteralSearch | None = None
        self._host_search: LiteralSearch | None = None
        self._compile_inline()
        self._cookie_exact: dict[str, list[tuple[Service, CookieSpec]]] = {}
        self._cookie_patterns: list[tuple[Service, CookieSpec]] = []
        self._cookie_buckets: dict[str, list[int]] = {}
        self._cookie_regexes: dict[str, tuple[re.Pattern[str], list[int]] | None] = {}
        self._index_cookies()
        self._match_url_cached = functools.lru_cache(maxsize=URL_CACHE_SIZE)(self._match_url)
        self._match_inline_cached = functools.lru_cache(maxsize=INLINE_CACHE_SIZE)(
            self._match_inline
        )
        # Pages are full of URLs seen once, on hosts that come back on every site.
        self._match_host_cached = functools.lru_cache(maxsize=HOST_CACHE_SIZE)(self._match_host)
        self._host_alone_cached = functools.lru_cache(maxsize=HOST_CACHE_SIZE)(self._host_alone)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        *,
        extra: Sequence[Service] = (),
        include_builtin: bool = True,
        categories: Iterable[str] = DEFAULT_CATEGORY_IDS,
    ) -> Catalogue:
        """The shipped services plus the operator's; an operator's service replaces a shipped
        one with the same id, and its hosts win over shipped hosts."""
        allowed = frozenset(categories)
        builtin = _builtin_services() if include_builtin else ()
        seen: set[str] = set()
        for service in extra:
            if service.id in seen:
                raise CatalogueError(f"configuration: service {service.id!r} is defined twice")
            seen.add(service.id)
            _check_service(service, "configuration", allowed)
        for service in builtin:
            if service.category not in allowed:
                raise CatalogueError(
                    f"built-in service {service.id!r}: category {service.category!r} is not "
                    f"configured; override the service with a category that is"
                )
        replaced = {service.id for service in extra}
        kept = [service for service in builtin if service.id not in replaced]
        # Operator services come first so their hosts, snippets and cookies take precedence.
        return cls([*extra, *kept])

    @classmethod
    def builtin(cls) -> Catalogue:
        return _builtin_catalogue()

    @classmethod
    def from_config(
        cls,
        tables: Sequence[Mapping[str, Any]],
        *,
        include_builtin: bool = True,
        categories: Iterable[str] = DEFAULT_CATEGORY_IDS,
        origin: str = "configuration",
    ) -> Catalogue:
        """The catalogue with the operator's ``[[services]]`` tables applied.

        A table whose id names a shipped service may give only the fields it changes (for
        example just ``category``); any other table must be a complete service.
        """
        shipped = _builtin_by_id() if include_builtin else {}
        extra = [
            parse_service(table, origin=origin, base=shipped.get(str(table.get("id", ""))))
            for table in tables
        ]
        return cls.load(extra=extra, include_builtin=include_builtin, categories=categories)

    # -- lookups ------------------------------------------------------------------------

    def by_id(self, service_id: str) -> Service | None:
        return self._by_id.get(service_id)

    def match_host(self, host: str) -> Service | None:
        if len(host) > _MAX_CACHED_HOST:
            return self._match_host(host)
        return self._match_host_cached(host)

    def _match_host(self, host: str) -> Service | None:
        host = host.strip().lower().rstrip(".")
        by_host = self._by_host
        for suffix in _suffixes(host):
            found = by_host.get(suffix)
            if found is not None:
                return found
        return None

    def _host_alone(self, host: str) -> tuple[Service | None, bool]:
        """The service behind every URL of ``host`` whatever its path, and whether a
        ``urls`` rule on the host or on a domain above it lets the path decide instead."""
        for suffix in _suffixes(host):
            if suffix in self._url_rules:
                return None, True
            found = self._by_host.get(suffix)
            if found is not None:
                return found, False
        return None, False

    def match_url(self, url: str, base: str | None = None) -> Service | None:
        """The service behind a URL as the browser reads it (see :func:`consent.urls.host_of`);
        relative URLs are the site's own unless the page's ``base`` names another host."""
        # Long data: or tracking URLs are not worth a cache slot, nor a long base.
        if len(url) + (len(base) if base else 0) > 4096:
            return self._match_url(url, base)
        return self._match_url_cached(url, base)

    def _match_url(self, url: str, base: str | None = None) -> Service | None:
        parsed = host_of(url, base)
        if parsed is None:
            return None
        return self.match_target(parsed[0], parsed[1])

    def match_target(self, host: str, rest: str) -> Service | None:
        """The service behind a URL already read by :func:`consent.urls.host_of`, given as
        its ``(host, path)``: what :meth:`match_url` answers for that URL."""
        if self._url_rules:
            if len(host) <= _MAX_CACHED_HOST:
                found, by_path = self._host_alone_cached(host)
                if not by_path:
                    return found
            for suffix in _suffixes(host):
                for prefix, service in self._url_rules.get(suffix, ()):
                    if rest.startswith(prefix):
                        return service
                found = self._by_host.get(suffix)
                if found is not None:
                    return found
            return None
        return self.match_host(host)

    def match_inline(self, text: str) -> Service | None:
        """The service an inline snippet belongs to.

        A service's own signature anywhere in the text outranks a mention of one of its
        hosts; among signatures, and then among hosts, the earliest occurrence wins.
        """
        if len(text) > INLINE_CACHE_MAX_CHARS:
            return self._match_inline(text)
        return self._match_inline_cached(text)

    def _match_inline(self, text: str) -> Service | None:
        return self._match_signature(text) or self._match_host_mention(text)

    def _match_signature(self, text: str) -> Service | None:
        search = self._sig_search
        if search is None:
            return None
        words = search.words
        pos = 0
        while (found := search.search(text, pos)) is not None:
            start, end, number = found
            for prefix, service, call in self._sig_chain[words[number]]:
                begin = start - len(prefix)
                # A signature that is a piece of a URL names the service: it counts where the
                # script loads it, not in a string or a setting.
                if (
                    begin >= 0
                    and text.startswith(prefix, begin)
                    and (call or loads_near(text, begin - LOAD_REACH, end + LOAD_REACH))
                ):
                    return service
            pos = start + 1
        return None

    def _match_host_mention(self, text: str) -> Service | None:
        search = self._host_search
        if search is None or not may_load(text):
            return None
        words = search.words
        pos = 0
        # Matches one after another, none overlapping, as ``finditer`` gives them.
        while (found := search.search(text, pos)) is not None:
            start, end, number = found
            pos = end
            before = text[max(0, start - _MAX_HOST) : start][::-1]
            name = _HOST_TAIL.match(before)
            labels = name.group()[::-1].lstrip(".-") if name else ""
            if not labels:
                continue
            service = self.match_host(labels + words[number])
            if service is None or not service.inline_hosts:
                continue
            if loads_near(text, start - LOAD_REACH, end + LOAD_REACH):
                return service
        return None

    def match_cookie(
        self, cookie_name: str, *, party: str | None = None
    ) -> tuple[Service, CookieSpec] | None:
        """The service and cookie a name belongs to.

        ``party="first"`` limits the answer to cookies stored on the site's own domain, which
        is what a ``Set-Cookie`` from the wrapped app can be.
        """
        for found in self._cookie_exact.get(cookie_name, ()):
            if party in (None, found[1].party):
                return found
        compiled = self._cookie_regex(cookie_name[:_BUCKET])
        if compiled is None:
            return None
        regex, members = compiled
        match = regex.fullmatch(cookie_name)
        if match is None or match.lastindex is None:
            return None
        # Group i+1 belongs to member i; on a tie the earlier pattern wins, so scan for a
        # matching one of the wanted party when a party is asked for.
        first = self._cookie_patterns[members[match.lastindex - 1]]
        if party in (None, first[1].party):
            return first
        for index in members:
            service, spec = self._cookie_patterns[index]
            if spec.party == party and spec.matches(cookie_name):
                return service, spec
        return None

    def cookies_by_category(self) -> dict[str, list[tuple[Service, CookieSpec]]]:
        grouped: dict[str, list[tuple[Service, CookieSpec]]] = {}
        for service in self.services:
            for spec in service.cookies:
                grouped.setdefault(service.category, []).append((service, spec))
        return grouped

    def __len__(self) -> int:
        return len(self.services)

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services)

    # -- indexes ------------------------------------------------------------------------

    def _compile_inline(self) -> None:
        chains: dict[str, list[tuple[str, Service]]] = {}
        for service in self.services:
            for signature in service.inline:
                anchor = max(_anchor_index(signature), 0)
                suffix = signature[anchor:]
                entry = (signature[:anchor], service)
                if entry not in chains.setdefault(suffix, []):
                    chains[suffix].append(entry)
        # The regex finds the longest anchored suffix at a position; shorter suffixes that
        # also start there are tried after it, each with its own prefix.
        # Each suffix's own prefixes are looked up, longest first, rather than every suffix
        # compared with every other.
        # Whether an entry is a call is known here: the text it is judged on is its prefix
        # and the suffix found.
        self._sig_chain = {
            suffix: [
                (prefix, service, _CALL_LIKE.search(prefix + suffix) is not None)
                for end in range(len(suffix), 0, -1)
                for prefix, service in chains.get(suffix[:end], ())
            ]
            for suffix in chains
        }
        self._sig_search = LiteralSearch(sorted(chains)) if chains else None
        endings = {
            host[host.rfind(".") :] for s in self.services if s.inline_hosts for host in s.hosts
        }
        self._host_search = LiteralSearch(sorted(endings), _HOST_END) if endings else None

    def _index_cookies(self) -> None:
        # First-party entries are indexed first: those are the ones an app's Set-Cookie can
        # carry, so they should win a name two services share.
        ordered = sorted(
            ((s, c) for s in self.services for c in s.cookies),
            key=lambda item: item[1].party != "first",
        )
        for service, spec in ordered:
            if spec.pattern:
                self._cookie_patterns.append((service, spec))
            else:
                self._cookie_exact.setdefault(spec.name, []).append((service, spec))
        # Patterns are grouped by the first characters of their literal start, so a name is
        # only compared with those that can match it: one expression of thousands of
        # alternatives would be tried branch by branch for every name.
        for index, (_, spec) in enumerate(self._cookie_patterns):
            literal = re.split(r"[*?]", spec.name, maxsplit=1)[0]
            key = literal[:_BUCKET] if len(literal) >= _BUCKET else ""
            self._cookie_buckets.setdefault(key, []).append(index)

    def _cookie_regex(self, key: str) -> tuple[re.Pattern[str], list[int]] | None:
        """One expression for the patterns a name starting with ``key`` may match, compiled
        when such a name is first asked about."""
        if key not in self._cookie_buckets:
            key = ""
        try:
            return self._cookie_regexes[key]
        except KeyError:
            pass
        members = sorted({*self._cookie_buckets.get(key, ()), *self._cookie_buckets.get("", ())})
        compiled = None
        if members:
            source = "|".join(
                f"({_glob_source(self._cookie_patterns[i][1].name)})" for i in members
            )
            compiled = (re.compile(source), members)
        self._cookie_regexes[key] = compiled
        return compiled


# -- parsing and validation ---------------------------------------------------------------


def parse_service(data: Mapping[str, Any], *, origin: str, base: Service | None = None) -> Service:
    """A service from one TOML table; with ``base``, missing fields come from it."""
    sid = data.get("id")
    where = f"{origin}: service {sid!r}"
    if not isinstance(sid, str):
        raise CatalogueError(f"{origin}: a service has no string 'id'")
    unknown = set(data) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    if base is None:
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise CatalogueError(f"{where}: missing keys {missing}")
        base = Service(sid, "", "", "", (), (), (), "")
    fields: dict[str, Any] = {}
    for key in ("name", "vendor", "category", "privacy_policy", "source"):
        if key in data:
            fields[key] = _expect(data[key], str, where, key)
    for key in ("google", "embed", "inline_hosts"):
        if key in data:
            fields[key] = _expect(data[key], bool, where, key)
    for key in ("hosts", "urls", "inline"):
        if key in data:
            fields[key] = tuple(_string_list(data[key], where, key))
    if "cookies" in data:
        fields["cookies"] = tuple(_parse_cookie(c, where) for c in _list(data["cookies"], where))
    return replace(base, id=sid, **fields)


def service_from_mapping(
    data: Mapping[str, Any], *, origin: str = "configuration", base: Service | None = None
) -> Service:
    """An operator's ``[[services]]`` table as a service.

    When its id names a shipped service and no ``base`` is given, the shipped service is
    the base: a table with just ``id`` and ``category`` re-categorises it.
    """
    if base is None:
        base = _builtin_by_id().get(str(data.get("id", "")))
    return parse_service(data, origin=origin, base=base)


def _parse_cookie(data: Any, where: str) -> CookieSpec:
    if not isinstance(data, Mapping):
        raise CatalogueError(f"{where}: each cookie must be a table")
    unknown = set(data) - _COOKIE_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown cookie keys {sorted(unknown)}")
    name = _expect(data.get("name"), str, where, "cookies.name")
    lifetime = data.get("lifetime_days")
    if not isinstance(lifetime, int) or isinstance(lifetime, bool):
        raise CatalogueError(f"{where}: cookie {name!r} needs an integer lifetime_days")
    return CookieSpec(
        name=name,
        pattern=_expect(data.get("pattern", False), bool, where, "cookies.pattern"),
        lifetime_days=lifetime,
        party=_expect(data.get("party"), str, where, "cookies.party"),
        purpose=_expect(data.get("purpose"), str, where, "cookies.purpose"),
        source=_expect(data.get("source", ""), str, where, "cookies.source"),
    )


def _expect(value: Any, kind: type[_T], where: str, key: str) -> _T:
    if not isinstance(value, kind):
        raise CatalogueError(f"{where}: {key!r} must be a {kind.__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: expected a list")
    return value


def _string_list(value: Any, where: str, key: str) -> list[str]:
    items = _list(value, where)
    if not all(isinstance(item, str) and item for item in items):
        raise CatalogueError(f"{where}: {key!r} must be a list of non-empty strings")
    return items


def _check_service(service: Service, origin: str, categories: frozenset[str]) -> None:
    where = f"{origin}: service {service.id!r}"
    if not _ID_RE.fullmatch(service.id):
        raise CatalogueError(f"{where}: ids are lower-case letters, digits and hyphens")
    if service.category not in categories:
        raise CatalogueError(
            f"{where}: category {service.category!r} is not one of {sorted(categories)}"
        )
    if not service.name.strip() or not service.vendor.strip():
        raise CatalogueError(f"{where}: name and vendor must not be empty")
    if not service.privacy_policy.startswith("https://"):
        raise CatalogueError(f"{where}: privacy_policy must be an https:// URL")
    if service.source and not _known_source(service.source):
        raise CatalogueError(
            f"{where}: source {service.source!r} is neither a source id of {_SOURCES_FILE} "
            f"nor an https:// address"
        )
    for host in service.hosts:
        if not _HOST_RE.fullmatch(host):
            raise CatalogueError(f"{where}: host {host!r} must be a lower-case host name")
    for rule in service.urls:
        host, slash, _ = rule.partition("/")
        if not slash or not _HOST_RE.fullmatch(host):
            raise CatalogueError(f"{where}: url rule {rule!r} must look like 'host/path'")
    for signature in service.inline:
        if _anchor_index(signature) < 0:
            raise CatalogueError(
                f"{where}: inline signature {signature!r} needs one of {_ANCHORS!r} followed "
                f"by at least {_MIN_ANCHORED - 1} more characters"
            )
    if not (service.hosts or service.urls or service.inline or service.cookies):
        raise CatalogueError(f"{where}: give at least one host, url, inline signature or cookie")
    for spec in service.cookies:
        if spec.party not in PARTIES:
            raise CatalogueError(f"{where}: cookie {spec.name!r}: party must be first or third")
        if spec.lifetime_days < 0:
            raise CatalogueError(f"{where}: cookie {spec.name!r}: negative lifetime")
        if not spec.name or not spec.purpose.strip():
            raise CatalogueError(f"{where}: every cookie needs a name and a purpose")
        if spec.source and not _known_source(spec.source):
            raise CatalogueError(f"{where}: cookie {spec.name!r}: unknown source {spec.source!r}")


def _known_source(source: str) -> bool:
    return source in sources() or (source.startswith("https://") and len(source) > 8)


@dataclass(frozen=True, slots=True)
class Source:
    """A source of catalogue facts, with the licence under which they may be shipped."""

    id: str
    name: str
    licence: str
    url: str


@functools.cache
def sources() -> dict[str, Source]:
    """The sources that entries may name by id (``_sources.toml``)."""
    entry = resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR, _SOURCES_FILE)
    document = tomllib.loads(entry.read_text("utf-8"))
    return {
        str(item["id"]): Source(
            str(item["id"]), str(item["name"]), str(item["licence"]), str(item.get("url", ""))
        )
        for item in document.get("sources", [])
    }


def generic_first_party(spec: CookieSpec) -> bool:
    """Whether a first-party cookie's name is one any site might use for its own cookie."""
    if spec.party != "first":
        return False
    if not spec.pattern:
        return len(spec.name) < 2 or spec.name.lower() in GENERIC_COOKIE_NAMES
    # ``visitor_id*-hash`` is telling by its ending; ``session*`` and ``x*`` are not.
    prefix = re.split(r"[*?]", spec.name, maxsplit=1)[0]
    open_ended = spec.name[-1] in "*?"
    return len(prefix) < _MIN_PATTERN_PREFIX or (
        open_ended and prefix.lower().strip("_-.") in GENERIC_COOKIE_NAMES
    )


def framework_cookie(name: str) -> bool:
    """Whether a name is a web framework's own session or CSRF cookie."""
    return name in FRAMEWORK_COOKIES or (
        name.endswith("*") and name[:-1] in {f.rstrip("*") for f in FRAMEWORK_COOKIES}
    )


def covers_not_tracker(claim: str, not_trackers: frozenset[str]) -> bool:
    """Whether a host or ``urls`` claim would hold a host of the not-trackers list."""
    host = claim.partition("/")[0]
    return any(suffix in not_trackers for suffix in _suffixes(host)) or (
        "/" not in claim and any(nt.endswith("." + host) for nt in not_trackers)
    )


# -- the shipped data ---------------------------------------------------------------------


def _data_files() -> list[tuple[str, dict[str, Any]]]:
    folder = resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR)
    files = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml") and not entry.name.startswith("_"):
            try:
                files.append((entry.name, tomllib.loads(entry.read_text("utf-8"))))
            except tomllib.TOMLDecodeError as error:
                raise CatalogueError(f"{entry.name}: {error}") from error
    return files


def _extension(table: Any, filename: str) -> tuple[str, Service]:
    """An ``[[extends]]`` table: the id it adds to, and what it adds as a partial service."""
    if not isinstance(table, Mapping) or not isinstance(table.get("id"), str):
        raise CatalogueError(f"{filename}: each 'extends' table needs a string 'id'")
    where = f"{filename}: extends {table['id']!r}"
    unknown = set(table) - _EXTEND_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    source = _expect(table.get("source"), str, where, "source")
    if not _known_source(source):
        raise CatalogueError(f"{where}: unknown source {source!r}")
    cookies = tuple(
        replace(spec, source=spec.source or source)
        for spec in (_parse_cookie(c, where) for c in _list(table.get("cookies", []), where))
    )
    hosts = tuple(_string_list(table.get("hosts", []), where, "hosts"))
    return table["id"], Service(table["id"], "", "", "", hosts, (), cookies, "", source=source)


def _extended(base: Service, addition: Service) -> Service:
    return replace(base, hosts=base.hosts + addition.hosts, cookies=base.cookies + addition.cookies)


@functools.cache
def _builtin_services() -> tuple[Service, ...]:
    services: dict[str, Service] = {}
    ids: dict[str, str] = {}
    hosts: dict[str, str] = {}
    additions: list[tuple[str, str, Service]] = []
    allowed = frozenset(DEFAULT_CATEGORY_IDS)
    for filename, document in _data_files():
        unknown = set(document) - _FILE_KEYS
        if unknown:
            raise CatalogueError(f"{filename}: unknown top-level keys {sorted(unknown)}")
        if not isinstance(document.get("source"), str):
            raise CatalogueError(f"{filename}: needs a 'source' note")
        for table in _list(document.get("services", []), filename):
            service = parse_service(table, origin=filename)
            _check_service(service, filename, allowed)
            if not service.source:
                raise CatalogueError(f"{filename}: service {service.id!r} needs a 'source'")
            if service.id in ids:
                raise CatalogueError(
                    f"{filename}: service {service.id!r} is already defined in {ids[service.id]}"
                )
            ids[service.id] = filename
            services[service.id] = service
        for table in _list(document.get("extends", []), filename):
            target, addition = _extension(table, filename)
            additions.append((filename, target, addition))
    for filename, target, addition in additions:
        if target not in services:
            raise CatalogueError(f"{filename}: extends {target!r}, which no file defines")
        services[target] = _extended(services[target], addition)
        _check_service(services[target], filename, allowed)
    for service in services.values():
        for host in (*service.hosts, *service.urls):
            if host in hosts:
                raise CatalogueError(
                    f"{ids[service.id]}: service {service.id!r}: {host!r} is already claimed "
                    f"by {hosts[host]!r}"
                )
            hosts[host] = service.id
    return tuple(services.values())


@functools.cache
def _builtin_by_id() -> dict[str, Service]:
    return {service.id: service for service in _builtin_services()}


@functools.cache
def _builtin_catalogue() -> Catalogue:
    return Catalogue.load()


@functools.cache
def not_tracker_hosts() -> frozenset[str]:
    """Hosts that serve plain libraries, fonts or assets and are never held back."""
    entry = resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR, _NOT_TRACKERS_FILE)
    document = tomllib.loads(entry.read_text("utf-8"))
    return frozenset(str(item["host"]) for item in document.get("hosts", []))


def check_data(files: Sequence[tuple[str, Mapping[str, Any]]] | None = None) -> list[str]:
    """Every problem in the shipped data files (or in ``files``), without stopping at the
    first: entries the loader refuses, a file without its ``source`` note, a service without
    its source, an id, host or ``urls`` rule claimed twice, a host of the not-trackers list or
    a shared host claimed by a service, a cookie declared twice by one service, a signature
    given twice, a generic name enforced as a tracker's first-party cookie, a framework's
    session or CSRF cookie outside the necessary category."""
    problems: list[str] = []
    if files is None:
        try:
            files = _data_files()
        except CatalogueError as error:
            return [str(error)]
    ids: dict[str, str] = {}
    found: dict[str, Service] = {}
    # Each claim and cookie remembers the file that made it, so problems name that file.
    claimed_in: dict[tuple[str, str], str] = {}
    cookie_in: dict[tuple[str, str, str], str] = {}
    pending: list[tuple[str, str, Service]] = []
    allowed = frozenset(DEFAULT_CATEGORY_IDS)
    for filename, document in files:
        unknown = set(document) - _FILE_KEYS
        if unknown:
            problems.append(f"{filename}: unknown top-level keys {sorted(unknown)}")
        source = document.get("source")
        if not isinstance(source, str) or not source.strip():
            problems.append(f"{filename}: needs a 'source' note naming where its facts come from")
        tables = document.get("services", [])
        extends = document.get("extends", [])
        if not isinstance(tables, list) or not isinstance(extends, list):
            problems.append(f"{filename}: 'services' and 'extends' must be arrays of tables")
            continue
        for table in tables:
            try:
                service = parse_service(table, origin=filename)
                _check_service(service, filename, allowed)
            except CatalogueError as error:
                problems.append(str(error))
                continue
            if not service.source:
                problems.append(f"{filename}: service {service.id!r} needs a 'source'")
            if service.id in ids:
                problems.append(
                    f"{filename}: service {service.id!r}: id already defined in {ids[service.id]}"
                )
                continue
            ids[service.id] = filename
            found[service.id] = service
            for claim in (*service.hosts, *service.urls):
                claimed_in[(service.id, claim)] = filename
            for spec in service.cookies:
                cookie_in.setdefault((service.id, spec.name, spec.party), filename)
        for table in extends:
            try:
                pending.append((filename, *_extension(table, filename)))
            except CatalogueError as error:
                problems.append(str(error))
    # Additions apply once every file is read, as the loader applies them.
    for filename, target, addition in pending:
        if target not in found:
            problems.append(f"{filename}: extends {target!r}, which no file defines")
            continue
        fresh = []
        for claim in addition.hosts:
            if (target, claim) in claimed_in:
                problems.append(
                    f"{filename}: service {target!r}: {claim!r} is already claimed by {target!r}"
                )
                continue
            claimed_in[(target, claim)] = filename
            fresh.append(claim)
        found[target] = _extended(found[target], replace(addition, hosts=tuple(fresh)))
        for spec in addition.cookies:
            key = (target, spec.name, spec.party)
            if key in cookie_in:
                problems.append(f"{filename}: extends {target!r}: cookie {spec.name!r} twice")
            cookie_in.setdefault(key, filename)
        try:
            _check_service(found[target], filename, allowed)
        except CatalogueError as error:
            problems.append(str(error))
    problems.extend(_check_claims(found, ids, claimed_in, cookie_in))
    return problems


def _check_claims(
    found: Mapping[str, Service],
    defined_in: Mapping[str, str],
    claimed_in: Mapping[tuple[str, str], str],
    cookie_in: Mapping[tuple[str, str, str], str],
) -> list[str]:
    problems: list[str] = []
    claims: dict[str, str] = {}
    signatures: dict[str, str] = {}
    not_trackers = not_tracker_hosts()
    for service in found.values():
        for claim in (*service.hosts, *service.urls):
            where = f"{claimed_in[(service.id, claim)]}: service {service.id!r}"
            if claim in claims:
                problems.append(f"{where}: {claim!r} is already claimed by {claims[claim]!r}")
            claims.setdefault(claim, service.id)
            if covers_not_tracker(claim, not_trackers):
                problems.append(f"{where}: {claim!r} covers a host listed as no tracker")
            if claim in SHARED_HOSTS:
                problems.append(f"{where}: {claim!r} is shared by many sites; claim a subdomain")
        for signature in service.inline:
            if signature in signatures:
                problems.append(
                    f"{defined_in[service.id]}: service {service.id!r}: inline signature "
                    f"{signature!r} is already {signatures[signature]!r}'s"
                )
            signatures.setdefault(signature, service.id)
        seen: set[tuple[str, str]] = set()
        for spec in service.cookies:
            where = f"{cookie_in[(service.id, spec.name, spec.party)]}: service {service.id!r}"
            if (spec.name, spec.party) in seen:
                problems.append(f"{where}: cookie {spec.name!r} is declared twice")
            seen.add((spec.name, spec.party))
            if service.category != NECESSARY and generic_first_party(spec):
                problems.append(
                    f"{where}: cookie {spec.name!r} is a generic name; as a first-party "
                    f"{service.category} cookie it would drop the site's own cookie of that name"
                )
            if service.category != NECESSARY and framework_cookie(spec.name):
                problems.append(
                    f"{where}: cookie {spec.name!r} is a web framework's session or CSRF "
                    f"cookie and must be necessary"
                )
    return problems
