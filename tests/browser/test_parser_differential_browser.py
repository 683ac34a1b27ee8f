"""The rewriter and the URL host reading against Chromium's own parsers.

Inputs are generated from grammars of tricky spellings and fragments (seeded, so a failure
names an input that reproduces), and each kind is checked in one page evaluation: the
browser is started once for the module.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from consent.names import HELD_SCRIPT_TYPE
from consent.rewriter import Element, Hold, rewrite
from consent.urls import resolve
from tests.test_rewriter import TRICKY, Remembered

DOCUMENT = "https://site.example/dir/page.html"


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    tab = context.new_page()

    # Nothing may leave the machine: the page is an empty document, every other request is
    # answered empty.
    def answer(route: Any) -> None:
        if route.request.url == DOCUMENT:
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><body>")
        else:
            route.fulfill(status=204, body="")

    tab.route("**/*", answer)
    tab.goto(DOCUMENT)
    yield tab
    context.close()


def _spellings(rng: random.Random, count: int) -> list[str]:
    dots = [".", "\u3002", "\uff0e", "\uff61", "%2e", "%2E", ".\t", "\n."]
    schemes = ["https:", "HTTPS:", "http:", "Http:", "", "wss:"]
    slashes = ["", "/", "//", "///", "\\\\", "/\\", "\\/", "\\", "////"]
    # A tab or line break between two slashes is dropped, making the URL scheme-relative; a
    # form feed is not: what decides whether a root-relative URL is the page's own at once.
    slashes += ["/\t/", "/\n/", "/\r\n/", "/\x0c/"]
    hosts = [["www", "tracker", "example"], ["TRACKER", "example"], ["b\u00fccher", "example"]]
    hosts += [
        ["xn--bcher-kva", "example"],
        ["trac\u00adker", "example"],
        ["\uff34\uff32", "example"],
    ]
    userinfo = ["", "a@", "a:b@", "a@b@", "%40@"]
    ports = ["", ":443", ":8080", ":"]
    edges = ["", " ", "\x00", "\x1f ", "\t"]
    paths = ["/p.js", "\\p.js", "?q", "#f", "", "/a/../b"]
    out = []
    for _ in range(count):
        labels = rng.choice(hosts)
        host = labels[0]
        for label in labels[1:]:
            host += rng.choice(dots) + label
        if rng.random() < 0.2:
            host += "."
        out.append(
            rng.choice(edges)
            + rng.choice(schemes)
            + rng.choice(slashes)
            + rng.choice(userinfo)
            + host
            + rng.choice(ports)
            + rng.choice(paths)
            + rng.choice(edges)
        )
    return out


def test_hosts_match_chromiums_url_parser(page: Any) -> None:
    spellings = _spellings(random.Random(13), 600)
    # "https:host" is a path on a page served over https itself, and a host anywhere else;
    # the rewriter does not know the page's scheme, so it reads the host. A base of another
    # special scheme gives the browser's reading for that case.
    hosts = page.evaluate(
        """(urls) => urls.map((u) => {
            try { return new URL(u, "ftp://site.example/dir/page.html").hostname; }
            catch (e) { return null; }
        })""",
        spellings,
    )
    mismatches = []
    for url, browser_host in zip(spellings, hosts, strict=True):
        ours = resolve(url, None)
        if not browser_host:
            continue  # not a URL to the browser, or no host: nothing is fetched
        expected = browser_host.rstrip(".")
        if expected == "site.example":
            expected = None  # the page's own host: a relative URL
        if ours != expected:
            mismatches.append((url, browser_host, ours))
    assert mismatches == []


# HTML elements that fetch what their src or srcset names.
FETCHING = (
    '["img", "script", "iframe", "frame", "embed", "video", "audio", "source", "track", "input"]'
)


def _tracker(element: Element) -> Hold | None:
    values = [v or "" for v in element.attrs.values()]
    if any("tracker.test" in v for v in values) or "tracker.test" in (element.text or ""):
        return Hold("analytics")
    if element.tag == "script" and not element.complete:
        return Hold("analytics")  # a script not read whole is held, as the policy does
    return None


# What a parsed fragment would fetch from tracker.test or run inline, read from the DOM of a
# document that runs scripts (so <noscript> is raw text, as for the banner's script).
FIND_LOADS = """(pages) => pages.map((html) => {
    const range = document.createRange();
    range.selectNodeContents(document.body);
    const fragment = range.createContextualFragment(html);
    const found = [];
    const svgFetch = new Set(["image", "script", "feImage"]);
    const htmlFetch = new Set(FETCHING);
    for (const el of fragment.querySelectorAll("*")) {
        const html = el.namespaceURI === "http://www.w3.org/1999/xhtml";
        const svg = el.namespaceURI === "http://www.w3.org/2000/svg";
        const names = html ? (htmlFetch.has(el.localName) ? ["src", "srcset"] : [])
            : svg && svgFetch.has(el.localName) ? ["href"] : [];
        for (const name of names) {
            if ((el.getAttribute(name) || "").includes("tracker.test")) found.push(el.localName + " " + name);
        }
        if (svg && svgFetch.has(el.localName)) {
            const x = el.getAttributeNS("http://www.w3.org/1999/xlink", "href") || "";
            if (x.includes("tracker.test")) found.push(el.localName + " xlink:href");
        }
        const runs = (el.getAttribute("type") || "").toLowerCase() !== HELD;
        const script = el.localName === "script" && (html || svg);
        if (script && runs && el.textContent.includes("tracker.test")) {
            found.push("script text");
        }
    }
    return found;
})"""


def _tracker_but_nonce(element: Element) -> Hold | None:
    """``_tracker``, reading no nonce, as no verdict of the hold-back policy does: answers
    are remembered without a tag's nonce."""
    attrs = {k: v for k, v in element.attrs.items() if k != "nonce"}
    return _tracker(Element(element.tag, attrs, element.text, element.raw, element.base))


def test_nothing_chromium_would_load_survives_rewriting(page: Any) -> None:
    rng = random.Random(29)
    pages = ["".join(rng.choice(TRICKY) for _ in range(rng.randrange(1, 16))) for _ in range(800)]
    rewritten = [rewrite(("<p>" + p).encode(), _tracker).decode() for p in pages]
    # Every page a second time, its answers remembered: the compiled scan takes what it can
    # itself (remembered tags, comments, tags with a nonce), as on a site's pages seen again.
    remembered = Remembered(_tracker_but_nonce)
    for p in pages:
        rewrite(("<p>" + p).encode(), remembered)
    warm = [rewrite(("<p>" + p).encode(), remembered).decode() for p in pages]
    script = FIND_LOADS.replace("HELD", repr(HELD_SCRIPT_TYPE)).replace("FETCHING", FETCHING)
    before, after, after_warm = page.evaluate(f"(p) => p.map(({script}))", [pages, rewritten, warm])
    # The grammar does reach trackers the browser loads, and none survives the rewriter.
    assert sum(1 for found in before if found) > 100
    assert [(p, found) for p, found in zip(pages, after, strict=True) if found] == []
    assert [(p, found) for p, found in zip(pages, after_warm, strict=True) if found] == []
