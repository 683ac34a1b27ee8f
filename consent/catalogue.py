"""The catalogue of known third-party services: who runs a host, a snippet or a cookie.

The facts live as TOML data in ``consent/services``; this module loads and checks them and
answers the rewriter's questions ("which service is behind this URL, snippet or cookie?")
fast enough to be asked for every element of every page.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Final, TypeVar

from consent.errors import ConsentError
from consent.names import ANALYTICS, MARKETING, NECESSARY, PREFERENCES
from consent.urls import host_of

DEFAULT_CATEGORY_IDS: Final = (NECESSARY, PREFERENCES, ANALYTICS, MARKETING)
PARTIES: Final = frozenset({"first", "third"})
URL_CACHE_SIZE: Final = 8192
# The same tag snippets come back on every page; remember the verdict for short texts.
INLINE_CACHE_SIZE: Final = 256
INLINE_CACHE_MAX_CHARS: Final = 16384

_DATA_PACKAGE: Final = "consent"
_DATA_DIR: Final = "services"
_NOT_TRACKERS_FILE: Final = "_not_trackers.toml"

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
# at every character.
LOADS: Final = re.compile(
    r"createElement\s*\(|\.src\s*=[^=]|\[\s*['\"]src['\"]\s*\]\s*=[^=]"
    r"|setAttribute\s*\(\s*['\"](?:src|href)['\"]|new\s+Image\b|sendBeacon\s*\("
    r"|f(?<!\wf)etch\s*\(|XMLHttpRequest|document\s*\.\s*write|importScripts\s*\("
    r"|\.getScript\s*\(|\.getJSON\s*\(|\.ajax\s*\(|\$\.(?:get|post)\s*\("
    r"|innerHTML\s*\+?=[^=]|insertAdjacentHTML\s*\("
)
LOAD_REACH: Final = 1000
# Signatures that are calls of a vendor's API (``fbq('init'``, ``_paq.push``,
# ``window.optimizely``) rather than pieces of its URLs.
_CALL_LIKE: Final = re.compile(r"[(=\[]|\.push\b|\.cmd\b|\.que\b|^window\.|^_|\b_[a-z]")
_MAX_HOST: Final = 253

_REQUIRED: Final = ("id", "name", "vendor", "category", "privacy_policy")
_OPTIONAL: Final = ("hosts", "urls", "inline", "inline_hosts", "cookies", "google", "embed")
_COOKIE_KEYS: Final = frozenset({"name", "pattern", "lifetime_days", "party", "purpose"})

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
        "_cookie_exact",
        "_cookie_patterns",
        "_cookie_regex",
        "_host_regex",
        "_match_inline_cached",
        "_match_url_cached",
        "_sig_chain",
        "_sig_regex",
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
        self._sig_chain: dict[str, list[tuple[str, Service]]] = {}
        self._sig_regex: re.Pattern[str] | None = None
        self._host_regex: re.Pattern[str] | None = None
        self._compile_inline()
        self._cookie_exact: dict[str, list[tuple[Service, CookieSpec]]] = {}
        self._cookie_patterns: list[tuple[Service, CookieSpec]] = []
        self._cookie_regex = self._compile_cookies()
        self._match_url_cached = functools.lru_cache(maxsize=URL_CACHE_SIZE)(self._match_url)
        self._match_inline_cached = functools.lru_cache(maxsize=INLINE_CACHE_SIZE)(
            self._match_inline
        )

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
        host = host.strip().lower().rstrip(".")
        by_host = self._by_host
        for suffix in _suffixes(host):
            found = by_host.get(suffix)
            if found is not None:
                return found
        return None

    def match_url(self, url: str, base: str | None = None) -> Service | None:
        """The service behind a URL as the browser reads it (see :func:`consent.urls.host_of`);
        relative URLs are the site's own unless the page's ``base`` names another host."""
        if len(url) > 4096:  # long data: or tracking URLs are not worth a cache slot
            return self._match_url(url, base)
        return self._match_url_cached(url, base)

    def _match_url(self, url: str, base: str | None = None) -> Service | None:
        parsed = host_of(url, base)
        if parsed is None:
            return None
        host, rest = parsed
        if self._url_rules:
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
        regex = self._sig_regex
        if regex is None:
            return None
        pos = 0
        while (found := regex.search(text, pos)) is not None:
            start = found.start()
            for prefix, service in self._sig_chain[found.group()]:
                begin = start - len(prefix)
                if begin >= 0 and text.startswith(prefix, begin):
                    # A signature that is a piece of a URL names the service: it counts where
                    # the script loads it, not in a string or a setting.
                    if not _CALL_LIKE.search(text[begin : found.end()]) and not LOADS.search(
                        text, max(0, begin - LOAD_REACH), found.end() + LOAD_REACH
                    ):
                        continue
                    return service
            pos = start + 1
        return None

    def _match_host_mention(self, text: str) -> Service | None:
        regex = self._host_regex
        if regex is None:
            return None
        for found in regex.finditer(text):
            start = found.start()
            before = text[max(0, start - _MAX_HOST) : start][::-1]
            name = _HOST_TAIL.match(before)
            labels = name.group()[::-1].lstrip(".-") if name else ""
            if not labels:
                continue
            service = self.match_host(labels + found.group())
            if service is None or not service.inline_hosts:
                continue
            if LOADS.search(text, max(0, start - LOAD_REACH), found.end() + LOAD_REACH):
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
        regex = self._cookie_regex
        if regex is None:
            return None
        match = regex.fullmatch(cookie_name)
        if match is None or match.lastindex is None:
            return None
        # Group i+1 belongs to pattern i; on a tie the earlier pattern wins, so scan for a
        # matching one of the wanted party when a party is asked for.
        first = self._cookie_patterns[match.lastindex - 1]
        if party in (None, first[1].party):
            return first
        for service, spec in self._cookie_patterns:
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
        self._sig_chain = {
            suffix: [
                entry
                for shorter in sorted(chains, key=len, reverse=True)
                if suffix.startswith(shorter)
                for entry in chains[shorter]
            ]
            for suffix in chains
        }
        self._sig_regex = re.compile(_trie_regex(sorted(chains))) if chains else None
        endings = {
            host[host.rfind(".") :] for s in self.services if s.inline_hosts for host in s.hosts
        }
        self._host_regex = (
            re.compile(f"{_trie_regex(sorted(endings))}{_HOST_END}") if endings else None
        )

    def _compile_cookies(self) -> re.Pattern[str] | None:
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
        if not self._cookie_patterns:
            return None
        return re.compile("|".join(f"({_glob_source(c.name)})" for _, c in self._cookie_patterns))


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
    for key in ("name", "vendor", "category", "privacy_policy"):
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


@functools.cache
def _builtin_services() -> tuple[Service, ...]:
    services: list[Service] = []
    ids: dict[str, str] = {}
    hosts: dict[str, str] = {}
    allowed = frozenset(DEFAULT_CATEGORY_IDS)
    for filename, document in _data_files():
        unknown = set(document) - {"source", "services"}
        if unknown:
            raise CatalogueError(f"{filename}: unknown top-level keys {sorted(unknown)}")
        if not isinstance(document.get("source"), str):
            raise CatalogueError(f"{filename}: needs a 'source' note")
        for table in _list(document.get("services", []), filename):
            service = parse_service(table, origin=filename)
            _check_service(service, filename, allowed)
            if service.id in ids:
                raise CatalogueError(
                    f"{filename}: service {service.id!r} is already defined in {ids[service.id]}"
                )
            ids[service.id] = filename
            for host in (*service.hosts, *service.urls):
                if host in hosts:
                    raise CatalogueError(
                        f"{filename}: service {service.id!r}: {host!r} is already claimed by "
                        f"{hosts[host]!r}"
                    )
                hosts[host] = service.id
            services.append(service)
    return tuple(services)


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
    first: entries the loader refuses, a file without its ``source`` note, an id, host or
    ``urls`` rule claimed twice, a host of the not-trackers list claimed by a service, a
    cookie declared twice by one service, a signature given twice."""
    problems: list[str] = []
    if files is None:
        try:
            files = _data_files()
        except CatalogueError as error:
            return [str(error)]
    ids: dict[str, str] = {}
    claims: dict[str, str] = {}
    signatures: dict[str, str] = {}
    allowed = frozenset(DEFAULT_CATEGORY_IDS)
    not_trackers = not_tracker_hosts()
    for filename, document in files:
        unknown = set(document) - {"source", "services"}
        if unknown:
            problems.append(f"{filename}: unknown top-level keys {sorted(unknown)}")
        source = document.get("source")
        if not isinstance(source, str) or not source.strip():
            problems.append(f"{filename}: needs a 'source' note naming where its facts come from")
        tables = document.get("services", [])
        if not isinstance(tables, list):
            problems.append(f"{filename}: 'services' must be an array of tables")
            continue
        for table in tables:
            try:
                service = parse_service(table, origin=filename)
                _check_service(service, filename, allowed)
            except CatalogueError as error:
                problems.append(str(error))
                continue
            where = f"{filename}: service {service.id!r}"
            if service.id in ids:
                problems.append(f"{where}: id already defined in {ids[service.id]}")
            ids.setdefault(service.id, filename)
            for claim in (*service.hosts, *service.urls):
                if claim in claims:
                    problems.append(f"{where}: {claim!r} is already claimed by {claims[claim]!r}")
                claims.setdefault(claim, service.id)
                host = claim.partition("/")[0]
                if any(suffix in not_trackers for suffix in _suffixes(host)) or any(
                    nt.endswith("." + host) for nt in not_trackers if "/" not in claim
                ):
                    problems.append(f"{where}: {claim!r} covers a host listed as no tracker")
            for signature in service.inline:
                if signature in signatures:
                    problems.append(
                        f"{where}: inline signature {signature!r} is already "
                        f"{signatures[signature]!r}'s"
                    )
                signatures.setdefault(signature, service.id)
            seen: set[tuple[str, str]] = set()
            for spec in service.cookies:
                if (spec.name, spec.party) in seen:
                    problems.append(f"{where}: cookie {spec.name!r} is declared twice")
                seen.add((spec.name, spec.party))
    return problems
