"""Which language the banner speaks, through the middleware: resolver, page, header, default.

Everything here goes over HTTP (Starlette's TestClient around ConsentMiddleware), so it checks
what a visitor receives, not what the catalogue would answer in isolation.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent.i18n import LocaleCatalogue, canonical_tag
from consent.names import ATTR_BANNER, ATTR_OPEN, ATTR_PLACEHOLDER
from consent.types import Scope
from tests.conftest import SECRET, csrf_token

CATALOGUE = LocaleCatalogue.load()
TAGS = list(CATALOGUE.tags)
RIGHT_TO_LEFT = {"ar", "he", "fa"}  # the shipped right-to-left scripts: Arabic, Hebrew, Persian
REFERENCE_KEYS = sorted(CATALOGUE.get("en").texts)
CATEGORY_KEYS = [k for k in REFERENCE_KEYS if k.startswith("categories.")]

# What each surface must say, by key; {placeholders} are checked by their literal parts.
BANNER_KEYS = [
    "banner.title",
    "banner.body",
    "banner.policy_link",
    "banner.reject_all",
    "banner.accept_all",
    "banner.customize",
    "banner.close",
    "gpc.honoured",
    "preferences.title",
    "preferences.intro",
    "preferences.save",
    "preferences.always_active",
    "reopen.label",
    *CATEGORY_KEYS,
]
PREFERENCES_KEYS = [
    "preferences.title",
    "preferences.intro",
    "preferences.save",
    "preferences.always_active",
    "preferences.undecided",
    "preferences.back",
    "banner.reject_all",
    "banner.accept_all",
    "banner.policy_link",
    *CATEGORY_KEYS,
]
POLICY_KEYS = [
    "policy.title",
    "policy.intro",
    "policy.cookie",
    "policy.service",
    "policy.provider",
    "policy.purpose",
    "policy.lifetime_days",
    "policy.party",
    "policy.first_party",
    "policy.withdraw",
    "reopen.label",
    *CATEGORY_KEYS,
]
PLACEHOLDER_KEYS = ["placeholder.text", "placeholder.allow"]

_LEFTOVER_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_SAFE_LANG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,3}")


# ----- the site under the middleware ------------------------------------------------------------


def page_html(lang: str | None, body: str = "<p>Article text.</p>") -> str:
    lang_attr = f' lang="{lang}"' if lang else ""
    return (
        f"<!doctype html>\n<html{lang_attr}>\n<head><meta charset='utf-8'><title>Page</title>"
        f"</head>\n<body><main><h1>Headline</h1>{body}</main></body></html>"
    )


def lang_app() -> Starlette:
    """Pages whose ``<html lang>`` comes from the query (``/?lang=uk``); none when absent."""

    def lang_of(request: Request) -> str | None:
        lang = request.query_params.get("lang")
        return lang if lang and _SAFE_LANG.fullmatch(lang) else None

    async def page(request: Request) -> Response:
        return HTMLResponse(page_html(lang_of(request)))

    async def embed(request: Request) -> Response:
        video = '<iframe src="https://www.youtube.com/embed/xyz" title="Video"></iframe>'
        return HTMLResponse(page_html(lang_of(request), video))

    return Starlette(
        routes=[Route("/", page), Route("/fr/", page), Route("/embed", embed)],
    )


def base_config(tmp: Path, **overrides: Any) -> ConsentConfig:
    values: dict[str, Any] = {
        "secret_key": SECRET,
        "audit_url": f"sqlite:///{tmp / 'audit.db'}",
        "audit_key": "audit-key-for-tests-0123456789",
        "cookie_categories": {"site_lang": "preferences"},
    }
    values.update(overrides)
    return ConsentConfig(**values)


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def build(**overrides: Any) -> TestClient:
        test_client = TestClient(
            ConsentMiddleware(lang_app(), config=base_config(tmp_path, **overrides))
        )
        test_client.__enter__()
        clients.append(test_client)
        return test_client

    yield build
    for test_client in clients:
        test_client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One client for the read-only checks over every locale (a runtime is costly to build)."""
    app = ConsentMiddleware(lang_app(), config=base_config(tmp_path_factory.mktemp("locales")))
    with TestClient(app) as test_client:
        yield test_client


# ----- reading what was served ----------------------------------------------------------------


