"""Third parties the catalogue does not know, site scripts that only name a vendor, and
placeholders that are valid where they stand."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import html5lib
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consent import ConfigError, ConsentConfig, ConsentMiddleware
from consent.catalogue import Catalogue, not_tracker_hosts
from consent.categories import Category
from consent.holdback import HoldbackPolicy
from consent.parties import Parties, registrable_domain
from consent.rewriter import Element

SITE = "www.news.example"


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("www.bbc.co.uk", "bbc.co.uk"),
        ("static.files.bbci.co.uk", "bbci.co.uk"),
        ("WWW.Example.COM.", "example.com"),
        ("alice.github.io", "alice.github.io"),  # a private suffix: every user is a site
        ("cdn.news.example", "news.example"),  # a suffix the list does not know
        ("192.0.2.7", "192.0.2.7"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("localhost", "localhost"),
    ],
)
def test_registrable_domain(host: str, domain: str) -> None:
    assert registrable_domain(host) == domain


def test_third_parties_by_registrable_domain_own_domains_and_allowlist() -> None:
    parties = Parties(own_domains=["news-static.example"], allowed=not_tracker_hosts())
    assert not parties.third_party("img.news.example", SITE)
    assert not parties.third_party("news.example", "www.news.example:8443")
    assert not parties.third_party("a.b.news-static.example", SITE)
    assert not parties.third_party("code.jquery.com", SITE)
    assert not parties.third_party("fonts.gstatic.com", SITE)
    assert parties.third_party("news-static.example.evil.example", SITE)
    assert parties.third_party("tags.unknown-ads.example", SITE)
    assert parties.third_party("bob.github.io", "alice.github.io")


@pytest.mark.parametrize(
    "script",
    [
        "var s=document.createElement('script');s.src='https://tags.unknown-ads.example/t.js';"
        "document.head.appendChild(s);",
        "new Image().src = '//px.unknown-ads.example/p?u=' + encodeURIComponent(location);",
        "navigator.sendBeacon('https://collect.unknown-ads.example/b', data);",
        "fetch('https:\\/\\/collect.unknown-ads.example\\/e', {method: 'POST'});",
        "document.write('<img src=//px.unknown-ads.example/p.gif width=1 height=1>');",
    ],
)
def test_inline_loaders_of_an_unknown_host_are_found(script: str) -> None:
    host = Parties().loaded_host(script, SITE)
    assert host is not None and host.endswith("unknown-ads.example")


@pytest.mark.parametrize(
    "script",
    [
        'window.__CONFIG__ = {"adsHost": "https://tags.unknown-ads.example/", "lang": "en"};',
        "var share = 'https://social.unknown.example/share?u=' + location.href;",
        "var s=document.createElement('script');s.src='https://img.news.example/app.js';",
        "var s=document.createElement('script');s.src='https://cdn.jsdelivr.net/npm/x.js';",
        # A comment is no URL, whatever follows its slashes.
        "var frame = el; //parent.document.body\nframe.src = next;",
    ],
)
def test_urls_in_strings_and_own_loaders_are_no_third_party_loads(script: str) -> None:
    assert Parties(allowed=not_tracker_hosts()).loaded_host(script, SITE) is None


def policy(**kwargs: Any) -> HoldbackPolicy:
    return HoldbackPolicy(
        Catalogue.builtin(),
        (),
        unclassified=kwargs.get("unclassified", "marketing"),
        parties=Parties(kwargs.get("own", ()), not_tracker_hosts()),
    )


def element(tag: str, text: str | None = None, **attrs: str) -> Element:
    return Element(tag, {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}, text)


@pytest.mark.parametrize(
    "candidate",
    [
        element("script", src="https://tags.unknown-ads.example/t.js"),
        element("script", src="//tags.unknown-ads.example/t.js"),
        element("iframe", src="https://frames.unknown-ads.example/slot"),
        element("img", src="https://px.unknown-ads.example/p.gif", width="1", height="1"),
        element("img", src="https://px.unknown-ads.example/p.gif", style="display: none"),
        element("embed", src="https://media.unknown-ads.example/x.swf"),
        element("link", rel="preload", as_="script", href="https://tags.unknown-ads.example/t.js"),
        element("link", rel="modulepreload", href="https://tags.unknown-ads.example/m.js"),
        element(
            "script",
            "(function(){var s=document.createElement('script');"
            "s.src='https://tags.unknown-ads.example/t.js';document.body.appendChild(s)})();",
        ),
    ],
)
def test_unknown_third_party_active_content_waits_as_unclassified(candidate: Element) -> None:
    verdict = policy().verdict(candidate, SITE)
    assert verdict is not None
    assert verdict.category == "marketing"
    assert verdict.vendor is not None and verdict.vendor.endswith("unknown-ads.example")


@pytest.mark.parametrize(
    "candidate",
    [
        element("script", src="/js/app.js"),
        element("script", src="https://static.news.example/app.js"),
        element("script", src="https://code.jquery.com/jquery-3.7.1.min.js"),
        element("img", src="https://photos.unknown.example/big.jpg", width="640", height="360"),
        element("link", rel="stylesheet", href="https://css.unknown.example/site.css"),
        element("link", rel="preload", as_="font", href="https://fonts.unknown.example/a.woff2"),
        element("script", 'window.cfg = {"video": "https://player.unknown.example/embed"};'),
        element("script", type="application/ld+json", text=None),
    ],
)
def test_own_content_libraries_and_plain_images_run(candidate: Element) -> None:
    assert policy().verdict(candidate, SITE) is None


def test_own_domains_and_switching_off() -> None:
    script = element("script", src="https://cdn.news-static.example/app.js")
    assert policy().verdict(script, SITE) is not None
    assert policy(own=["news-static.example"]).verdict(script, SITE) is None
    assert policy(unclassified=None).verdict(script, SITE) is None
    # Without the page's host nothing is judged a third party.
    assert policy().verdict(script) is None


def test_known_services_keep_their_own_category() -> None:
    found = policy().verdict(
        element("script", src="https://www.googletagmanager.com/gtag/js?id=G-1"), SITE
    )
    assert found is not None and found.category == "analytics"


@pytest.mark.parametrize(
    "script",
    [
        # Site code that only names vendors in settings or links: no loader near the host.
        'window.__GLOBAL_CONFIG__={"FACEBOOK_APP_URL":"https://connect.facebook.net/en_US/sdk.js",'
        '"TWITTER":"https://platform.twitter.com/widgets.js","GA":"https://www.google-analytics.com"};'
        + "function start(){ document.body.classList.add('ready'); }"
        * 20,
        "var links = {share: 'https://www.facebook.com/sharer.php', ga: 'www.google-analytics.com/'};",
    ],
)
def test_site_scripts_naming_a_vendor_are_not_held(script: str) -> None:
    assert Catalogue.builtin().match_inline(script) is None
    assert policy().verdict(element("script", script), SITE) is None


def test_a_vendor_loader_is_still_held() -> None:
    loader = (
        "(function(){var ga=document.createElement('script');ga.async=true;"
        "ga.src='https://www.google-analytics.com/analytics.js';"
        "document.head.appendChild(ga);})();"
    )
    found = Catalogue.builtin().match_inline(loader)
    assert found is not None and found.id == "google-analytics"


# ----- through the middleware ---------------------------------------------------------------

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title>
<script async src="https://platform.twitter.com/widgets.js"></script>
<script src="https://tags.unknown-ads.example/t.js"></script>
<link rel="stylesheet" href="/site.css"></head>
<body><article><p>First words
<iframe src="https://www.youtube.com/embed/aBcDeFgHiJk" width="560" height="315"></iframe>
last words.</p><p>Second paragraph.</p>
<iframe src="https://player.unknown-video.example/v/1"></iframe>
<noscript><img src="https://px.unknown-ads.example/p.gif" width="1" height="1"></noscript>
<script src="/js/app.js"></script></article></body></html>"""


