"""Memory and size of compressed pages through the middleware.

Run: ``python bench/bench_body.py [--mb N]``. Three figures:

- a gzip-compressed HTML page of N MB (100 by default) streamed in 64 KB pieces, bare and
  wrapped: the peak of Python's traced memory (tracemalloc), the time, and the bytes sent;
- a brotli decompression bomb (a page of spaces a thousand times its compressed size, sent in
  one message): the bytes the browser would inflate, and the peak;
- a small page compressed by Starlette's GZipMiddleware inside the wrapped app: its size on the
  wire as the app sent it and as the middleware sends it.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import sys
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consent import ConsentConfig, ConsentMiddleware

Message = dict[str, Any]
MB = 1 << 20
CHUNK = 1 << 16
TRACKER = b'<script src="https://www.google-analytics.com/analytics.js"></script>'
WORDS = [b"council", b"market", b"river", b"weather", b"station", b"policy", b"report", b"city"]


def article(size: int) -> bytes:
    out = bytearray()
    n = 7
    while len(out) < size:
        n = (n * 1103515245 + 12345) % (1 << 31)
        out += b"<p>" + b" ".join(WORDS[(n >> s) % 8] for s in range(0, 30, 3)) + b".</p>\n"
    return bytes(out[:size])


def streamed_gzip(total: int) -> Callable[..., Awaitable[None]]:
    text = article(CHUNK)

    async def app(scope: Message, receive: Any, send: Callable[[Message], Awaitable[None]]) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        z = zlib.compressobj(1, zlib.DEFLATED, 31)
        head = b"<!doctype html><html><head><title>t</title></head><body>" + TRACKER
        await send({"type": "http.response.body", "body": z.compress(head), "more_body": True})
        for _ in range(total // CHUNK):
            data = z.compress(text) + z.flush(zlib.Z_SYNC_FLUSH)
            await send({"type": "http.response.body", "body": data, "more_body": True})
        tail = z.compress(b"</body></html>") + z.flush()
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    return app


def one_message(body: bytes, encoding: str) -> Callable[..., Awaitable[None]]:
    async def app(scope: Message, receive: Any, send: Callable[[Message], Awaitable[None]]) -> None:
        headers = [(b"content-type", b"text/html"), (b"content-encoding", encoding.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


class Sink:
    """The client: counts the bytes on the wire and, inflating as they come (in bounded
    pieces, so that its own memory stays out of the figures), the page's bytes."""

    def __init__(self) -> None:
        self.wire = 0
        self.page = 0
        self.inflate: Callable[[bytes], int] = len

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            encoding = dict(message["headers"]).get(b"content-encoding")
            if encoding == b"gzip":
                self.inflate = gunzip_counter()
            elif encoding == b"br":
                self.inflate = brotli_counter()
            return
        body = message.get("body", b"")
        self.wire += len(body)
        self.page += self.inflate(body)


def gunzip_counter() -> Callable[[bytes], int]:
    z = zlib.decompressobj(31)

    def count(data: bytes) -> int:
        n = len(z.decompress(data, CHUNK))
        while z.unconsumed_tail:
            n += len(z.decompress(z.unconsumed_tail, CHUNK))
        return n

    return count


def brotli_counter() -> Callable[[bytes], int]:
    import brotli

    d = brotli.Decompressor()

    def count(data: bytes) -> int:
        out = d.process(data, output_buffer_limit=CHUNK)
        n = len(out)
        while len(out) >= CHUNK and not d.is_finished():
            out = d.process(b"", output_buffer_limit=CHUNK)
            n += len(out)
        return n

    return count


def scope(headers: list[tuple[bytes, bytes]] | None = None) -> Message:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), *(headers or [])],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }


def measure(app: Any, headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, float, Sink]:
    sink = Sink()
    calls = 0

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        if calls > 1:
            await asyncio.Event().wait()
        return {"type": "http.request", "body": b"", "more_body": False}

    tracemalloc.start()
    began = time.perf_counter()
    asyncio.run(app(scope(headers), receive, sink.send))
    elapsed = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, elapsed, sink


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    size = parser.parse_args().mb * MB
    with tempfile.TemporaryDirectory() as tmp:
        config = ConsentConfig(
            secret_key="bench-secret-key-0123456789abcdef",  # noqa: S106 (a throw-away key)
            audit_url=f"sqlite:///{tmp}/audit.db",
            audit_key="bench-audit-key-0123456789",
        )

        def wrap(app: Any) -> ConsentMiddleware:
            return ConsentMiddleware(app, config=config)

        print(f"gzip page of {size // MB} MB streamed in {CHUNK // 1024} KB pieces")
        bare = measure(streamed_gzip(size))
        wrapped = measure(wrap(streamed_gzip(size)))
        for label, (peak, elapsed, sink) in (("bare", bare), ("wrapped", wrapped)):
            print(
                f"  {label:8} peak {peak / MB:6.2f} MB  time {elapsed:6.2f} s  "
                f"wire {sink.wire / MB:7.2f} MB  page {sink.page / MB:7.2f} MB"
            )
        print(f"  peak over bare: {(wrapped[0] - bare[0]) / MB:.2f} MB")

        try:
            import brotli
        except ImportError:
            print("brotli bomb: brotli is not installed")
        else:
            bomb = brotli.compress(b"<html><body>" + TRACKER + b" " * (96 * MB), quality=5)
            peak, elapsed, sink = measure(wrap(one_message(bomb, "br")))
            print(
                f"brotli bomb of {len(bomb)} bytes (96 MB inflated): sent {sink.wire} bytes that "
                f"inflate to {sink.page / MB:.2f} MB; peak {peak / MB:.2f} MB, {elapsed:.2f} s"
            )

        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.middleware.gzip import GZipMiddleware
        from starlette.responses import HTMLResponse
        from starlette.routing import Route

        page = (
            b"<!doctype html><html lang=en><head><meta charset=utf-8><title>Log in</title>"
            b"</head><body><form method=post><input name=username><input name=password "
            b"type=password><button>Log in</button></form>" + article(1500) + b"</body></html>"
        )

        async def login(request: Any) -> HTMLResponse:
            return HTMLResponse(page)

        gzipped = Starlette(routes=[Route("/", login)], middleware=[Middleware(GZipMiddleware)])
        accept = [(b"accept-encoding", b"gzip")]
        _, _, app_sink = measure(gzipped, accept)
        _, _, ours = measure(wrap(gzipped), accept)
        print(
            f"page gzipped by the app ({len(page)} bytes): app sends {app_sink.wire} bytes; "
            f"wrapped, with the banner ({ours.page} bytes), {ours.wire} bytes "
            f"(gzip {len(gzip.compress(page))} -> page+banner uncompressed {ours.page})"
        )


if __name__ == "__main__":
    main()
