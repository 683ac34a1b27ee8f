"""Compressed bodies and charsets: read as browsers read them, sent back as the app sent them."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import logging
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from consent import ConsentConfig, ConsentMiddleware
from consent.body import (
    INFLATE_FLOOR,
    BodyDecoder,
    BodyTooLarge,
    Transcoder,
    prescan,
    sniff_charset,
)
from consent.names import ATTR_BANNER, ATTR_CATEGORY
from tests.conftest import PAGE, http_scope

brotli = pytest.importorskip("brotli")

Message = dict[str, Any]
TRACKER = b'<script src="https://www.google-analytics.com/analytics.js"></script>'


# ----- a raw ASGI harness: every message the server would get -------------------------------


def raw_app(
    body: bytes | list[bytes], content_type: str = "text/html", **headers: str
) -> Callable[..., Awaitable[None]]:
    chunks = body if isinstance(body, list) else [body]

    async def app(scope: Message, receive: Any, send: Callable[[Message], Awaitable[None]]) -> None:
        extra = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
        start_headers = [(b"content-type", content_type.encode()), *extra]
        await send({"type": "http.response.start", "status": 200, "headers": start_headers})
        for i, chunk in enumerate(chunks):
            more = i < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


def receiver() -> Callable[[], Awaitable[Message]]:
    """The request, then silence: the client neither sends more nor goes away."""
    calls = 0

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        if calls > 1:
            await asyncio.Event().wait()
        return {"type": "http.request", "body": b"", "more_body": False}

    return receive


def run(
    app: Any, config: ConsentConfig, headers: list[tuple[bytes, bytes]] | None = None
) -> list[Message]:
    wrapped = ConsentMiddleware(app, config=config)
    messages: list[Message] = []

    receive = receiver()

    async def send(message: Message) -> None:
        messages.append(message)

    asyncio.run(wrapped(http_scope(headers=headers), receive, send))  # type: ignore[arg-type]
    return messages


def header(messages: list[Message], name: bytes) -> bytes | None:
    found = [v for k, v in messages[0]["headers"] if k.lower() == name]
    return found[0] if found else None


def body_of(messages: list[Message]) -> bytes:
    assert messages[-1].get("more_body", False) is False
    return b"".join(m.get("body", b"") for m in messages[1:])


def unpack(encoding: bytes | None, data: bytes) -> bytes:
    if encoding == b"gzip":
        return gzip.decompress(data)
    if encoding == b"deflate":
        return zlib.decompress(data)
    if encoding == b"br":
        return bytes(brotli.decompress(data))
    assert encoding is None
    return data


def packed(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    return bytes(brotli.compress(data))


def protected(page: bytes) -> bool:
    """The banner is in, and the tracker is held back rather than live."""
    return ATTR_BANNER.encode() in page and ATTR_CATEGORY.encode() in page and TRACKER not in page


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@pytest.fixture
def config(make_config: Callable[..., ConsentConfig]) -> ConsentConfig:
    return make_config()


# ----- compression kept (issue 8 §9) ---------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_a_compressed_page_stays_compressed(config: ConsentConfig, encoding: str) -> None:
    messages = run(raw_app(packed(encoding, PAGE.encode()), content_encoding=encoding), config)
    data = body_of(messages)
    assert header(messages, b"content-encoding") == encoding.encode()
    assert header(messages, b"content-length") == str(len(data)).encode()
    assert protected(unpack(encoding.encode(), data))


def starlette_gzipped(streamed: bool) -> Starlette:
    """An app that compresses its own pages, as with the README's ordering."""
    page = PAGE.replace("</body>", _article(20_000).decode() + "</body>")

    async def one(request: Request) -> Response:
        return HTMLResponse(page)

    async def stream(request: Request) -> Response:
        async def parts() -> Any:
            for i in range(0, len(page), 700):
                yield page[i : i + 700]

        return StreamingResponse(parts(), media_type="text/html; charset=utf-8")

    return Starlette(
        routes=[Route("/", stream if streamed else one)],
        middleware=[Middleware(GZipMiddleware, minimum_size=100)],
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["one-message", "streamed"])
def test_starlette_gzip_inside_keeps_gzip(config: ConsentConfig, streamed: bool) -> None:
    messages = run(starlette_gzipped(streamed), config, headers=[(b"accept-encoding", b"gzip")])
    data = body_of(messages)
    assert header(messages, b"content-encoding") == b"gzip"
    length = header(messages, b"content-length")
    if streamed:
        assert length is None
        assert len(messages) > 3
    else:
        assert length == str(len(data)).encode()
    page = gzip.decompress(data)
    assert protected(page)
    assert page.count(ATTR_BANNER.encode()) == 1
    assert len(data) < len(page) / 4  # really compressed, not stored


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
@pytest.mark.parametrize("pieces", [1, 7])
def test_a_large_page_arrives_whole(config: ConsentConfig, encoding: str, pieces: int) -> None:
    # Many inflated slices per message: none may stay behind in the inflater.
    page = PAGE.replace("</body>", _article(1 << 20).decode() + "</body>").encode()
    data = packed(encoding, page)
    step = -(-len(data) // pieces)
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    out = unpack(
        encoding.encode(), body_of(run(raw_app(chunks, content_encoding=encoding), config))
    )
    assert protected(out)
    assert out.endswith(b"</body></html>")
    assert len(out) > len(page)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    encoding=st.sampled_from(["gzip", "deflate", "br"]),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
)
def test_compressed_stream_cut_anywhere(
    config: ConsentConfig, encoding: str, cuts: list[int]
) -> None:
    data = packed(encoding, PAGE.encode())
    messages = run(raw_app(splits(data, cuts), content_encoding=encoding), config)
    assert header(messages, b"content-encoding") == encoding.encode()
    page = unpack(encoding.encode(), body_of(messages))
    assert protected(page)
    assert b"<h1>Headline</h1>" in page and page.rstrip().endswith(b"</html>")


