"""Holding back third parties, through the whole middleware, on pages shaped like real news
pages (COMPLIANCE B.11, C.16-18, D.21, G.31-33, H.35): every state a visitor can be in,
operator rules and their precedence, Global Privacy Control, and the cookies the server lets
out or expires."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware, holdback
from consent._scanner import TAG_NAME, LazyAttrs, skip
from consent.catalogue import Catalogue, not_tracker_hosts
from consent.config import TrackerRule
from consent.cookie import CookiePayload
from consent.holdback import HoldbackPolicy
from consent.names import (
    ANALYTICS,
    ATTR_CATEGORY,
    ATTR_HELD,
    ATTR_HELD_PREFIX,
    ATTR_HELD_SRC,
    ATTR_PLACEHOLDER,
    MARKETING,
    NECESSARY,
    PREFERENCES,
)
from consent.parties import Parties
from consent.rewriter import Answers, Element, Hold, rewrite
from consent.urls import resolve
from tests.conftest import csrf_token, http_scope, without_held_marker
from tests.holdback.pages import (
    ALL,
    CATALOGUE,
    FETCHING,
    FILLER,
    LIBRARIES,
    MARKED,
    NEVER_HELD,
    SITE_HOST,
    TRACKERS,
    Snippet,
    by_key,
    marked,
    news_page,
    own,
    parse,
    service,
    tag,
)

OPTIONAL = (PREFERENCES, ANALYTICS, MARKETING)
EVERYTHING = frozenset({NECESSARY, *OPTIONAL})
PAGE = news_page(ALL)

# Visitor states, each reached through the real decision endpoint, with what they grant.
STATES: dict[str, tuple[dict[str, Any] | None, frozenset[str]]] = {
    "undecided": (None, frozenset({NECESSARY})),
    "rejected": ({"action": "reject_all"}, frozenset({NECESSARY})),
    "accepted": ({"action": "accept_all"}, EVERYTHING),
    **{
        f"only-{category}": (
            {"action": "custom", "category": category},
            frozenset({NECESSARY, category}),
        )
        for category in OPTIONAL
    },
}


def site(body: str = PAGE, cookies: Sequence[str] = ()) -> Starlette:
    """A news site: the article page, and a page whose app sets the given cookies."""

    async def article(request: Request) -> Response:
        return HTMLResponse(body)

    async def with_cookies(request: Request) -> Response:
        response = HTMLResponse("<!doctype html><html><head></head><body><p>Hi</p></body></html>")
        for header in cookies:
            response.raw_headers.append((b"set-cookie", header.encode("latin-1")))
        return response

    return Starlette(routes=[Route("/", article), Route("/cookies", with_cookies)])


@pytest.fixture
def wrapped(make_config: Callable[..., ConsentConfig]) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def build(app: Starlette | None = None, **config: Any) -> TestClient:
        client = TestClient(
            ConsentMiddleware(app or site(), config=make_config(**config)),
            base_url=f"http://{SITE_HOST}",
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def decide(client: TestClient, choice: dict[str, Any] | None) -> None:
    if choice is None:
        return
    token = csrf_token(client)
    response = client.post(
        "/_consent/decision", data={**choice, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


def region(page: str, key: str) -> str:
    """The output between a snippet's markers."""
    start = f"<!-- snippet:{key} -->"
    assert page.count(start) == 1, key
    return page.split(start, 1)[1].split(f"<!-- /snippet:{key} -->", 1)[0]


def check_page(page: str, granted: frozenset[str], snippets: Sequence[Snippet] = ALL) -> None:
    """Every snippet of a refused category is inert; every other one is byte-identical."""
    parsed = parse(page)
    refused = [s for s in snippets if s.category is not None and s.category not in granted]
    allowed = [s for s in snippets if s not in refused]
    allowed_hosts = {h for s in allowed for h in s.hosts}
    forbidden_hosts = {h for s in refused for h in s.hosts} - allowed_hosts
    forbidden_urls = {u for s in refused for u in s.urls}
    refused_code = {t.strip() for s in refused for t in s.scripts}

    # Nothing anywhere in the page fetches from a refused service or runs its code.
    for fetch in parsed.fetches:
        assert fetch.url not in forbidden_urls, fetch
        assert fetch.host not in forbidden_hosts, fetch
    for element in parsed.elements:
        if element.runs_inline:
            assert element.text.strip() not in refused_code, element
        if ATTR_HELD in element.attrs:
            assert element.attrs[ATTR_CATEGORY] not in granted, element

    for snippet in allowed:
        assert snippet.markup in page, f"{snippet.key} must pass through byte for byte"
        assert ATTR_PLACEHOLDER not in region(page, snippet.key)
    for snippet in refused:
        assert snippet.markup not in page, snippet.key
        check_held(snippet, [e for e in parsed.elements if e.snippet == snippet.key])
        check_placeholder(snippet, region(page, snippet.key))


