"""Rewritten pages remembered by their exact bytes.

News pages are the same bytes for thousands of visitors. A page the middleware has rewritten
once for a given visitor state is kept, split where the banner goes, so that the next visitor
in that state costs one dictionary look-up (a hash of the body) instead of a rewrite. A page
that differs on every request (a per-request token in it, say) only ever misses: it pays the
hash and is rewritten as usual. The cache is bounded in bytes and forgets the oldest first.
"""

from __future__ import annotations

import secrets
from collections.abc import Hashable
from dataclasses import dataclass

# Put where the banner goes while a cacheable page is rewritten; never sent to a browser.
# Random per process: page content cannot contain it, so it cannot choose where a banner goes.
BANNER_SLOT = b"\x00consent:" + secrets.token_hex(16).encode() + b"\x00"


# Hashing a whole 100 KB body costs more than the rest of a cache hit, so entries are found by
# the body's length and three samples, its edges and its middle, and confirmed by comparing the
# whole body (a memcmp). The samples are hashed anew for every page view (SipHash, about a
# cycle a byte): short ones, but with the middle, where one article differs from the next
# even when both have the same length, head and footer.
_SAMPLE = 512


def body_key(body: bytes) -> tuple[int, bytes, bytes, bytes]:
    middle = (len(body) - _SAMPLE) // 2
    return (len(body), body[:_SAMPLE], body[max(middle, 0) : middle + _SAMPLE], body[-_SAMPLE:])


@dataclass(frozen=True, slots=True)
class RewrittenPage:
    parts: tuple[bytes, ...]  # the output split at BANNER_SLOT: one part, or two around it
    is_document: bool | None
    body: bytes = b""  # the input it was made from
    held: str = ""  # the marker on its held-back elements, which the banner must name

    def render(self, banner: bytes) -> bytes:
        return banner.join(self.parts)

    @property
    def size(self) -> int:
        return sum(map(len, self.parts))


class PageCache:
    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._pages: dict[Hashable, tuple[RewrittenPage, int]] = {}

    @property
    def enabled(self) -> bool:
        return self._max_bytes > 0

    def get(self, key: Hashable, body: bytes | None = None) -> RewrittenPage | None:
        found = self._pages.get(key)
        if found is None or (body is not None and found[0].body != body):
            return None
        return found[0]

    def put(self, key: Hashable, page: RewrittenPage, key_bytes: int = 3 * _SAMPLE) -> None:
        cost = page.size + key_bytes + len(page.body)
        if cost > self._max_bytes // 8:
            return  # one huge page must not flush everything else
        # A body alike in the sampled bytes has the same key: the page it replaces leaves the
        # count, or the cache would soon find itself full with nothing in it.
        replaced = self._pages.pop(key, None)
        if replaced is not None:
            self._bytes -= replaced[1]
        while self._pages and self._bytes + cost > self._max_bytes:
            oldest = next(iter(self._pages))
            self._bytes -= self._pages.pop(oldest)[1]
        self._pages[key] = (page, cost)
        self._bytes += cost
