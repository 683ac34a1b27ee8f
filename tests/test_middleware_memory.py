"""What a request leaves behind once it is answered."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator

import pytest

from consent import ConsentConfig, ConsentMiddleware
from consent.types import Message, Receive, Scope, Send
from tests.conftest import PAGE, http_scope


async def html_page(scope: Scope, receive: Receive, send: Send) -> None:
    body = PAGE.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def answer(app: ConsentMiddleware) -> bytes:
    body = b""

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal body
        body += message.get("body", b"")

    asyncio.run(app(http_scope("/"), receive, send))
    return body


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("page_cache_bytes", [0, 1 << 20])
def test_a_rewritten_page_is_freed_without_the_garbage_collector(
    make_config: Callable[..., ConsentConfig], collector_off: None, page_cache_bytes: int
) -> None:
    # Objects the collector has to find are freed late: with pages of 100 KB and more, their
    # bytes pile up and the collections they trigger cost more than the rewrite.
    app = ConsentMiddleware(html_page, config=make_config(page_cache_bytes=page_cache_bytes))
    for _ in range(3):  # a miss, then hits when the cache is on
        assert b"data-consent-banner" in answer(app)
        assert gc.collect() == 0
