"""Requests and apps that try to make the middleware serve one visitor what was made for another,
or let a third party through by the way a message or a header is shaped."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from starlette.types import Message, Receive, Scope, Send

from consent import ConsentConfig, ConsentMiddleware
from consent.middleware import _SLICE
from tests.conftest import http_scope, without_held_marker

UNKNOWN_PARTY = b'<script src="https://cdn.unknown-party.example/t.js"></script>'
FIRST_PART = b"<!doctype html><html lang=en><head><title>t</title></head><body><p>hi</p>"
PAGE = FIRST_PART + UNKNOWN_PARTY + b"</body></html>"


def html_app(body: bytes = PAGE) -> Callable[..., Any]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def recording_app(seen: list[list[tuple[bytes, bytes]]]) -> Callable[..., Any]:
    """A page app that keeps the request headers it was given."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(list(scope["headers"]))
        await html_app()(scope, receive, send)

    return app


def fetch(app: Any, scope: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    anyio.run(app, scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start, body


def test_a_page_made_for_a_forged_host_is_not_served_to_the_real_one(
    make_config: Callable[..., ConsentConfig],
) -> None:
    # A Host naming the third party makes its script the site's own on that one answer: the
    # cached page must not carry that verdict to visitors of the real site.
    app = ConsentMiddleware(html_app(), config=make_config())
    _, forged = fetch(app, http_scope(host="cdn.unknown-party.example"))
    assert UNKNOWN_PARTY in forged
    _, real = fetch(app, http_scope(host="www.site.example"))
    assert UNKNOWN_PARTY not in real
    assert b'data-consent-category="marketing"' in real


def test_headers_given_as_a_one_pass_iterable_all_reach_the_server(
    make_config: Callable[..., ConsentConfig],
) -> None:
    # ASGI lets an app give its headers as any iterable: one read must see them all, and what
    # goes out must still hold them.
    def app_with(content_type: bytes) -> Callable[..., Any]:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            headers = [(b"content-type", content_type), (b"x-app", b"1")]
            await send({"type": "http.response.start", "status": 200, "headers": iter(headers)})
            await send({"type": "http.response.body", "body": PAGE})

        return app

    for content_type in (b"application/json", b"text/html; charset=utf-8"):
        app = ConsentMiddleware(app_with(content_type), config=make_config())
        start, body = fetch(app, http_scope(host="www.site.example"))
        sent = [(bytes(n).lower(), bytes(v)) for n, v in start["headers"]]
        assert (b"content-type", content_type) in sent
        assert (b"x-app", b"1") in sent
        if content_type.startswith(b"text/html"):
            assert UNKNOWN_PARTY not in body


@pytest.mark.parametrize(
    "content_type", [b" text/html; charset=utf-8", b"\tText/HTML;charset=utf-8 "]
)
def test_a_page_whose_content_type_starts_with_white_space_is_still_rewritten(
    make_config: Callable[..., ConsentConfig], content_type: bytes
) -> None:
    # Browsers strip the white space around a header's value: such a page is rendered as HTML,
    # so its third parties must wait all the same.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"Content-Type", content_type)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PAGE})

    middleware = ConsentMiddleware(app, config=make_config())
    _, body = fetch(middleware, http_scope(host="www.site.example"))
    assert UNKNOWN_PARTY not in body
    assert b"data-consent-banner" in body


@pytest.mark.parametrize("name", [b"content-type", b"Content-Type", b"CONTENT-TYPE"])
@pytest.mark.parametrize("content_type", [b"TEXT/HTML", b"Text/html; charset=utf-8", b"text/HTML"])
def test_a_page_is_one_whatever_the_case_of_its_content_type(
    make_config: Callable[..., ConsentConfig], name: bytes, content_type: bytes
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(name, content_type)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PAGE})

    middleware = ConsentMiddleware(app, config=make_config())
    _, body = fetch(middleware, http_scope(host="www.site.example"))
    assert UNKNOWN_PARTY not in body
    assert b"data-consent-banner" in body


def test_a_cached_page_names_this_visitors_path_and_token(
    make_config: Callable[..., ConsentConfig],
) -> None:
    # The same bytes under two paths share a cached page: the banner is still this visitor's,
    # byte for byte what the page would be without the cache.
    cached = ConsentMiddleware(html_app(), config=make_config())
    uncached = ConsentMiddleware(html_app(), config=make_config(page_cache_bytes=0))
    visitors = [("/a", b"consent_csrf=first-nonce-0123456789"), ("/b'c!", b"")]
    visitors += [("/d%zz", b"consent_csrf=second-nonce-0123456789")]
    for path, cookie in visitors:
        headers = [(b"cookie", cookie)] if cookie else []
        scope = http_scope(path, host="www.site.example", headers=headers)
        _, body = fetch(cached, scope)
        _, oracle = fetch(uncached, http_scope(path, host="www.site.example", headers=headers))
        assert html.escape(quote(path, safe="/%:@!$&'()*+,;=-._~")).encode() in body
        if cookie:
            assert without_held_marker(body) == without_held_marker(oracle)
        assert re.search(rb'name="csrf_token" value="[^"]+"', body)


@pytest.mark.parametrize(
    "path", ["/a'b!", "/50%zz", "/caf\u00e9", "/a\nb", "/a b", '/a"b', "/~x;y=1"]
)
def test_the_next_path_is_quoted_as_it_always_was(
    make_config: Callable[..., ConsentConfig], path: str
) -> None:
    app = ConsentMiddleware(html_app(), config=make_config())
    _, body = fetch(app, http_scope(path, host="www.site.example"))
    expected = html.escape(quote(path, safe="/%:@!$&'()*+,;=-._~"))
    assert f'name="next" value="{expected}"'.encode() in body


def test_cookies_of_refused_purposes_go_in_any_case_and_any_number(
    make_config: Callable[..., ConsentConfig],
) -> None:
    cookies = [
        (b"Set-Cookie", b"visit_id=1; Path=/"),
        (b"SET-COOKIE", b"visit_id=2; Path=/"),
        (b"set-cookie", b"session=s; Path=/"),
        (b"sEt-CoOkIe", b"site_lang=en; Path=/"),
    ]
    for status, content_type in (
        (200, b"application/json"),
        (304, b"text/html"),
        (200, b"text/html"),
    ):

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            headers = [(b"content-type", content_type), *cookies]  # noqa: B023
            await send({"type": "http.response.start", "status": status, "headers": headers})  # noqa: B023
            await send({"type": "http.response.body", "body": PAGE})

        middleware = ConsentMiddleware(app, config=make_config())
        start, _ = fetch(middleware, http_scope(host="www.site.example"))
        sent = [bytes(v) for n, v in start["headers"] if n.lower() == b"set-cookie"]
        assert b"session=s; Path=/" in sent
        assert not any(v.startswith((b"visit_id=", b"site_lang=")) for v in sent)


def test_head_bytes_are_never_shared_between_nonces(
    make_config: Callable[..., ConsentConfig],
) -> None:
    nonce = "n0nce-one"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        policy = f"script-src 'nonce-{nonce}'".encode()
        headers = [(b"content-type", b"text/html"), (b"Content-Security-Policy", policy)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PAGE})

    middleware = ConsentMiddleware(app, config=make_config())
    _, first = fetch(middleware, http_scope(host="www.site.example"))
    nonce = "n0nce-two"
    _, second = fetch(middleware, http_scope(host="www.site.example"))
    _, plain_app_page = fetch(
        ConsentMiddleware(html_app(), config=make_config()), http_scope(host="www.site.example")
    )
    assert b'nonce="n0nce-one"' in first and b"n0nce-two" not in first
    assert b'nonce="n0nce-two"' in second and b"n0nce-one" not in second
    assert b"nonce=" not in plain_app_page