@pytest.fixture
def client(make_config: Callable[..., ConsentConfig]) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def build(**config: Any) -> TestClient:
        async def page(request: Request) -> Response:
            return HTMLResponse(PAGE)

        app = Starlette(routes=[Route("/", page)])
        built = TestClient(
            ConsentMiddleware(app, config=make_config(**config)), base_url=f"http://{SITE}"
        )
        clients.append(built)
        return built

    yield build
    for built in clients:
        built.close()


def parse(markup: str) -> ET.Element:
    tree: ET.Element = html5lib.parse(markup, treebuilder="etree", namespaceHTMLElements=False)
    return tree


def test_no_placeholder_ends_the_head(client: Callable[..., TestClient]) -> None:
    head = parse(client().get("/").text).find("head")
    assert head is not None
    # Nothing ended the head early: X's held script, the unknown one and the stylesheet
    # after them are still in it.
    held = [e for e in head if e.tag == "script" and e.get("data-consent-held") is not None]
    assert len(held) == 2
    assert head.find("link[@href='/site.css']") is not None
    assert head.find(".//*[@data-consent-placeholder]") is None


def test_a_placeholder_inside_a_paragraph_is_phrasing_content(
    client: Callable[..., TestClient],
) -> None:
    tree = parse(client().get("/").text)
    # The paragraph around a held player is one paragraph, holding its placeholder.
    article = tree.find("body/article")
    assert article is not None
    paragraphs = article.findall("p")
    assert len(paragraphs) == 2
    first = paragraphs[0]
    placeholder = first.find("span[@data-consent-placeholder]")
    assert placeholder is not None
    assert placeholder.find(".//button[@data-consent-allow]") is not None
    assert first.find("iframe[@data-consent-held]") is not None
    assert "last words." in "".join(first.itertext())


