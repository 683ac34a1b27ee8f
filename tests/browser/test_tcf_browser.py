"""The TCF layer in Chromium: a Prebid-like reader calling __tcfapi('addEventListener', 2, cb)
gets the right events and strings for undecided, rejected, accepted and custom visitors, each
string decoding as expected in IAB's library; other frames reach the API by postMessage; the
layers are axe clean in left-to-right and right-to-left locales and work without script."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consent import ConsentMiddleware
from consent.tcfconfig import TcfSettings
from tests.browser.conftest import LiveServer, PageErrors, demo_config
from tests.browser.test_banner_browser import BANNER, SECOND_LAYER, _axe, button
from tests.reference import NodeReference
from tests.test_tcf import every_id_again_and_again
from tests.test_tcf_server import another_cmps_string

FIXTURES = Path(__file__).parent.parent / "fixtures"
VENDORS = (1, 2, 3, 6, 8, 755)

# What a header-bidding library does: it asks for the TC data as soon as it runs and keeps
# every answer. Frames are asked through the locator frame of the page above them.
READER = """<script>
window.pings = [];
window.tcfEvents = [];
__tcfapi("ping", 2, function (p) { window.pings.push(p.cmpStatus); });
__tcfapi("addEventListener", 2, function (tc, ok) {
  if (!ok) return;
  window.tcfEvents.push({ status: tc.eventStatus, tcString: tc.tcString, id: tc.listenerId,
    purposes: tc.purpose.consents, vendors: tc.vendor.consents, ac: tc.addtlConsent,
    gdprApplies: tc.gdprApplies, cmpId: tc.cmpId });
});
</script>"""

FRAME = """<script>
window.answers = [];
window.addEventListener("message", function (ev) {
  var r = ev.data && ev.data.__tcfapiReturn;
  if (r) window.answers.push(r);
});
function ask(command, callId) {
  parent.frames.__tcfapiLocator.parent.postMessage(
    { __tcfapiCall: { command: command, version: 2, callId: callId } }, "*");
}
</script>"""


# Another script of the page, with a bug: its callback throws every time it is called.
THROWING = """<script>
__tcfapi("addEventListener", 2, function () { throw new Error("reader bug"); });
</script>"""


def tcf_app() -> Starlette:
    async def page(request: Request) -> Response:
        lang = request.query_params.get("lang", "en")
        before = THROWING if "throwing" in request.query_params else ""
        return HTMLResponse(
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f"<title>News</title>{before}{READER}</head><body><main><h1>Headline</h1>"
            f"<p>Article text.</p><iframe title=\"frame\" srcdoc='{FRAME}'></iframe>"
            "</main></body></html>"
        )

    return Starlette(routes=[Route("/", page)])


def tcf_settings() -> TcfSettings:
    return TcfSettings(
        cmp_id=300,
        cmp_version=2,
        vendor_list_file=FIXTURES / "vendor-list.json",
        language_dir=FIXTURES,
        vendors=VENDORS,
        publisher_country_code="DE",
        google_atp_providers=(89, 2822),
    )


@pytest.fixture(scope="module")
def tcf_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("tcf-browser")
    app = ConsentMiddleware(tcf_app(), config=demo_config(tmp, tcf=tcf_settings()))
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Behind a CDN: one HTML for everyone, the state asked from the server."""
    tmp: Path = tmp_path_factory.mktemp("tcf-shared")
    config = demo_config(tmp, tcf=tcf_settings(), shared_cache_mode=True)
    with LiveServer(ConsentMiddleware(tcf_app(), config=config)) as server:
        yield server


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(color_scheme="light")
    yield context.new_page()
    context.close()


def load(page: Any, site: LiveServer, query: str = "") -> None:
    page.goto(f"{site.url}/{query}", wait_until="load")
    page.wait_for_function("window.tcfEvents.length > 0")