@pytest.mark.parametrize("split", [True, False], ids=["streamed", "one-message"])
def test_a_corrupt_stream_ends_cleanly(
    config: ConsentConfig, caplog: pytest.LogCaptureFixture, split: bool
) -> None:
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    page = PAGE.replace("</body>", _article(50_000).decode() + "</body>").encode()
    good = z.compress(page) + z.flush(zlib.Z_SYNC_FLUSH)
    # A final block of the reserved type: no inflater goes past it.
    chunks = [good, b"\x07garbage", b"more from the app"]
    messages = run(
        raw_app(chunks if split else [b"".join(chunks)], content_encoding="gzip"), config
    )
    data = body_of(messages)
    # A complete gzip stream: what was rewritten before the break, never the app's own rest.
    assert header(messages, b"content-encoding") == b"gzip"
    rewritten = gzip.decompress(data)
    assert TRACKER not in rewritten and b"more from the app" not in rewritten
    if split:
        assert protected(rewritten)
    else:
        # One zlib call took the whole body, and a failed call gives nothing back.
        assert rewritten == b""
    errors = [r for r in caplog.records if r.name == "consent" and r.levelno >= logging.ERROR]
    assert len(errors) == 1


# ----- bounded inflation (issue 13 M4) -------------------------------------------------------

BOMB_SIZE = 4 * INFLATE_FLOOR


@pytest.fixture(scope="module")
def bomb() -> bytes:
    compressor = brotli.Compressor(quality=5)
    head = b"<!doctype html><html><head><title>b</title></head><body>" + TRACKER
    out = [compressor.process(head)]
    block = b" " * (1 << 20)
    for _ in range(BOMB_SIZE >> 20):
        out.append(compressor.process(block))
    out.append(compressor.finish())
    return b"".join(out)