class Page(HTMLParser):
    """The visible text of a page (and its accessible labels), and the attributes we check."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.html: dict[str, str] = {}
        self.banner: dict[str, str] | None = None
        self.reopen: dict[str, str] | None = None
        self.placeholders: list[dict[str, str]] = []
        self._hidden_depth = 0
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag in ("script", "style"):
            self._hidden_depth += 1
        if tag == "html":
            self.html = found
        if ATTR_BANNER in found:
            self.banner = found
        if ATTR_OPEN in found:
            self.reopen = found
        if ATTR_PLACEHOLDER in found:
            self.placeholders.append(found)
        self.parts.extend(found[name] for name in ("aria-label", "title", "alt") if found.get(name))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def literal_parts(text: str) -> list[str]:
    """The fixed words of a text around its ``{placeholders}``, whitespace collapsed."""
    pieces = (literal for literal, _name, _spec, _conv in string.Formatter().parse(text))
    return [" ".join(piece.split()) for piece in pieces if piece.strip()]


def missing_texts(page: Page, tag: str, keys: list[str]) -> list[str]:
    locale = CATALOGUE.get(tag)
    shown = page.text
    return [key for key in keys for part in literal_parts(locale.texts[key]) if part not in shown]


def leaks(page: Page) -> list[str]:
    """Key names or unfilled placeholders that reached the visitor."""
    shown = page.text
    found = [key for key in REFERENCE_KEYS if key in shown]
    found += _LEFTOVER_PLACEHOLDER.findall(shown)
    return found


def banner_of(response: Any) -> dict[str, str]:
    assert response.status_code == 200
    banner = Page(response.text).banner
    assert banner is not None, "the page must carry the banner"
    return banner


def banner_lang(client: TestClient, path: str = "/", **headers: str) -> str:
    return banner_of(client.get(path, headers=headers))["lang"]


# ----- resolution order -----------------------------------------------------------------------


def test_page_language_picks_the_banner_language(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    response = client.get("/?lang=uk")
    banner = banner_of(response)
    assert banner["lang"] == "uk"
    page = Page(response.text)
    assert CATALOGUE.get("uk").texts["banner.title"] in page.text
    assert CATALOGUE.get("en").texts["banner.title"] not in page.text


def test_page_language_wins_over_accept_language(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert banner_lang(client, "/?lang=uk", **{"accept-language": "de-AT,de;q=0.9"}) == "uk"


@pytest.mark.parametrize(
    ("page_lang", "expected"),
    [("pt-BR", "pt-BR"), ("de-CH", "de"), ("zh-TW", "zh-Hant"), ("zh-CN", "zh-Hans"), ("no", "nb")],
)
def test_page_language_is_matched_like_any_tag(
    make_client: Callable[..., TestClient], page_lang: str, expected: str
) -> None:
    assert banner_lang(make_client(), f"/?lang={page_lang}") == expected


def test_unknown_page_language_falls_to_accept_language(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    assert banner_lang(client, "/?lang=tlh", **{"accept-language": "fr-CA, fr;q=0.8"}) == "fr"


def test_page_without_language_follows_accept_language(
    make_client: Callable[..., TestClient],
) -> None:
    assert banner_lang(make_client(), "/", **{"accept-language": "de-AT,de;q=0.9"}) == "de"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr;q=0.4, it;q=0.9", "it"),
        ("de;q=0, fr;q=0.5", "fr"),
        ("zh-HK", "zh-Hant"),
        ("zh-CN,zh;q=0.9", "zh-Hans"),
        ("nb-NO", "nb"),
        ("PT-br", "pt-BR"),
        ("klingon;q=abc, ;;;, es", "es"),
        ("tlh, *;q=0.1", "en"),
    ],
)
def test_accept_language_cases_reach_the_banner(
    make_client: Callable[..., TestClient], header: str, expected: str
) -> None:
    assert banner_lang(make_client(), "/", **{"accept-language": header}) == expected


def test_nothing_usable_gives_the_default(make_client: Callable[..., TestClient]) -> None:
    assert banner_lang(make_client(), "/") == "en"
    assert banner_lang(make_client(default_locale="sv"), "/", **{"accept-language": "tlh"}) == "sv"


def _path_resolver(scope: Scope) -> str | None:
    # A site with language paths: /fr/... is French, anything else is left to the page.
    path: str = scope.get("path", "")
    return "fr" if path.startswith("/fr/") else None


def test_operator_resolver_wins_over_page_and_header(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(locale_resolver=_path_resolver)
    headers = {"accept-language": "de"}
    assert banner_lang(client, "/fr/?lang=uk", **headers) == "fr"
    # Where the resolver has no answer, the page and then the header decide as before.
    assert banner_lang(client, "/?lang=uk", **headers) == "uk"
    assert banner_lang(client, "/", **headers) == "de"


def test_resolver_answer_is_matched_and_an_unknown_one_ignored(
    make_client: Callable[..., TestClient],
) -> None:
    posix = make_client(locale_resolver=lambda scope: "de_AT.UTF-8")
    assert banner_lang(posix, "/?lang=uk") == "de"
    unknown = make_client(locale_resolver=lambda scope: "tlh")
    assert banner_lang(unknown, "/?lang=uk") == "uk"


# ----- direction --------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", TAGS)
def test_direction_of_the_banner(shared_client: TestClient, tag: str) -> None:
    page = Page(shared_client.get(f"/?lang={tag}").text)
    expected = "rtl" if tag in RIGHT_TO_LEFT else "ltr"
    assert page.banner is not None and page.reopen is not None
    assert (page.banner["lang"], page.banner["dir"]) == (tag, expected)
    assert (page.reopen["lang"], page.reopen["dir"]) == (tag, expected)


@pytest.mark.parametrize("tag", sorted(RIGHT_TO_LEFT))
def test_right_to_left_pages_and_placeholders(shared_client: TestClient, tag: str) -> None:
    for path in (f"/_consent/preferences?lang={tag}", f"/_consent/policy?lang={tag}"):
        html_root = Page(shared_client.get(path).text).html
        assert (html_root.get("lang"), html_root.get("dir")) == (tag, "rtl")
    held = Page(shared_client.get(f"/embed?lang={tag}").text).placeholders
    assert held and all(p["dir"] == "rtl" and p["lang"] == tag for p in held)


# ----- every shipped locale is complete where the visitor sees it --------------------------------


@pytest.mark.parametrize("tag", TAGS)
def test_banner_has_every_text(shared_client: TestClient, tag: str) -> None:
    # With Global Privacy Control on, the banner also carries its notice.
    page = Page(shared_client.get(f"/?lang={tag}", headers={"sec-gpc": "1"}).text)
    assert missing_texts(page, tag, BANNER_KEYS) == []
    assert leaks(page) == []


@pytest.mark.parametrize("tag", TAGS)
def test_preferences_page_has_every_text(shared_client: TestClient, tag: str) -> None:
    response = shared_client.get(f"/_consent/preferences?lang={tag}")
    assert response.status_code == 200
    page = Page(response.text)
    assert page.html.get("lang") == tag
    assert missing_texts(page, tag, PREFERENCES_KEYS) == []
    assert leaks(page) == []


@pytest.mark.parametrize("tag", TAGS)
def test_policy_page_has_every_text(shared_client: TestClient, tag: str) -> None:
    response = shared_client.get(f"/_consent/policy?lang={tag}")
    assert response.status_code == 200
    page = Page(response.text)
    assert page.html.get("lang") == tag
    assert missing_texts(page, tag, POLICY_KEYS) == []
    assert leaks(page) == []


@pytest.mark.parametrize("tag", TAGS)
def test_policy_page_says_when_a_purpose_has_no_service(
    make_client: Callable[..., TestClient], tag: str
) -> None:
    # With the catalogue every purpose has services; without it, some have none.
    response = make_client(use_catalogue=False).get(f"/_consent/policy?lang={tag}")
    page = Page(response.text)
    assert missing_texts(page, tag, ["policy.none"]) == []
    assert leaks(page) == []


@pytest.mark.parametrize("tag", TAGS)
def test_held_back_embed_placeholder_has_every_text(shared_client: TestClient, tag: str) -> None:
    page = Page(shared_client.get(f"/embed?lang={tag}").text)
    assert page.placeholders, "the embedded video must be replaced by a placeholder"
    assert missing_texts(page, tag, PLACEHOLDER_KEYS) == []
    assert leaks(page) == []


def test_leak_detection_sees_a_key_and_a_placeholder() -> None:
    # The two checks above are only worth something if they can fire.
    broken = Page(page_html("en", "<p>banner.title</p><p>Services: {vendors}</p>"))
    assert leaks(broken) == ["banner.title", "{vendors}"]
    assert missing_texts(broken, "en", ["banner.accept_all"]) == ["banner.accept_all"]


# ----- operator overrides from TOML --------------------------------------------------------------

OVERRIDE_TOML = """
policy_version = "2026-11"