def check_held(snippet: Snippet, output: Sequence[Any]) -> None:
    """Element by element: what fetched or ran is held with its category, and restorable."""
    original = parse(snippet.markup)
    shown = [e for e in output if not e.placeholder]
    assert [e.tag for e in shown] == [e.tag for e in original.elements], snippet.key
    for before, after in zip(original.elements, shown, strict=True):
        fetching = {f.attribute for f in original.fetches if f.element is before}
        if before.tag == "script" and (fetching or before.runs_inline):
            assert not after.executable, (snippet.key, after)
            assert "src" not in after.attrs
            assert after.text == before.text
            assert after.attrs.get(ATTR_HELD_SRC) == before.attrs.get("src")
        elif fetching:
            for attribute in FETCHING[before.tag]:
                assert attribute not in after.attrs, (snippet.key, after)
            for attribute in fetching:
                held = ATTR_HELD_SRC if attribute == "src" else ATTR_HELD_PREFIX + attribute
                assert after.attrs[held] == before.attrs[attribute]
        else:
            assert after.attrs == before.attrs, (snippet.key, after)
            continue
        assert after.attrs[ATTR_CATEGORY] == snippet.category
        assert ATTR_HELD in after.attrs


def vendor_of(snippet: Snippet) -> str:
    if snippet.service is not None:
        return snippet.service.name
    return str(parse(snippet.markup).elements[0].attrs.get("data-consent-vendor"))


EMBED_TAGS = frozenset({"iframe", "embed", "object", "video", "audio"})


def check_placeholder(snippet: Snippet, output: str) -> None:
    """Players, posts and maps are announced in place; pixels, tags and ad frames are not."""
    tags = {e.tag for e in parse(snippet.markup).elements}
    if snippet.service is None:
        wants = bool(tags & EMBED_TAGS)
    else:
        wants = snippet.embed and bool(tags & (EMBED_TAGS | {"script"}))
    if not wants:
        assert ATTR_PLACEHOLDER not in output, snippet.key
        return
    assert f'{ATTR_PLACEHOLDER}="{snippet.category}"' in output, snippet.key
    assert f'data-consent-allow="{snippet.category}"' in output
    assert html.escape(vendor_of(snippet)) in output, snippet.key


# ----- the fixtures themselves ---------------------------------------------------------------


def test_pages_carry_forty_services_and_never_held_hosts_are_no_trackers() -> None:
    services = {s.service.id for s in TRACKERS if s.service is not None}
    assert len(services) >= 40
    by_key(ALL)  # keys are unique
    for snippet in TRACKERS:
        assert snippet.hosts, snippet.key
        for host in snippet.hosts:
            assert CATALOGUE.match_host(host) is not None or snippet.service.urls, host  # type: ignore[union-attr]
    for snippet in LIBRARIES + tuple(s for s in NEVER_HELD if s.service is None):
        for url in snippet.urls:
            assert CATALOGUE.match_url(url) is None, url
    assert {s.category for s in TRACKERS} == set(OPTIONAL)


# ----- every state ----------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(STATES))
def test_page_in_every_state(wrapped: Callable[..., TestClient], state: str) -> None:
    choice, granted = STATES[state]
    client = wrapped()
    decide(client, choice)
    response = client.get("/")
    assert response.status_code == 200
    check_page(response.text, granted)


@pytest.mark.parametrize("state", ["undecided", "rejected"])
def test_a_plain_client_sees_every_tracker_inert(
    wrapped: Callable[..., TestClient], state: str
) -> None:
    """C.17 and C.18: without consent, and after refusal on every later page."""
    client = wrapped()
    decide(client, STATES[state][0])
    for _ in range(2):
        page = client.get("/").text
        held = [e for e in parse(page).elements if ATTR_HELD in e.attrs]
        assert {e.snippet for e in held} >= {s.key for s in TRACKERS + MARKED if s.hosts}
        assert not [
            f for f in parse(page).fetches if f.host and f.host.endswith(".partner.example")
        ]


def test_embeds_get_a_placeholder_naming_the_vendor(wrapped: Callable[..., TestClient]) -> None:
    page = wrapped().get("/").text
    embeds = [s for s in TRACKERS if s.embed and "<img" not in s.markup]
    assert len(embeds) >= 10
    for snippet in embeds:
        text = region(page, snippet.key)
        assert html.escape(snippet.service.name) in text  # type: ignore[union-attr]
        assert text.index(ATTR_PLACEHOLDER) < text.index(ATTR_HELD)
    widget = region(page, "partner-widget")
    assert "Partner Widgets Ltd" in widget


def test_data_blocks_and_share_links_are_never_held(wrapped: Callable[..., TestClient]) -> None:
    page = wrapped().get("/").text
    for key in ("json-ld", "share-links", "template", "fonts"):
        assert ATTR_HELD not in region(page, key)


def test_consent_mode_defaults_come_before_the_first_google_tag(
    wrapped: Callable[..., TestClient],
) -> None:
    """H.35 on the server's side: gcm.js is the first script of the head."""
    page = wrapped().get("/").text
    defaults = page.index("/_consent/static/gcm.")
    google = [s for s in TRACKERS if s.service is not None and s.service.google]
    assert google
    assert all(defaults < page.index(s.wrapped()[:40]) for s in google)
    first_script = next(e for e in parse(page).elements if e.tag == "script")
    assert (first_script.attrs.get("src") or "").startswith("/_consent/static/gcm.")


