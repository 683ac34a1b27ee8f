"""Fail closed, never garble: faults injected at every stage of the response path."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import html5lib
import pytest

from consent import ConsentConfig, ConsentMiddleware
from consent.body import BodyCodec, BodyDecoder
from consent.holdback import HoldbackPolicy
from consent.rewriter import HtmlRewriter
from consent.types import Message, Receive, Scope, Send
from tests.conftest import http_scope
from tests.faults import faulty_classifier, faulty_rewriter_run

SITE = "news.example"
COOKIE_VALUE = "secret-cookie-value-0123456789"


# Text that compresses poorly, so that a compressed page still comes in many pieces.
def filler(seed: int) -> str:
    return "".join(
        f"<p>{hashlib.sha256(f'{seed}.{i}.{j}'.encode()).hexdigest()}</p>\n"
        for i in range(6)
        for j in range(8)
    )


def tracked_page(fault_at: str) -> bytes:
    """Third-party tags at the start, in the middle and at the end; ``fault`` marks where the
    injected fault fires (an element the classifier sees, and bytes the rewriter reads)."""
    fault = '<img src="/fault-here.png" alt="">'

    def mark(stage: str) -> str:
        return fault if stage == fault_at else ""

    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>News</title>'
        + mark("first")
        + '<script src="https://www.google-analytics.com/analytics.js"></script></head><body>'
        + filler(1)
        + mark("middle")
        + '<iframe src="https://www.youtube.com/embed/abc"></iframe>'
        + '<img src="https://www.facebook.com/tr?id=1&ev=PageView">'
        + filler(2)
        + mark("end")
        + '<script src="https://connect.facebook.net/en_US/fbevents.js"></script>'
        + "</body></html>"
    ).encode()


def encode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "br":
        import brotli

        return bytes(brotli.compress(body))
    return body


def decode(body: bytes, encoding: str) -> bytes:
    """Decodes as a browser would; raises when the bytes are not what the header says."""
    if encoding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body)
    if encoding == "br":
        import brotli

        return bytes(brotli.Decompressor().process(body))
    return body


def page_app(body: bytes, encoding: str, chunks: int) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        if encoding != "identity":
            headers.append((b"content-encoding", encoding.encode()))
        if chunks == 1:
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        size = -(-len(body) // chunks)
        for at in range(0, len(body), size):
            last = at + size >= len(body)
            await send(
                {"type": "http.response.body", "body": body[at : at + size], "more_body": not last}
            )

    return app


def run(app: Any) -> tuple[dict[str, Any], bytes]:
    scope = http_scope("/news/today")
    scope["headers"] = [
        (b"host", SITE.encode()),
        (b"accept-encoding", b"gzip, br"),
        (b"cookie", f"consent={COOKIE_VALUE}".encode()),
    ]
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(app(scope, receive, send))
    start = messages[0]
    assert start["type"] == "http.response.start"
    bodies = [m for m in messages[1:] if m["type"] == "http.response.body"]
    assert bodies and not bodies[-1].get("more_body", False)
    assert all(m.get("more_body", False) for m in bodies[:-1])
    return start, b"".join(m.get("body", b"") for m in bodies)


def header(start: dict[str, Any], name: str) -> str | None:
    for key, value in start["headers"]:
        if key.lower() == name.encode():
            return str(value.decode("latin-1"))
    return None


def live_third_parties(document: bytes) -> list[str]:
    """Every URL on another host that a browser would fetch or run from this markup."""
    tree = html5lib.parse(document, namespaceHTMLElements=False)
    found = []
    for element in tree.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag == "script" and element.get("type") not in (None, "", "module", "text/javascript"):
            continue
        for attr in ("src", "href", "data", "srcset"):
            value = element.get(attr)
            if value is None or (tag == "a" and attr == "href"):
                continue
            host = urlsplit(value.strip()).hostname
            if host is not None and host != SITE:
                found.append(f"{tag} {value}")
    return found


def csp_blocks_third_parties(policy: str | None) -> bool:
    if policy is None:
        return False
    directives = dict(
        [*part.strip().split(" ", 1), ""][:2] for part in policy.split(";") if part.strip()
    )
    for name in ("script-src", "frame-src", "img-src", "connect-src"):
        sources = directives.get(name, "").split()
        if not sources or any(
            s not in ("'self'", "data:", "blob:") and "nonce" not in s for s in sources
        ):
            return False
    return True


def check_fail_closed(
    start: dict[str, Any], body: bytes, caplog: pytest.LogCaptureFixture, *, before_first_byte: bool
) -> None:
    encoding = header(start, "content-encoding") or "identity"
    length = header(start, "content-length")
    if length is not None:
        assert int(length) == len(body), "Content-Length disagrees with the body"
    document = decode(body, encoding)  # raises if the body is not what its header says
    csp = header(start, "content-security-policy")
    if before_first_byte:
        assert csp_blocks_third_parties(csp), csp
    if not csp_blocks_third_parties(csp):
        assert live_third_parties(document) == []
    else:
        # Even where the policy is the net, markup we could read holds them back too.
        if encoding == "identity":
            assert live_third_parties(document) == []
    errors = [r for r in caplog.records if r.name == "consent" and r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "/news/today" in errors[0].getMessage()
    assert COOKIE_VALUE not in caplog.text


ENCODINGS = ["identity", "gzip", "br"]
CHUNKS = [1, 12]


@pytest.fixture
def fault(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    def install(target: str, stage: str) -> None:
        if target == "classifier":
            monkeypatch.setattr(HoldbackPolicy, "classifier", faulty_classifier())
        elif target == "rewriter":
            monkeypatch.setattr(HtmlRewriter, "_run", faulty_rewriter_run())
        elif target == "banner":
            from consent.runtime import ConsentRuntime

            def banner(self: Any, *args: Any, **kwargs: Any) -> str:
                raise RuntimeError("injected banner fault")

            monkeypatch.setattr(ConsentRuntime, "banner", banner)
        elif target == "decoder":
            if stage == "first":

                def probe(self: Any, first: bytes) -> bool:
                    raise RuntimeError("injected decoder fault")

                monkeypatch.setattr(BodyDecoder, "probe", probe)
            else:
                real_read = BodyCodec.read
                calls = {"n": 0}

                def read(self: Any, data: bytes, final: bool) -> Any:
                    calls["n"] += 1
                    if (stage == "middle" and calls["n"] == 3) or (stage == "end" and final):
                        raise RuntimeError("injected decoder fault")
                    return real_read(self, data, final)

                monkeypatch.setattr(BodyCodec, "read", read)

    return install


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("chunks", CHUNKS)
@pytest.mark.parametrize("stage", ["first", "middle", "end"])
@pytest.mark.parametrize("target", ["classifier", "rewriter"])
def test_a_fault_in_the_rewriting_holds_every_third_party_back(
    make_config: Callable[..., ConsentConfig],
    fault: Callable[[str, str], None],
    caplog: pytest.LogCaptureFixture,
    encoding: str,
    chunks: int,
    stage: str,
    target: str,
) -> None:
    fault(target, stage)
    body = encode(tracked_page(stage), encoding)
    app = ConsentMiddleware(page_app(body, encoding, chunks), config=make_config())
    start, out = run(app)
    assert start["status"] == 200
    # A fault in the first kilobyte fires before the headers leave; later ones mid-stream.
    before = chunks == 1 or stage == "first"
    check_fail_closed(start, out, caplog, before_first_byte=before)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("chunks", CHUNKS)
def test_a_fault_in_the_banner_holds_every_third_party_back(
    make_config: Callable[..., ConsentConfig],
    fault: Callable[[str, str], None],
    caplog: pytest.LogCaptureFixture,
    encoding: str,
    chunks: int,
) -> None:
    fault("banner", "first")
    body = encode(tracked_page(""), encoding)
    start, out = run(ConsentMiddleware(page_app(body, encoding, chunks), config=make_config()))
    assert start["status"] == 200
    check_fail_closed(start, out, caplog, before_first_byte=True)


@pytest.mark.parametrize("encoding", ["gzip", "br"])
@pytest.mark.parametrize(
    ("chunks", "stage"),
    # A one-message body is read in one call: its only stage is the first.
    [(1, "first"), (12, "first"), (12, "middle"), (12, "end")],
)
def test_a_fault_in_the_decoder_never_garbles_the_page(
    make_config: Callable[..., ConsentConfig],
    fault: Callable[[str, str], None],
    caplog: pytest.LogCaptureFixture,
    encoding: str,
    chunks: int,
    stage: str,
) -> None:
    fault("decoder", stage)
    body = encode(tracked_page(""), encoding)
    start, out = run(ConsentMiddleware(page_app(body, encoding, chunks), config=make_config()))
    assert start["status"] == 200
    check_fail_closed(start, out, caplog, before_first_byte=stage == "first")


def test_a_visitor_who_granted_everything_gets_no_policy_on_a_fault(
    make_config: Callable[..., ConsentConfig],
    fault: Callable[[str, str], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from starlette.testclient import TestClient

    from tests.conftest import csrf_token

    page = tracked_page("")
    client = TestClient(ConsentMiddleware(page_app(page, "identity", 1), config=make_config()))
    decision = client.post(
        "/_consent/decision",
        data={"action": "accept_all", "csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert decision.status_code == 303
    fault("banner", "first")
    response = client.get("/")
    # Nothing is held for this visitor, so there is nothing to protect: the page as it was.
    assert "content-security-policy" not in response.headers
    assert response.content == page
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_a_page_finished_after_a_fault_is_not_kept_in_the_page_cache(
    make_config: Callable[..., ConsentConfig],
    monkeypatch: pytest.MonkeyPatch,
    fault: Callable[[str, str], None],
) -> None:
    page = tracked_page("middle")
    app = ConsentMiddleware(page_app(page, "identity", 1), config=make_config())
    with monkeypatch.context() as patch:
        patch.setattr(HoldbackPolicy, "classifier", faulty_classifier())
        start, _ = run(app)
        assert header(start, "content-security-policy") is not None
    start, body = run(app)
    assert header(start, "content-security-policy") is None
    assert body.count(b"data-consent-banner") == 1


def test_the_app_is_only_offered_codings_that_can_be_read_back(
    make_config: Callable[..., ConsentConfig],
) -> None:
    offered: list[str | None] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        offered.append(dict(scope["headers"]).get(b"accept-encoding", b"").decode())
        await page_app(tracked_page("none"), "identity", 1)(scope, receive, send)

    middleware = ConsentMiddleware(app, config=make_config())
    scope = http_scope(
        "/", host=SITE, headers=[(b"accept-encoding", b"zstd, br;q=0.9, gzip, *;q=0.1")]
    )

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    asyncio.run(middleware(scope, receive, send))
    codings = [item.split(";")[0].strip() for item in (offered[0] or "").split(",")]
    assert "zstd" not in codings
    assert "gzip" in codings and "br" in codings


def test_a_page_in_a_coding_that_cannot_be_read_loads_no_third_party(
    make_config: Callable[..., ConsentConfig], caplog: pytest.LogCaptureFixture
) -> None:
    body = b"\x28\xb5\x2f\xfd" + b"not a page we could read" * 8  # a zstd frame, as far as we know
    caplog.set_level(logging.ERROR, logger="consent")
    start, out = run(ConsentMiddleware(page_app(body, "zstd", 1), config=make_config()))
    assert out == body, "bytes we cannot read go out unchanged"
    assert header(start, "content-encoding") == "zstd"
    assert csp_blocks_third_parties(header(start, "content-security-policy"))
    assert "no-store" in (header(start, "cache-control") or "")
    errors = [r for r in caplog.records if r.name == "consent" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "/news/today" in errors[0].getMessage()
    assert COOKIE_VALUE not in errors[0].getMessage()


@pytest.mark.parametrize("chunks", [1, 3])
def test_a_tag_that_never_ends_past_the_limit_is_finished_by_the_failsafe_pass(
    make_config: Callable[..., ConsentConfig], caplog: pytest.LogCaptureFixture, chunks: int
) -> None:
    # Whole or in pieces, a page whose last tag holds more than the rewriter may keep for it
    # goes to the failsafe pass, even when that last slice of it is the body's end.
    tracked = b'<img src="https://www.facebook.com/tr?id=1&ev=PageView">'
    body = (
        b"<!doctype html><html><head><title>t</title></head><body>"
        + tracked
        + b'<img alt="'
        + b"x" * ((1 << 20) + 1000)
    )
    app = ConsentMiddleware(page_app(body, "identity", chunks), config=make_config())
    start, out = run(app)
    assert start["status"] == 200
    check_fail_closed(start, out, caplog, before_first_byte=chunks == 1)
    assert "a tag never ended" in caplog.text
    assert out.endswith(b"x" * 1000) and tracked not in out
