"""What the server tells the banner script: the verified state, the held-back marker, the
state endpoint for shared-cache mode, and a banner slot that page content cannot name."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent.assets import assets
from consent.cookie import ConsentCookieCodec, CookiePayload
from consent.names import BROWSER_NAMES
from tests.conftest import SECRET, page_app

CONFIG = re.compile(r'data-consent-config="([^"]*)"')
HELD = re.compile(r'data-consent-held="([^"]*)"')


def browser_config(page: str) -> dict[str, object]:
    found = CONFIG.search(page)
    assert found
    result: dict[str, object] = json.loads(html.unescape(found.group(1)))
    return result


def signed(granted: set[str], *, key: str = SECRET, version: str = "1") -> str:
    codec = ConsentCookieCodec([key], max_age=3600, policy_version=version)
    return codec.encode(CookiePayload("visitor-7", frozenset(granted), version, 0))


def wrap(app: Starlette, config: ConsentConfig) -> TestClient:
    return TestClient(ConsentMiddleware(app, config=config))


def test_the_banner_carries_the_verified_state_and_never_the_cookie_name(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = wrap(page_app(), make_config(policy_version="1"))
    client.cookies.set("consent", signed({"necessary", "analytics"}))
    cfg = browser_config(client.get("/").text)
    assert cfg["state"] == {
        "decided": True,
        "granted": ["analytics", "necessary"],
        "consentId": "visitor-7",
    }
    assert "cookie" not in cfg


def test_a_cookie_signed_with_another_key_is_undecided_in_the_banner(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = wrap(page_app(), make_config(policy_version="1"))
    client.cookies.set("consent", signed({"necessary", "marketing"}, key="some-other-key-0123"))
    cfg = browser_config(client.get("/").text)
    assert cfg["state"] == {"decided": False, "granted": ["necessary"], "consentId": None}


def test_held_elements_carry_the_marker_their_banner_names(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = wrap(page_app(), make_config())
    markers = set()
    for _ in range(3):
        page = client.get("/").text
        held = set(HELD.findall(page))
        cfg = browser_config(page)
        assert held == {cfg["held"]}
        assert len(str(cfg["held"])) >= 16
        markers.add(cfg["held"])
    # One page cache entry: the same bytes, so the marker it was made with.
    assert len(markers) == 1


def test_each_page_gets_its_own_marker(make_config: Callable[..., ConsentConfig]) -> None:
    client = wrap(page_app(), make_config(page_cache_bytes=0))
    first, second = (browser_config(client.get("/").text)["held"] for _ in range(2))
    assert first != second


def test_page_content_cannot_bring_its_own_held_attributes(
    make_config: Callable[..., ConsentConfig],
) -> None:
    body = (
        "<!doctype html><html><head><title>t</title></head><body>"
        '<iframe data-consent-category="marketing" data-consent-held="x" '
        'data-consent-srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>'
        "</body></html>"
    )

    async def page(request: Request) -> Response:
        return HTMLResponse(body)

    out = wrap(Starlette(routes=[Route("/", page)]), make_config()).get("/").text
    assert "data-consent-srcdoc" not in out
    assert 'data-consent-held="x"' not in out


def test_state_endpoint_answers_the_verified_state_uncached(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = wrap(page_app(), make_config(policy_version="1", shared_cache_mode=True))
    fresh = client.get("/_consent/state")
    assert fresh.status_code == 200
    assert fresh.json() == {
        "decided": False,
        "granted": ["necessary"],
        "consent_id": None,
        "gpc": False,
    }
    assert fresh.headers["cache-control"] == "no-store"
    assert "Cookie" in fresh.headers["vary"]
    client.cookies.set("consent", signed({"necessary", "analytics"}))
    assert client.get("/_consent/state").json()["granted"] == ["analytics", "necessary"]
    client.cookies.set("consent", signed({"necessary", "analytics"}, version="0"))
    assert client.get("/_consent/state").json()["decided"] is False


def test_shared_cache_mode_pages_carry_no_state_but_where_to_ask(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = wrap(page_app(), make_config(policy_version="1", shared_cache_mode=True))
    client.cookies.set("consent", signed({"necessary", "analytics"}))
    cfg = browser_config(client.get("/").text)
    assert cfg["state"] is None
    assert cfg["stateUrl"] == "/_consent/state"


def test_page_content_cannot_place_the_banner(make_config: Callable[..., ConsentConfig]) -> None:
    """A page that writes the cache's old fixed slot marker gets one banner, after <body>."""
    spoof = "\x00consent:banner-slot\x00"
    body = f"<!doctype html><html><head><title>t</title></head><body><p>{spoof}</p></body></html>"

    async def page(request: Request) -> Response:
        return HTMLResponse(body)

    client = wrap(Starlette(routes=[Route("/", page)]), make_config())
    for _ in range(2):
        out = client.get("/").text
        assert out.count("data-consent-banner") == 1
        assert out.index("data-consent-banner") < out.index("<p>")
        assert spoof in out


def test_every_name_the_script_uses_is_written_into_it() -> None:
    script = next(a for a in assets().values() if a.logical_name == "consent.js").body
    assert b"__CONSENT_NAMES__" not in script
    names = json.dumps(BROWSER_NAMES, separators=(",", ":"), sort_keys=True).encode()
    assert names in script
    # No name of an attribute or field is spelled out in the script itself.
    assert script.count(b"data-consent-") == names.count(b"data-consent-")
    assert b"csrf_token" not in script.replace(names, b"")


def test_the_script_restores_every_attribute_the_rewriter_moves() -> None:
    from consent import rewriter

    movable = set().union(
        *(
            getattr(rewriter, name)
            for name in dir(rewriter)
            if name.endswith("_FETCHING") and isinstance(getattr(rewriter, name), frozenset)
        )
    )
    assert movable
    assert movable <= set(BROWSER_NAMES["attributes"])
