"""The browser trusts only the server: cookies it cannot verify, content that imitates the
server's markup, and every script type the server holds back, in a real Chromium.

Third-party hosts are answered locally by Playwright routing and recorded: "nothing loaded"
means no request for them was even made.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consent import ConsentMiddleware
from consent.cookie import ConsentCookieCodec, CookiePayload
from consent.holdback import _SCRIPT_TYPES
from consent.names import ANALYTICS, MARKETING, NECESSARY, PREFERENCES
from tests.browser.conftest import GIF, LiveServer, PageErrors, demo_config
from tests.browser.test_banner_browser import _axe
from tests.conftest import SECRET

pytestmark = pytest.mark.browser

BANNER = "[data-consent-banner]"
ALL = [NECESSARY, PREFERENCES, ANALYTICS, MARKETING]
VERSION = "2026-11"  # demo_config's policy version
TRACKER = "tracker.example"
SERVICES = (
    {
        "id": "test-tracker",
        "name": "Test tracker",
        "vendor": "Tracker Example Ltd",
        "category": ANALYTICS,
        "hosts": [TRACKER],
        "privacy_policy": "https://tracker.example/privacy",
    },
)

TRACKERS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Trust</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-TRUST"></script>
</head><body><h1>News</h1>
<script src="https://connect.facebook.net/en_US/fbevents.js"></script>
<iframe title="video" src="https://www.youtube.com/embed/trust"></iframe>
<img alt="" src="https://tracker.example/pixel.gif">
</body></html>"""

# Content a page author's users wrote: markup that imitates what the server writes.
USER_CONTENT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Comments</title>
</head><body><h1>Comments</h1>
<a id="guessed" data-consent-category="analytics" data-consent-held
   data-consent-href="javascript:window.__pwned='href'">a link</a>
<a id="spaced" data-consent-category="analytics" data-consent-held="guess"
   data-consent-href=" java&#9;script:window.__pwned='spaced'">another</a>
<iframe id="srcdoc" title="c" data-consent-category="analytics"
   data-consent-srcdoc="<script>parent.__pwned='srcdoc'</script>"></iframe>
<iframe id="jsurl" title="j" data-consent-category="analytics"
   src="javascript:parent.__pwned='javascript-src'"></iframe>