def test_a_decompression_bomb_is_stopped(
    config: ConsentConfig, bomb: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    assert len(bomb) < 2000
    caplog.set_level(logging.WARNING, logger="consent")
    tracemalloc.start()
    try:
        messages = run(raw_app(bomb, content_encoding="br"), config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    data = body_of(messages)
    assert header(messages, b"content-encoding") == b"br"
    assert header(messages, b"content-length") == str(len(data)).encode()
    page = unpack(b"br", data)
    assert len(page) <= INFLATE_FLOOR + (1 << 17)
    assert ATTR_BANNER.encode() in page and TRACKER not in page
    assert peak < 8 << 20
    assert sum("inflated past" in r.message for r in caplog.records) == 1


def test_decoder_stops_past_the_ratio(bomb: bytes) -> None:
    decoder = BodyDecoder("br")
    assert decoder.probe(bomb)
    sizes: list[int] = []

    def drain() -> None:
        sizes.extend(len(piece) for piece in decoder.decode(bomb))

    with pytest.raises(BodyTooLarge):
        drain()
    assert max(sizes) <= 2 << 16  # brotli's output limit is a soft one
    seen = sum(sizes)
    assert INFLATE_FLOOR - (1 << 16) <= seen <= INFLATE_FLOOR


def _article(size: int) -> bytes:
    words = [b"consent", b"river", b"market", b"council", b"weather", b"station", b"policy"]
    out = bytearray()
    n = 0
    while len(out) < size:
        n = (n * 1103515245 + 12345) % (1 << 31)
        out += b"<p>" + b" ".join(words[(n >> s) % 7] for s in range(0, 24, 3)) + b".</p>\n"
    return bytes(out[:size])


def streamed_gzip_app(total: int, chunk: int = 1 << 16) -> Callable[..., Awaitable[None]]:
    """An app that streams ``total`` bytes of HTML, gzipped as it goes."""
    text = _article(chunk)

    async def app(scope: Message, receive: Any, send: Callable[[Message], Awaitable[None]]) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        z = zlib.compressobj(1, zlib.DEFLATED, 31)
        head = b"<!doctype html><html><head><title>t</title></head><body>" + TRACKER
        await send({"type": "http.response.body", "body": z.compress(head), "more_body": True})
        for _ in range(total // chunk):
            data = z.compress(text) + z.flush(zlib.Z_SYNC_FLUSH)
            await send({"type": "http.response.body", "body": data, "more_body": True})
        tail = z.compress(b"</body></html>") + z.flush()
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    return app


class _Sink:
    """Inflates what reaches the client as it comes, keeping only its size and its edges."""

    def __init__(self) -> None:
        self.inflater = zlib.decompressobj(31)
        self.size = 0
        self.first = b""
        self.last = b""
        self.ended = False
        self.encoding: bytes | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.encoding = dict(message["headers"]).get(b"content-encoding")
            return
        raw = message.get("body", b"")
        page = self.inflater.decompress(raw) if self.encoding == b"gzip" else raw
        self.size += len(page)
        if len(self.first) < 1 << 15:
            self.first += page[: 1 << 15]
        self.last = (self.last + page)[-64:]
        self.ended = not message.get("more_body", False)


def _peak(app: Any) -> tuple[int, _Sink]:
    sink = _Sink()
    receive = receiver()

    tracemalloc.start()
    try:
        asyncio.run(app(http_scope("/"), receive, sink.send))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, sink


def test_a_100mb_streamed_gzip_page_stays_in_bounded_memory(config: ConsentConfig) -> None:
    total = 100 << 20
    bare, _ = _peak(streamed_gzip_app(total))
    wrapped, sink = _peak(ConsentMiddleware(streamed_gzip_app(total), config=config))
    assert sink.encoding == b"gzip" and sink.ended
    assert sink.size >= total
    assert protected(sink.first) and sink.last.endswith(b"</body></html>")
    assert wrapped - bare < 8 << 20, (bare, wrapped)


# ----- charsets (issue 13 M3) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/html", b"\xef\xbb\xbf<p>", ("UTF-8", "bom")),
        ("text/html; charset=windows-1251", b"\xff\xfe<\x00", ("UTF-16LE", "bom")),
        ("text/html; charset=utf-8", b"\xfe\xff\x00<", ("UTF-16BE", "bom")),
        ("text/html; charset=utf-16", b"<\x00", ("UTF-16LE", "http")),
        ("text/html; charset=UTF-16BE", b"\x00<", ("UTF-16BE", "http")),
        ('text/html; charset="latin1"', b"<meta charset=utf-8>", ("windows-1252", "http")),
        ("text/html; charset=ascii", b"", ("windows-1252", "http")),
        ("text/html; charset=unknown", b"<meta charset=koi8-r>", ("KOI8-R", "meta")),
        ("text/html", b"<meta charset=utf-16>", ("UTF-8", "meta")),
        ("text/html", b"<meta charset=UTF-16BE>", ("UTF-8", "meta")),
        ("text/html", b"<meta charset=x-user-defined>", ("windows-1252", "meta")),
        ("text/html", b'<meta name="x" content="charset=utf-16">', ("windows-1252", "default")),
        (
            "text/html",
            b'<meta http-equiv="content-type" content="text/html; charset=utf-16">',
            ("UTF-8", "meta"),
        ),
        ("text/html", b"<!-- <meta charset=koi8-r> --><p>", ("windows-1252", "default")),
        # A meta whose attributes never end (an open quote) decides nothing, as in Chromium.
        (
            "text/html",
            b'<meta charset="866" http-equiv/="text/html; charset="><p>body</p>',
            ("windows-1252", "default"),
        ),
        ("text/html", b"<meta charset=koi8-r", ("windows-1252", "default")),
        ("text/html", b"<p>" + b" " * 1024 + b"<meta charset=koi8-r>", ("windows-1252", "default")),
    ],
)
def test_encoding_is_sniffed_as_browsers_do(
    content_type: str, body: bytes, expected: tuple[str, str]
) -> None:
    sniffed = sniff_charset(content_type, body)
    assert (sniffed.name, sniffed.source) == expected


@given(st.binary(max_size=1100))
def test_prescan_accepts_any_bytes(data: bytes) -> None:
    found = prescan(data)
    # A meta never makes a page UTF-16: only a BOM or the HTTP header can.
    assert found is None or not found.startswith("UTF-16")


def _page_in(encoding: str, extra: str = "") -> bytes:
    text = PAGE.replace("Headline", "Заголовок 見出し") + extra
    return text.encode(encoding)


@pytest.mark.parametrize(
    ("content_type", "body", "codec"),
    [
        ("text/html", b"\xff\xfe" + _page_in("utf-16-le"), "utf-16-le"),
        ("text/html; charset=utf-8", b"\xfe\xff" + _page_in("utf-16-be"), "utf-16-be"),
        ("text/html; charset=utf-16", _page_in("utf-16-le"), "utf-16-le"),
        ("text/html", PAGE.replace("utf-8", "utf-16").encode(), "utf-8"),
        (
            "text/html",
            PAGE.replace(
                '<meta charset="utf-8">', '<meta content="text/html; charset=utf-16">'
            ).encode(),
            "utf-8",
        ),
    ],
    ids=["utf-16le-bom", "utf-16be-bom-over-http", "http-utf-16", "meta-utf-16", "meta-mentions"],
)
def test_no_charset_turns_protection_off(
    config: ConsentConfig, content_type: str, body: bytes, codec: str
) -> None:
    messages = run(raw_app(body, content_type=content_type), config)
    data = body_of(messages)
    assert header(messages, b"content-length") == str(len(data)).encode()
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        assert data[:2] == body[:2]  # the BOM stays, so the browser keeps reading UTF-16
    page = data.decode(codec).lstrip("\ufeff").encode("utf-8")
    assert protected(page)
    if codec != "utf-8":
        assert "Заголовок 見出し".encode() in page


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, 5000), max_size=10), gzipped=st.booleans())
def test_utf16_cut_anywhere(config: ConsentConfig, cuts: list[int], gzipped: bool) -> None:
    body = b"\xff\xfe" + _page_in("utf-16-le")
    headers = {"content_encoding": "gzip"} if gzipped else {}
    wire = gzip.compress(body) if gzipped else body
    messages = run(raw_app(splits(wire, cuts), **headers), config)
    data = unpack(b"gzip" if gzipped else None, body_of(messages))
    assert data[:2] == b"\xff\xfe"
    page = data.decode("utf-16-le").encode("utf-8")
    assert protected(page)
    assert "Заголовок 見出し".encode() in page