def test_validators_in_any_case_are_taken_from_a_navigation(
    make_config: Callable[..., ConsentConfig],
) -> None:
    seen: list[list[tuple[bytes, bytes]]] = []
    middleware = ConsentMiddleware(recording_app(seen), config=make_config())
    headers = [
        (b"Accept", b"text/html"),
        (b"If-None-Match", b'"app-tag"'),
        (b"IF-MODIFIED-SINCE", b"Tue, 01 Dec 2026 00:00:00 GMT"),
    ]
    fetch(middleware, http_scope(host="www.site.example", headers=headers))
    names = {n.lower() for n, _ in seen[0]}
    assert b"if-none-match" not in names
    assert b"if-modified-since" not in names


def test_a_page_body_sent_after_the_app_returned_never_goes_out_unread(
    make_config: Callable[..., ConsentConfig],
) -> None:
    # An app that leaves its last body to a task running past its return: what that body holds
    # must not reach the browser unrewritten, now that the page's pipeline is let go.
    kept: list[Send] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": FIRST_PART, "more_body": True})
        kept.append(send)

    sent: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def server_send(message: Message) -> None:
        sent.append(message.get("body", b""))

    async def main() -> None:
        middleware = ConsentMiddleware(app, config=make_config())
        await middleware(http_scope(host="www.site.example"), receive, server_send)
        late = {"type": "http.response.body", "body": UNKNOWN_PARTY + b"</body></html>"}
        # Refusing the late body is as good as rewriting it.
        with contextlib.suppress(Exception):
            await kept[0](late)

    anyio.run(main)
    assert b"data-consent-banner" in b"".join(sent)
    assert UNKNOWN_PARTY not in b"".join(sent)


