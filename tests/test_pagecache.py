"""The cache of rewritten pages: same bytes out as without it, personalised per visitor."""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent.pagecache import BANNER_SLOT, PageCache, RewrittenPage, body_key
from tests.conftest import csrf_token, page_app, without_held_marker

TOKEN = re.compile(rb'name="csrf_token" value="[^"]*"')


def normalised(body: bytes) -> bytes:
    return TOKEN.sub(b'name="csrf_token" value=""', without_held_marker(body))


def test_cached_pages_equal_uncached_ones(make_config: Callable[..., ConsentConfig]) -> None:
    cached = ConsentMiddleware(page_app(), config=make_config())
    uncached = ConsentMiddleware(page_app(), config=make_config(page_cache_bytes=0))
    # Two page views each: the first one also teaches the vendor lists what the page holds.
    first = TestClient(cached).get("/").content
    second = TestClient(cached).get("/").content
    TestClient(uncached).get("/")
    plain = TestClient(uncached).get("/").content
    assert cached.runtime.page_cache.enabled  # on by default
    assert normalised(second) == normalised(plain)
    assert normalised(first).count(b"data-consent-banner") == 1
    assert BANNER_SLOT not in second
    assert not uncached.runtime.page_cache.enabled


def test_each_visitor_gets_their_own_working_token_from_a_cached_page(
    make_config: Callable[..., ConsentConfig],
) -> None:
    app = ConsentMiddleware(page_app(), config=make_config())
    tokens = set()
    for _ in range(3):
        client = TestClient(app)
        token = csrf_token(client)
        tokens.add(token)
        response = client.post(
            "/_consent/decision",
            data={"action": "reject_all", "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303
    assert len(tokens) == 3


def test_visitor_states_do_not_share_entries(make_config: Callable[..., ConsentConfig]) -> None:
    app = ConsentMiddleware(page_app(), config=make_config())
    undecided = TestClient(app)
    undecided.get("/")
    accepted = TestClient(app)
    token = csrf_token(accepted)
    accepted.post("/_consent/decision", data={"action": "accept_all", "csrf_token": token})
    held = undecided.get("/").text
    released = accepted.get("/").text
    assert 'data-consent-category="analytics"' in held
    assert '<script src="https://www.google-analytics.com/analytics.js"></script>' in released


def test_the_cache_is_bounded_and_forgets_the_oldest() -> None:
    cache = PageCache(max_bytes=8000)
    for i in range(20):
        cache.put(i, RewrittenPage((b"x" * 500,), True), key_bytes=400)
    assert cache.get(0) is None
    assert cache.get(19) is not None
    kept = [i for i in range(20) if cache.get(i) is not None]
    assert len(kept) * 900 <= 8000


def test_a_page_larger_than_an_eighth_of_the_cache_is_not_kept() -> None:
    cache = PageCache(max_bytes=8000)
    cache.put("big", RewrittenPage((b"x" * 1500,), True), key_bytes=0)
    assert cache.get("big") is None


def test_rendering_puts_the_banner_in_the_slot() -> None:
    page = RewrittenPage((b"<body>", b"<p>x</p>"), True)
    assert page.render(b"<div>banner</div>") == b"<body><div>banner</div><p>x</p>"
    assert (
        RewrittenPage((b"<div>fragment</div>",), False).render(b"banner") == b"<div>fragment</div>"
    )


def test_a_body_with_the_same_length_and_edges_is_not_confused() -> None:
    cache = PageCache(max_bytes=1_000_000)
    first = b"<html>" + b"a" * 10000 + b"</html>"
    second = b"<html>" + b"a" * 4000 + b"b" + b"a" * 5999 + b"</html>"
    page = RewrittenPage((first,), True, first)
    cache.put(("k",), page, key_bytes=0)
    assert cache.get(("k",), first) is page
    assert cache.get(("k",), second) is None


def test_pages_put_in_turn_under_one_key_are_counted_once() -> None:
    # Two bodies of one length that differ only outside the sampled bytes (a visitor's query
    # echoed in the page, say) share a key: views of each in turn replace the entry. Were the
    # replaced page still counted, the cache would soon believe itself full and forget every
    # other page on each put, for good.
    first = b"<html>" + b"a" * 1000 + b"q=0001" + b"a" * 9000 + b"</html>"
    second = first.replace(b"q=0001", b"q=0002")
    assert body_key(first) == body_key(second)
    cache = PageCache(max_bytes=400_000)
    other = RewrittenPage((b"o" * 1000,), True, b"o")
    cache.put("other", other, key_bytes=0)
    for i in range(200):
        body = first if i % 2 else second
        cache.put(body_key(body), RewrittenPage((body,), True, body))
        assert cache.get(body_key(body), body) is not None
    assert cache.get("other", b"o") is other


def test_a_page_from_the_cache_names_its_own_held_marker(
    make_config: Callable[..., ConsentConfig],
) -> None:
    app = ConsentMiddleware(page_app(), config=make_config())
    pages = [TestClient(app).get("/").text for _ in range(3)]
    markers = set()
    for page in pages:
        held = re.findall(r'data-consent-held="([^"]+)"', page)
        assert held, "the page holds the analytics script back"
        # The banner's configuration names the marker its page's held elements carry.
        assert f"&#34;held&#34;:&#34;{held[0]}&#34;" in page
        markers.update(held)
    assert len(markers) == 1  # the second and third came from the cache