# ----- operator rules and precedence ----------------------------------------------------------

PARTNER = own(
    "partner-stats",
    '<script src="https://metrics.partner.example/collect.js"></script>',
    "metrics.partner.example",
)
PARTNER_INLINE = own(
    "partner-inline",
    "<script>partnerStats.track('pageview', {section: 'city'});</script>",
)


def test_operator_rules_hold_what_the_catalogue_does_not_know(
    wrapped: Callable[..., TestClient],
) -> None:
    rules = (
        TrackerRule(category=ANALYTICS, host="partner.example", vendor="Partner Metrics"),
        TrackerRule(category=PREFERENCES, inline="partnerStats.track("),
    )
    app = site(news_page([PARTNER, PARTNER_INLINE, *LIBRARIES]))
    undecided = wrapped(app, rules=rules)
    page = undecided.get("/").text
    check_page(
        page,
        frozenset({NECESSARY}),
        [
            marked(PARTNER.key, PARTNER.markup, ANALYTICS, *PARTNER.hosts),
            marked(PARTNER_INLINE.key, PARTNER_INLINE.markup, PREFERENCES),
            *LIBRARIES,
        ],
    )
    chosen = wrapped(app, rules=rules)
    decide(chosen, {"action": "custom", "category": ANALYTICS})
    page = chosen.get("/").text
    assert PARTNER.markup in page
    assert PARTNER_INLINE.markup not in page


def test_precedence_is_markup_then_rules_then_catalogue(
    wrapped: Callable[..., TestClient],
) -> None:
    analytics_tag = service("google-analytics")
    assert analytics_tag.category == ANALYTICS
    by_catalogue = tag(
        "parsely", '<script src="https://cdn.parsely.com/keys/news.example/p.js"></script>'
    )
    by_rule = own(
        "ga-by-rule", '<script async src="https://www.google-analytics.com/analytics.js"></script>'
    )
    by_inline_rule = own(
        "ga-inline-rule", "<script>ga('create', 'UA-1-1', 'auto'); /* newsroom-ga */</script>"
    )
    by_markup = own(
        "ga-marked",
        '<script data-consent-category="marketing"'
        ' src="https://www.google-analytics.com/analytics.js?marked"></script>',
    )
    rules = (
        TrackerRule(category=PREFERENCES, host="www.google-analytics.com"),
        TrackerRule(category=PREFERENCES, inline="newsroom-ga"),
    )
    app = site(news_page([by_catalogue, by_rule, by_inline_rule, by_markup]))
    expected = {
        by_catalogue.key: by_catalogue.category,
        by_rule.key: PREFERENCES,
        by_inline_rule.key: PREFERENCES,
        by_markup.key: MARKETING,
    }
    client = wrapped(app, rules=rules)
    held = {
        e.snippet: e.attrs[ATTR_CATEGORY]
        for e in parse(client.get("/").text).elements
        if ATTR_HELD in e.attrs
    }
    assert held == expected
    decide(client, {"action": "custom", "category": PREFERENCES})
    page = client.get("/").text
    assert by_rule.markup in page and by_inline_rule.markup in page
    assert by_markup.markup not in page and by_catalogue.markup not in page


def test_marked_category_is_read_like_the_browser_reads_it(
    wrapped: Callable[..., TestClient],
) -> None:
    markup = '<img data-consent-category=" Analytics " src="https://img.partner.example/a.png">'
    client = wrapped(site(news_page([own("odd-case", markup)])))
    decide(client, {"action": "custom", "category": ANALYTICS})
    assert markup in client.get("/").text


# ----- Global Privacy Control -----------------------------------------------------------------


def test_gpc_refuses_marketing_even_after_accept_all(wrapped: Callable[..., TestClient]) -> None:
    """G.31-33: the signal wins over an earlier opt-in, and the page says it was honoured."""
    client = wrapped()
    decide(client, {"action": "accept_all"})
    response = client.get("/", headers={"sec-gpc": "1"})
    check_page(response.text, EVERYTHING - {MARKETING})
    assert 'class="cst-gpc"' in response.text
    without_signal = client.get("/").text
    check_page(without_signal, EVERYTHING)


def test_gpc_from_the_first_request(wrapped: Callable[..., TestClient]) -> None:
    client = wrapped()
    page = client.get("/", headers={"sec-gpc": "1"}).text
    check_page(page, frozenset({NECESSARY}))
    assert 'class="cst-gpc"' in page


def test_gpc_is_ignored_when_the_operator_turns_it_off(
    wrapped: Callable[..., TestClient],
) -> None:
    client = wrapped(honour_gpc=False)
    decide(client, {"action": "accept_all"})
    check_page(client.get("/", headers={"sec-gpc": "1"}).text, EVERYTHING)


# ----- cookies the app sets -------------------------------------------------------------------