def test_of_two_content_types_the_last_decides_as_in_browsers(
    make_config: Callable[..., ConsentConfig],
) -> None:
    # Browsers take the last of the values a response gives: HTML last is a page, HTML first
    # is not rendered as one.
    def two_types(first: bytes, last: bytes) -> Callable[..., Any]:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            headers = [(b"Content-Type", first), (b"content-type", last)]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": PAGE})

        return app

    page = ConsentMiddleware(two_types(b"application/json", b"text/html"), config=make_config())
    _, body = fetch(page, http_scope(host="www.site.example"))
    assert UNKNOWN_PARTY not in body
    assert b"data-consent-banner" in body
    data = ConsentMiddleware(two_types(b"text/html", b"application/json"), config=make_config())
    _, body = fetch(data, http_scope(host="www.site.example"))
    assert body == PAGE


def test_an_excluded_path_drops_refused_cookies_in_any_case(
    make_config: Callable[..., ConsentConfig],
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"Set-Cookie", b"visit_id=1"), (b"SET-COOKIE", b"session=s")]
        await send({"type": "http.response.start", "status": 200, "headers": iter(headers)})
        await send({"type": "http.response.body", "body": b"{}"})

    middleware = ConsentMiddleware(app, config=make_config(exclude_paths=["/api"]))
    start, _ = fetch(middleware, http_scope("/api/x", host="www.site.example"))
    assert [bytes(v) for _, v in start["headers"]] == [b"session=s"]


@pytest.mark.parametrize(
    "settings",
    [
        {"honour_gpc": True},
        {"region_source": "cloudflare", "regions": {"JP": "notice_only", "*": "opt_in"}},
        {"region_source": "cloudflare", "honour_gpc": True},
    ],
)
def test_visitors_of_every_kind_get_from_the_cache_what_they_would_get_without_it(
    make_config: Callable[..., ConsentConfig], settings: dict[str, Any]
) -> None:
    # One cache, visitors one after the other who differ in one thing each: each page must be
    # the one made for that visitor alone.
    csrf = (b"cookie", b"consent_csrf=visitor-nonce-0123456789")
    us = [(b"cf-ipcountry", b"US"), (b"cf-region-code", b"VA")]
    visitors: list[tuple[str, list[tuple[bytes, bytes]]]] = [
        ("www.site.example", [csrf]),
        ("www.site.example", [csrf, (b"sec-gpc", b"1")]),
        ("www.site.example", [csrf, (b"accept-language", b"fr-FR,fr;q=0.9")]),
        ("www.site.example", [csrf, (b"accept-language", b"ar")]),
        ("other.site.example", [csrf]),
        ("www.site.example", [csrf, *us]),
        ("www.site.example", [csrf, *us, (b"sec-gpc", b"1")]),
        ("www.site.example", [csrf, (b"cf-ipcountry", b"DE")]),
        ("www.site.example", [csrf, (b"cf-ipcountry", b"JP")]),
        ("www.site.example", [csrf, (b"sec-gpc", b"1")]),
        ("www.site.example", [csrf, *us]),
        ("www.site.example", [csrf]),
    ]
    cached = ConsentMiddleware(html_app(), config=make_config(**settings))
    for host, headers in visitors:
        uncached = ConsentMiddleware(html_app(), config=make_config(**settings, page_cache_bytes=0))
        _, body = fetch(cached, http_scope(host=host, headers=headers))
        _, oracle = fetch(uncached, http_scope(host=host, headers=headers))
        assert without_held_marker(body) == without_held_marker(oracle), headers


