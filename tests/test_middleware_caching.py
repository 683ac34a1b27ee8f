"""What passes through untouched, and what caches may keep of a page rewritten per visitor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from tests.conftest import PAGE, csrf_token


def html_app(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Starlette:
    async def page(request: Request) -> Response:
        response = Response(body, status_code=status, media_type="text/html; charset=utf-8")
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response

    return Starlette(routes=[Route("/", page, methods=["GET", "HEAD"])])


def decide(client: TestClient, action: str) -> None:
    response = client.post(
        "/_consent/decision",
        data={"action": action, "csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_an_html_download_passes_byte_for_byte(make_config: Callable[..., ConsentConfig]) -> None:
    app = html_app(PAGE, headers={"content-disposition": 'attachment; filename="page.html"'})
    response = TestClient(ConsentMiddleware(app, config=make_config())).get("/")
    assert response.content == PAGE.encode()
    assert "consent_csrf" not in response.headers.get("set-cookie", "")


def test_partial_content_passes_byte_for_byte(make_config: Callable[..., ConsentConfig]) -> None:
    part = PAGE[:50]
    app = html_app(part, 206, {"content-range": f"bytes 0-49/{len(PAGE)}"})
    response = TestClient(ConsentMiddleware(app, config=make_config())).get("/")
    assert response.status_code == 206
    assert response.content == part.encode()
    assert response.headers["content-range"] == f"bytes 0-49/{len(PAGE)}"


CDN_HEADERS = {
    "cdn-cache-control": "max-age=600",
    "surrogate-control": "max-age=600",
    "cloudflare-cdn-cache-control": "max-age=600",
    "x-accel-expires": "600",
    "cache-control": "public, max-age=60, s-maxage=600",
}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_no_shared_cache_may_store_a_page_made_for_one_visitor(
    make_config: Callable[..., ConsentConfig], method: str
) -> None:
    client = TestClient(
        ConsentMiddleware(html_app(PAGE, headers=CDN_HEADERS), config=make_config())
    )
    response = client.request(method, "/")
    for name in ("cdn-cache-control", "surrogate-control", "cloudflare-cdn-cache-control"):
        assert response.headers[name] == "no-store"
    assert "x-accel-expires" not in response.headers
    assert response.headers["cache-control"] == "private, max-age=60"
    vary = {v.strip().lower() for v in response.headers["vary"].split(",")}
    assert {"cookie", "accept-language"} <= vary


def test_shared_cache_mode_varies_on_what_changes_the_bytes(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(shared_cache_mode=True)
    client = TestClient(ConsentMiddleware(html_app(PAGE), config=config))
    response = client.get("/", headers={"sec-gpc": "1"})
    vary = {v.strip().lower() for v in response.headers.get("vary", "").split(",")}
    assert "sec-gpc" in vary


@pytest.fixture
def static_site(tmp_path: Path) -> Starlette:
    (tmp_path / "index.html").write_text(PAGE)
    return Starlette(routes=[Mount("/", StaticFiles(directory=tmp_path, html=True))])


def test_validators_name_the_visitors_state(
    make_config: Callable[..., ConsentConfig], static_site: Starlette
) -> None:
    client = TestClient(ConsentMiddleware(static_site, config=make_config()))
    first = client.get("/index.html")
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and "-c" in etag
    assert "last-modified" not in first.headers
    head = client.head("/index.html")
    assert head.headers["etag"] == etag
    again = client.get("/index.html", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"].startswith("private")


def test_trackers_never_come_back_through_a_304_after_withdrawal(
    make_config: Callable[..., ConsentConfig], static_site: Starlette
) -> None:
    client = TestClient(ConsentMiddleware(static_site, config=make_config()))
    decide(client, "accept_all")
    granted = client.get("/index.html")
    assert ' src="https://www.google-analytics.com/analytics.js"' in granted.text
    decide(client, "reject_all")
    revalidated = client.get(
        "/index.html",
        headers={
            "if-none-match": granted.headers["etag"],
            "if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT",
        },
    )
    assert revalidated.status_code == 200
    assert ' src="https://www.google-analytics.com/analytics.js"' not in revalidated.text
    assert revalidated.headers["etag"] != granted.headers["etag"]


def test_validators_of_other_resources_reach_the_app(
    make_config: Callable[..., ConsentConfig], tmp_path: Path
) -> None:
    (tmp_path / "style.css").write_text("body { color: black }")
    site = Starlette(routes=[Mount("/", StaticFiles(directory=tmp_path))])
    client = TestClient(ConsentMiddleware(site, config=make_config()))
    first = client.get("/style.css")
    again = client.get("/style.css", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304


def test_a_navigation_earns_no_304_from_a_date_or_a_tag_we_did_not_issue(
    make_config: Callable[..., ConsentConfig], static_site: Starlette
) -> None:
    bare = TestClient(static_site).get("/index.html")
    client = TestClient(ConsentMiddleware(static_site, config=make_config()))
    for validators in (
        {"if-modified-since": bare.headers["last-modified"]},
        {"if-none-match": bare.headers["etag"]},
    ):
        response = client.get("/index.html", headers={"sec-fetch-dest": "document", **validators})
        assert response.status_code == 200
        assert response.text.count("data-consent-banner") == 1


def test_a_validator_revives_a_page_for_no_other_visitor_language_or_key(
    make_config: Callable[..., ConsentConfig], static_site: Starlette
) -> None:
    # The state tag is a keyed digest of what the page's bytes depend on: replayed by another
    # visitor, under another language, altered, or checked under another site's key, it must
    # make the app render the page again, never confirm what the browser holds.
    config = make_config()
    alice = TestClient(ConsentMiddleware(static_site, config=config))
    english = {"accept-language": "en"}
    etag = alice.get("/index.html", headers=english).headers["etag"]
    assert alice.get("/index.html", headers={"if-none-match": etag, **english}).status_code == 304
    tag = etag[-17:-1]
    flipped = etag[:-2] + ("0" if etag[-2] != "0" else "1") + '"'
    upper = etag[:-17] + tag.upper() + '"'
    for replayed in (flipped, upper, etag[:-17] + '"', etag[:-17] + tag[:8] + '"'):
        response = alice.get("/index.html", headers={"if-none-match": replayed, **english})
        assert response.status_code == 200, replayed
    german = alice.get("/index.html", headers={"if-none-match": etag, "accept-language": "de"})
    assert german.status_code == 200
    bob = TestClient(ConsentMiddleware(static_site, config=config))
    bob.get("/index.html", headers=english)
    assert bob.get("/index.html", headers={"if-none-match": etag, **english}).status_code == 200
    other_key = make_config(secret_key="another site's key, long enough")
    other = TestClient(ConsentMiddleware(static_site, config=other_key))
    other.cookies.update(alice.cookies)
    assert other.get("/index.html", headers={"if-none-match": etag, **english}).status_code == 200
