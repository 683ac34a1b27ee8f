"""Regions in a real Chromium: the opt-out link, GPC, the choices page without script, the
``__gpp`` API as an ad tag's reader sees it, and axe on what regions add."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from consent import ConsentMiddleware
from consent import gpp as gpp_module
from tests.browser.conftest import LiveServer, demo_config
from tests.browser.test_banner_browser import _axe
from tests.reference import NodeReference

pytestmark = pytest.mark.browser

# The reader an ad tag would be: it asks __gpp as soon as it runs, in the head.
READER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Front page</title>
<script>
window.gppSeen = [];
__gpp("addEventListener", function (event, ok) {
  if (ok && event.eventName === "signalStatus" && event.data === "ready") {
    window.gppSeen.push({string: event.pingData.gppString, sids: event.pingData.applicableSections});
  }
});
__gpp("getField", function (value) { window.gppSaleOptOut = value; }, "usca.SaleOptOut");
</script>
</head><body><main><h1>Front page</h1><p>News of the day.</p></main></body></html>"""

US_CA = {"cf-ipcountry": "US", "cf-region-code": "CA"}
LINK = "Do Not Sell or Share My Personal Information"


def reader_server(tmp_path: Path, **overrides: Any) -> LiveServer:
    """The reader's pages (``/`` in English, ``/ar`` in Arabic) behind regions from Cloudflare."""

    async def front(request: Request) -> HTMLResponse:
        return HTMLResponse(READER)

    async def arabic(request: Request) -> HTMLResponse:
        return HTMLResponse(READER.replace('<html lang="en">', '<html lang="ar" dir="rtl">'))

    app = Starlette(routes=[Route("/", front), Route("/ar", arabic)])
    config = demo_config(tmp_path, region_source="cloudflare", **overrides)
    return LiveServer(ConsentMiddleware(app, config=config))


@pytest.fixture
def regional_site(tmp_path: Path) -> Iterator[LiveServer]:
    with reader_server(tmp_path) as server:
        yield server


def reader_sees(browser: Any, site: LiveServer, headers: dict[str, str]) -> tuple[Any, Any]:
    context = browser.new_context(extra_http_headers=headers)
    page = context.new_page()
    page.goto(site.url + "/", wait_until="networkidle")
    return context, page


def opted_out(gpp_reference: NodeReference, string: str) -> bool:
    """Whether IAB's library reads an opt-out of sale in ``string``."""
    return bool(decoded(gpp_reference, string)["SaleOptOut"] == gpp_module.YES)


def opt_out_on_the_choices_page(page: Any, site: LiveServer) -> None:
    """The choices page's one button, then back on the front page it was opened from."""
    page.goto(site.url + "/_consent/preferences?next=/", wait_until="networkidle")
    page.get_by_role("button", name="Opt out of the sale and sharing").click()
    page.wait_for_url(site.url + "/")


def decoded(gpp_reference: NodeReference, string: str) -> dict[str, Any]:
    answer = gpp_reference.ask(
        {"decode": string, "fields": {"usca": ["SaleOptOut", "SharingOptOut", "Gpc"]}}
    )
    assert "error" not in answer, answer
    sections: dict[str, Any] = answer["sections"]["usca"]
    return sections


def test_a_us_visitor_without_gpc(
    browser: Any, regional_site: LiveServer, gpp_reference: NodeReference
) -> None:
    context, page = reader_sees(browser, regional_site, US_CA)
    assert not page.locator("[data-consent-banner]").is_visible()
    link = page.get_by_role("link", name=LINK)
    assert link.is_visible()
    assert page.get_by_text("Opt-Out Request Honored").count() == 0
    (seen,) = page.evaluate("window.gppSeen")
    assert seen["sids"] == [8]
    assert decoded(gpp_reference, seen["string"]) == {
        "SaleOptOut": gpp_module.NO,
        "SharingOptOut": gpp_module.NO,
        "Gpc": False,
    }
    assert page.evaluate("window.gppSaleOptOut") == gpp_module.NO
    context.close()


def test_a_us_visitor_with_gpc(
    browser: Any, regional_site: LiveServer, gpp_reference: NodeReference
) -> None:
    context, page = reader_sees(browser, regional_site, {**US_CA, "Sec-GPC": "1"})
    assert page.locator(".cst-gpc-honoured").get_by_text("Opt-Out Request Honored").is_visible()
    (seen,) = page.evaluate("window.gppSeen")
    assert decoded(gpp_reference, seen["string"]) == {
        "SaleOptOut": gpp_module.YES,
        "SharingOptOut": gpp_module.YES,
        "Gpc": True,
    }
    assert "consent" in {c["name"] for c in context.cookies()}  # the signal's receipt
    context.close()