@pytest.mark.parametrize("name", [b"accept-encoding", b"Accept-Encoding"])
@pytest.mark.parametrize("offer", [b"zstd", b"zstd, gzip;q=0.5", b"*", b"identity;q=0, zstd"])
def test_the_app_is_offered_only_codings_that_can_be_read(
    make_config: Callable[..., ConsentConfig], name: bytes, offer: bytes
) -> None:
    seen: list[list[tuple[bytes, bytes]]] = []
    middleware = ConsentMiddleware(recording_app(seen), config=make_config())
    fetch(middleware, http_scope(host="www.site.example", headers=[(name, offer)]))
    offered = [v for n, v in seen[0] if n.lower() == b"accept-encoding"]
    assert offered
    for value in offered:
        codings = {item.split(b";")[0].strip().lower() for item in value.split(b",")}
        assert codings <= {b"gzip", b"x-gzip", b"deflate", b"br", b"identity"}


@pytest.mark.parametrize("cache_bytes", [0, 4_000_000])
def test_a_body_sent_after_the_pages_last_one_does_not_go_out(
    make_config: Callable[..., ConsentConfig], cache_bytes: int
) -> None:
    # The page ended with its last body: whatever the app sends after it is never read, so it
    # must not reach a server lenient enough to pass it on.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await html_app()(scope, receive, send)
        await send({"type": "http.response.body", "body": UNKNOWN_PARTY})

    middleware = ConsentMiddleware(app, config=make_config(page_cache_bytes=cache_bytes))
    for _ in range(2):
        _, body = fetch(middleware, http_scope(host="www.site.example"))
        assert b"data-consent-banner" in body
        assert UNKNOWN_PARTY not in body


def run_app(app: Any, config: ConsentConfig) -> list[Message]:
    """Every message the server is sent for one page request."""
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def server_send(message: Message) -> None:
        messages.append(message)

    middleware = ConsentMiddleware(app, config=config)
    anyio.run(middleware, http_scope(host="www.site.example"), receive, server_send)
    return messages


def test_each_middleware_in_a_process_varies_its_pages_on_its_own_settings(
    make_config: Callable[..., ConsentConfig],
) -> None:
    settings: list[tuple[dict[str, Any], set[bytes]]] = [
        ({}, {b"cookie", b"accept-language", b"sec-gpc"}),
        ({"honour_gpc": False}, {b"cookie", b"accept-language"}),
        ({"shared_cache_mode": True, "honour_gpc": False}, set()),
        ({"region_source": "cloudflare"}, {b"cookie", b"accept-language", b"sec-gpc"}),
    ]
    apps = [ConsentMiddleware(html_app(), config=make_config(**s)) for s, _ in settings]
    for _ in range(2):
        for app, (setting, expected) in zip(apps, settings, strict=True):
            start, _ = fetch(app, http_scope(host="www.site.example"))
            vary = b", ".join(v for n, v in start["headers"] if n.lower() == b"vary")
            names = {t.strip().lower() for t in vary.split(b",") if t.strip()}
            if "region_source" in setting:
                assert {b"cf-ipcountry", b"cf-region-code"} & names, names
                names -= {b"cf-ipcountry", b"cf-region-code"}
            assert names == expected, setting


