"""The banner in a real Chromium against the demo news site (COMPLIANCE A, B, C, D, I)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer, Visit

pytestmark = pytest.mark.browser

BANNER = "[data-consent-banner]"
FIRST_LAYER = "[data-consent-layer='1']"
SECOND_LAYER = "[data-consent-layer='2']"


def button(page: Any, action: str, layer: str = FIRST_LAYER) -> Any:
    return page.locator(f"{layer} [data-consent-action='{action}']")


def consent_state(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("window.consent.state")
    return result


def cookie_names(visit: Visit) -> set[str]:
    return {c["name"] for c in visit.context.cookies()}


def open_front(visit: Visit, site: LiveServer) -> Any:
    page = visit.page
    page.goto(site.url + "/", wait_until="networkidle")
    return page


def test_fresh_visit_asks_and_nothing_third_party_loads(visit: Visit, site: LiveServer) -> None:
    page = open_front(visit, site)
    assert page.locator(BANNER).is_visible()
    assert button(page, "accept_all").is_visible()
    assert button(page, "reject_all").is_visible()
    page.mouse.wheel(0, 3000)
    page.wait_for_timeout(300)
    page.locator("a[href^='/news/']").first.click()
    page.wait_for_load_state("networkidle")
    assert visit.third_party == []
    assert cookie_names(visit) <= {"consent_csrf"}
    storage = page.evaluate("Object.keys(localStorage).concat(Object.keys(sessionStorage))")
    assert storage == []
    assert consent_state(page)["decided"] is False


def test_consent_mode_default_is_the_first_data_layer_entry(visit: Visit, site: LiveServer) -> None:
    page = open_front(visit, site)
    first = page.evaluate("Array.from(window.dataLayer[0])")
    assert first[0:2] == ["consent", "default"]
    for key in ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization"):
        assert first[2][key] == "denied"


def test_accept_all_applies_without_reload(visit: Visit, site: LiveServer) -> None:
    page = open_front(visit, site)
    page.evaluate(
        "window.__marker = 1; document.addEventListener('consent:change', e => window.__change = e.detail)"
    )
    button(page, "accept_all").click()
    page.locator(BANNER).wait_for(state="hidden")
    page.wait_for_function("window.__change !== undefined")
    assert page.evaluate("window.__marker") == 1
    detail = page.evaluate("window.__change")
    assert set(detail["granted"]) == {"necessary", "preferences", "analytics", "marketing"}
    assert "consent" in cookie_names(visit)
    page.wait_for_timeout(500)
    assert any("googletagmanager.com" in url for url in visit.third_party)
    last_update = page.evaluate(
        "Array.from(window.dataLayer.filter(e => e[0] === 'consent' && e[1] === 'update').pop())"
    )
    assert last_update[2]["ad_storage"] == "granted"


def test_first_party_analytics_collects_only_after_consent(visit: Visit, site: LiveServer) -> None:
    page = open_front(visit, site)
    page.goto(site.url + "/stats", wait_until="networkidle")
    assert page.locator("[data-stat=views]").inner_text().strip() == "0"
    button(page, "accept_all").click()
    page.locator(BANNER).wait_for(state="hidden")
    page.wait_for_timeout(300)
    page.goto(site.url + "/stats", wait_until="networkidle")
    assert int(page.locator("[data-stat=views]").inner_text().strip()) >= 1


def test_reject_all_keeps_everything_held_on_later_pages(visit: Visit, site: LiveServer) -> None:
    page = open_front(visit, site)
    button(page, "reject_all").click()
    page.locator(BANNER).wait_for(state="hidden")
    page.reload(wait_until="networkidle")
    assert not page.locator(BANNER).is_visible()
    assert page.locator("[data-consent-open]").is_visible()
    page.locator("a[href^='/news/']").first.click()
    page.wait_for_load_state("networkidle")
    assert visit.third_party == []
    assert consent_state(page)["granted"] == ["necessary"]


def test_customize_offers_unticked_choices_and_saves_them(visit: Visit, site: LiveServer) -> None:
    page = open_front(visit, site)
    button(page, "customize").click()
    layer = page.locator(SECOND_LAYER)
    layer.wait_for(state="visible")
    for box in layer.locator("input[name='category']").all():
        expected = box.get_attribute("value") == "necessary"
        assert box.is_checked() == expected
    layer.locator("input[value='analytics']").check()
    page.evaluate("window.__marker = 1")
    button(page, "custom", SECOND_LAYER).click()
    page.locator(BANNER).wait_for(state="hidden")
    assert page.evaluate("window.__marker") == 1
    assert sorted(consent_state(page)["granted"]) == ["analytics", "necessary"]
    page.reload(wait_until="networkidle")
    assert sorted(consent_state(page)["granted"]) == ["analytics", "necessary"]
    assert not page.locator(BANNER).is_visible()


def test_reopen_shows_stored_state_and_withdraws(visit: Visit, site: LiveServer) -> None:
    page = open_front(visit, site)
    button(page, "accept_all").click()
    page.locator(BANNER).wait_for(state="hidden")
    page.locator("[data-consent-open]").click()
    layer = page.locator(SECOND_LAYER)
    layer.wait_for(state="visible")
    assert layer.locator("input[value='marketing']").is_checked()
    button(page, "reject_all", SECOND_LAYER).click()
    page.locator(BANNER).wait_for(state="hidden")
    assert consent_state(page)["granted"] == ["necessary"]
    last_update = page.evaluate(
        "Array.from(window.dataLayer.filter(e => e[0] === 'consent' && e[1] === 'update').pop())"
    )
    assert last_update[2]["ad_storage"] == "denied"


def test_escape_closes_as_refusal(visit: Visit, site: LiveServer) -> None:
    page = open_front(visit, site)
    page.keyboard.press("Escape")
    page.locator(BANNER).wait_for(state="hidden")
    state = consent_state(page)
    assert state["decided"] is True
    assert state["granted"] == ["necessary"]


def test_keyboard_reaches_reject_before_accept_and_enter_refuses(
    visit: Visit, site: LiveServer
) -> None:
    page = open_front(visit, site)
    order = []
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.getAttribute('data-consent-action')"))
        if order[-1] == "reject_all":
            break
    assert "reject_all" in order
    assert "accept_all" not in order
    page.keyboard.press("Enter")
    page.locator(BANNER).wait_for(state="hidden")
    assert consent_state(page)["granted"] == ["necessary"]


def test_accept_and_reject_look_equal(visit: Visit, site: LiveServer) -> None:
    page = open_front(visit, site)
    styles = []
    for action in ("accept_all", "reject_all"):
        element = button(page, action)
        box = element.bounding_box()
        style = element.evaluate(
            "e => { const s = getComputedStyle(e); return [s.fontSize, s.fontWeight, s.color, s.backgroundColor, e.tagName]; }"
        )
        styles.append((box, style))
    (box_a, style_a), (box_r, style_r) = styles
    assert style_a == style_r
    assert abs(box_a["width"] - box_r["width"]) <= 0.1 * box_a["width"]
    assert abs(box_a["height"] - box_r["height"]) <= 0.1 * box_a["height"]
    assert box_a["height"] >= 24 and box_a["width"] >= 24


def test_banner_is_usable_at_320_pixels(browser: Any, site: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    page.goto(site.url + "/", wait_until="networkidle")
    for action in ("accept_all", "reject_all", "customize"):
        box = button(page, action).bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    overflow = page.evaluate("document.documentElement.scrollWidth")
    context.close()
    assert overflow <= 320


def test_content_is_reachable_while_the_banner_is_open(visit: Visit, site: LiveServer) -> None:
    page = open_front(visit, site)
    assert page.locator("main").inner_text().strip()
    link = page.locator("a[href^='/news/']").first
    href = link.get_attribute("href")
    link.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(href or "")
    assert page.locator(BANNER).is_visible()


def test_without_javascript_the_form_posts_work(visit_without_js: Visit, site: LiveServer) -> None:
    page = visit_without_js.page
    page.goto(site.url + "/", wait_until="networkidle")
    assert page.locator(BANNER).is_visible()
    button(page, "reject_all").click()
    page.wait_for_load_state("networkidle")
    assert page.url == site.url + "/"
    assert not page.locator(BANNER).is_visible()
    assert "consent" in cookie_names(visit_without_js)
    page.locator("[data-consent-open]").click()
    page.wait_for_load_state("networkidle")
    assert "/_consent/preferences" in page.url
    page.locator("input[value='analytics']").check()
    page.locator("[data-consent-action='custom']").click()
    page.wait_for_load_state("networkidle")
    assert page.url == site.url + "/"
    assert not any("facebook" in url for url in visit_without_js.third_party)


def _axe(page: Any, context: str) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    options = {
        "runOnly": {
            "type": "tag",
            "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
        }
    }
    results = Axe().run(page, context=context, options=options)
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_axe_violation_in_banner_and_preferences(
    browser: Any, site: LiveServer, scheme: str
) -> None:
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    page.goto(site.url + "/", wait_until="networkidle")
    first = _axe(page, BANNER)
    button(page, "customize").click()
    page.locator(SECOND_LAYER).wait_for(state="visible")
    second = _axe(page, BANNER)
    page.goto(site.url + "/_consent/preferences", wait_until="networkidle")
    prefs = _axe(page, "main")
    context.close()
    assert first == [] and second == [] and prefs == [], [v["id"] for v in first + second + prefs]


def test_focused_page_elements_are_never_hidden_by_the_banner(
    visit: Visit, site: LiveServer
) -> None:
    """WCAG 2.2 focus not obscured: the fixed banner never covers the element with focus."""
    page = visit.page
    page.set_viewport_size({"width": 1024, "height": 600})
    # The demo scrolls smoothly; without animation each position can be read at once.
    page.emulate_media(reduced_motion="reduce")
    page.goto(site.url + "/news/customs-house-library-reopens", wait_until="networkidle")
    checked = 0
    for _ in range(40):
        page.keyboard.press("Tab")
        hidden = page.evaluate(
            """() => {
                const el = document.activeElement, banner = document.querySelector('[data-consent-banner]');
                if (!el || el === document.body || banner.contains(el) || banner.hidden) return null;
                const r = el.getBoundingClientRect(), b = banner.getBoundingClientRect();
                if (r.width === 0 && r.height === 0) return null;
                return r.top >= b.top;
            }"""
        )
        if hidden is not None:
            checked += 1
            assert hidden is False, page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
    assert checked >= 10