OPERATOR_COOKIES = {
    "site_lang": PREFERENCES,
    "visit_id": ANALYTICS,
    "ab_*": ANALYTICS,
}
# Cookie name -> the service that declares it in the catalogue.
CATALOGUE_COOKIES = {
    "_ga": "google-analytics",
    "_ga_NEWS2026": "google-analytics",
    "_fbp": "meta-pixel",
    "_cb": "chartbeat",
    "_hjSessionUser_3456789": "hotjar",
    "_pk_id.3.a1b2": "matomo-cloud",
    "__stripe_mid": "stripe",
}


def expected_category(name: str) -> str | None:
    if name in CATALOGUE_COOKIES:
        return service(CATALOGUE_COOKIES[name]).category
    if name.startswith("ab_"):
        return OPERATOR_COOKIES["ab_*"]
    return OPERATOR_COOKIES.get(name)


APP_COOKIES = [*CATALOGUE_COOKIES, "site_lang", "visit_id", "ab_headline", "session"]


def set_cookie_names(response: Any) -> list[str]:
    return [h.split("=", 1)[0] for h in response.headers.get_list("set-cookie")]


@pytest.mark.parametrize("state", list(STATES))
def test_app_cookies_of_refused_purposes_never_leave(
    wrapped: Callable[..., TestClient], state: str
) -> None:
    choice, granted = STATES[state]
    headers = [f"{name}=v; Path=/; Max-Age=3600" for name in APP_COOKIES]
    client = wrapped(site(cookies=headers), cookie_categories=OPERATOR_COOKIES)
    decide(client, choice)
    names = set(set_cookie_names(client.get("/cookies")))
    for name in APP_COOKIES:
        category = expected_category(name)
        allowed = category is None or category in granted or category == NECESSARY
        assert (name in names) == allowed, (state, name, category)


def test_deleting_a_refused_cookie_always_passes(wrapped: Callable[..., TestClient]) -> None:
    headers = [
        "_ga=; Path=/; Max-Age=0",
        "_fbp=; Path=/; Expires=Wed, 31 Dec 1969 23:59:59 GMT",
        "_cb=x; Path=/; Expires=Thu, 01-Jan-1970 00:00:01 GMT",
        "_gid=x; Path=/; Max-Age=60",
    ]
    client = wrapped(site(cookies=headers))
    names = set_cookie_names(client.get("/cookies"))
    assert [n for n in names if n != "consent_csrf"] == ["_ga", "_fbp", "_cb"]


@pytest.mark.parametrize("policy", ["allow", "block"])
def test_undeclared_cookies_follow_the_policy_and_are_reported(
    wrapped: Callable[..., TestClient], policy: str
) -> None:
    headers = ["mystery=1; Path=/", "__Secure-_ga=GA1; Path=/; Secure", "site_lang=en; Path=/"]
    client = wrapped(
        site(cookies=headers), undeclared_cookies=policy, cookie_categories=OPERATOR_COOKIES
    )
    decide(client, {"action": "accept_all"})
    names = set_cookie_names(client.get("/cookies"))
    assert ("mystery" in names) == (policy == "allow")
    assert "__Secure-_ga" in names and "site_lang" in names
    runtime = client.app.runtime  # type: ignore[attr-defined]
    assert runtime.cookie_policy.undeclared == {"mystery"}


# ----- withdrawal -----------------------------------------------------------------------------


def expired(response: Any) -> dict[str, set[str | None]]:
    """Cookie name -> the Domain attributes of the headers that delete it."""
    found: dict[str, set[str | None]] = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        attributes = {
            k.strip().lower(): v.strip()
            for k, _, v in (p.partition("=") for p in header.split(";")[1:])
        }
        if attributes.get("max-age") == "0":
            found.setdefault(name, set()).add(attributes.get("domain"))
    return found


