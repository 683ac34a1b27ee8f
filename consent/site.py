"""Where the site is, as its visitors' browsers see it: public origin and mount path.

Behind a TLS-terminating proxy the server sees ``http`` while browsers use ``https``; under
``--root-path /news`` the server sees paths the browser never typed. Everything that compares
what a browser sent (``Origin``, ``Referer``) or builds what a browser follows (asset URLs,
form actions, redirects) goes through this module. Pure functions, no ASGI.
"""

from __future__ import annotations

import functools
import hmac
import re
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^(?:\[[0-9a-f:.]+\]|{_LABEL}(?:\.{_LABEL})*)$")

# Sec-Fetch-Site values a browser sends for a request the site itself started.
_OWN_SITE = frozenset({"same-origin", "none"})


class OriginError(ValueError):
    """A value that is not an origin (scheme, host and optional port, nothing else)."""


def normalise_origin(value: str) -> str:
    """``scheme://host[:port]`` in lower case without a default port, or `OriginError`.

    A single trailing slash is tolerated because it is how origins are often written; any
    other path, a query, a fragment or credentials are refused rather than ignored.
    """
    if not isinstance(value, str) or not value.strip():
        raise OriginError("an origin looks like 'https://www.example.com'")
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise OriginError(f"{value!r} has an invalid port: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise OriginError(f"{value!r} must start with https:// or http://")
    if parts.username is not None or parts.password is not None:
        raise OriginError(f"{value!r} must not carry credentials")
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise OriginError(
            f"{value!r} must be scheme, host and optional port only, without a path "
            "(a site mounted under a path sets the server's root_path instead)"
        )
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if not host or not _HOST.match(host):
        raise OriginError(f"{value!r} has no valid host name")
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_from_url(url: str) -> str | None:
    """The origin of an absolute URL (such as a ``Referer``), or None when it has none."""
    try:
        return normalise_origin(_origin_part(url))
    except OriginError:
        return None


def _origin_part(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return f"{scheme}://{authority}"


@functools.lru_cache(maxsize=256)  # bounded: the Host is the visitor's to choose
def request_origin(scheme: str, host: str, public_origin: str | None) -> str | None:
    """The origin browsers use for this site: the configured one, else scheme plus ``Host``.

    ``scheme`` is what the ASGI server reports; behind a proxy it is only right when the
    server was told to trust that proxy's forwarded headers (uvicorn's ``--proxy-headers``
    with ``--forwarded-allow-ips``). Forwarded headers are never read here: a request that
    did not come through the trusted proxy could set them to anything.
    """
    if public_origin is not None:
        return public_origin
    web_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    if not host:
        return None
    try:
        return normalise_origin(f"{web_scheme}://{host}")
    except OriginError:
        return None


def is_https(scheme: str, public_origin: str | None) -> bool:
    """Whether cookies must carry ``Secure``: the server saw TLS, or the site is public on it."""
    return scheme in ("https", "wss") or (
        public_origin is not None and public_origin.startswith("https://")
    )


def same_origin(candidate: str | None, expected: str | None) -> bool:
    if candidate is None or expected is None:
        return False
    normalised = origin_from_url(candidate)
    return normalised is not None and hmac.compare_digest(normalised, expected)


def in_cookie_domain(origin: str | None, domain: str | None) -> bool:
    """An https origin on the cookie domain or below it: a sibling that shares the cookie."""
    if origin is None or not domain:
        return False
    normalised = origin_from_url(origin)
    if normalised is None or not normalised.startswith("https://"):
        return False
    host = urlsplit(normalised).hostname or ""
    domain = domain.lower().strip(".")
    return bool(domain) and (host == domain or host.endswith("." + domain))


def decision_allowed(
    *,
    fetch_site: str | None,
    origin: str | None,
    referer: str | None,
    expected: str | None,
    cookie_domain: str | None,
) -> bool:
    """Whether a state-changing request comes from the site itself, as far as a browser says.

    ``Sec-Fetch-Site`` is set by the browser and cannot be forged by a page, so it decides
    when present. ``same-site`` (a sibling subdomain) passes only when the operator shares
    the consent cookie across that domain, and then only from an https origin under it.
    Without it, ``Origin`` (or, when a browser withholds that, ``Referer``) must be the
    public origin. A request with none of them is not from a browser page: the CSRF token
    alone decides.
    """
    if fetch_site is not None:
        site = fetch_site.strip().lower()
        if site in _OWN_SITE:
            return True
        if site == "same-site" and cookie_domain:
            return in_cookie_domain(origin, cookie_domain) or (
                origin is None and in_cookie_domain(referer, cookie_domain)
            )
        return False
    if origin is not None:
        if origin.strip().lower() == "null":
            return False
        return same_origin(origin, expected) or in_cookie_domain(origin, cookie_domain)
    if referer:
        return same_origin(referer, expected) or in_cookie_domain(referer, cookie_domain)
    return True


def split_root_path(path: str, root_path: str) -> str:
    """The path under the mount point, whichever ASGI convention the server follows.

    Newer servers (uvicorn since 0.26, Starlette's router) put the mount point in ``path``
    as well as in ``root_path``; older ones and some test clients leave it out of ``path``.
    """
    root = root_path.rstrip("/")
    if not root:
        return path or "/"
    if path == root:
        return "/"
    if path.startswith(root + "/"):
        return path[len(root) :]
    return path or "/"


def clean_root_path(root_path: str) -> str:
    """The mount point as a URL prefix: no trailing slash, "" for the site root."""
    return root_path.rstrip("/")
