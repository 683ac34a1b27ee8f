"""Who is a third party to a page: hosts compared by their registrable domain.

The registrable domain ("eTLD+1") comes from the Public Suffix List, read from the snapshot
that ships with ``tldextract``; nothing is fetched at run time. Private suffixes count
(``a.github.io`` and ``b.github.io`` are different sites), and a host under a suffix the list
does not know keeps its last two labels, as browsers do.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Final

import tldextract

from consent.catalogue import LOAD_REACH, loads_near, may_load

_CACHE_SIZE: Final = 8192
_DIGITS: Final = "0123456789"
# Longer names are no host name and not worth a cache slot.
_MAX_CACHED: Final = 600
# A host written in a script as part of a URL: after a quote, a scheme's colon or an
# unquoted attribute's ``=`` and ``//`` (escaped or not), up to the end of the name. A
# comment's ``//`` is no URL. The expression starts at the first slash and looks back for
# what precedes it: the engine then skips to the next slash, far rarer in scripts than
# quotes.
_URL_HOST: Final = re.compile(
    r"/(?:(?<=[:'\"`=]/)|(?<=[:'\"`=]\\/))\\?/"
    r"((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9])"
    r"(?=[/:'\"?\\#\s),;&]|$)",
    re.IGNORECASE,
)


@functools.cache
def _extractor() -> tldextract.TLDExtract:
    # No download, no cache on disk: the list bundled with the package is used as it is.
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


def registrable_domain(host: str) -> str:
    """``www.bbc.co.uk`` -> ``bbc.co.uk``; an IP address or a single label is itself."""
    if len(host) > _MAX_CACHED:
        return _registrable_domain(host)
    return _registrable_domain_cached(host)


def _registrable_domain(host: str) -> str:
    host = host.strip().lower().rstrip(".").strip("[]")
    if not host or "." not in host:
        return host
    # An IPv4 address ends in a digit and an IPv6 one has colons: a name is not tried as one,
    # which costs a failed parse of each kind.
    if ":" in host or host[-1] in _DIGITS:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return host
    found = _extractor()(host).top_domain_under_public_suffix
    if found:
        return found
    labels = host.split(".")
    return ".".join(labels[-2:])


# Sites and their hosts come back on every page. Longer names, which a page can write at any
# length, take no slot: a bounded number of them could still hold any amount of memory.
_registrable_domain_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(_registrable_domain)


def _covers(domains: frozenset[str], host: str) -> bool:
    while True:
        if host in domains:
            return True
        dot = host.find(".")
        if dot < 0:
            return False
        host = host[dot + 1 :]


class Parties:
    """Tells the site's own hosts, and plain libraries, fonts and CDNs, from third parties.

    ``own_domains`` are the operator's other domains (a CDN of its own, a sister site); each
    covers itself and its subdomains, like ``allowed``, the hosts that are never trackers.
    """

    def __init__(self, own_domains: Iterable[str] = (), allowed: Iterable[str] = ()) -> None:
        self._own = frozenset(d.strip().lower().strip(".") for d in own_domains)
        self._allowed = frozenset(h.strip().lower().strip(".") for h in allowed)
        # The same few hosts come back on every page of a site, and on many sites.
        self._third_party_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(self._third_party)

    def third_party(self, host: str, site: str) -> bool:
        """Whether ``host`` is a third party on a page served from ``site`` (a host name,
        with or without a port)."""
        if len(host) + len(site) > _MAX_CACHED:
            return self._third_party(host, site)
        return self._third_party_cached(host, site)

    def _third_party(self, host: str, site: str) -> bool:
        host = host.strip().lower().rstrip(".")
        if not host:
            return False
        site = _without_port(site)
        if not site or registrable_domain(host) == registrable_domain(site):
            return False
        return not (_covers(self._own, host) or _covers(self._allowed, host))

    def loaded_host(self, text: str, site: str) -> str | None:
        """The first third-party host an inline script loads or sends to: a host written in
        a URL within reach of what fetches (an element built, a source set, a beacon)."""
        if not may_load(text):
            return None
        for start, end, host in url_hosts(text):
            host = host.lower()
            if self.third_party(host, site) and loads_near(
                text, start - LOAD_REACH, end + LOAD_REACH
            ):
                return host
        return None


def url_hosts(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, host)`` of each host written in a script as part of a URL, where the
    URL starts at the quote, colon or ``=`` before its slashes and ends after the host."""
    for found in _URL_HOST.finditer(text):
        slash = found.start()
        yield slash - (2 if text[slash - 1] == "\\" else 1), found.end(), found.group(1)


def _without_port(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rpartition(":")[0] if host.count(":") == 1 else host