@pytest.mark.parametrize(
    ("second", "granted_after"),
    [
        ({"action": "reject_all"}, frozenset({NECESSARY})),
        ({"action": "custom", "category": ANALYTICS}, frozenset({NECESSARY, ANALYTICS})),
    ],
)
def test_withdrawal_expires_the_cookies_of_withdrawn_purposes(
    wrapped: Callable[..., TestClient], second: dict[str, Any], granted_after: frozenset[str]
) -> None:
    client = wrapped(cookie_categories=OPERATOR_COOKIES)
    decide(client, {"action": "accept_all"})
    for name in APP_COOKIES:
        client.cookies.set(name, "1")
    token = csrf_token(client)
    response = client.post(
        "/_consent/decision", data={**second, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    gone = expired(response)
    variants = {None, f".{SITE_HOST}", ".news.example"}
    for name in APP_COOKIES:
        category = expected_category(name)
        withdrawn = category is not None and category not in granted_after | {NECESSARY}
        assert (name in gone) == withdrawn, name
        if withdrawn:
            assert gone[name] == variants, name
    assert "consent" not in gone


# ----- chunk boundaries through the whole middleware ------------------------------------------

CSRF_NONCE = "n" * 32


async def stream_through(
    middleware: ConsentMiddleware, chunks: Sequence[bytes], cookie: str
) -> bytes:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    middleware.app = app
    scope = http_scope("/news/night-trams", host=SITE_HOST, headers=[(b"cookie", cookie.encode())])
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await middleware(scope, receive, send)
    return b"".join(body)


@pytest.fixture
def streaming(make_config: Callable[..., ConsentConfig]) -> ConsentMiddleware:
    middleware = ConsentMiddleware(site(), config=make_config())
    # Every service of the fixtures is met once, so that the banner's vendor lists are the
    # same for all the pages below.
    asyncio.run(stream_through(middleware, [PAGE.encode()], ""))
    return middleware


PIECES = [s.wrapped() for s in ALL] + list(FILLER) + ["<p>é ü 日本</p>", "<br>", "\n"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    head=st.lists(st.sampled_from([s.wrapped() for s in ALL if s.place == "head"]), max_size=6),
    body=st.lists(st.sampled_from(PIECES), max_size=30),
    granted=st.sets(st.sampled_from(OPTIONAL)),
    decided=st.booleans(),
    data=st.data(),
)
def test_any_split_gives_the_unsplit_output(
    streaming: ConsentMiddleware,
    head: list[str],
    body: list[str],
    granted: set[str],
    decided: bool,
    data: st.DataObject,
) -> None:
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>T</title>'
        + "".join(head)
        + "</head><BODY class=article>"
        + "".join(body)
        + "</body></html>"
    ).encode()
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(page)), max_size=40))))
    chunks = [page[a:b] for a, b in zip([0, *cuts], [*cuts, len(page)], strict=True)]
    cookie = f"consent_csrf={CSRF_NONCE}"
    if decided:
        now = streaming.runtime.now()
        payload = CookiePayload("id-1", frozenset({NECESSARY, *granted}), "1", now)
        cookie += "; consent=" + streaming.runtime.codec.encode(payload)
    whole = asyncio.run(stream_through(streaming, [page], cookie))
    split = asyncio.run(stream_through(streaming, chunks, cookie))
    assert without_held_marker(split) == without_held_marker(whole)
    assert b"data-consent-banner" in whole


# -- What the policy reads in the markup it is shown (issue 13, M1/M2) --


def _held(html: str, rules: Sequence[TrackerRule] = ()) -> int:
    from consent.catalogue import Catalogue
    from consent.holdback import HoldbackPolicy
    from consent.rewriter import HtmlRewriter

    policy = HoldbackPolicy(Catalogue.builtin(), rules)
    rewriter = HtmlRewriter(policy.classifier(frozenset({NECESSARY}), None))
    rewriter.feed(html.encode())
    rewriter.close()
    return rewriter.held_count


GA = "www.google-analytics.com"


@pytest.mark.parametrize(
    "html",
    [
        f'<base href="https://{GA}/"><script src="/analytics.js"></script>',
        f'<base href="//{GA}/x/"><img src="collect?v=1">',
        f'<iframe srcdoc="<script src=https://{GA}/analytics.js></script>"></iframe>',
        f"<iframe srcdoc=\"<iframe srcdoc='<img src=https://{GA}/c>'></iframe>\"></iframe>",
        f'<svg><image href="https://{GA}/c" /></svg>',
        f'<svg><script xlink:href="https://{GA}/analytics.js"></script></svg>',
        f'<svg><feImage href="https://{GA}/c"/></svg>',
        f'<head></head><body background="https://{GA}/c.gif">',
        f'<object data="https:\\\\{GA}/c"></object>',
        '<embed src="//www.google-analytics%2Ecom/c">',
        f'<link rel="modulepreload" href="https:{GA}/analytics.js">',
        f'<link rel="icon" href="https://{GA}/favicon.ico">',
        '<img srcset="/own.gif 1x,https://www\u3002google-analytics.com/a,b.gif 2x">',
        '<source srcset="/own.gif 1x, https://a@www.google-analytics%2Ecom:443/c.gif 2x">',
        f'<image src="https://{GA}/c">',
        f'<frame src="https://{GA}/c">',
        f'<script src="https:\\\\{GA}\\analytics.js"></script>',
        '<script src="https://www\u3002google-analytics\uff0ecom/analytics.js"></script>',
        '<script src="https://www&#x3002;google-analytics&#xFF0E;com/analytics.js"></script>',
        f'<script src=" https://{GA.upper()}\t./analytics.js"></script>',
        f'<script src="https:{GA}/analytics.js"></script>',
        # A leading slash, then a character the URL parser removes or reads as a slash, written
        # as a character reference: the value is decoded before it is read as a URL.
        f'<script src="/&Tab;/{GA}/analytics.js"></script>',
        f'<script src="/&#10;/{GA}/analytics.js"></script>',
        f'<script src="/&#47;{GA}/analytics.js"></script>',
        f'<script src="/&bsol;{GA}/analytics.js"></script>',
        f'<iframe src="/&NewLine;/{GA}/c"></iframe>',
        f'<img srcset="/own.gif 1x, /&#92;{GA}/c.gif 2x">',
        f'<script src="&#12;//{GA}/analytics.js"></script>',
        f'<script src="\x01 //{GA}/analytics.js"></script>',
    ],
)
def test_every_way_a_page_names_a_tracker_is_held(html: str) -> None:
    assert _held(html) == 1, html