def test_a_us_visitor_opts_out_on_the_choices_page_without_script(
    browser: Any, regional_site: LiveServer, gpp_reference: NodeReference
) -> None:
    context = browser.new_context(extra_http_headers=US_CA, java_script_enabled=False)
    page = context.new_page()
    page.goto(regional_site.url + "/", wait_until="networkidle")
    page.get_by_role("link", name=LINK).click()
    page.wait_for_load_state("networkidle")
    assert "/_consent/preferences" in page.url
    page.get_by_role("button", name="Opt out of the sale and sharing").click()
    page.wait_for_load_state("networkidle")
    assert page.url == regional_site.url + "/"
    # Without script nobody calls __gpp, but the page carries the string ad tags would get.
    data = json.loads(page.locator("script[data-gpp]").get_attribute("data-gpp"))
    context.close()
    assert opted_out(gpp_reference, data["gppString"])


def test_a_us_visitor_opts_out_and_the_reader_sees_it(
    browser: Any, regional_site: LiveServer, gpp_reference: NodeReference
) -> None:
    context, page = reader_sees(browser, regional_site, US_CA)
    opt_out_on_the_choices_page(page, regional_site)
    page.wait_for_load_state("networkidle")
    (seen,) = page.evaluate("window.gppSeen")
    assert decoded(gpp_reference, seen["string"]) == {
        "SaleOptOut": gpp_module.YES,
        "SharingOptOut": gpp_module.YES,
        "Gpc": False,
    }
    context.close()


def test_an_eu_visitor_and_a_forged_header_get_the_banner(
    browser: Any, regional_site: LiveServer
) -> None:
    for headers in ({"cf-ipcountry": "FR"}, {}, {"CloudFront-Viewer-Country": "US"}):
        context, page = reader_sees(browser, regional_site, headers)
        assert page.locator("[data-consent-banner]").is_visible(), headers
        assert page.get_by_role("link", name=LINK).count() == 0
        (seen,) = page.evaluate("window.gppSeen")
        assert seen["sids"] == [-1]
        context.close()


@pytest.mark.parametrize(("scheme", "lang"), [("light", "en"), ("dark", "en"), ("light", "ar")])
def test_no_axe_violation_in_the_opt_out_link_and_choices(
    browser: Any, regional_site: LiveServer, scheme: str, lang: str
) -> None:
    context = browser.new_context(extra_http_headers={**US_CA, "Sec-GPC": "1"}, color_scheme=scheme)
    page = context.new_page()
    page.goto(regional_site.url + ("/ar" if lang == "ar" else "/"), wait_until="networkidle")
    shown_in = page.locator(".cst-optout").get_attribute("lang")
    link = _axe(page, ".cst-optout")
    page.goto(f"{regional_site.url}/_consent/preferences?lang={lang}", wait_until="networkidle")
    choices = _axe(page, "main")
    context.close()
    assert shown_in == lang
    assert link == [] and choices == [], [v["id"] for v in link + choices]


def consent_commands(page: Any) -> list[list[Any]]:
    commands: list[list[Any]] = page.evaluate(
        "Array.from(window.dataLayer || []).map(function (a) { return Array.from(a); })"
    )
    return [c for c in commands if c[0] in ("consent", "set")]


@pytest.mark.parametrize("gpc", [False, True])
def test_consent_mode_defaults_per_region_in_the_browser(
    browser: Any, regional_site: LiveServer, gpc: bool
) -> None:
    headers = {**US_CA, **({"Sec-GPC": "1"} if gpc else {})}
    context = browser.new_context(extra_http_headers=headers)
    if gpc:
        context.add_init_script(
            "Object.defineProperty(navigator, 'globalPrivacyControl', {value: true})"
        )
    page = context.new_page()
    page.goto(regional_site.url + "/", wait_until="networkidle")
    commands = consent_commands(page)
    context.close()
    everywhere, us, update = commands[:3]
    assert everywhere[1] == "default" and everywhere[2]["ad_storage"] == "denied"
    assert "region" not in everywhere[2]
    assert us[1] == "default" and "US" in us[2]["region"]
    ads = "denied" if gpc else "granted"
    assert us[2]["ad_storage"] == us[2]["ad_personalization"] == ads
    assert us[2]["analytics_storage"] == "granted"
    assert update[1] == "update" and update[2]["ad_storage"] == ads


