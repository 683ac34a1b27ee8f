"""Requests and apps that try to make the middleware serve one visitor what was made for another,
or let a third party through by the way a message or a header is shaped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from starlette.types import Receive, Scope, Send

from consent import ConsentConfig, ConsentMiddleware
from tests.conftest import http_scope

UNKNOWN_PARTY = b'<script src="https://cdn.unknown-party.example/t.js"></script>'
PAGE = b"<!doctype html><html lang=en><head><title>t</title></head><body><p>hi</p>" + (
    UNKNOWN_PARTY + b"</body></html>"
)


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