def test_the_base_applies_to_operator_rules_too() -> None:
    rule = TrackerRule(category=ANALYTICS, host="metrics.partner.example")
    assert _held('<base href="https://metrics.partner.example/"><img src="p.gif">', [rule]) == 1
    assert _held('<img src="p.gif">', [rule]) == 0


def test_an_inline_script_past_the_limit_is_held_unless_shown_harmless() -> None:
    from consent.catalogue import Catalogue
    from consent.holdback import HoldbackPolicy
    from consent.rewriter import HtmlRewriter

    policy = HoldbackPolicy(Catalogue.builtin(), ())
    filler = "var a = 1;\n" * 40_000  # 440 KB: more than the 256 KB read at most
    for page, held in [
        (f"<script>{filler}</script>", 1),
        (f"<script>{filler}ga('create', 'UA-1');</script>", 1),
        (f'<script type="application/json">{{"a": "{filler}"}}</script>', 0),
        ("<script>var a = 1;</script>", 0),
    ]:
        rewriter = HtmlRewriter(policy.classifier(frozenset({NECESSARY}), None))
        for i in range(0, len(page), 65536):
            rewriter.feed(page[i : i + 65536].encode())
        rewriter.close()
        assert rewriter.held_count == held


def _srcset_by_states(value: str) -> list[str]:
    """HTML's srcset splitting, state by state: the reading the classifier must agree with."""
    urls: list[str] = []
    state, url, depth = "between", "", 0
    for char in value + " ":
        if state == "between" and char not in " \t\n\f\r,":
            state, url = "url", char
        elif state == "url" and char in " \t\n\f\r":
            if url.endswith(","):
                urls.append(url.rstrip(","))
                state = "between"
            else:
                urls.append(url)
                state, depth = "descriptors", 0
        elif state == "url":
            url += char
        elif state == "descriptors":
            depth += {"(": 1, ")": -1 if depth else 0}.get(char, 0)
            if char == "," and not depth:
                state = "between"
    return urls


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(["a.jpg", "b", " ", ",", "(", ")", "1x", "\t", "/x,y", "2x,"])))
def test_srcset_candidates_are_split_as_html_splits_them(pieces: list[str]) -> None:
    from consent.holdback import _srcset_urls

    value = "".join(pieces)
    assert _srcset_urls(value) == _srcset_by_states(value)


@pytest.fixture(scope="module")
def remembering_nothing() -> HoldbackPolicy:
    """The shipped catalogue and third-party test with every answer by host worked out anew."""
    catalogue = Catalogue(CATALOGUE.services)
    catalogue._host_alone_cached = lambda host: (None, True)  # type: ignore[assignment]
    catalogue._match_host_cached = catalogue._match_host  # type: ignore[assignment]
    catalogue._match_url_cached = catalogue._match_url  # type: ignore[assignment]
    parties = Parties(("cdn-news.example",), not_tracker_hosts())
    parties._third_party_cached = parties._third_party  # type: ignore[assignment]
    return HoldbackPolicy(catalogue, (), unclassified=MARKETING, parties=parties)


SITES = ["www.news.example", "news.example:8443", "www.googletagmanager.com", "cdn.jsdelivr.net"]
URL_RULES = [rule.partition("/") for s in CATALOGUE.services for rule in s.urls]
URL_HOSTS = [
    *(host for s in CATALOGUE.services[:40] for host in s.hosts[:1]),
    *(host for host, _, _ in URL_RULES[:20]),
    *("www.news.example", "cdn-news.example", "img.cdn-news.example", "unknown-ads.example"),
    *("cdn.jsdelivr.net", "WWW.Google-Analytics.com."),
]
FETCHING_TAGS = st.sampled_from(["script", "img", "iframe", "link", "source", "video", "a"])


