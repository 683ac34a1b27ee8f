"""The pure ASGI middleware: state into the scope, banner into pages, refused cookies out."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from urllib.parse import quote

from consent.body import BodyCodec, BodyDecoder, BodyTooLarge, decoder_for, sniff_charset
from consent.config import ConsentConfig
from consent.csrf import token_for
from consent.endpoints import ConsentEndpoints, RequestInfo
from consent.lifespan import lifespan
from consent.names import SCOPE_KEY
from consent.pagecache import BANNER_SLOT, RewrittenPage, body_key
from consent.rewriter import HtmlRewriter
from consent.runtime import ConsentRuntime
from consent.state import ConsentState
from consent.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("consent")

_HANDSHAKE_ANSWERS = frozenset({"websocket.accept", "websocket.http.response.start"})
_PAGE_LANG = re.compile(
    rb"<html\b[^>]{0,512}?\blang\s*=\s*[\"']?([A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8}){0,3})", re.I
)
_CSP_NONCE = re.compile(r"'nonce-([A-Za-z0-9+/_=-]{8,128})'")
_SNIFF_BYTES = 1024  # enough for <html lang> and <meta charset>, as browsers sniff


class ConsentMiddleware:
    """Wrap any ASGI 3 application: ``ConsentMiddleware(app, config=ConsentConfig(...))``."""

    def __init__(self, app: ASGIApp, config: ConsentConfig | None = None) -> None:
        self.app = app
        self.config = config if config is not None else ConsentConfig()
        self.runtime = ConsentRuntime(self.config)
        self.endpoints = ConsentEndpoints(self.runtime)
        self._prefix = self.config.prefix
        self._prefix_slash = self.config.prefix + "/"
        self._excluded = tuple(path.rstrip("/") for path in self.config.exclude_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await lifespan(self.app, scope, receive, send, self.runtime.close)
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        info = RequestInfo.from_scope(scope, self.config)
        state = self.runtime.state(info.consent_cookie, gpc=info.gpc)
        scope[SCOPE_KEY] = state
        if kind == "websocket":
            await self.app(scope, receive, _handshake_filter(send, self.runtime, state))
            return
        path = info.route_path
        if path == self._prefix or path.startswith(self._prefix_slash):
            await self.endpoints(scope, receive, send, info, state)
            return
        if self._excluded and any(path == p or path.startswith(p + "/") for p in self._excluded):
            # The operator's own pages (admin, API docs): untouched, but cookies of refused
            # purposes are still kept from the browser.
            await self.app(scope, receive, _cookie_filter(send, self.runtime, state))
            return
        responder = _Responder(self.runtime, scope, send, info, state)
        await self.app(scope, receive, responder.send)


def _cookie_filter(send: Send, runtime: ConsentRuntime, state: ConsentState) -> Send:
    async def filtered(message: Message) -> None:
        if message["type"] == "http.response.start":
            allows = runtime.cookie_policy.allows
            message["headers"] = [
                (name, value)
                for name, value in message.get("headers", [])
                if name.lower() != b"set-cookie" or allows(value.decode("latin-1"), state.granted)
            ]
        await send(message)

    return filtered


def _handshake_filter(send: Send, runtime: ConsentRuntime, state: ConsentState) -> Send:
    """A websocket handshake answer (accept, or a denial response) can set cookies too: they
    pass the same purpose check as an HTTP response's."""

    async def filtered(message: Message) -> None:
        if message["type"] in _HANDSHAKE_ANSWERS and message.get("headers"):
            allows = runtime.cookie_policy.allows
            message["headers"] = [
                (name, value)
                for name, value in message["headers"]
                if name.lower() != b"set-cookie" or allows(value.decode("latin-1"), state.granted)
            ]
        await send(message)

    return filtered