<img id="pixel" alt="" src="https://tracker.example/held.gif">
</body></html>"""

# No <body>: the server's banner goes at the very end, after whatever the content holds.
FAKE_BANNER_PAGE = """<!doctype html><html lang="en"><title>No body</title>
<p>Comment:</p>
<div data-consent-banner id="fake" data-consent-config='{"cookie":"consent","version":"2026-11",
"required":["necessary"],"gpc":false,"shared":false,"state":{"decided":true,
"granted":["necessary","preferences","analytics","marketing"],"consentId":"x"},"held":"",
"gcm":null}'><form data-consent-layer="1" action="https://collect.example/steal"></form>
<form data-consent-layer="2" action="https://collect.example/steal"></form>
<p class="cst-status"></p></div>
<p>Where the page ends: <img alt="" src="https://tracker.example/fake.gif"></p>"""


def script_page() -> str:
    """One held script of every kind: each notes in window.__runs that it ran."""
    tags = []
    for kind in sorted(_SCRIPT_TYPES):
        name = kind or "classic"
        attr = f' type="{kind}"' if kind else ""
        tags.append(f'<script{attr} src="https://{TRACKER}/run.js?{name}"></script>')
    tags.append(f'<script async src="https://{TRACKER}/run.js?async"></script>')
    tags.append(f'<script defer src="https://{TRACKER}/run.js?defer"></script>')
    note = "(window.__runs = window.__runs || []).push('{}')"
    # Marked by the author: the script must not run them a second time once they are granted.
    for kind in sorted(_SCRIPT_TYPES - {"", "module"}):
        marked = f"inline {kind}"
        tags.append(
            f'<script type="{kind}" data-consent-category="analytics">{note.format(marked)}</script>'
        )
    tags.append(f'<script data-consent-category="analytics">{note.format("inline")}</script>')
    tags.append(
        f'<script type="module" data-consent-category="analytics">{note.format("inline-module")}</script>'
    )
    tags.append(
        '<script type="text/plain" data-consent-category="analytics">'
        f"{note.format('inline-plain')}</script>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Scripts</title></head>'
        "<body><h1>Scripts</h1>" + "\n".join(tags) + "</body></html>"
    )


SCRIPT_KINDS = (
    [k or "classic" for k in sorted(_SCRIPT_TYPES)]
    + [
        "async",
        "defer",
        "inline",
        "inline-module",
        "inline-plain",
    ]
    + [f"inline {k}" for k in sorted(_SCRIPT_TYPES - {"", "module"})]
)


def trust_site() -> Starlette:
    pages = {
        "/": TRACKERS_PAGE,
        "/comments": USER_CONTENT_PAGE,
        "/nobody": FAKE_BANNER_PAGE,
        "/scripts": script_page(),
    }

    async def page(request: Request) -> Response:
        return HTMLResponse(pages[request.url.path])

    return Starlette(routes=[Route(path, page) for path in pages])


def serve(tmp: Path, **overrides: Any) -> LiveServer:
    config = demo_config(tmp, services=SERVICES, **overrides)
    return LiveServer(ConsentMiddleware(trust_site(), config=config))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with serve(tmp_path) as live:
        yield live


@pytest.fixture
def shared_server(tmp_path: Path) -> Iterator[LiveServer]:
    with serve(tmp_path, shared_cache_mode=True) as live:
        yield live


class Browser:
    """A context whose third-party requests are recorded and answered here."""

    def __init__(self, browser: Any, server: LiveServer) -> None:
        self.context = browser.new_context()
        self.server = server
        self.third_party: list[str] = []
        self.own: list[str] = []
        own_host = urlsplit(server.url).netloc
        self.context.route("**/*", self._route)
        self._own_host = own_host
        self.page = self.context.new_page()

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == self._own_host:
            self.own.append(url)
            route.continue_()
            return
        self.third_party.append(url)
        kind = route.request.resource_type
        if kind == "script":
            name = json.dumps(urlsplit(url).query or url)
            body = f"(window.__runs = window.__runs || []).push({name});"
            route.fulfill(status=200, content_type="text/javascript", body=body)
        elif kind == "image":
            route.fulfill(status=200, content_type="image/gif", body=GIF)
        else:
            route.fulfill(status=200, content_type="text/html", body="<p>third party</p>")

    def set_consent_cookie(self, value: str) -> None:
        self.context.add_cookies([{"name": "consent", "value": value, "url": self.server.url}])

    def open(self, path: str = "/") -> Any:
        self.page.goto(self.server.url + path, wait_until="networkidle")
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visitor(browser: Any, server: LiveServer) -> Iterator[Browser]:
    b = Browser(browser, server)
    yield b
    b.close()


# ----- cookies the server does not accept -------------------------------------------------------


def _payload(version: str = VERSION) -> CookiePayload:
    return CookiePayload("planted-id", frozenset(ALL), version, int(time.time()))


def forged() -> str:
    """The payload a planter wants, with a signature made up."""
    body = {"v": VERSION, "g": ALL, "i": "planted-id", "t": int(time.time())}
    raw = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return raw + ".aGVsbG8.c2lnbmF0dXJlLW1hZGUtdXA"


def retired_key() -> str:
    """Signed with a key the site no longer has (or a sibling subdomain's own key)."""
    codec = ConsentCookieCodec(
        ["a-key-retired-long-ago-0123456789"], max_age=86400, policy_version=VERSION
    )
    return codec.encode(_payload())


def old_policy_version() -> str:
    codec = ConsentCookieCodec([SECRET], max_age=86400, policy_version="2025-01")
    return codec.encode(_payload("2025-01"))


def expired() -> str:
    codec = ConsentCookieCodec([SECRET], max_age=86400 * 400, policy_version=VERSION)
    long_ago = int(time.time()) - 400 * 86400
    with mock.patch.object(TimestampSigner, "get_timestamp", return_value=long_ago):
        return codec.encode(_payload())


def valid() -> str:
    codec = ConsentCookieCodec([SECRET], max_age=86400, policy_version=VERSION)
    return codec.encode(_payload())


UNTRUSTED = {
    "forged": forged,
    "retired-key": retired_key,
    "old-policy-version": old_policy_version,
    "expired": expired,
}


def google_updates(page: Any) -> list[dict[str, str]]:
    updates: list[dict[str, str]] = page.evaluate(
        "(window.dataLayer || []).filter(e => e[0] === 'consent' && e[1] === 'update')"
        ".map(e => e[2])"
    )
    return updates


def assert_nothing_trusted(b: Browser, page: Any) -> None:
    page.wait_for_timeout(300)
    assert page.locator(BANNER).is_visible()
    assert page.evaluate("window.consent.state.decided") is False
    assert b.third_party == []
    assert page.locator("[data-consent-held]").count() >= 3
    assert not any("granted" in u.values() for u in google_updates(page))


@pytest.mark.parametrize("make_cookie", UNTRUSTED.values(), ids=UNTRUSTED.keys())
def test_an_unverifiable_cookie_is_no_decision_in_the_browser(
    visitor: Browser, make_cookie: Any
) -> None:
    visitor.set_consent_cookie(make_cookie())
    page = visitor.open()
    assert_nothing_trusted(visitor, page)


def test_a_valid_cookie_releases_what_it_grants(visitor: Browser) -> None:
    """The control for the test above: the same page with a cookie the server signed."""
    visitor.set_consent_cookie(valid())
    page = visitor.open()
    assert not page.locator(BANNER).is_visible()
    assert page.evaluate("window.consent.state") == {
        "decided": True,
        "granted": sorted(ALL),
        "consentId": "planted-id",
    }
    hosts = {urlsplit(u).hostname for u in visitor.third_party}
    assert {"www.googletagmanager.com", "connect.facebook.net", TRACKER} <= hosts


@pytest.mark.parametrize("make_cookie", UNTRUSTED.values(), ids=UNTRUSTED.keys())
def test_shared_cache_mode_asks_the_server_before_releasing(
    browser: Any, shared_server: LiveServer, make_cookie: Any
) -> None:
    b = Browser(browser, shared_server)
    try:
        b.set_consent_cookie(make_cookie())
        page = b.open()
        assert any(u.endswith("/_consent/state") for u in b.own)
        assert_nothing_trusted(b, page)
    finally:
        b.close()


def test_shared_cache_mode_releases_after_the_server_confirms(
    browser: Any, shared_server: LiveServer
) -> None:
    b = Browser(browser, shared_server)
    try:
        b.set_consent_cookie(valid())
        page = b.open()
        page.wait_for_function("window.consent.state.decided")
        page.wait_for_function("(window.__runs || []).length >= 2")
        assert not page.locator(BANNER).is_visible()
        assert any(u.endswith("/_consent/state") for u in b.own)
        assert google_updates(page)[-1]["analytics_storage"] == "granted"
    finally:
        b.close()


# ----- content that imitates the server ---------------------------------------------------------


def accept_all(page: Any) -> None:
    page.locator("[data-consent-layer='1'] [data-consent-action='accept_all']").click()
    page.locator(BANNER).wait_for(state="hidden")
    page.wait_for_function("window.consent.state.decided")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)