[locales.de]
"banner.title" = "Ihre Wahl zu Cookies auf Example News"

[locales.uk.banner]
accept_all = "Прийняти все на Example News"
"""


@pytest.fixture
def toml_config(tmp_path: Path) -> ConsentConfig:
    path = tmp_path / "consent.toml"
    path.write_text(OVERRIDE_TOML, encoding="utf-8")
    return ConsentConfig.from_toml(
        path,
        secret_key=SECRET,
        audit_url=f"sqlite:///{tmp_path / 'audit.db'}",
        audit_key="audit-key-for-tests-0123456789",
    )


def test_toml_overrides_show_up_and_the_rest_stays_shipped(toml_config: ConsentConfig) -> None:
    with TestClient(ConsentMiddleware(lang_app(), config=toml_config)) as client:
        german = Page(client.get("/?lang=de").text).text
        ukrainian = Page(client.get("/?lang=uk").text).text
        english = Page(client.get("/?lang=en").text).text
        prefs = Page(client.get("/_consent/preferences?lang=uk").text).text
    shipped_de = CATALOGUE.get("de").texts
    shipped_uk = CATALOGUE.get("uk").texts
    assert "Ihre Wahl zu Cookies auf Example News" in german
    assert shipped_de["banner.title"] not in german
    assert shipped_de["banner.accept_all"] in german
    assert "Прийняти все на Example News" in ukrainian and "Прийняти все на Example News" in prefs
    assert shipped_uk["banner.title"] in ukrainian
    assert "Example News" not in english


# ----- what the visitor was told, in the receipt -------------------------------------------------


def decide(client: TestClient, locale: str, action: str = "reject_all") -> dict[str, Any]:
    token = csrf_token(client, f"/?lang={locale}")
    response = client.post(
        "/_consent/decision",
        data={"action": action, "csrf_token": token, "locale": locale},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    decided: dict[str, Any] = response.json()
    return decided


def receipts(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/_consent/receipt")
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()["receipts"]
    return found


def test_receipt_records_the_hash_of_the_texts_shown(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    decide(client, "de")
    decide(client, "ja", action="accept_all")
    first, second = receipts(client)
    assert (first["locale"], second["locale"]) == ("de", "ja")
    assert first["texts_hash"] == LocaleCatalogue.load().get("de").texts_hash()
    assert second["texts_hash"] == LocaleCatalogue.load().get("ja").texts_hash()
    assert first["texts_hash"] != second["texts_hash"]


def test_receipt_hash_covers_the_operators_wording(toml_config: ConsentConfig) -> None:
    with TestClient(ConsentMiddleware(lang_app(), config=toml_config)) as client:
        decide(client, "de")
        (receipt,) = receipts(client)
    overridden = LocaleCatalogue.load(overrides=toml_config.locale_overrides).get("de")
    assert receipt["texts_hash"] == overridden.texts_hash()
    assert receipt["texts_hash"] != CATALOGUE.get("de").texts_hash()


# ----- the demo follows its pages' language ------------------------------------------------------


def test_demo_banner_follows_the_page_language(tmp_path: Path) -> None:
    from examples.news.app import create_app

    config = base_config(tmp_path, cookie_categories={"news_lang": "preferences"})
    with TestClient(create_app(config=config, data_dir=tmp_path)) as client:
        # The visitor's browser prefers Ukrainian; the English page still gets English.
        front = client.get("/", headers={"accept-language": "uk"})
        uk_front = client.get("/uk/", headers={"accept-language": "en"})
    for response, tag in ((front, "en"), (uk_front, "uk")):
        page = Page(response.text)
        assert canonical_tag(page.html.get("lang", "")) == tag
        assert page.banner is not None and page.banner["lang"] == tag
        assert CATALOGUE.get(tag).texts["banner.title"] in page.text
        assert CATALOGUE.get(tag).texts["banner.accept_all"] in page.text