def test_the_opt_out_link_opens_the_choices_with_script(
    browser: Any, regional_site: LiveServer, gpp_reference: NodeReference
) -> None:
    context, page = reader_sees(browser, regional_site, US_CA)
    page.evaluate(
        "window.gppChanged = null; __gpp('addEventListener', function (e) {"
        " if (e.eventName === 'sectionChange') window.gppChanged = e.pingData.gppString; });"
    )
    page.get_by_role("link", name=LINK).click()
    layer = page.locator("[data-consent-layer='2']")
    layer.wait_for(state="visible")
    marketing = layer.locator("input[value='marketing']")
    assert marketing.is_checked()  # on until the visitor opts out
    marketing.uncheck()
    layer.locator("[data-consent-action='custom']").click()
    page.locator("[data-consent-banner]").wait_for(state="hidden")
    state = page.evaluate("window.consent.state")
    # Without a reload, __gpp fetches the new string and tells its listeners.
    page.wait_for_function("window.gppChanged !== null")
    changed = page.evaluate("window.gppChanged")
    context.close()
    assert state["decided"] and "marketing" not in state["granted"]
    assert opted_out(gpp_reference, changed)


def test_notice_only_and_none_regions(browser: Any, tmp_path: Path) -> None:
    rules = {"JP": "notice_only", "BR": "none", "*": "opt_in"}
    with reader_server(tmp_path, regions=rules) as site:
        context, page = reader_sees(browser, site, {"cf-ipcountry": "JP"})
        assert not page.locator("[data-consent-banner]").is_visible()
        assert page.get_by_text("This site uses cookies and similar technologies").is_visible()
        choices = page.get_by_role("link", name="Your Privacy Choices")
        assert choices.is_visible()
        context.close()
        context, page = reader_sees(browser, site, {"cf-ipcountry": "BR"})
        assert not page.locator("[data-consent-banner]").is_visible()
        assert page.get_by_role("link", name="Privacy settings").is_visible()
        assert page.get_by_role("link", name=LINK).count() == 0
        context.close()


def test_the_opt_out_texts_render_in_every_locale(browser: Any, tmp_path: Path) -> None:
    """Each locale's link, GPC note and choices page: drawn with real glyphs, and the link
    fits a 360-pixel screen without the page scrolling sideways."""
    from tests.browser.test_locales_browser import MISSING_GLYPHS, TAGS, lang_page_app

    config = demo_config(tmp_path, region_source="cloudflare")
    problems: dict[str, list[str]] = {}
    with LiveServer(ConsentMiddleware(lang_page_app(), config=config)) as site:
        context = browser.new_context(
            extra_http_headers={**US_CA, "Sec-GPC": "1"},
            viewport={"width": 360, "height": 740},
        )
        # The page in one tab, its choices page in another: each is loaded once per locale.
        page, choices = context.new_page(), context.new_page()
        for tag in TAGS:
            choices.goto(f"{site.url}/_consent/preferences?lang={tag}", wait_until="load")
            text = choices.locator(".cst-optout-form").inner_text()
            page.goto(f"{site.url}/?lang={tag}", wait_until="load")
            block = page.locator(".cst-optout")
            found: list[str] = []
            if block.get_attribute("lang") != tag:
                found.append(f"shown in {block.get_attribute('lang')}")
            text += block.inner_text()
            found += page.locator("[data-consent-banner]").evaluate(MISSING_GLYPHS, text)
            box = block.bounding_box()
            if box is None or box["x"] < 0 or box["x"] + box["width"] > 360:
                found.append(f"the link does not fit: {box}")
            if page.evaluate("document.documentElement.scrollWidth > 360"):
                found.append("the page scrolls sideways")
            if found:
                problems[tag] = found
        context.close()
    assert problems == {}


def test_a_shared_page_records_the_signal_once(browser: Any, tmp_path: Path) -> None:
    import sqlite3

    with reader_server(tmp_path, shared_cache_mode=True) as site:
        context, page = reader_sees(browser, site, {**US_CA, "Sec-GPC": "1"})
        page.reload(wait_until="networkidle")
        (seen,) = page.evaluate("window.gppSeen")
        context.close()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        methods = [m for (m,) in db.execute("SELECT method FROM receipts")]
    assert methods == ["gpc"]  # two pages, two scripts asking each time: one receipt
    assert seen["sids"] == [8]


def test_on_a_shared_page_the_reader_waits_for_the_visitors_own_string(
    browser: Any, tmp_path: Path, gpp_reference: NodeReference
) -> None:
    with reader_server(tmp_path, shared_cache_mode=True) as site:
        context, page = reader_sees(browser, site, US_CA)
        assert page.evaluate("window.gppSeen")[0]["sids"] == [8]
        opt_out_on_the_choices_page(page, site)
        page.wait_for_function("window.gppSeen.length === 1")
        (seen,) = page.evaluate("window.gppSeen")
        context.close()
    assert opted_out(gpp_reference, seen["string"])