def test_only_what_the_server_held_is_restored(visitor: Browser) -> None:
    page = visitor.open("/comments")
    accept_all(page)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#guessed").get_attribute("href") is None
    assert page.locator("#spaced").get_attribute("href") is None
    assert page.locator("#srcdoc").get_attribute("srcdoc") is None
    src = page.locator("#jsurl").get_attribute("src")
    assert src is None or "javascript" not in src
    # What the server itself moved aside comes back.
    assert page.locator("#pixel").get_attribute("src") == "https://tracker.example/held.gif"
    assert any(u.endswith("/held.gif") for u in visitor.third_party)


def test_a_banner_written_by_content_is_not_the_one_used(
    visitor: Browser, page_errors: PageErrors
) -> None:
    page = visitor.open("/nobody")
    banners = page.locator(BANNER)
    assert banners.count() == 2
    assert page.evaluate("window.consent.state.decided") is False
    assert visitor.third_party == []
    page.keyboard.press("Escape")
    page.wait_for_function("window.consent.state.decided")
    real = banners.nth(1)
    real.wait_for(state="hidden")
    assert page.evaluate("window.consent.state.granted") == [NECESSARY]
    assert not any("collect.example" in u for u in visitor.third_party)


# ----- every script type the server holds back runs once ----------------------------------------


