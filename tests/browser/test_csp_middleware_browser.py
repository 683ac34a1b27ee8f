"""The consent policy as the middleware sends it, in Chromium: a tag manager's late additions.

A stand-in for a tag manager adds a marketing script, an analytics pixel and a library once
the page has loaded, where the rewriter cannot see them. The middleware's policy for the
visitor's verified choice makes Chromium refuse them (enforce) or report them (report-only,
counted in the store and read back as ``consent csp report`` reads it); after the visitor
accepts, the next page's policy lets them load.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consent import ConsentConfig, ConsentMiddleware
from consent.catalogue import Catalogue
from consent.cspcommand import report
from tests.browser.conftest import LiveServer, PageErrors, Visit, _open
from tests.browser.test_csp_browser import ANALYTICS, LIBRARY, MARKETING, _loaded
from tests.conftest import SECRET

pytestmark = pytest.mark.browser

AUDIT_KEY = "audit-key-for-tests-0123456789"


# A tag manager the site serves itself: first-party, so the rewriter lets it run, and what
# it adds at run time is the browser's to judge.
TAGS = f"""window.addEventListener("load", () => {{
  for (const src of ["{MARKETING}", "{LIBRARY}"]) {{
    const s = document.createElement("script"); s.src = src; document.head.append(s);
  }}
  const pixel = new Image(); pixel.src = "{ANALYTICS}";
  document.body.dataset.injected = "yes";
}});"""

PAGE = """<!doctype html><html lang="en"><head><title>Article</title></head><body>
<h1>Article</h1><p>Text.</p>
<script src="/tags.js"></script>
</body></html>"""


def _site(config: ConsentConfig) -> ConsentMiddleware:
    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def tags(request: Request) -> Response:
        return Response(TAGS, media_type="text/javascript")

    app = Starlette(routes=[Route("/", page), Route("/next", page), Route("/tags.js", tags)])
    return ConsentMiddleware(app, config=config)


def _config(tmp: Path, mode: str) -> ConsentConfig:
    return ConsentConfig(
        secret_key=SECRET,
        audit_url=f"sqlite:///{tmp / 'audit.db'}",
        audit_key=AUDIT_KEY,
        csp_mode=mode,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def enforcing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(_site(_config(tmp_path_factory.mktemp("enforce"), "enforce"))) as server:
        yield server


def _load(visit: Visit, url: str) -> Any:
    response = visit.page.goto(url)
    visit.page.wait_for_selector("body[data-injected=yes]", state="attached")
    visit.page.wait_for_load_state("networkidle")
    return response


def _decide(visit: Visit, action: str) -> None:
    visit.page.locator(f"[data-consent-layer='1'] [data-consent-action='{action}']").click()
    visit.page.locator("[data-consent-banner]").wait_for(state="hidden")
    visit.third_party.clear()


@pytest.fixture
def refused(browser: Any, enforcing: LiveServer, page_errors: PageErrors) -> Iterator[Visit]:
    """A visitor's first page under the enforced policy, not yet decided."""
    page_errors.expect("violates the following Content Security Policy")
    visit = _open(browser, enforcing)
    try:
        first = _load(visit, enforcing.url + "/")
        assert first.headers["content-security-policy"].startswith("default-src 'self'")
        assert "content-security-policy-report-only" not in first.headers
        assert _loaded(visit) == {"library"}  # undecided: every optional category refused
        yield visit
    finally:
        visit.context.close()


def test_enforced_a_refusing_visitor_loads_only_the_library(
    refused: Visit, enforcing: LiveServer
) -> None:
    _decide(refused, "reject_all")
    _load(refused, enforcing.url + "/next")
    assert _loaded(refused) == {"library"}


def test_enforced_accepting_opens_the_next_page_without_a_reload(
    refused: Visit, enforcing: LiveServer
) -> None:
    # The choice is made on this page, which is not reloaded; the next page's policy is
    # built from the new cookie.
    _decide(refused, "accept_all")
    following = _load(refused, enforcing.url + "/next")
    # Every category granted: past the size bound the hosts give way to https: (docs/csp.md).
    restricted = following.headers["content-security-policy"].split(";")[0].split()
    assert restricted[0] == "default-src" and "https:" in restricted
    assert _loaded(refused) == {"library", "analytics", "marketing"}


def test_report_only_loads_everything_and_the_reports_reach_the_command(
    browser: Any, tmp_path: Path, page_errors: PageErrors
) -> None:
    page_errors.expect("violates the following Content Security Policy")
    config = _config(tmp_path, "report-only")
    middleware = _site(config)
    counter = middleware.runtime.csp_reports.counter
    wanted = {"connect.facebook.net", "www.google-analytics.com"}
    with LiveServer(middleware) as server:
        visit = _open(browser, server)
        try:
            response = _load(visit, server.url + "/")
            assert "content-security-policy" not in response.headers
            assert "content-security-policy-report-only" in response.headers
            assert _loaded(visit) == {"library", "analytics", "marketing"}
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if wanted <= {v.blocked_host for v, _ in counter.snapshot()}:
                    break
                time.sleep(0.1)
        finally:
            visit.context.close()
    # The server stopped and flushed its counts to the store, where every worker adds its own.
    out = io.StringIO()
    today = datetime.now(UTC).date()
    # In a thread of its own: the browser's driver already runs an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        code = pool.submit(
            report,
            config.resolved_audit_url,
            AUDIT_KEY,
            out,
            Catalogue.builtin(),
            since=today,
            as_json=True,
        ).result()
    assert code == 0
    rows = {row["blocked_host"]: row for row in json.loads(out.getvalue())}
    assert wanted <= set(rows)
    assert rows["connect.facebook.net"]["category"] == "marketing"
    assert rows["www.google-analytics.com"]["category"] == "analytics"
    assert "cdnjs.cloudflare.com" not in rows
    assert {row["path"] for row in rows.values()} == {"/"}
