"""Streamed pages go on at the app's pace; nothing waits in memory or stalls other requests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import anyio
import httpx2 as httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from consent import ConsentConfig, ConsentMiddleware
from consent.types import Message, Receive, Scope, Send
from tests.browser.conftest import LiveServer
from tests.conftest import http_scope

CHUNKS = 8


def test_a_small_page_streamed_in_pieces_arrives_piece_by_piece(
    make_config: Callable[..., ConsentConfig],
) -> None:
    """Each piece must reach the client before the app sends the next one: the app waits for
    the client to have read it (the wait is bounded only so that a failure cannot hang)."""
    seen = [threading.Event() for _ in range(CHUNKS)]
    arrived_in_time: list[bool] = []

    async def pieces() -> Any:
        yield b'<!doctype html><html lang="en"><head><title>Live</title></head><body>'
        for i in range(CHUNKS):
            yield f'<p id="piece-{i}">update {i}</p>'.encode()
            arrived_in_time.append(await anyio.to_thread.run_sync(seen[i].wait, 3.0))
        yield b"</body></html>"

    async def live(request: Request) -> StreamingResponse:
        return StreamingResponse(pieces(), media_type="text/html; charset=utf-8")

    app = ConsentMiddleware(Starlette(routes=[Route("/", live)]), config=make_config())
    with LiveServer(app) as server, httpx.stream("GET", server.url + "/", timeout=30) as response:
        text = ""
        for data in response.iter_text():
            text += data
            for i in range(CHUNKS):
                if f'id="piece-{i}"' in text:
                    seen[i].set()
    assert arrived_in_time == [True] * CHUNKS
    assert text.count("data-consent-banner") == 1


def test_an_unclosed_attribute_does_not_hold_the_page_in_memory(
    make_config: Callable[..., ConsentConfig],
) -> None:
    sent_before_end: list[int] = []
    out: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        head = b'<!doctype html><html><head></head><body><img alt="never closed'
        await send({"type": "http.response.body", "body": head, "more_body": True})
        for _ in range(64):
            await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
        sent_before_end.append(sum(len(m.get("body", b"")) for m in out))
        tail = b'" src="https://www.google-analytics.com/collect"><script src="https://www.google-analytics.com/analytics.js"></script></body></html>'
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    async def record(message: Message) -> None:
        out.append(message)

    async def main() -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        await ConsentMiddleware(app, config=make_config())(http_scope("/"), receive, record)

    asyncio.run(main())
    # 4 MiB went in: all but a bounded tail is out before the app's last piece.
    assert sent_before_end[0] >= 64 * 65536 - (2 << 20)
    body = b"".join(m.get("body", b"") for m in out if m["type"] == "http.response.body")
    assert b' src="https://www.google-analytics.com' not in body


def test_a_large_tag_dense_page_lets_other_requests_run(
    make_config: Callable[..., ConsentConfig],
) -> None:
    page = (
        b"<!doctype html><html><head></head><body>"
        + b'<img src="/a.png"><span>x</span><script src="https://www.google-analytics.com/analytics.js"></script>'
        * 40000
        + b"</body></html>"
    )
    ticks_during: list[int] = []
    ticks = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        before = ticks
        await send({"type": "http.response.body", "body": page, "more_body": False})
        ticks_during.append(ticks - before)

    async def main() -> None:
        nonlocal ticks
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            return None

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await ConsentMiddleware(app, config=make_config())(http_scope("/"), receive, send)
        done = True
        await task

    asyncio.run(main())
    # The page is several MB: other tasks ran between its slices, not only after it.
    assert ticks_during[0] >= 4