@pytest.mark.parametrize(
    ("page_type", "first_body"),
    [
        # The page's start waits for its head (no charset, a few bytes so far).
        (b"text/html", FIRST_PART[:15]),
        # The page's start went out already.
        (b"text/html; charset=utf-8", FIRST_PART * 40),
    ],
    ids=["start held", "start sent"],
)
@pytest.mark.parametrize("second", [b"application/json", b"text/html", b"text/html; charset=utf-8"])
def test_a_second_start_is_ignored(
    make_config: Callable[..., ConsentConfig], page_type: bytes, first_body: bytes, second: bytes
) -> None:
    # Another start must not turn the page into unread bytes, drop the bytes already given,
    # or set a cookie of a refused purpose.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", page_type)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": first_body, "more_body": True})
        other = [(b"content-type", second), (b"set-cookie", b"visit_id=1")]
        await send({"type": "http.response.start", "status": 200, "headers": other})
        await send({"type": "http.response.body", "body": FIRST_PART[15:] + UNKNOWN_PARTY})

    messages = run_app(app, make_config())
    starts = [m for m in messages if m["type"] == "http.response.start"]
    assert len(starts) == 1
    assert (b"content-type", page_type) in starts[0]["headers"]
    cookies = [v for m in messages for n, v in m.get("headers", []) if n.lower() == b"set-cookie"]
    assert not [c for c in cookies if c.startswith(b"visit_id")]
    body = b"".join(m.get("body", b"") for m in messages)
    assert body.startswith(b"<!doctype html>")
    assert b"data-consent-banner" in body
    assert UNKNOWN_PARTY not in body


def test_an_app_that_returns_mid_page_gets_its_bytes_out_rewritten(
    make_config: Callable[..., ConsentConfig],
) -> None:
    # The page's start waits for its head (no charset, a few bytes so far) when the app returns
    # without its last body: a bare app would have had those bytes sent, so they go out, with
    # third parties held, and the response is left unfinished for the server to end, as the
    # app left it.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b"<!doctype html><html><head></head><body>" + UNKNOWN_PARTY
        await send({"type": "http.response.body", "body": body, "more_body": True})

    messages = run_app(app, make_config())
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    assert messages[1]["more_body"] is True
    assert not [n for n, _ in messages[0]["headers"] if n.lower() == b"content-length"]
    body = messages[1]["body"]
    assert body.startswith(b"<!doctype html>")
    assert b"data-consent-banner" in body
    assert UNKNOWN_PARTY not in body
    assert b"cdn.unknown-party.example" in body  # held, not dropped
    assert b"data-consent-held" in body


@pytest.mark.parametrize("again_type", [b"application/json", b"text/html"])
@pytest.mark.parametrize("content_type", [b"application/json", b"text/html; charset=utf-8"])
def test_a_second_start_of_a_response_already_under_way_never_reaches_the_server(
    make_config: Callable[..., ConsentConfig], content_type: bytes, again_type: bytes
) -> None:
    # ASGI servers refuse a second start: whatever the first was, a page or no page, the
    # middleware must not be the one to send it on.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", content_type)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PAGE, "more_body": True})
        again = [(b"content-type", again_type), (b"set-cookie", b"visit_id=1")]
        await send({"type": "http.response.start", "status": 500, "headers": again})
        await send({"type": "http.response.body", "body": b""})

    messages = run_app(app, make_config())
    assert [m["type"] for m in messages].count("http.response.start") == 1
    assert messages[0]["status"] == 200


def test_bodies_after_the_final_body_and_more_body_tricks_go_nowhere(
    make_config: Callable[..., ConsentConfig],
) -> None:
    # more_body given as a truthy string, then a final body, then more bodies after it: the
    # page is read as one, and nothing the app sends after its end reaches the visitor.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": FIRST_PART * 30, "more_body": "yes"})
        await send({"type": "http.response.body", "body": b"<p>end</p>", "more_body": False})
        await send({"type": "http.response.body", "body": UNKNOWN_PARTY, "more_body": True})
        await send({"type": "http.response.body", "body": UNKNOWN_PARTY})

    messages = run_app(app, make_config())
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert [bool(m.get("more_body", False)) for m in bodies] == [True, False]
    body = b"".join(m["body"] for m in bodies)
    assert body.endswith(b"<p>end</p>")
    assert UNKNOWN_PARTY not in body