def test_unknown_third_parties_wait_until_their_category_is_granted(
    client: Callable[..., TestClient],
) -> None:
    tree = parse(client().get("/").text)
    held = {
        e.get("data-consent-src"): e.get("data-consent-category")
        for e in tree.iter()
        if e.get("data-consent-held") is not None
    }
    assert held["https://tags.unknown-ads.example/t.js"] == "marketing"
    assert held["https://player.unknown-video.example/v/1"] == "marketing"
    assert held["https://px.unknown-ads.example/p.gif"] == "marketing"
    srcs = {e.get("src") for e in tree.iter()}
    assert "/js/app.js" in srcs
    # The unknown player is content: it is announced in place, naming its host.
    assert any(
        "player.unknown-video.example" in "".join(e.itertext())
        for e in tree.iter()
        if e.get("data-consent-placeholder") is not None
    )


def test_switched_off_or_mapped_elsewhere(client: Callable[..., TestClient]) -> None:
    off = client(hold_unclassified=False).get("/").text
    assert 'src="https://tags.unknown-ads.example/t.js"' in off
    assert 'src="https://player.unknown-video.example/v/1"' in off
    mapped = client(unclassified_category="analytics").get("/").text
    tree = parse(mapped)
    categories = {
        e.get("data-consent-category")
        for e in tree.iter()
        if e.get("data-consent-src", "").startswith("https://tags.unknown-ads.example")
    }
    assert categories == {"analytics"}
    own = client(own_domains=["unknown-ads.example"]).get("/").text
    assert 'src="https://tags.unknown-ads.example/t.js"' in own


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"unclassified_category": "necessary"}, "unclassified_category"),
        ({"unclassified_category": "advertising"}, "unclassified_category"),
        ({"hold_unclassified": "yes"}, "hold_unclassified"),
        ({"own_domains": "cdn.example.com"}, "own_domains"),
        ({"own_domains": ["https://cdn.example.com"]}, "own_domains"),
        ({"own_domains": ["com"]}, "own_domains"),
    ],
)
def test_unclassified_settings_are_validated(kwargs: dict[str, Any], setting: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ConsentConfig(secret_key="k" * 32, **kwargs)
    assert raised.value.setting == setting
    assert setting in str(raised.value)


def test_without_a_marketing_category_the_last_purpose_is_used() -> None:
    categories = (Category("necessary", required=True), Category("analytics"), Category("ads"))
    config = ConsentConfig(secret_key="k" * 32, categories=categories)
    assert config.unclassified_category == "ads"


def test_settings_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "consent.toml"
    path.write_text(
        'secret_key = "' + "k" * 32 + '"\n'
        'unclassified_category = "analytics"\n'
        'own_domains = ["news-static.example", "Sister-Site.example"]\n'
        "hold_unclassified = true\n"
    )
    config = ConsentConfig.from_toml(path)
    assert config.unclassified_category == "analytics"
    assert config.own_domains == ("news-static.example", "sister-site.example")


def test_a_library_host_that_changed_hands_is_not_trusted() -> None:
    # The polyfill service's old address was taken over and served malware in 2024: it is an
    # unknown third party now, not a library.
    verdict = policy().verdict(
        element("script", src="https://cdn.polyfill.io/v3/polyfill.min.js"), SITE
    )
    assert verdict is not None and verdict.category == "marketing"