def test_iso_2022_jp_escapes_do_not_hide_a_tracker(config: ConsentConfig) -> None:
    # An escape back to ASCII inside a tag name decodes to nothing: browsers read <script.
    hidden = b'<scr\x1b(Bipt src="https://www.google-analytics.com/analytics.js"></script>'
    body = PAGE.replace('<meta charset="utf-8">', "").encode().replace(TRACKER, hidden)
    messages = run(raw_app(body, content_type="text/html; charset=iso-2022-jp"), config)
    page = body_of(messages).decode("iso2022_jp").encode("utf-8")
    assert protected(page)
    assert b'<script src="https://www.google-analytics' not in page


def test_an_undeclared_page_gets_ascii_markup(make_config: Callable[..., ConsentConfig]) -> None:
    # Browsers guess an undeclared page's encoding; ASCII with references reads the same in all.
    body = PAGE.replace('<meta charset="utf-8">', "").replace('lang="en"', 'lang="uk"').encode()
    page = body_of(run(raw_app(body), make_config()))
    assert protected(page)
    assert page.isascii()
    assert b"&#" in page


def test_transcoder_round_trips_cut_characters() -> None:
    text = "\ufeffa見\U0001f600b"
    data = text.encode("utf-16-le")
    t = Transcoder("utf-16-le")
    inward = b"".join(t.to_utf8(data[i : i + 1]) for i in range(len(data))) + t.to_utf8(b"", True)
    assert inward == text.encode("utf-8")
    back = b"".join(t.from_utf8(inward[i : i + 1]) for i in range(len(inward)))
    assert back + t.from_utf8(b"", True) == data