@settings(max_examples=300, deadline=None)
@given(
    asked=st.lists(
        st.tuples(
            FETCHING_TAGS,
            st.sampled_from(["https://", "//", "", "/", "HTTPS://"]),
            st.sampled_from(URL_HOSTS),
            st.sampled_from(
                ["/a.js", "/tr?id=1", "", *("/" + path for _, _, path in URL_RULES[:20])]
            ),
            st.sampled_from([None, "https://www.googletagmanager.com/", "//news.example/x/"]),
            st.sampled_from(SITES),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_answers_remembered_by_host_are_the_answers_worked_out_anew(
    remembering_nothing: HoldbackPolicy, asked: list[tuple[str, str, str, str, str | None, str]]
) -> None:
    remembering = HoldbackPolicy(
        CATALOGUE,
        (),
        unclassified=MARKETING,
        parties=Parties(("cdn-news.example",), not_tracker_hosts()),
    )
    # Each element twice: the second time its hosts are remembered, for this site or another.
    for name, scheme, host, path, base, site in asked + asked[::-1]:
        url = f"{scheme}{host}{path}" if scheme not in ("", "/") else f"{scheme}{path[1:]}"
        attrs = {"href" if name in ("link", "a") else "src": url, "rel": "preload", "as": "script"}
        element = Element(name, attrs, base=base)
        assert remembering.verdict(element, site) == remembering_nothing.verdict(element, site), (
            url,
            site,
        )


def test_past_the_bound_of_remembered_page_views_only_the_least_used_is_forgotten() -> None:
    """One visitor state or locale more than the bound costs the one used longest ago its
    answers, not every other state's as well; one in use stays, whatever comes between."""
    policy = HoldbackPolicy(Catalogue([]), [], unclassified=ANALYTICS, parties=Parties())
    bound = holdback._MAX_MEMOS
    locales = [f"l{i}" for i in range(bound + 1)]
    first = {
        locale: policy.classifier(frozenset(), None, memo_key=locale, site="s.example")
        for locale in locales[:bound]
    }
    policy.classifier(frozenset(), None, memo_key=locales[bound], site="s.example")
    again = {
        locale: policy.classifier(frozenset(), None, memo_key=locale, site="s.example")
        for locale in locales[1:bound]
    }
    assert all(again[locale] is first[locale] for locale in locales[1:bound])
    oldest = policy.classifier(frozenset(), None, memo_key=locales[0], site="s.example")
    assert oldest is not first[locales[0]]
    # A page view of the site in use between every two requests naming another site.
    in_use = policy.classifier(frozenset(), None, memo_key="en", site="s.example")
    for i in range(3 * bound):
        policy.classifier(frozenset(), None, memo_key="en", site=f"forged{i}.example")
        assert policy.classifier(frozenset(), None, memo_key="en", site="s.example") is in_use


def test_a_long_script_is_remembered_by_all_of_its_text() -> None:
    """A script longer than the texts kept is remembered by a digest of its text: worked out
    once, and a script differing from it in one byte is worked out on its own."""
    asked: list[str] = []

    def decide(element: Element) -> Hold | None:
        assert element.text is not None
        asked.append(element.text)
        return Hold(category=MARKETING) if element.text.endswith("track()") else None

    remembered = holdback._Remembered(decide, Answers())
    text = "x" * holdback._MAX_MEMO_TEXT
    harmless = Element("script", {}, text + "draw()", b"<script>")
    tracking = Element("script", {}, text + "track()", b"<script>")
    for _ in range(3):
        assert remembered(harmless) is None
        assert remembered(tracking) == Hold(category=MARKETING)
    assert asked == [text + "draw()", text + "track()"]
    # Its digest, not its text, is what is kept: in a tuple, which no text equals.
    kept = [key[1] for key in remembered.known]
    assert all(isinstance(text, tuple) and len(text[0]) == 16 for text in kept)
    # A short script whose characters are those of a digest is another key, without a
    # comparison of str with bytes (an error under `python -bb`).
    digest = cast(tuple[bytes], kept[0])[0].decode("latin-1")
    assert remembered(Element("script", {}, digest, b"<script>")) is None
    assert len(remembered.known) == 3
    # A script cut at the rewriter's limit is still answered every time.
    cut = Element("script", {}, text + "track()", b"<script>", complete=False)
    for _ in range(2):
        assert remembered(cut) == Hold(category=MARKETING)
    assert len(asked) == 5


@pytest.mark.parametrize(
    "nonce",
    ["n0nce", f"https://{GA}/analytics.js", "//connect.facebook.net/en_US/fbevents.js"],
)
def test_no_verdict_reads_a_nonce(nonce: str) -> None:
    """Answers and held forms are kept without the value of a tag's nonce, which a page with a
    Content-Security-Policy changes on every view: no verdict may depend on it."""
    policy = HoldbackPolicy(
        CATALOGUE, [], unclassified=MARKETING, parties=Parties((), not_tracker_hosts())
    )
    for snippet in ALL:
        with_nonce = re.sub(
            r"<([a-zA-Z][a-zA-Z0-9-]*)(?=[\s/>])", rf'<\1 nonce="{nonce}"', snippet.markup, count=1
        )
        assert with_nonce != snippet.markup, snippet.key
        held = []
        for markup in (snippet.markup, with_nonce):
            out = rewrite(
                markup.encode(), policy.classifier(frozenset({NECESSARY}), None, site=SITE_HOST)
            )
            held.append(re.findall(rb'data-consent-category="([^"]*)"', out))
        assert held[0] == held[1], snippet.key


def _attrs(tag: bytes) -> LazyAttrs:
    return LazyAttrs(tag, skip(TAG_NAME, tag, 0), len(tag) - 1)


def test_a_tag_s_answer_is_kept_whatever_its_nonce() -> None:
    """A page with a Content-Security-Policy writes a new nonce into its tags on every view:
    the answer is worked out once, and kept apart from that of a tag whose other bytes
    differ."""
    asked: list[bytes] = []

    def decide(element: Element) -> Hold | None:
        asked.append(element.raw)
        return Hold(category=MARKETING) if "tracker" in (element.attrs.get("src") or "") else None

    remembered = holdback._Remembered(decide, Answers())
    for view in range(3):
        tracking = f'<script nonce="v{view}" src="https://tracker.example/t.js">'.encode()
        own = f"<script src=/own.js NONCE=v{view}>".encode()
        assert remembered(Element("script", _attrs(tracking), None, tracking)) is not None
        assert remembered(Element("script", _attrs(own), None, own)) is None
    assert len(asked) == 2
    # The nonce's value, not what follows it: this tag's value takes in its would-be source.
    swallowed = b'<script nonce= src="https://tracker.example/t.js">'
    assert remembered(Element("script", _attrs(swallowed), None, swallowed)) is None
    assert len(asked) == 3


@pytest.mark.parametrize(
    ("tag", "name"),
    [(tag, name) for tag, names in holdback._FETCHING_ATTRIBUTES.items() for name in names],
)
def test_every_fetching_attribute_is_read_alone_or_among_others(tag: str, name: str) -> None:
    """No attribute that fetches is missed, alone or among others, and they come in order."""
    url = "https://tracker.example/x.js"
    raw = f'<{tag} rel=stylesheet {name}="{url}">'.encode()
    assert holdback._urls(tag, _attrs(raw)) == [url]
    names = holdback._FETCHING_ATTRIBUTES[tag]
    every = " ".join(f'{n}="https://t{i}.example/"' for i, n in enumerate(names))
    raw = f"<{tag} rel=stylesheet alt=x {every}>".encode()
    expected = [f"https://t{i}.example/" for i in range(len(names))]
    assert holdback._urls(tag, _attrs(raw)) == expected


# URLs as pages write them: catalogued hosts and paths, the site's own, unknown third parties,
# relative ones, and spellings only the full reading takes apart.
_SPELLINGS = st.sampled_from(
    [
        "https://www.google-analytics.com/analytics.js",
        "https://www.googletagmanager.com/gtag/js?id=AW-1",
        "https://www.googletagmanager.com/gtag/js?id=G-1",
        "//www.facebook.com/tr?id=1",
        "https://www.facebook.com/plugins/comments.php",
        "https://www.google.com/recaptcha/api.js",
        "https://www.google.com/maps/embed",
        "https://cdn.jsdelivr.net/npm/x.js",
        "https://www.news.example/a.js",
        "https://static.news.example/a.png",
        "https://unknown-ads.example/p.gif",
        "https://partner.example/t.js",
        "HTTPS:\\\\Unknown-Ads.example\\p.gif",
        "https://user@unknown-ads\uff0eexample/p",
        "/\t/unknown-ads.example/p.js",
        "/own/a.js?v=1",
        "gtag/js?id=AW-1",
        "?id=G-1",
        "data:image/gif;base64,R0lGOD",
        "javascript:void(0)",
        "https://[::1]/x",
        "",
    ]
)


@settings(max_examples=1500, deadline=None)
@given(
    tag=st.sampled_from(["script", "iframe", "img", "link", "video", "embed"]),
    src=_SPELLINGS,
    second=_SPELLINGS,
    base=st.sampled_from(
        [None, "https://www.googletagmanager.com/", "https://www.news.example/x/"]
    ),
    rules=st.booleans(),
    pixel=st.booleans(),
)
def test_each_url_read_once_answers_as_each_reading_did(
    tag: str, src: str, second: str, base: str | None, rules: bool, pixel: bool
) -> None:
    """An element's URLs are read once for the rules, the catalogue and the third-party test:
    its verdict is what asking each of them about each URL gives."""
    catalogue = Catalogue.builtin()
    parties = Parties(allowed=not_tracker_hosts())
    host_rules = [TrackerRule(category=ANALYTICS, host="partner.example")] if rules else []
    policy = HoldbackPolicy(catalogue, host_rules, unclassified=MARKETING, parties=parties)
    first_name, second_name = holdback._FETCHING_ATTRIBUTES[tag][:2]
    attrs = {first_name: src, second_name: second, "rel": "preload"}
    if pixel:
        attrs |= {"width": "1", "height": "1"}
    element = Element(tag, attrs, base=base)
    urls = holdback._urls(element.tag, element.attrs)
    hosts = [resolve(url, base) for url in urls]

    expected: tuple[str, str | None] | None = None
    rule_hit = rules and any(
        h == "partner.example" or (h or "").endswith(".partner.example") for h in hosts
    )
    services = [s for s in (catalogue.match_url(url, base) for url in urls) if s is not None]
    third = [h for h in hosts if h is not None and parties.third_party(h, "www.news.example")]
    if rule_hit:
        expected = (ANALYTICS, "partner.example")
    elif services:
        expected = (services[0].category, services[0].name)
    elif third and (tag in ("script", "iframe", "embed", "link") or (tag == "img" and pixel)):
        # The first third party decides; a preload hint fetches code.
        expected = (MARKETING, third[0])
    verdict = policy.verdict(element, "www.news.example")
    assert (None if verdict is None else (verdict.category, verdict.vendor)) == expected
