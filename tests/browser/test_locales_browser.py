"""The banner in every shipped locale in a real Chromium: fit, direction, glyphs, accessibility.

The page around the banner is a bare one whose ``<html lang>`` comes from the query
(``/?lang=ar``), so the middleware picks the banner's locale exactly as on a real site.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consent import ConsentMiddleware
from consent.i18n import LocaleCatalogue
from tests.browser.conftest import LiveServer, demo_config
from tests.browser.test_banner_browser import BANNER, FIRST_LAYER, SECOND_LAYER, _axe, button

pytestmark = pytest.mark.browser

CATALOGUE = LocaleCatalogue.load()
TAGS = list(CATALOGUE.tags)
RIGHT_TO_LEFT = ["ar", "fa", "he"]
# The locales the docs show: the reference, a Cyrillic one, long German compounds, Arabic
# right to left, and Japanese without spaces between words.
SHOWN = ["en", "uk", "de", "ar", "ja"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 360, "height": 740}}

_SAFE_LANG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,3}")

# Every way a text can fail to fit, measured on the rendered layout. A button's text is
# measured with a Range over its contents: those rectangles are where the glyphs are drawn,
# so text that runs past the button's padding edge counts even where nothing scrolls.
MEASURE_FIT = """
(root) => {
  const slack = 1;
  const problems = [];
  const shown = (e) => e.getClientRects().length > 0;
  const label = (e) => {
    const what = e.getAttribute("data-consent-action") || e.className;
    return `${what} "${e.textContent.trim().slice(0, 30)}"`;
  };
  const round = Math.round;
  const px = (r) => `[${round(r.left)}..${round(r.right)} x ${round(r.top)}..${round(r.bottom)}]`;
  const outside = (r, box) => r.left < box.left - slack || r.right > box.right + slack
    || r.top < box.top - slack || r.bottom > box.bottom + slack;
  const textRects = (e) => {
    const range = document.createRange();
    range.selectNodeContents(e);
    return Array.from(range.getClientRects()).filter((r) => r.width > 0 && r.height > 0);
  };
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + slack) {
    problems.push(`the page scrolls sideways: ${page.scrollWidth} > ${page.clientWidth}`);
  }
  if (root.scrollWidth > root.clientWidth + slack) {
    problems.push(`the banner scrolls sideways: ${root.scrollWidth} > ${root.clientWidth}`);
  }
  const banner = root.getBoundingClientRect();
  for (const btn of root.querySelectorAll(".cst-btn, .cst-close")) {
    if (!shown(btn)) continue;
    const r = btn.getBoundingClientRect();
    const s = getComputedStyle(btn);
    const inner = {
      left: r.left + parseFloat(s.borderLeftWidth), right: r.right - parseFloat(s.borderRightWidth),
      top: r.top + parseFloat(s.borderTopWidth), bottom: r.bottom - parseFloat(s.borderBottomWidth),
    };
    const spill = textRects(btn).find((t) => outside(t, inner));
    if (spill) problems.push(`text of ${label(btn)} at ${px(spill)} outside it: ${px(inner)}`);
    if (btn.scrollWidth > btn.clientWidth + slack || btn.scrollHeight > btn.clientHeight + slack) {
      const needs = `${btn.scrollWidth}x${btn.scrollHeight}`;
      problems.push(`${label(btn)} overflows: ${needs} in ${btn.clientWidth}x${btn.clientHeight}`);
    }
    if (r.left < banner.left - slack || r.right > banner.right + slack) {
      problems.push(`${label(btn)} at ${px(r)} sticks out of the banner ${px(banner)}`);
    }
  }
  const texts = ".cst-title, .cst-text, .cst-gpc, .cst-desc, .cst-choice label";
  for (const e of root.querySelectorAll(texts)) {
    if (shown(e) && e.scrollWidth > e.clientWidth + slack) {
      problems.push(`${label(e)} overflows sideways: ${e.scrollWidth} > ${e.clientWidth}`);
    }
  }
  // The close control sits in the layer's padding, never on top of the words.
  for (const close of root.querySelectorAll(".cst-close")) {
    if (!shown(close)) continue;
    const c = close.getBoundingClientRect();
    const layer = close.closest("[data-consent-layer]");
    for (const e of layer.querySelectorAll(".cst-title, .cst-text, .cst-actions")) {
      const boxes = e.matches(".cst-actions") ? [e.getBoundingClientRect()] : textRects(e);
      const hit = boxes.find((t) => t.left < c.right - slack && t.right > c.left + slack
        && t.top < c.bottom - slack && t.bottom > c.top + slack);
      if (hit) problems.push(`the close button ${px(c)} covers ${label(e)} at ${px(hit)}`);
    }
  }
  return problems;
}
"""

# Where things sit, for the direction checks.
MEASURE_SIDES = """
(root) => {
  const layer = root.querySelector("[data-consent-layer='1']");
  const rect = (e) => {
    const r = e.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top};
  };
  const title = root.querySelector(".cst-title");
  const range = document.createRange();
  range.selectNodeContents(title);
  return {
    direction: getComputedStyle(root).direction,
    layer: rect(layer),
    close: rect(layer.querySelector(".cst-close")),
    title: rect(title),
    titleText: rect(range),
    reject: rect(layer.querySelector("[data-consent-action='reject_all']")),
    accept: rect(layer.querySelector("[data-consent-action='accept_all']")),
  };
}
"""

# Whether the characters of the banner are drawn with a real glyph: each is rendered on a
# canvas in the banner's font and compared with a character no font has, which comes out
# as the "missing glyph" box (or nothing). Equal pixels mean the visitor would see boxes.
MISSING_GLYPHS = """
(root, extra) => {
  const s = getComputedStyle(root.querySelector(".cst-title"));
  const font = `${s.fontStyle} ${s.fontWeight} 32px ${s.fontFamily}`;
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 64;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  const draw = (ch) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.font = font;
    ctx.textBaseline = "top";
    ctx.fillText(ch, 8, 8);
    return ctx.getImageData(0, 0, 64, 64).data.join(",");
  };
  const missing = draw("\\u{10FFFD}");
  const shown = root.querySelector("[data-consent-layer='1']").innerText + extra;
  // Letters, digits, punctuation and symbols: joiners and combining marks draw nothing alone.
  const visible = /[\\p{L}\\p{N}\\p{P}\\p{S}\\p{Co}]/u;
  const chars = Array.from(new Set(Array.from(shown)));
  return chars.filter((ch) => visible.test(ch) && draw(ch) === missing);
}
"""


def lang_page_app() -> Starlette:
    async def page(request: Request) -> Response:
        lang = request.query_params.get("lang", "")
        lang_attr = f' lang="{lang}"' if _SAFE_LANG.fullmatch(lang) else ""
        return HTMLResponse(
            f"<!doctype html><html{lang_attr}><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>Page</title></head><body><main><h1>Headline</h1>"
            "<p>Article text.</p></main></body></html>"
        )

    return Starlette(routes=[Route("/", page)])


@pytest.fixture(scope="module")
def lang_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("locales-browser")
    app = ConsentMiddleware(lang_page_app(), config=demo_config(tmp))
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport=VIEWPORTS["desktop"], color_scheme="light")
    yield ctx
    ctx.close()


def open_banner(context: Any, site: LiveServer, tag: str) -> Any:
    page = context.new_page()
    page.goto(f"{site.url}/?lang={tag}", wait_until="load")
    page.locator(BANNER).wait_for(state="visible")
    page.wait_for_function("window.consent !== undefined")  # the banner's script is ready
    return page


def show_second_layer(page: Any) -> None:
    button(page, "customize").click()
    page.locator(SECOND_LAYER).wait_for(state="visible")


def fit_problems(page: Any) -> list[str]:
    problems: list[str] = page.locator(BANNER).evaluate(MEASURE_FIT)
    return problems


# ----- fit and glyphs ------------------------------------------------------------------------


@pytest.mark.parametrize("tag", TAGS)
def test_every_glyph_renders_and_no_text_overflows(
    context: Any, lang_site: LiveServer, tag: str
) -> None:
    page = open_banner(context, lang_site, tag)
    assert page.locator(BANNER).get_attribute("lang") == tag
    found: dict[str, list[str]] = {
        "characters drawn as boxes": page.locator(BANNER).evaluate(MISSING_GLYPHS, "")
    }
    for layer in ("first", "second"):
        if layer == "second":
            page.set_viewport_size(VIEWPORTS["desktop"])
            show_second_layer(page)
        for name, size in VIEWPORTS.items():
            page.set_viewport_size(size)
            found[f"{layer} layer, {name}"] = fit_problems(page)
    # Boxes mean missing fonts (Debian: fonts-noto-core fonts-noto-cjk, as `make test` installs).
    assert found == {key: [] for key in found}


def test_the_fit_check_sees_a_word_too_long_for_its_button(
    context: Any, lang_site: LiveServer
) -> None:
    page = open_banner(context, lang_site, "de")
    page.set_viewport_size(VIEWPORTS["mobile"])
    button(page, "accept_all").evaluate(
        "b => { b.style.overflowWrap = 'normal'; b.style.whiteSpace = 'nowrap';"
        " b.textContent = 'Datenschutzgrundverordnungskonformitätsbestätigung'; }"
    )
    problems = fit_problems(page)
    assert any("accept_all" in p for p in problems), problems


def test_the_fit_check_sees_the_close_button_over_the_title(
    context: Any, lang_site: LiveServer
) -> None:
    page = open_banner(context, lang_site, "en")
    page.locator(FIRST_LAYER).evaluate("l => { l.style.paddingInlineEnd = '1rem'; }")
    page.locator(f"{FIRST_LAYER} .cst-title").evaluate(
        "t => { t.style.overflowWrap = 'anywhere'; t.textContent = 'W'.repeat(300); }"
    )
    assert any("close button" in p for p in fit_problems(page))


# ----- direction ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", SHOWN + [t for t in RIGHT_TO_LEFT if t not in SHOWN])
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_layout_follows_the_writing_direction(
    browser: Any, lang_site: LiveServer, tag: str, viewport: str
) -> None:
    ctx = browser.new_context(viewport=VIEWPORTS[viewport])
    page = open_banner(ctx, lang_site, tag)
    sides = page.locator(BANNER).evaluate(MEASURE_SIDES)
    ctx.close()
    rtl = tag in RIGHT_TO_LEFT
    assert sides["direction"] == ("rtl" if rtl else "ltr")
    layer, close = sides["layer"], sides["close"]
    middle = (layer["left"] + layer["right"]) / 2
    if rtl:
        # The close control at the inline end, which is the left; the text starts at the right.
        assert close["right"] < middle and close["left"] - layer["left"] < 24
        assert abs(sides["titleText"]["right"] - sides["title"]["right"]) <= 1
    else:
        assert close["left"] > middle and layer["right"] - close["right"] < 24
        assert abs(sides["titleText"]["left"] - sides["title"]["left"]) <= 1
    reject, accept = sides["reject"], sides["accept"]
    if abs(reject["top"] - accept["top"]) < 1:
        # Side by side: "Reject all" comes first in reading order, from the right in RTL.
        assert (reject["left"] > accept["left"]) == rtl


def test_the_glyph_check_sees_a_character_no_font_has(context: Any, lang_site: LiveServer) -> None:
    page = open_banner(context, lang_site, "en")
    unassigned = "\U0010fffc"
    assert page.locator(BANNER).evaluate(MISSING_GLYPHS, unassigned) == [unassigned]


# ----- accessibility ------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["ar", "ja", "de"])
def test_no_axe_violation_in_the_banner(context: Any, lang_site: LiveServer, tag: str) -> None:
    page = open_banner(context, lang_site, tag)
    first = _axe(page, BANNER)
    show_second_layer(page)
    second = _axe(page, BANNER)
    assert first == [] and second == [], [v["id"] for v in first + second]