@pytest.mark.parametrize("shape", ["missing", "tuple", "tuple of lists"])
def test_a_start_without_a_headers_list_is_read_all_the_same(
    make_config: Callable[..., ConsentConfig], shape: str
) -> None:
    # ASGI's headers are optional and any iterable: a start without them is no page and goes
    # out unchanged; one with a tuple is a page like any other.
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"set-cookie", b"visit_id=1")]
    start: Message = {"type": "http.response.start", "status": 200}
    if shape == "tuple":
        start["headers"] = tuple(headers)
    elif shape == "tuple of lists":
        start["headers"] = tuple([n, v] for n, v in headers)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start)
        await send({"type": "http.response.body", "body": PAGE})

    messages = run_app(app, make_config())
    sent = messages[0]
    body = b"".join(m.get("body", b"") for m in messages)
    if shape == "missing":
        assert body == PAGE
        assert list(sent.get("headers", ())) == []
    else:
        cookies = [bytes(v) for n, v in sent["headers"] if bytes(n).lower() == b"set-cookie"]
        assert not [c for c in cookies if c.startswith(b"visit_id")]
        assert UNKNOWN_PARTY not in body
        assert b"data-consent-banner" in body


@pytest.mark.parametrize("offset", [-9, -5, -1, 0, 1, 3])
def test_a_construct_across_the_slices_a_body_is_rewritten_in_is_read_whole(
    make_config: Callable[..., ConsentConfig], offset: int
) -> None:
    # A big body is rewritten in slices, other requests running in between: a style sheet's
    # end tag, a tracker's tag or a title cut where one slice ends must be read as if whole.
    slice_end = _SLICE
    head = FIRST_PART + b"<!--" + b"x" * (slice_end - len(FIRST_PART) - 7 - 4 + offset) + b"-->"
    for construct, behind in (
        (b"<style>p{}</style>", UNKNOWN_PARTY),
        (b"<title>t</title>", UNKNOWN_PARTY),
        (UNKNOWN_PARTY, b""),
        (b"<svg><style>", UNKNOWN_PARTY),
    ):
        page = head + construct + behind + b"<p>" + b"y" * 1000 + b"</body></html>"
        middleware = ConsentMiddleware(html_app(page), config=make_config())
        _, body = fetch(middleware, http_scope(host="www.site.example"))
        assert UNKNOWN_PARTY not in body, (construct, offset)
        assert b'data-consent-category="marketing"' in body
        assert body.endswith(b"y" * 1000 + b"</body></html>")


def test_the_shared_mode_held_marker_is_the_page_s_and_the_key_s_alone(
    make_config: Callable[..., ConsentConfig],
) -> None:
    # In shared-cache mode every visitor gets the same bytes, so the marker that tells held
    # elements apart is a keyed digest of the page: content that copies the marker it saw
    # changes the page, and so the marker; a site with another key makes another one.
    marker = re.compile(rb'data-consent-held="([^"]+)"')

    def held_marker(page: bytes, **settings: Any) -> bytes:
        config = make_config(shared_cache_mode=True, honour_gpc=False, **settings)
        _, body = fetch(ConsentMiddleware(html_app(page), config=config), http_scope())
        found = marker.search(body)
        assert found is not None
        return found.group(1)

    first = held_marker(PAGE)
    assert held_marker(PAGE) == first
    copied = PAGE.replace(
        b"</body>", b'<script type=text/plain data-consent-held="' + first + b'"></script></body>'
    )
    assert held_marker(copied) != first
    assert held_marker(PAGE, secret_key="another site's secret key") != first
    assert held_marker(PAGE, secret_key="s" * 64 + "a") != held_marker(PAGE, secret_key="s" * 64)
