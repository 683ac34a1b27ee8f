"""The consent-aware policy in Chromium: what a script adds after load is stopped by the browser.

A stand-in for a tag manager adds a marketing script, an analytics pixel and a library script
once the page has loaded, where no server-side rewriting can see them. Under the policy built
for the visitor's choice, Chromium loads only what that choice allows (enforce), or loads
everything and reports what it would have refused (report-only).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consent.catalogue import Catalogue, not_tracker_hosts
from consent.csp import CspMode, PolicyBuilder, ReportCounter, parse_reports
from tests.browser.conftest import LiveServer, PageErrors, Visit, _open

MARKETING = "https://connect.facebook.net/en_US/fbevents.js"
ANALYTICS = "https://www.google-analytics.com/collect?v=1"
LIBRARY = "https://cdnjs.cloudflare.com/ajax/libs/jquery/3.7.1/jquery.min.js"

PAGE = f"""<!doctype html><html lang="en"><head><title>Article</title></head><body>
<h1>Article</h1>
<script>
window.addEventListener("load", () => {{
  for (const src of ["{MARKETING}", "{LIBRARY}"]) {{
    const s = document.createElement("script"); s.src = src; document.head.append(s);
  }}
  const pixel = new Image(); pixel.src = "{ANALYTICS}";
  document.body.dataset.injected = "yes";
}});
</script></body></html>"""

CATEGORIES = ("necessary", "preferences", "analytics", "marketing")


@pytest.fixture(scope="module")
def reports() -> ReportCounter:
    return ReportCounter()


@pytest.fixture(scope="module")
def site(reports: ReportCounter) -> Iterator[LiveServer]:
    builder = PolicyBuilder(Catalogue.builtin(), CATEGORIES, library_hosts=not_tracker_hosts())

    async def page(request: Request) -> Response:
        query = parse_qs(request.url.query)
        granted = {"necessary", *query.get("granted", [])}
        mode = CspMode(query.get("mode", ["enforce"])[0])
        policy = builder.policy(granted, request.url.netloc, report_path="/csp-report")
        return HTMLResponse(
            PAGE,
            headers={mode.header_name: policy},
        )

    async def report(request: Request) -> Response:
        reports.add(parse_reports(await request.body()))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/", page), Route("/csp-report", report, methods=["POST"])])
    with LiveServer(app) as server:
        yield server


def _load(browser: Any, site: LiveServer, query: str) -> Visit:
    visit = _open(browser, site)
    visit.page.goto(f"{site.url}/?{query}")
    visit.page.wait_for_selector("body[data-injected=yes]")
    visit.page.wait_for_load_state("networkidle")
    return visit


def _loaded(visit: Visit) -> set[str]:
    found = set()
    for url, name in ((MARKETING, "marketing"), (ANALYTICS, "analytics"), (LIBRARY, "library")):
        if any(seen.startswith(url) for seen in visit.third_party):
            found.add(name)
    return found


def test_a_refusing_visitor_loads_only_libraries(
    browser: Any, site: LiveServer, page_errors: PageErrors
) -> None:
    page_errors.expect("violates the following Content Security Policy")
    visit = _load(browser, site, "mode=enforce")
    try:
        assert _loaded(visit) == {"library"}
    finally:
        visit.context.close()


def test_a_granted_category_loads_and_the_refused_one_does_not(
    browser: Any, site: LiveServer, page_errors: PageErrors
) -> None:
    page_errors.expect("violates the following Content Security Policy")
    visit = _load(browser, site, "mode=enforce&granted=analytics")
    try:
        assert _loaded(visit) == {"library", "analytics"}
    finally:
        visit.context.close()


def test_everything_granted_loads_everything(browser: Any, site: LiveServer) -> None:
    visit = _load(browser, site, "mode=enforce&granted=analytics&granted=marketing")
    try:
        assert _loaded(visit) == {"library", "analytics", "marketing"}
    finally:
        visit.context.close()


def test_report_only_loads_everything_and_reports_what_it_would_refuse(
    browser: Any, site: LiveServer, reports: ReportCounter, page_errors: PageErrors
) -> None:
    page_errors.expect("violates the following Content Security Policy")
    visit = _load(browser, site, "mode=report-only")
    try:
        assert _loaded(visit) == {"library", "analytics", "marketing"}
        deadline = time.monotonic() + 10
        hosts: set[str] = set()
        while time.monotonic() < deadline:
            hosts = {violation.blocked_host for violation, _ in reports.top()}
            if {"connect.facebook.net", "www.google-analytics.com"} <= hosts:
                break
            time.sleep(0.1)
        assert {"connect.facebook.net", "www.google-analytics.com"} <= hosts
        assert "cdnjs.cloudflare.com" not in hosts
        assert all(violation.path == "/" for violation, _ in reports.top())
    finally:
        visit.context.close()
