"""Where a URL written in a page makes the browser connect: its host, read as browsers read it.

Follows the WHATWG URL standard's basic URL parser as far as the host and path go: spaces and
C0 controls trimmed at both ends, tabs and newlines removed anywhere, a backslash read as a
slash in the special schemes, any number of slashes after the scheme, scheme-relative ``//``
URLs, relative URLs resolved against a ``<base href>``, and the host percent-decoded and mapped
with UTS #46 (full-width dots, upper case, soft hyphens, ...) to the ASCII form that is looked
up. Only what decides which server is contacted is computed; everything else is left out.
"""

from __future__ import annotations

import functools
import re
from typing import Final
from urllib.parse import unquote_to_bytes

import idna

__all__ = ["UrlTarget", "host_of", "resolve", "resolve_path"]

UrlTarget = tuple[str, str]  # (ASCII lower-case host without a trailing dot, path with query)

# Special schemes with a host the browser fetches from; "file" has no server to contact.
_SPECIAL: Final = frozenset({"http", "https", "ws", "wss", "ftp"})
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_TAB_NEWLINE: Final = re.compile(r"[\t\n\r]")
_AUTHORITY_END: Final = re.compile(r"[/\\?#]")
_SLASHES: Final = re.compile(r"[/\\]*")
_ASCII_HOST: Final = re.compile(r"[a-z0-9.\-_]+")
_C0_AND_SPACE: Final = "".join(map(chr, range(0x21)))
# How most URLs in pages are written: http(s) or scheme-relative, a lower-case ASCII host,
# no port, user or escapes, nothing to trim or remove. Such a URL is read in one match; the
# general reading gives the same host and path.
_PLAIN: Final = re.compile(r"(?:https?:)?//([a-z0-9._\-]+)((?:[/?#][^\x00-\x20\\]*)?)")
# What may follow a URL's leading slash for it to name a host, or be cut: read in full
# ("" is in every string, so a lone slash is too).
_MAY_NAME_HOST: Final = "/\\\t\n\r"
_MAX_CACHED_URL: Final = 2048
_MAX_CACHED_HOST: Final = 300


def _clean(url: str) -> str:
    url = url.strip(_C0_AND_SPACE)
    if "\t" in url or "\n" in url or "\r" in url:
        url = _TAB_NEWLINE.sub("", url)
    return url


def _ascii_host(raw: str) -> str | None:
    """The host as the URL parser leaves it for a domain, or None when it parses as none."""
    if len(raw) > _MAX_CACHED_HOST:
        return _read_host(raw)
    return _read_host_cached(raw)


def _read_host(raw: str) -> str | None:
    if "%" in raw:
        raw = unquote_to_bytes(raw).decode("utf-8", "replace")
    host = raw.lower()
    if not _ASCII_HOST.fullmatch(host):
        try:
            host = idna.uts46_remap(raw, std3_rules=False, transitional=False)
        except idna.IDNAError:
            return None
        labels = []
        for label in host.split("."):
            if label.isascii():
                labels.append(label.lower())
                continue
            try:
                labels.append(idna.alabel(label).decode("ascii"))
            except (idna.IDNAError, UnicodeError):
                return None
        host = ".".join(labels)
    if host.endswith("."):
        host = host[:-1]
    return host or None


# Longer names, which a page can write at any length, take no slot: a bounded number of them
# could still hold any amount of memory.
_read_host_cached = functools.lru_cache(maxsize=4096)(_read_host)


def _authority(rest: str) -> tuple[str | None, str]:
    """(host, path with query) of what follows the slashes of a URL with a host."""
    m = _AUTHORITY_END.search(rest)
    end = m.start() if m else len(rest)
    authority = rest[:end]
    authority = authority[authority.rfind("@") + 1 :]
    if authority.startswith("["):
        host: str | None = authority[: authority.find("]") + 1].lower() or None
    else:
        host = _ascii_host(authority.partition(":")[0])
    path = rest[end:].partition("#")[0].replace("\\", "/")
    if not path.startswith("/"):
        path = "/" + path
    return host, path


def host_of(url: str, base: str | None = None) -> UrlTarget | None:
    """``(host, path)`` of the server a fetch of ``url`` contacts, or None when it is the
    page's own (a relative URL without a ``base`` that names another host) or no server at all
    (``data:``, ``javascript:``, ``blob:``, unparseable hosts).

    ``base`` is the page's ``<base href>`` as written, when it has one.
    """
    # Most of a site's own URLs are root-relative, many of them new on every view (a query
    # string per reader): without a base they contact the page's own server. A slash, a
    # backslash, a tab or a newline second could make the URL scheme-relative: read in full.
    if base is None and url[:1] == "/" and url[1:2] not in _MAY_NAME_HOST:
        return None
    plain = _PLAIN.fullmatch(url)
    if plain is not None:
        # Read at about the cost of a cache look-up, and most are new (a query string per
        # view): no slot is taken.
        return _plain_target(plain)
    # Long data: URLs are not worth a cache slot, and a page can write its base at any length.
    if len(url) + (len(base) if base else 0) > _MAX_CACHED_URL:
        return _read(url, base)
    return _read_cached(url, base)


def _plain_target(plain: re.Match[str]) -> UrlTarget | None:
    host, path = plain.groups()
    if host[-1] == ".":  # the pattern's host is never empty
        host = host[:-1]
        if not host:
            return None
    if "#" in path:  # rare: not worth a partition of every path
        path = path.partition("#")[0]
    return host, (path if path[:1] == "/" else "/" + path).lower()


def _read(url: str, base: str | None) -> UrlTarget | None:
    url = _clean(url)
    m = _SCHEME.match(url)
    if m is not None:
        scheme = url[: m.end() - 1].lower()
        if scheme not in _SPECIAL:
            return None
        # "https:host" and "https:/host" reach the host unless the page itself is on the
        # same scheme; the page's own scheme is not known here, so the host counts.
        rest = url[m.end() :]
        rest = rest[_SLASHES.match(rest).end() :]  # type: ignore[union-attr]
        host, path = _authority(rest)
        return None if host is None else (host, path.lower())
    if url[:2] in ("//", "\\\\", "/\\", "\\/"):
        host, path = _authority(url[_SLASHES.match(url).end() :])  # type: ignore[union-attr]
        return None if host is None else (host, path.lower())
    if base is None:
        return None
    target = host_of(base)
    if target is None:
        return None
    return target[0], resolve_path(target[1], url.lower())


# The spellings the plain pattern leaves take longer to read, and come back on every page of
# the site that writes them. Bounded, like every cache of what pages contain.
_read_cached = functools.lru_cache(maxsize=4096)(_read)


def resolve_path(base_path: str, relative: str) -> str:
    """A relative reference's path and query against the base's, precise enough for the
    path prefixes the catalogue matches on."""
    relative = relative.partition("#")[0].replace("\\", "/")
    if relative.startswith("/"):
        return relative
    if relative.startswith("?"):
        return base_path.partition("?")[0] + relative
    if not relative:
        return base_path
    directory = base_path.partition("?")[0].rpartition("/")[0]
    return directory + "/" + relative


def resolve(url: str, base: str | None) -> str | None:
    """The host ``url`` contacts (see :func:`host_of`), alone."""
    target = host_of(url, base)
    return None if target is None else target[0]
