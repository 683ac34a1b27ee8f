"""Decisions through nginx terminating TLS, in Chromium, with and without JavaScript.

Two deployments of the same small site: one mounted under /news with uvicorn trusting the
proxy's forwarded headers (``--proxy-headers --forwarded-allow-ips 127.0.0.1 --root-path
/news``), one at the root with uvicorn told nothing and ``public_origin`` configured.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest

from tests.deploy.conftest import Deployment

pytestmark = pytest.mark.browser

FIRST = "[data-consent-layer='1']"
SECOND = "[data-consent-layer='2']"
GRANTED = {
    "accept_all": {"necessary", "preferences", "analytics", "marketing"},
    "reject_all": {"necessary"},
    "custom": {"necessary", "analytics"},
}


class Recorded:
    """A Chromium context on the deployment that records every response it gets."""

    def __init__(self, browser: Any, base: str, javascript: bool) -> None:
        self.base = base
        self.javascript = javascript
        self.origin = "https://" + urlsplit(base).netloc
        self.context = browser.new_context(ignore_https_errors=True, java_script_enabled=javascript)
        self.responses: list[tuple[int, str, str | None]] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("response", self._record)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _route(self, route: Any) -> None:
        # Third parties are not reachable from the test: answered by nobody, recorded by none.
        if route.request.url.startswith(self.origin + "/"):
            route.continue_()
        else:
            route.abort()

    def _record(self, response: Any) -> None:
        self.responses.append((response.status, response.url, response.headers.get("location")))

    def cookie(self, name: str) -> dict[str, Any]:
        found = [c for c in self.context.cookies() if c["name"] == name]
        assert len(found) == 1, f"expected one {name} cookie, got {self.context.cookies()}"
        cookie: dict[str, Any] = found[0]
        return cookie


@pytest.fixture(params=["proxied", "direct"])
def where(request: pytest.FixtureRequest, deployment: Deployment) -> tuple[str, Path]:
    if request.param == "proxied":
        return deployment.proxied, deployment.proxied_db
    return deployment.direct, deployment.direct_db


@pytest.fixture(params=[True, False], ids=["js", "nojs"])
def visit(
    browser: Any, where: tuple[str, Path], request: pytest.FixtureRequest
) -> Iterator[Recorded]:
    recorded = Recorded(browser, where[0], javascript=request.param)
    yield recorded
    recorded.context.close()


def _decide(visit: Recorded, action: str) -> None:
    page, javascript = visit.page, visit.javascript
    article = f"{visit.base}/article?x=1"
    page.goto(article)
    if action == "custom" and javascript:
        page.locator(f"{FIRST} [data-consent-action='customize']").click()
        page.locator(f"{SECOND} input[name='category'][value='analytics']").check()
        button = page.locator(f"{SECOND} [data-consent-action='custom']")
    elif action == "custom":
        # Without a script the second layer is the preferences page, one redirect away.
        page.locator(f"{FIRST} [data-consent-action='customize']").click()
        page.wait_for_url(re.compile(re.escape(visit.base) + r"/_consent/preferences\?"))
        page.locator("input[name='category'][value='analytics']").check()
        button = page.locator("button[value='custom']")
    else:
        button = page.locator(f"{FIRST} [data-consent-action='{action}']")
    decision_url = f"{visit.base}/_consent/decision"
    with page.expect_response(lambda r: r.url == decision_url) as answer:
        button.click()
    status = answer.value.status
    assert status == (200 if javascript else 303), (status, answer.value.text())
    if javascript:
        page.wait_for_function("document.cookie.indexOf('consent=') >= 0")
        assert page.locator("[data-consent-banner]").is_hidden()
    else:
        page.wait_for_url(article)
    assert page.url == article
    assert visit.errors == []


def _assert_stored_and_on_https(visit: Recorded, db: Path, action: str) -> None:
    receipt = visit.context.request.get(f"{visit.base}/_consent/receipt")
    assert receipt.status == 200, receipt.text()
    consent_id = receipt.json()["consent_id"]
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT action, granted FROM receipts WHERE consent_id = ?", (consent_id,)
        ).fetchall()
    assert len(rows) == 1
    assert rows[0][0] == action
    assert set(re.findall(r"[a-z]+", rows[0][1])) == GRANTED[action]

    assert visit.responses, "no response was recorded"
    for status, url, location in visit.responses:
        assert url.startswith(visit.origin + "/"), url
        assert status < 400, (status, url)
        if 300 <= status < 400:
            assert location is not None
            # Relative to the page's own https origin, or on it: never back to plain http.
            assert location.startswith("/") and not location.startswith("//"), location
            assert location.startswith(urlsplit(visit.base).path + "/"), location


@pytest.mark.parametrize("action", ["accept_all", "reject_all", "custom"])
def test_a_decision_through_the_tls_proxy_is_stored_secure_and_stays_on_https(
    visit: Recorded, where: tuple[str, Path], action: str
) -> None:
    _decide(visit, action)
    _assert_stored_and_on_https(visit, where[1], action)
    # On https without a shared cookie domain both cookies carry the __Host- prefix.
    consent = visit.cookie("__Host-consent")
    assert consent["secure"] is True
    assert visit.cookie("__Host-consent_csrf")["secure"] is True
    assert consent["path"] == "/"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_with_nothing_configured_the_browser_metadata_still_admits_decisions(
    browser: Any, deployment: Deployment, javascript: bool
) -> None:
    # The server sees http and knows no public origin: Sec-Fetch-Site is the browser's word.
    visit = Recorded(browser, deployment.bare, javascript=javascript)
    try:
        _decide(visit, "accept_all")
        _assert_stored_and_on_https(visit, deployment.bare_db, "accept_all")
    finally:
        visit.context.close()


def test_without_fetch_metadata_the_origin_must_be_the_public_one(
    deployment: Deployment,
) -> None:
    # A browser without Sec-Fetch-Site: only Origin tells where the post comes from. Behind
    # the proxy the server saw http, so only public_origin makes the https origin its own.
    with httpx.Client(verify=False, base_url=deployment.direct) as client:
        page = client.get("/article")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        form = {"action": "accept_all", "csrf_token": token.group(1), "next": "/article"}
        for origin in ("https://evil.example", deployment.direct.replace("https:", "http:")):
            refused = client.post("/_consent/decision", data=form, headers={"origin": origin})
            assert refused.status_code == 403, origin
        accepted = client.post(
            "/_consent/decision", data=form, headers={"origin": deployment.direct}
        )
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/article"
        cookies = accepted.headers.get_list("set-cookie")
        assert any(c.startswith("__Host-consent=") and "; Secure" in c for c in cookies), cookies
