"""Server-side enforcement: cookies of refused purposes never leave the server.

Browser-only consent tools cannot stop a `Set-Cookie` header; here every header the wrapped
app sends is checked against the purpose its cookie serves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from consent.catalogue import Catalogue

logger = logging.getLogger("consent")

_DELETION_MARKERS = ("max-age=0", "max-age=-", "expires=thu, 01 jan 1970")
_MAX_REPORTED = 500


class CookiePolicy:
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
        self._operator = dict(operator_table)
        self._own = frozenset(own_cookies)
        self._required = required
        self._block_undeclared = block_undeclared
        self.undeclared: set[str] = set()

    def category_of(self, cookie_name: str) -> str | None:
        if cookie_name in self._own:
            return next(iter(sorted(self._required)))
        if cookie_name in self._operator:
            return self._operator[cookie_name]
        match = self._catalogue.match_cookie(cookie_name, party="first")
        return match[0].category if match else None

    def allows(self, set_cookie_value: str, granted: frozenset[str]) -> bool:
        name = set_cookie_value.split("=", 1)[0].strip()
        if not name:
            return True
        lowered = set_cookie_value.lower()
        if any(marker in lowered for marker in _DELETION_MARKERS):
            return True  # removing a cookie never needs consent
        category = self.category_of(name)
        if category is None:
            self._report(name)
            return not self._block_undeclared
        return category in granted or category in self._required

    def withdrawn(self, cookie_names: Iterable[str], granted: frozenset[str]) -> list[str]:
        """Cookies the browser holds that belong to purposes no longer granted."""
        names = []
        for name in cookie_names:
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


def expiry_headers(names: Sequence[str], host: str, *, secure: bool) -> list[str]:
    """`Set-Cookie` values that delete each cookie host-only and on the parent domains
    trackers usually write to, since a browser deletes only an exact domain match."""
    bare_host = host.split(":", 1)[0].lower()
    labels = bare_host.split(".")
    domains: list[str | None] = [None]
    if len(labels) >= 2 and not bare_host.replace(".", "").isdigit():
        for i in range(len(labels) - 1):
            domains.append("." + ".".join(labels[i:]))
    suffix = "; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax"
    if secure:
        suffix += "; Secure"
    values = []
    for name in names:
        for domain in domains:
            values.append(f"{name}=" + (f"; Domain={domain}" if domain else "") + suffix)
    return values