@dataclass
class _Pipeline:
    codec: BodyCodec | None  # set when the body is compressed or not ASCII-compatible
    charset: str
    banner: bytes
    cache_key: Hashable | None  # set when the body may be served from the page cache
    new_rewriter: Callable[[], HtmlRewriter]
    held: str = ""  # the marker of what this response holds back, named in its banner
    _rewriter: HtmlRewriter | None = None
    cached_is_document: bool | None = None

    @property
    def rewriter(self) -> HtmlRewriter:
        # Built on first use: a page served from the cache never needs one.
        if self._rewriter is None:
            self._rewriter = self.new_rewriter()
        return self._rewriter

    @property
    def is_document(self) -> bool | None:
        if self._rewriter is not None:
            return self._rewriter.is_document
        return self.cached_is_document


class _Responder:
    """Per-request state for one response; the middleware itself stays shared and stateless."""

    def __init__(
        self,
        runtime: ConsentRuntime,
        scope: Scope,
        send: Send,
        info: RequestInfo,
        state: ConsentState,
    ) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self.scope = scope
        self.downstream = send
        self.info = info
        self.state = state
        self.start: Message | None = None
        self.pending: list[bytes] = []
        self.pipeline: _Pipeline | None = None
        self.passthrough = False
        self.started = False
        self.ended = False  # the body was ended early: whatever the app sends next is dropped
        self._single_message = False
        # Read from the response's start in the same pass that filters its cookies.
        self.content_type = ""
        self.csp = ""
        self.decoder: BodyDecoder | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            await self._on_start(message)
        elif kind == "http.response.body" and self.ended:
            return
        elif kind == "http.response.body" and not self.passthrough:
            await self._on_body(message)
        else:
            await self.downstream(message)

    async def _on_start(self, message: Message) -> None:
        headers, content_type, encoding = self._read_headers(message.get("headers", []))
        message["headers"] = headers
        if not self._should_rewrite(message["status"], content_type, encoding):
            self.passthrough = True
            await self.downstream(message)
            return
        self.start = message

    def _read_headers(
        self, headers: list[tuple[bytes, bytes]]
    ) -> tuple[list[tuple[bytes, bytes]], bytes, bytes]:
        """The headers without cookies of refused purposes, plus what decides the rewrite."""
        policy = self.runtime.cookie_policy
        granted = self.state.granted
        kept = []
        content_type = encoding = b""
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"set-cookie":
                if not policy.allows(value.decode("latin-1"), granted):
                    continue
            elif lowered == b"content-type":
                content_type = value
            elif lowered == b"content-encoding":
                encoding = value.strip().lower()
            elif lowered == b"content-security-policy":
                self.csp = value.decode("latin-1")
            kept.append((name, value))
        self.content_type = content_type.decode("latin-1")
        return kept, content_type, encoding

    def _should_rewrite(self, status: int, content_type: bytes, encoding: bytes) -> bool:
        if self.scope.get("method") == "HEAD" or status < 200 or status in (204, 304):
            return False
        if not content_type.lower().startswith(b"text/html"):
            return False
        if encoding in (b"", b"identity"):
            return True
        # An encoding we cannot read goes out untouched rather than corrupted.
        self.decoder = decoder_for(encoding.decode("latin-1"))
        return self.decoder is not None

    async def _on_body(self, message: Message) -> None:
        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        if self.start is None:
            await self.downstream(message)
            return
        if not self.started:
            self.pending.append(body)
            if more and sum(map(len, self.pending)) < _SNIFF_BYTES:
                return
            self._single_message = not more and len(self.pending) == 1
            await self._first_output(b"".join(self.pending), more)
            self.pending = []
            return
        output = self._transform(body, more)
        more = more and not self.ended
        await self.downstream({"type": "http.response.body", "body": output, "more_body": more})

    async def _first_output(self, raw: bytes, more: bool) -> None:
        assert self.start is not None
        headers = self.start["headers"]
        try:
            self.pipeline = self._build_pipeline(raw)
        except Exception:
            logger.exception("consent could not prepare this page; it is passed through untouched")
            self.pipeline = None
        if self.pipeline is None:
            self.started = True
            self.passthrough = True
            await self.downstream(self.start)
            await self.downstream({"type": "http.response.body", "body": raw, "more_body": more})
            return
        if self.pipeline.cache_key is not None:
            output = self._cached_output(raw, self.pipeline)
        else:
            output = self._transform(raw, more)
            more = more and not self.ended
        self.start["headers"] = self._response_headers(headers, output, more)
        self.started = True
        await self.downstream(self.start)
        await self.downstream({"type": "http.response.body", "body": output, "more_body": more})

    def _cached_output(self, raw: bytes, pipeline: _Pipeline) -> bytes:
        cache = self.runtime.page_cache
        assert pipeline.cache_key is not None
        page = cache.get(pipeline.cache_key, raw)
        if page is None:
            rewritten = self._transform(raw, False)
            parts = tuple(rewritten.split(BANNER_SLOT))
            if len(parts) > 2 or pipeline.rewriter.failed or self.passthrough:
                return rewritten.replace(BANNER_SLOT, pipeline.banner)
            page = RewrittenPage(parts, pipeline.rewriter.is_document, raw, pipeline.held)
            cache.put(pipeline.cache_key, page)
        pipeline.cached_is_document = page.is_document
        # A cached page keeps the marker it was made with: this visitor's banner names it.
        return page.render(pipeline.banner.replace(pipeline.held.encode(), page.held.encode()))

    def _build_pipeline(self, raw: bytes) -> _Pipeline | None:
        decoder = self.decoder
        if decoder is not None and not decoder.probe(raw):
            return None
        sample = (decoder.peek(raw) if decoder is not None else raw)[:_SNIFF_BYTES]
        sniffed = sniff_charset(self.content_type, sample)
        transcoder = sniffed.transcoder()
        codec = BodyCodec(decoder, transcoder) if decoder or transcoder else None
        charset = sniffed.markup  # what injected markup is written in, on the rewriter's side
        sample = sniffed.readable(sample)
        nonce_match = _CSP_NONCE.search(self.csp)
        nonce = nonce_match.group(1) if nonce_match else None
        shared = self.config.shared_cache_mode
        resolved = self.config.locale_resolver(self.scope) if self.config.locale_resolver else None
        locale = self.runtime.locale_for(
            _page_lang(sample), None if shared else self.info.accept_language, resolved
        )
        state = self.state
        granted = self.runtime.required if shared else state.granted
        self.info.ensure_csrf_nonce(shared)
        held = _held_marker(raw if shared and self._single_message else None, self.config)
        banner = self.runtime.banner(
            locale,
            state,
            csrf_token=""
            if shared
            else token_for(self.info.csrf_nonce or "", self.config.secret_keys),
            next_path=self._current_path(),
            root_path=self.info.root_path,
            held=held,
            nonce=nonce,
        ).encode(charset, "xmlcharrefreplace")
        head = self.runtime.head_injection(
            nonce=nonce, gpc=state.gpc, root_path=self.info.root_path, state=state
        ).encode(charset, "xmlcharrefreplace")
        cache_key: Hashable | None = None
        if self._single_message and codec is None and self.runtime.page_cache.enabled:
            cache_key = (body_key(raw), granted, locale.tag, charset, head)

        def placeholder(category_id: str, vendor: str) -> bytes:
            markup = self.runtime.placeholder(locale, category_id, vendor)
            return markup.encode(charset, "xmlcharrefreplace")

        def new_rewriter() -> HtmlRewriter:
            classify = None
            if not granted >= self.runtime.all_categories:
                classify = self.runtime.holdback.classifier(
                    granted, placeholder, memo_key=(locale.tag, charset)
                )
            return HtmlRewriter(
                classify,
                head_injection=head,
                body_injection=BANNER_SLOT if cache_key is not None else banner,
                held_marker=held.encode(),
            )

        return _Pipeline(codec, charset, banner, cache_key, new_rewriter, held)

    def _transform(self, data: bytes, more: bool) -> bytes:
        pipeline = self.pipeline
        assert pipeline is not None
        if pipeline.codec is not None:
            return self._transform_coded(pipeline.codec, pipeline.rewriter, data, more)
        try:
            pieces = [pipeline.rewriter.feed(data)]
            if not more:
                pieces.append(pipeline.rewriter.close())
            return b"".join(pieces)
        except Exception:
            # Mid-stream, the headers are gone: the rest of the body goes out as the app sent it.
            logger.exception("consent stopped rewriting this page mid-stream")
            self.passthrough = True
            return data

    def _transform_coded(
        self, codec: BodyCodec, rewriter: HtmlRewriter, data: bytes, more: bool
    ) -> bytes:
        """Inflated and decoded in bounded pieces, rewritten, then encoded and compressed again."""
        out: list[bytes] = []
        try:
            for piece in codec.read(data, final=not more):
                out.append(codec.write(rewriter.feed(piece)))
            if not more:
                out.append(codec.write(rewriter.close(), final=True))
            out.append(codec.end(final=not more))
            return b"".join(out)
        except Exception as exc:
            # The headers promise this encoding, and the app's own bytes would not continue our
            # stream: the page ends cleanly here, with what was rewritten, and trackers held.
            if isinstance(exc, BodyTooLarge):
                logger.warning("consent ended a page that inflated past %d bytes", exc.args[0])
            else:
                logger.exception("consent ended this page early: its body could not be read")
            self.ended = True
        try:
            out.append(codec.write(rewriter.close(), final=True))
        except Exception:
            logger.exception("consent could not close the rewritten page")
        try:
            out.append(codec.end(final=True))
        except Exception:
            logger.exception("consent could not close the compressed page")
        return b"".join(out)

    def _response_headers(
        self, headers: list[tuple[bytes, bytes]], output: bytes, more: bool
    ) -> list[tuple[bytes, bytes]]:
        assert self.pipeline is not None
        result: list[tuple[bytes, bytes]] = []
        vary_seen = False
        cache_control: bytes | None = None
        shared = self.config.shared_cache_mode
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                continue
            if lowered == b"vary" and not shared:
                vary_seen = True
                tokens = {t.strip().lower() for t in value.split(b",")}
                if b"*" not in tokens and b"cookie" not in tokens:
                    value = value + b", Cookie"
            if lowered == b"cache-control":
                cache_control = value
                continue
            result.append((name, value))
        if not more:
            result.append((b"content-length", str(len(output)).encode()))
        if shared:
            if cache_control is not None:
                result.append((b"cache-control", cache_control))
            return result
        if not vary_seen:
            result.append((b"vary", b"Cookie"))
        result.append((b"cache-control", _private(cache_control)))
        if self.info.new_csrf_cookie and self.pipeline.is_document:
            result.append(
                (b"set-cookie", self.info.csrf_cookie_header(self.config).encode("latin-1"))
            )
        return result

    def _current_path(self) -> str:
        # The path as the browser sees it: the mount point once, whatever the server's convention.
        path = self.info.root_path + self.info.route_path
        query = self.scope.get("query_string", b"")
        quoted = quote(path, safe="/%:@!$&'()*+,;=-._~")
        return quoted + ("?" + query.decode("latin-1") if query else "")


def _held_marker(body: bytes | None, config: ConsentConfig) -> str:
    """Unpredictable for page content. Random per response; in shared-cache mode, where every
    visitor must get the same bytes, derived from the whole body (which includes any content
    that would try to guess it) and the secret key."""
    if body is None:
        return secrets.token_urlsafe(12)
    key = config.secret_keys[0].encode()[:64]
    return hashlib.blake2b(body, key=key, digest_size=12, person=b"consent-held").hexdigest()


def _page_lang(sample: bytes) -> str | None:
    match = _PAGE_LANG.search(sample)
    return match.group(1).decode("ascii") if match else None


def _private(cache_control: bytes | None) -> bytes:
    """Keeps the app's directives but no shared cache may store a page holding a visitor's token."""
    if cache_control is None:
        return b"private"
    directives = [d.strip() for d in cache_control.split(b",") if d.strip()]
    kept = [d for d in directives if not d.lower().startswith((b"public", b"s-maxage", b"private"))]
    return b", ".join([b"private", *kept])