def events(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("window.tcfEvents")
    return found


def cookie(page: Any) -> str:
    [value] = [c["value"] for c in page.context.cookies() if c["name"] == "euconsent-v2"]
    return str(value)


def true_ids(mapping: dict[str, bool]) -> list[int]:
    return sorted(int(k) for k, v in mapping.items() if v)


def test_undecided_visitor(page: Any, tcf_site: LiveServer) -> None:
    load(page, tcf_site)
    assert page.evaluate("window.pings") == ["stub"]  # answered before the API loaded
    [first] = events(page)
    assert first["status"] == "cmpuishown" and first["tcString"] == ""
    assert first["gdprApplies"] is True and first["cmpId"] == 300
    assert true_ids(first["purposes"]) == [] and first["ac"] == "2~~dv.89.2822"
    loaded = page.evaluate("new Promise(r => __tcfapi('ping', 2, r))")
    assert loaded["cmpLoaded"] is True and loaded["displayStatus"] == "visible"
    assert loaded["gvlVersion"] == 150 and loaded["apiVersion"] == "2.3"
    assert page.context.cookies() == [] or all(
        c["name"] != "euconsent-v2" for c in page.context.cookies()
    )


def test_rejecting_visitor(page: Any, tcf_site: LiveServer, tcf_reference: NodeReference) -> None:
    load(page, tcf_site)
    button(page, "reject_all").click()
    page.wait_for_function("window.tcfEvents.length > 1")
    done = events(page)[-1]
    assert done["status"] == "useractioncomplete" and done["tcString"] == cookie(page)
    load(page, tcf_site)
    [again] = events(page)
    assert again["status"] == "tcloaded" and again["tcString"] == done["tcString"]
    read = tcf_reference.ask({"decode": again["tcString"]})
    assert read["purposeConsents"] == [] and read["vendorConsents"] == []
    assert read["purposeLegitimateInterests"] == [] and read["vendorLegitimateInterests"] == []
    assert read["cmpId"] == 300 and read["disclosedVendors"] == list(VENDORS)
    assert again["ac"] == "2~~dv.89.2822"
    updates = page.evaluate(
        "dataLayer.filter(e => e[0] === 'consent' && e[1] === 'update').map(e => e[2])"
    )
    assert {updates[-1][k] for k in ("ad_storage", "ad_user_data", "ad_personalization")} == {
        "denied"
    }


def test_accepting_visitor(page: Any, tcf_site: LiveServer, tcf_reference: NodeReference) -> None:
    load(page, tcf_site)
    button(page, "accept_all").click()
    page.wait_for_function("window.tcfEvents.length > 1")
    assert events(page)[-1]["status"] == "useractioncomplete"
    load(page, tcf_site)
    [again] = events(page)
    assert again["status"] == "tcloaded" and again["tcString"] == cookie(page)
    read = tcf_reference.ask({"decode": again["tcString"]})
    assert read["purposeConsents"] == [1, 2, 3, 4, 7, 8, 9, 10]
    assert read["vendorConsents"] == [1, 3, 6, 8, 755]
    assert true_ids(again["purposes"]) == read["purposeConsents"]
    assert true_ids(again["vendors"]) == read["vendorConsents"]
    assert again["ac"] == "2~89.2822~dv.89.2822"
    # Consent Mode follows the purposes: storage (1), user data (1 and 7), personalisation (3, 4).
    updates = page.evaluate(
        "dataLayer.filter(e => e[0] === 'consent' && e[1] === 'update').map(e => e[2])"
    )
    assert updates[-1]["ad_storage"] == "granted"
    assert updates[-1]["ad_user_data"] == "granted"
    assert updates[-1]["ad_personalization"] == "granted"


def test_custom_visitor(page: Any, tcf_site: LiveServer, tcf_reference: NodeReference) -> None:
    load(page, tcf_site)
    button(page, "customize").click()
    layer = page.locator(SECOND_LAYER)
    layer.wait_for(state="visible")
    layer.locator("#cst-tcf-vendors").wait_for()  # fetched when the layer opens
    for box in ("#cst-tcf-p1", "#cst-tcf-p2", "#cst-tcf-v755", "#cst-tcf-o7"):
        layer.locator(box).check()
    button(page, "custom", SECOND_LAYER).click()
    page.wait_for_function("window.tcfEvents.length > 1")
    done = events(page)[-1]
    assert done["status"] == "useractioncomplete"
    read = tcf_reference.ask({"decode": done["tcString"]})
    assert read["purposeConsents"] == [1, 2]
    assert read["vendorConsents"] == [755]
    assert read["purposeLegitimateInterests"] == [2, 8, 9, 10]  # 7 objected to
    assert read["specialFeatureOptIns"] == []
    load(page, tcf_site)
    [again] = events(page)
    assert again["status"] == "tcloaded" and again["tcString"] == done["tcString"]
    assert true_ids(again["purposes"]) == [1, 2]
    # Reopened, the layer shows the stored choice, and readers learn the UI is shown.
    page.locator("[data-consent-open]").click()
    page.wait_for_function("window.tcfEvents.length > 1")
    shown = events(page)[-1]
    assert shown["status"] == "cmpuishown" and shown["tcString"] == done["tcString"]
    assert layer.locator("#cst-tcf-p1").is_checked()
    assert not layer.locator("#cst-tcf-p3").is_checked()
    assert layer.locator("#cst-tcf-o7").is_checked()
    assert layer.locator("#cst-tcf-v755").is_checked()


def test_listeners_can_be_removed(page: Any, tcf_site: LiveServer) -> None:
    load(page, tcf_site)
    listener = events(page)[0]["id"]
    removed = page.evaluate(
        f"new Promise(r => __tcfapi('removeEventListener', 2, (ok) => r(ok), {listener}))"
    )
    assert removed is True
    button(page, "accept_all").click()
    page.wait_for_function("document.cookie.indexOf('euconsent-v2=') >= 0")
    page.wait_for_timeout(200)
    assert len(events(page)) == 1  # no event after the listener went
    unknown = page.evaluate("new Promise(r => __tcfapi('getVendorList', 2, (v, ok) => r(ok)))")
    assert unknown is False
    other = page.evaluate("new Promise(r => __tcfapi('getTCData', 1, (v, ok) => r(ok)))")
    assert other is False  # version 1 of the API is not answered


def test_frames_reach_the_api_by_post_message(page: Any, tcf_site: LiveServer) -> None:
    load(page, tcf_site)
    button(page, "accept_all").click()
    page.wait_for_function("document.cookie.indexOf('euconsent-v2=') >= 0")
    frame = page.locator("iframe[title='frame']").element_handle().content_frame()
    assert frame is not None
    frame.evaluate("ask('getTCData', 'c1'); ask('ping', 'c2')")
    frame.wait_for_function("window.answers.length === 2")
    answers = {a["callId"]: a for a in frame.evaluate("window.answers")}
    assert answers["c1"]["success"] is True
    assert answers["c1"]["returnValue"]["tcString"] == cookie(page)
    assert answers["c2"]["returnValue"]["cmpStatus"] == "loaded"


@pytest.mark.parametrize("tag", ["en", "ar", "ja"])
def test_no_axe_violation_in_the_tcf_layers(page: Any, tcf_site: LiveServer, tag: str) -> None:
    load(page, tcf_site, f"?lang={tag}")
    assert page.locator(BANNER).get_attribute("dir") == ("rtl" if tag == "ar" else "ltr")
    first = _axe(page, BANNER)
    button(page, "customize").click()
    page.locator(SECOND_LAYER).wait_for(state="visible")
    page.locator("#cst-tcf-vendors").wait_for()
    for summary in page.locator(f"{SECOND_LAYER} .cst-tcf summary").all()[-3:]:
        summary.click()
    second = _axe(page, BANNER)
    assert first == [] and second == [], [v["id"] for v in first + second]


def test_keyboard_reaches_every_tcf_control(page: Any, tcf_site: LiveServer) -> None:
    load(page, tcf_site)
    button(page, "customize").click()
    page.locator(SECOND_LAYER).wait_for(state="visible")
    page.locator("#cst-tcf-vendors").wait_for()
    page.locator("#cst-tcf-p1").focus()
    page.keyboard.press("Space")
    assert page.locator("#cst-tcf-p1").is_checked()
    reached = set()
    for _ in range(120):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert {"cst-tcf-v755", "cst-tcf-vo6", "cst-tcf-o10"} <= reached
    assert "SUMMARY" in reached


def test_without_script_the_preferences_page_posts_the_tcf_choice(
    browser: Any, tcf_site: LiveServer, tcf_reference: NodeReference
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(tcf_site.url + "/", wait_until="load")
        button(page, "customize").click()
        page.wait_for_url("**/_consent/preferences**")
        page.locator("#cst-tcf-p1").check()
        page.locator("#cst-tcf-v1").check()
        page.locator("[data-consent-action='custom']").click()
        page.wait_for_url(tcf_site.url + "/")
        [value] = [c["value"] for c in context.cookies() if c["name"] == "euconsent-v2"]
        read = tcf_reference.ask({"decode": value})
        assert read["purposeConsents"] == [1] and read["vendorConsents"] == [1]
    finally:
        context.close()


def test_ping_from_the_stub_alone(page: Any, tcf_site: LiveServer, page_errors: PageErrors) -> None:
    """The stub answers ping with cmpStatus "stub" while tcf.js has not loaded."""
    page_errors.expect(r"ERR_FAILED \(.*/tcf\.[0-9a-f]+\.js\)$")
    page.route("**/tcf.*.js", lambda route: route.abort())
    page.goto(tcf_site.url + "/", wait_until="domcontentloaded")
    page.wait_for_function("window.pings.length === 1")
    assert page.evaluate("window.pings") == ["stub"]
    queued = page.evaluate("__tcfapi.queue.length")
    assert queued >= 1  # the reader's addEventListener waits for the full API
    assert json.loads(page.locator("script[data-tcf]").get_attribute("data-tcf"))["cmpId"] == 300


def test_a_category_switch_ticks_its_purposes_and_vendors(
    page: Any, tcf_site: LiveServer, tcf_reference: NodeReference
) -> None:
    load(page, tcf_site)
    button(page, "customize").click()
    layer = page.locator(SECOND_LAYER)
    layer.wait_for(state="visible")
    layer.locator("input[name='category'][value='analytics']").check()
    ticked = layer.locator(".cst-tcf input[name='tcf_purpose']:checked")
    assert sorted(int(v) for v in ticked.evaluate_all("l => l.map(b => b.value)")) == [1, 8, 9, 10]
    layer.locator("#cst-tcf-p9").uncheck()  # refined by hand
    layer.locator("#cst-tcf-vendors").wait_for()
    button(page, "custom", SECOND_LAYER).click()
    page.wait_for_function("window.tcfEvents.length > 1")
    read = tcf_reference.ask({"decode": events(page)[-1]["tcString"]})
    assert read["purposeConsents"] == [1, 8, 10]
    # Vendors using purpose 1, 8 or 10 on consent or flexibly were ticked with them.
    assert read["vendorConsents"] == [1, 3, 6, 8, 755]


def test_the_vendor_list_stays_a_link_when_it_cannot_be_fetched(
    page: Any, tcf_site: LiveServer, page_errors: PageErrors
) -> None:
    page_errors.expect(r"503 .*/_consent/preferences")
    page.route("**/_consent/preferences?**", lambda route: route.fulfill(status=503, body="down"))
    load(page, tcf_site)
    button(page, "customize").click()
    layer = page.locator(SECOND_LAYER)
    layer.wait_for(state="visible")
    link = layer.locator(".cst-tcf-slot a")
    page.wait_for_timeout(300)
    assert link.is_visible() and "#cst-tcf-vendors" in (link.get_attribute("href") or "")
    assert layer.locator("input[name='tcf_vendor']").count() == 0


def test_a_string_the_server_no_longer_counts_is_removed(page: Any, tcf_site: LiveServer) -> None:
    stale = "CQb1AAAQb1AAAEsACBDEBwFgAAAAAAAAACiQAAAAAAAA.IAAA"
    page.context.add_cookies([{"name": "euconsent-v2", "value": stale, "url": tcf_site.url}])
    load(page, tcf_site)
    [first] = events(page)
    assert first["status"] == "cmpuishown" and first["tcString"] == ""
    assert all(c["name"] != "euconsent-v2" for c in page.context.cookies())


def test_the_tcf_first_layer_is_usable_at_320_pixels(browser: Any, tcf_site: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 320, "height": 640})
    try:
        page = context.new_page()
        load(page, tcf_site, "?lang=de")
        reject, purposes = button(page, "reject_all"), page.locator(".cst-tcf-list")
        for action in ("accept_all", "reject_all", "customize"):
            box = button(page, action).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 320
        # The buttons come before the list of purposes, nearer the top of the banner.
        assert reject.bounding_box()["y"] < purposes.bounding_box()["y"]
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        reject.click()  # scrolled into view inside the banner
        page.wait_for_function("window.tcfEvents.length > 1")
        assert events(page)[-1]["status"] == "useractioncomplete"
    finally:
        context.close()


def test_shared_cache_mode(
    page: Any, shared_site: LiveServer, tcf_reference: NodeReference
) -> None:
    load(page, shared_site)
    [first] = events(page)
    assert first["status"] == "cmpuishown" and first["tcString"] == ""
    page.locator(BANNER).wait_for(state="visible")
    button(page, "accept_all").click()
    page.wait_for_function("window.tcfEvents.length > 1")
    assert events(page)[-1]["status"] == "useractioncomplete"
    load(page, shared_site)
    [again] = events(page)
    assert again["status"] == "tcloaded" and again["tcString"] == cookie(page)
    assert again["ac"] == "2~89.2822~dv.89.2822"
    read = tcf_reference.ask({"decode": again["tcString"]})
    assert read["vendorConsents"] == [1, 3, 6, 8, 755]


def test_a_callback_that_throws_stops_no_other_caller(
    page: Any, tcf_site: LiveServer, page_errors: PageErrors
) -> None:
    page_errors.expect(r"reader bug")
    load(page, tcf_site, "?throwing=1")
    assert [e["status"] for e in events(page)] == ["cmpuishown"]
    button(page, "accept_all").click()
    page.wait_for_function("window.tcfEvents.length === 2")
    last = events(page)[-1]
    assert last["status"] == "useractioncomplete" and last["tcString"] == cookie(page)
    thrown = [e for e in page_errors.take() if "reader bug" in e]
    assert thrown  # reported, not swallowed


def test_get_tc_data_for_some_vendors(page: Any, tcf_site: LiveServer) -> None:
    load(page, tcf_site)
    button(page, "accept_all").click()
    page.wait_for_function("window.tcfEvents.length === 2")
    ask = "ids => new Promise(r => __tcfapi('getTCData', 2, (d, ok) => r([d.vendor.consents, ok]), ids))"
    consents, ok = page.evaluate(ask, [755, 9, "constructor", "__proto__"])
    assert ok is True
    assert consents == {"755": True, "9": False, "constructor": False}
    # Not a list: answered for every vendor rather than not at all.
    every, ok = page.evaluate(ask, "755")
    assert ok is True and true_ids(every) == [1, 3, 6, 8, 755]


def test_a_string_of_another_cmp_is_not_handed_on(page: Any, tcf_site: LiveServer) -> None:
    """euconsent-v2 is every CMP's cookie name: one written by another CMP of the same site
    (a sibling subdomain's, or a script's) is not this decision's string."""
    load(page, tcf_site)
    button(page, "accept_all").click()
    page.wait_for_function("window.tcfEvents.length === 2")
    foreign = another_cmps_string()
    page.context.add_cookies([{"name": "euconsent-v2", "value": foreign, "url": tcf_site.url}])
    load(page, tcf_site)
    [first] = events(page)
    assert first["tcString"] != foreign and first["cmpId"] == 300
    assert true_ids(first["vendors"]) == [] and true_ids(first["purposes"]) == []


def test_a_string_naming_millions_of_ids_is_not_read(page: Any, tcf_site: LiveServer) -> None:
    """Reading one would cost the browser seconds on every page, as it did the server."""
    load(page, tcf_site)
    button(page, "accept_all").click()
    page.wait_for_function("window.tcfEvents.length === 2")
    crafted = every_id_again_and_again(5, 0, cmp_id=300)
    page.context.add_cookies([{"name": "euconsent-v2", "value": crafted, "url": tcf_site.url}])
    load(page, tcf_site)
    [first] = events(page)
    assert first["tcString"] == "" and true_ids(first["vendors"]) == []
    # The same string within bounds is read.
    within = every_id_again_and_again(1, 0, cmp_id=300)
    page.context.add_cookies([{"name": "euconsent-v2", "value": within, "url": tcf_site.url}])
    load(page, tcf_site)
    [first] = events(page)
    assert first["tcString"] == within and len(true_ids(first["vendors"])) == 65_535


def test_a_frame_cannot_remove_the_page_s_listeners(page: Any, tcf_site: LiveServer) -> None:
    """An ad's frame that guesses listener ids does not silence the page's header bidder."""
    load(page, tcf_site)
    frame = page.locator("iframe[title='frame']").element_handle().content_frame()
    assert frame is not None
    frame.evaluate(
        """() => { for (let id = 0; id < 100; id++) parent.frames.__tcfapiLocator.parent
        .postMessage({ __tcfapiCall: { command: "removeEventListener", version: 2,
        callId: id, parameter: id } }, "*"); }"""
    )
    frame.wait_for_function("window.answers.length === 100")
    assert not any(a["returnValue"] for a in frame.evaluate("window.answers"))
    button(page, "accept_all").click()
    page.wait_for_function("window.tcfEvents.length === 2")
    assert events(page)[-1]["status"] == "useractioncomplete"


@pytest.fixture(scope="module")
def regional_tcf_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """TCF for the opt-in regions, the location from Cloudflare's headers."""
    tmp: Path = tmp_path_factory.mktemp("tcf-regions")
    config = demo_config(tmp, tcf=tcf_settings(), region_source="cloudflare")
    with LiveServer(ConsentMiddleware(tcf_app(), config=config)) as server:
        yield server


@pytest.mark.parametrize(
    ("headers", "applies"),
    [
        ({"cf-ipcountry": "DE"}, True),
        ({}, True),  # unknown: the strictest model, opt-in
        ({"cf-ipcountry": "US", "cf-region-code": "CA"}, False),
    ],
)
def test_gdpr_applies_follows_the_region(
    browser: Any, regional_tcf_site: LiveServer, headers: dict[str, str], applies: bool
) -> None:
    context = browser.new_context(extra_http_headers=headers)
    try:
        page = context.new_page()
        load(page, regional_tcf_site)
        stub_ping = page.evaluate("window.pings")
        [first] = events(page)
        assert first["gdprApplies"] is applies
        # Under GDPR an undecided reader is being asked; elsewhere there is nothing to ask.
        assert first["status"] == ("cmpuishown" if applies else "tcloaded")
        assert first["tcString"] == ""
        assert stub_ping == ["stub"]
        ping = page.evaluate("new Promise(r => __tcfapi('ping', 2, r))")
        assert ping["gdprApplies"] is applies
    finally:
        context.close()