@pytest.fixture(scope="module")
def script_runs(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Runs of each held script after "accept all" on the page, and on the next page view,
    where the server no longer holds anything."""
    errors = PageErrors()
    with serve(tmp_path_factory.mktemp("scripts")) as live:
        b = Browser(browser, live)
        errors.watch(b.context)
        try:
            page = b.open("/scripts")
            before = page.evaluate("window.__runs || []")
            accept_all(page)
            page.wait_for_function(
                f"(window.__runs || []).length >= {len(SCRIPT_KINDS)}", timeout=10000
            )
            page.wait_for_timeout(300)
            after_accept = page.evaluate("window.__runs")
            page.reload(wait_until="networkidle")
            page.wait_for_timeout(300)
            after_reload = page.evaluate("window.__runs || []")
        finally:
            b.close()
    return {
        "before": before,
        "accept": after_accept,
        "reload": after_reload,
        "errors": errors.seen,
    }


@pytest.mark.parametrize("kind", SCRIPT_KINDS)
def test_each_held_script_type_runs_exactly_once(script_runs: dict[str, Any], kind: str) -> None:
    assert script_runs["errors"] == []
    assert script_runs["before"] == []
    assert script_runs["accept"].count(kind) == 1, script_runs["accept"]
    assert script_runs["reload"].count(kind) == 1, script_runs["reload"]


# ----- the error fixture itself -----------------------------------------------------------------


def test_a_throwing_banner_script_is_caught_by_the_error_fixture(
    visitor: Browser, page_errors: PageErrors
) -> None:
    visitor.context.route(
        "**/_consent/static/consent.*.js",
        lambda route: route.fulfill(
            status=200,
            content_type="text/javascript",
            body="throw new Error('banner script broke')",
        ),
    )
    visitor.open()
    page_errors_seen = page_errors.take()
    assert any("banner script broke" in e for e in page_errors_seen), page_errors_seen


# ----- focus and the close control --------------------------------------------------------------


def test_reopening_focuses_a_visible_choice(visitor: Browser) -> None:
    visitor.set_consent_cookie(valid())
    page = visitor.open()
    page.locator("[data-consent-open]").click()
    page.locator("[data-consent-layer='2']").wait_for(state="visible")
    focused = page.evaluate(
        "(() => { const e = document.activeElement;"
        " return [e.type, e.name, e.checkVisibility(), !!e.closest('[data-consent-layer=\"2\"]')]; })()"
    )
    assert focused == ["checkbox", "category", True, True]


def test_the_close_control_says_it_refuses_where_it_can_be_seen(visitor: Browser) -> None:
    page = visitor.open()
    close = page.locator("[data-consent-layer='1'] .cst-close")
    label = close.get_attribute("aria-label")
    assert label and "refuse" in label
    close.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    shown = close.evaluate(
        "e => { const s = getComputedStyle(e, '::after'); return [s.content, s.display, s.visibility]; }"
    )
    assert shown[0] == json.dumps(label)
    assert shown[1] != "none" and shown[2] == "visible"
    violations = _axe(page, BANNER)
    assert violations == [], [v["id"] for v in violations]
