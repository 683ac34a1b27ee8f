"""The pure ASGI middleware: state into the scope, banner into pages, refused cookies out."""

from __future__ import annotations

import hmac
import logging
import os
import re
import sys
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from urllib.parse import quote

import anyio

from consent.body import (
    BodyCodec,
    BodyDecoder,
    BodyTooLarge,
    decoder_for,
    readable_accept_encoding,
    sniff_charset,
)
from consent.config import ConsentConfig
from consent.csp import PolicyBuilder
from consent.csrf import new_nonce_and_marker, token_for
from consent.endpoints import ConsentEndpoints, RequestInfo, opens_document
from consent.failsafe import (
    FailsafeRewriter,
    fallback_csp,
    hold_everything_foreign,
    is_local_url,
)
from consent.keyed import keyed_hex
from consent.lifespan import lifespan
from consent.names import MARKETING, SCOPE_KEY
from consent.optout import regional_request
from consent.pagecache import BANNER_SLOT, RewrittenPage, body_key
from consent.rewriter import Classifier, Element, Hold, HtmlRewriter, Known
from consent.runtime import ConsentRuntime
from consent.state import ConsentState
from consent.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("consent")

_PAGE_LANG = re.compile(
    rb"<html\b[^>]{0,512}?\blang\s*=\s*[\"']?([A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8}){0,3})", re.I
)
_CSP_NONCE = re.compile(r"'nonce-([A-Za-z0-9+/_=-]{8,128})'")
_SNIFF_BYTES = 1024  # enough for <html lang> and <meta charset>, as browsers sniff
# Where the head is known before the first kilobyte: the html start tag is behind us.
_PAST_HTML_TAG = re.compile(rb"<(?:head|body|meta|title|link|script|style|base)\b", re.I)
# Input bytes the rewriter may hold for one unfinished construct (an unclosed attribute, say)
# before the failsafe pass finishes the page: well above its inline-script limit.
_HELD_LIMIT = 1 << 20
# Bodies are rewritten in slices this big, other requests running in between. A yield and a
# slice's copies cost about what rewriting 10 KB of a page seen before does: at 256 KiB that is
# a few per cent of the work, and a slice of a page never seen (about 100 MB/s) still takes
# about as long as the app takes to render a page that size.
_SLICE = 1 << 18
_FILE_CHUNK = 1 << 16
# Shared-cache directives an edge reads before Cache-Control; per-visitor pages answer no-store.
_CDN_CACHE_HEADERS = frozenset(
    {b"cdn-cache-control", b"surrogate-control", b"cloudflare-cdn-cache-control"}
)
# nginx lets this one override Cache-Control: a per-visitor page must not carry it.
_DROPPED_ON_PRIVATE = frozenset({b"x-accel-expires", b"last-modified"})
# What _cache_rules does with a response header, by its lower-cased name.
_VARY, _CACHE_CONTROL, _LENGTH, _DROP, _NO_STORE, _ETAG = (
    "vary",
    "cache-control",
    "length",
    "drop",
    "no-store",
    "etag",
)
_SHARED_RULES = {b"vary": _VARY, b"cache-control": _CACHE_CONTROL, b"content-length": _LENGTH}
_PRIVATE_RULES = {
    **_SHARED_RULES,
    **dict.fromkeys(_DROPPED_ON_PRIVATE, _DROP),
    **dict.fromkeys(_CDN_CACHE_HEADERS, _NO_STORE),
    b"etag": _ETAG,
}
_HANDSHAKE_ANSWERS = frozenset({"websocket.accept", "websocket.http.response.start"})
_HTTP_START = frozenset({"http.response.start"})
# What a path keeps unquoted in the banner's next field; most paths are nothing else.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_SAFE_PATH = re.compile(r"[A-Za-z0-9/%:@!$&'()*+,;=\-._~]*")
_VISITOR_ETAG = re.compile(rb'^W/"(.*)-c([sw])([0-9a-f]{16})"$')


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
        if kind != "http":
            if kind == "lifespan":
                await lifespan(self.app, scope, receive, send, self.runtime.close)
                return
            if kind != "websocket":
                await self.app(scope, receive, send)
                return
        info = RequestInfo(scope, self.config)
        state = info.visitor_state(self.runtime)
        if self.runtime.regional is not None:
            regional = await regional_request(self.runtime, scope, info, state, send)
            if regional is None:
                return  # answered there (gpc.json)
            state, send = regional
        scope[SCOPE_KEY] = state
        if kind == "websocket":
            await self.app(
                scope, receive, _cookie_filter(send, self.runtime, state, _HANDSHAKE_ANSWERS)
            )
            return
        path = info.route_path
        if path == self._prefix or path.startswith(self._prefix_slash):
            await self.endpoints(scope, receive, send, info, state)
            return
        if self._excluded and any(path == p or path.startswith(p + "/") for p in self._excluded):
            # The operator's own pages (admin, API docs): untouched, but cookies of refused
            # purposes are still kept from the browser.
            await self.app(scope, receive, _cookie_filter(send, self.runtime, state, _HTTP_START))
            return
        responder = _Responder(self.runtime, scope, send, info, state)
        # Most requests offer only codings we read and carry no validators: their scope stays.
        if info.encodings or info.conditional:
            scope = responder.app_scope()
        try:
            await self.app(scope, receive, responder.send)
            if responder.start is not None and not responder.started:
                # The app returned mid-page while its start still waited for the head: what it
                # sent goes out, rewritten, and is left unfinished, as the app left it.
                await responder.flush_held()
        finally:
            # Breaks the cycle the pipeline's callbacks make with the responder: the page's
            # bytes are freed when the request ends, not at some later garbage collection,
            # which pages would otherwise trigger dozens of times as often as a bare app.
            responder.pipeline = None


def _cookie_filter(
    send: Send, runtime: ConsentRuntime, state: ConsentState, answers: frozenset[str]
) -> Send:
    """``send`` with the purpose check on the ``Set-Cookie`` headers of the ``answers`` messages:
    an untouched page's start, or a websocket handshake answer (accept, or a denial response),
    can set cookies as well as a rewritten page can."""

    async def filtered(message: Message) -> None:
        if message["type"] in answers and message.get("headers"):
            message["headers"] = runtime.cookie_policy.filter_headers(
                message["headers"], state.granted
            )
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
    fallback: Callable[[str], FailsafeRewriter | None] | None = None
    cached: RewrittenPage | None = None  # the page cache's answer, found before the banner
    _rewriter: _FailClosed | None = None

    @property
    def rewriter(self) -> _FailClosed:
        # Built on first use: a page served from the cache never needs one.
        if self._rewriter is None:
            self._rewriter = _FailClosed(self.new_rewriter(), self.fallback)
        return self._rewriter

    @property
    def is_document(self) -> bool | None:
        if self._rewriter is not None:
            return self._rewriter.is_document
        return None if self.cached is None else self.cached.is_document


class _Guarded:
    """A classifier that gives way to a fallback for good once it raises. Its remembered
    answers stand only while it has not failed: after that every element is the fallback's."""

    __slots__ = ("_classify", "_fall_back", "_fallback")

    def __init__(self, classify: Classifier, fall_back: Callable[[], Classifier]) -> None:
        self._classify = classify
        self._fall_back = fall_back
        self._fallback: Classifier | None = None

    @property
    def known(self) -> Known | None:
        if self._fallback is not None:
            return None
        known: Known | None = getattr(self._classify, "known", None)
        return known

    def __call__(self, element: Element) -> Hold | None:
        if self._fallback is None:
            try:
                return self._classify(element)
            except Exception:
                self._fallback = self._fall_back()
        return self._fallback(element)


class _FailClosed:
    """The rewriter, finished by the failsafe pass once it gives up or holds too much."""

    def __init__(
        self, rewriter: HtmlRewriter, fallback: Callable[[str], FailsafeRewriter | None] | None
    ) -> None:
        self.rewriter = rewriter
        self._fallback = fallback
        self._failsafe: FailsafeRewriter | None = None
        self._switched = False

    @property
    def failed(self) -> bool:
        return self._switched or self.rewriter.failed

    @property
    def is_document(self) -> bool | None:
        return self.rewriter.is_document

    def feed(self, chunk: bytes) -> bytes:
        if self._switched:
            return self._failsafe.feed(chunk) if self._failsafe is not None else chunk
        out = self.rewriter.feed(chunk)
        if self.rewriter.failed:
            # What a failed rewriter returns is the input it had not sent on yet.
            return self._switch("the rewriter failed", out)
        if self.rewriter.held_bytes > _HELD_LIMIT:
            return out + self._switch("a tag never ended", self.rewriter.abandon())
        return out

    def close(self) -> bytes:
        if self._switched:
            return self._failsafe.close() if self._failsafe is not None else b""
        out = self.rewriter.close()
        if self.rewriter.failed:
            out = self._switch("the rewriter failed", out)
            return out + (self._failsafe.close() if self._failsafe is not None else b"")
        return out

    def finish(self, chunk: bytes) -> bytes:
        """``feed(chunk) + close()``: the body's last bytes, read in one pass by the rewriter
        when what it could hold of them stays within the limit feed enforces."""
        rewriter = self.rewriter
        if self._switched or rewriter.held_bytes + len(chunk) > _HELD_LIMIT:
            out = self.feed(chunk)
            return out + self.close()
        out = rewriter.finish(chunk)
        if rewriter.failed:
            out = self._switch("the rewriter failed", out)
            return out + (self._failsafe.close() if self._failsafe is not None else b"")
        return out

    def _switch(self, reason: str, unsent: bytes) -> bytes:
        self._switched = True
        if self._fallback is not None:
            self._failsafe = self._fallback(reason)
        return self._failsafe.feed(unsent) if self._failsafe is not None else unsent


class _Responder:
    """Per-request state for one response; the middleware itself stays shared and stateless.

    What only a page being rewritten needs starts as a class default, so a response that
    passes through (most of them: scripts, images, JSON) sets up almost nothing.
    """

    start: Message | None = None
    pipeline: _Pipeline | None = None
    passthrough = False
    started = False
    ended = False  # the body was ended early: whatever the app sends next is dropped
    _single_message = False
    # Read from the response's start in the same pass that filters its cookies.
    content_type = ""
    # The nonce of the app's own policy, read once: injected scripts carry it, and the
    # failure and consent policies keep it.
    csp_nonce: str | None = None
    attachment = False
    decoder: BodyDecoder | None = None
    # Set when something in our own processing failed: the page is finished fail-closed.
    failed = False
    failsafe: FailsafeRewriter | None = None
    revalidated = False  # the request's validator named this visitor's current state
    unreadable = False  # an HTML page in a Content-Encoding we cannot decode
    pending: list[bytes]  # a page's first bodies, until what its head decides is known

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

    @property
    def holding(self) -> bool:
        """Whether a third party could load at all for this visitor: the failure policy's
        switch."""
        return self.config.shared_cache_mode or not (
            self.state.granted >= self.runtime.all_categories
        )

    def app_scope(self) -> Scope:
        """The scope the app sees: validators that could make it confirm a page made for another
        state of this visitor are taken out, so no 304 revives trackers that are gone."""
        headers: list[tuple[bytes, bytes]] = self.scope.get("headers", [])
        if self.info.encodings:
            headers = [
                (
                    name,
                    readable_accept_encoding(value)
                    if name.lower() == b"accept-encoding"
                    else value,
                )
                for name, value in headers
            ]
            self.scope["headers"] = headers
        if self.config.shared_cache_mode:
            return self.scope
        if not self.info.conditional:
            return self.scope
        # A page is what a navigation asks for; its only validators are the ones we issued.
        navigation = opens_document(headers, frames=True)
        kept: list[tuple[bytes, bytes]] = []
        stale = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"if-none-match":
                restored, foreign, ours = self._app_validators(value)
                stale = stale or (ours and not restored)
                tags = restored if navigation or stale else restored + foreign
                if stale or not tags:
                    continue
                self.revalidated = bool(restored)
                value = b", ".join(tags)
            elif lowered == b"if-modified-since" and navigation:
                continue
            kept.append((name, value))
        if stale:
            kept = [(n, v) for n, v in kept if n.lower() != b"if-modified-since"]
        # In place, not a copy: what the app records in the scope stays visible outside.
        self.scope["headers"] = kept
        return self.scope

    def _app_validators(self, value: bytes) -> tuple[list[bytes], list[bytes], bool]:
        """The app's own tags behind ours that name this state, other tags, and whether any of
        ours came at all."""
        restored: list[bytes] = []
        foreign: list[bytes] = []
        ours = False
        for tag in (t.strip() for t in value.split(b",")):
            m = _VISITOR_ETAG.match(tag)
            if m is None:
                foreign.append(tag)
                continue
            ours = True
            if hmac.compare_digest(m.group(3), self.state_tag()):
                weak = b"W/" if m.group(2) == b"w" else b""
                restored.append(weak + b'"' + m.group(1) + b'"')
        return restored, foreign, ours

    def state_tag(self) -> bytes:
        """What this visitor's page bytes depend on, keyed so that it reveals none of it."""
        state, info = self.state, self.info
        parts = (
            ",".join(sorted(state.granted)),
            str(state.decided),
            state.consent_id or "",
            str(state.gpc),
            state.model,
            state.region or "",
            info.csrf_nonce or "",
            info.accept_language or "",
            self.config.policy_version,
        )
        data = "\n".join(parts).encode()
        return keyed_hex(self.config.secret_keys[0], data, person=b"consent etag", size=8).encode()

    def _failure(self, reason: str) -> None:
        """Logged once per response, with the path only: queries and cookies stay out of logs."""
        if not self.failed:
            self.failed = True
            logger.error(
                "consent: %s on %s; the page is finished with every third party held back",
                reason,
                self.scope.get("path", ""),
                exc_info=sys.exc_info()[0] is not None,
            )

    def _hold_category(self) -> str:
        granted = self.runtime.required if self.config.shared_cache_mode else self.state.granted
        refused = [c for c in self.config.category_ids if c not in granted]
        return refused[-1] if refused else MARKETING

    def _fallback(self, reason: str) -> FailsafeRewriter | None:
        self._failure(reason)
        if not self.holding:
            return None
        return FailsafeRewriter(self.info.host, self._hold_category())

    def _guarded(self, classify: Classifier) -> Classifier:
        """The classifier, replaced by the failsafe rules for the rest of the page if it raises."""

        def fall_back() -> Classifier:
            self._failure("the hold-back classifier failed")
            return hold_everything_foreign(self.info.host, self._hold_category())

        return _Guarded(classify, fall_back)

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            if self.passthrough:
                await self.downstream(message)
            elif not self.ended:
                await self._on_body(message)
                if self.started and not message.get("more_body", False):
                    # The page is whole: a body after its last one would go out unread.
                    self.ended = True
        elif kind == "http.response.start":
            # A response has one start: another one, even while a page's start waits for its
            # head, would let the rest of the page out unread or drop what came before it.
            if self.start is None and not self.passthrough and self._on_start(message):
                await self.downstream(message)
        elif kind in ("http.response.pathsend", "http.response.zerocopysend"):
            await self._on_file(message)
        elif kind == "http.response.early_hint":
            await self._on_early_hint(message)
        else:
            # http.response.debug comes before the start, trailers after the final body: both
            # are already in order, since the body is never held past the app's last message.
            await self.downstream(message)

    def _on_start(self, message: Message) -> bool:
        """Whether the start goes out now; a page's waits for its first body."""
        # One pass finds what every response needs: most are no pages and need nothing else.
        given = message.get("headers", ())
        headers: list[tuple[bytes, bytes]]
        if type(given) is list:
            headers = given
        else:
            # ASGI allows any iterable, maybe one that can be read only once: it is read again.
            headers = message["headers"] = list(given)
        content_type = b""
        cookies = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-type":
                content_type = value
            elif lowered == b"set-cookie":
                cookies = True
        if cookies:
            headers = message["headers"] = self.runtime.cookie_policy.filter_headers(
                headers, self.state.granted
            )
        status = message["status"]
        if status == 304 and self.revalidated:
            # The app confirmed the page this visitor's browser holds for this very state.
            message["headers"] = self._cache_rules(headers)
            self.passthrough = True
            return True
        # Browsers read a header's value without the white space around it.
        html = content_type.lstrip(b" \t").lower().startswith(b"text/html")
        if not html or not self._should_rewrite(
            status, self._read_page_headers(headers, content_type)
        ):
            self.passthrough = True
            if self.unreadable and self.holding:
                # The app chose a coding it was not offered: the page cannot be read, so the
                # browser is told to load nothing from another host instead.
                self._failure("the page's Content-Encoding cannot be read")
                message["headers"] = self._failure_headers(self._cache_rules(headers))
            return True
        if self.scope.get("method") == "HEAD":
            # The headers a GET would have; its length is unknown until the page is rewritten.
            kept = [(n, v) for n, v in headers if n.lower() != b"content-length"]
            message["headers"] = self._cache_rules(kept)
            self.passthrough = True
            return True
        message["headers"] = headers
        self.start = message
        self.pending = []
        return False

    async def _on_file(self, message: Message) -> None:
        """A file the server would send itself: read here when the page is rewritten."""
        if self.ended:
            return
        if self.passthrough or self.start is None:
            await self.downstream(message)
            return
        if message["type"] == "http.response.pathsend":
            path = message["path"]
            more_after = False
            offset = count = fd = None
        else:
            path = None
            more_after = bool(message.get("more_body", False))
            offset = message.get("offset")
            count = message.get("count")
            fd = message["file"].fileno()
        data = await anyio.to_thread.run_sync(_read_file, path, fd, offset, count)
        await self._on_body({"type": "http.response.body", "body": data, "more_body": more_after})

    async def _on_early_hint(self, message: Message) -> None:
        """Preloads the browser would fetch before the page: other hosts only with consent."""
        if self.holding:
            host = self.info.host
            links = [link for link in message.get("links", []) if _local_link(link, host)]
            if not links:
                return
            message = {**message, "links": links}
        await self.downstream(message)

    def _read_page_headers(self, headers: list[tuple[bytes, bytes]], content_type: bytes) -> bytes:
        """What an HTML response's headers decide of its rewrite; its Content-Encoding."""
        encoding = b""
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-encoding":
                encoding = value.strip().lower()
            elif lowered == b"content-security-policy":
                nonce_match = _CSP_NONCE.search(value.decode("latin-1"))
                self.csp_nonce = nonce_match.group(1) if nonce_match else None
            elif lowered == b"content-disposition":
                self.attachment = value.strip().lower().startswith(b"attachment")
        self.content_type = content_type.decode("latin-1")
        return encoding

    def _should_rewrite(self, status: int, encoding: bytes) -> bool:
        # A download is not a page the visitor views, and a range is a slice of bytes.
        if status < 200 or status in (204, 206, 304) or self.attachment:
            return False
        if encoding in (b"", b"identity"):
            return True
        # An encoding we cannot read goes out unchanged rather than corrupted.
        self.decoder = decoder_for(encoding.decode("latin-1"))
        self.unreadable = self.decoder is None
        return self.decoder is not None

    async def _on_body(self, message: Message) -> None:
        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        if self.start is None:
            await self.downstream(message)
            return
        if not self.started:
            self.pending.append(body)
            if more and not self._head_known():
                return
            await self.flush_held(more)
            return
        if self.pipeline is None and self.failsafe is not None:
            output = self._failsafe_pass(self.failsafe, body, more)
        else:
            output = await self._transform_sliced(body, more)
        more = more and not self.ended
        await self.downstream({"type": "http.response.body", "body": output, "more_body": more})

    async def flush_held(self, more: bool = True) -> None:
        """The page's start and the bodies held with it go out, rewritten (``more``: the page
        goes on, or was left unfinished by the app)."""
        self._single_message = not more and len(self.pending) == 1
        raw = b"".join(self.pending)
        self.pending = []
        assert self.start is not None
        headers = self.start["headers"]
        try:
            self.pipeline = self._build_pipeline(raw)
            if self.pipeline is not None:
                if self.pipeline.cache_key is not None:
                    output = await self._cached_output(raw, self.pipeline)
                else:
                    output = await self._transform_sliced(raw, more)
                    more = more and not self.ended
                headers = self._response_headers(headers, output, more)
        except Exception:
            self._failure("the page could not be prepared")
            await self._fail_closed_start(raw, more)
            return
        if self.pipeline is None:
            self.started = True
            self.passthrough = True
            await self.downstream(self.start)
            await self.downstream({"type": "http.response.body", "body": raw, "more_body": more})
            return
        self.start["headers"] = headers
        self.started = True
        await self.downstream(self.start)
        await self.downstream({"type": "http.response.body", "body": output, "more_body": more})

    def _head_known(self) -> bool:
        """Whether what the head decides (charset, language) can be read from what came: then a
        page streamed in small pieces goes on at the app's own pace."""
        if sum(map(len, self.pending)) >= _SNIFF_BYTES:
            return True
        if self.decoder is not None or "charset=" not in self.content_type.lower():
            return False  # a <meta charset> may still come within the first kilobyte
        return _PAST_HTML_TAG.search(b"".join(self.pending)) is not None

    async def _fail_closed_start(self, raw: bytes, more: bool) -> None:
        """Nothing was sent yet: the page goes out whole and readable, every third party held
        back in its markup and, as a net the browser enforces, by a Content-Security-Policy."""
        assert self.start is not None
        self.pipeline = None
        self.started = True
        headers = self.start["headers"]
        output = raw
        if not self.holding:
            self.passthrough = True
        elif self.decoder is None:
            self.failsafe = FailsafeRewriter(self.info.host, self._hold_category())
            output = self._failsafe_pass(self.failsafe, raw, more)
            more = more and not self.ended
        else:
            # Compressed bytes stay as the app sent them, with the headers that describe them.
            self.passthrough = True
        if not self.passthrough:
            headers = [(n, v) for n, v in headers if n.lower() != b"content-length"]
            if not more:
                headers.append((b"content-length", str(len(output)).encode()))
        if self.holding:
            try:
                headers = self._cache_rules(headers)
            except Exception:
                self._failure("the caching headers could not be made")
            headers = self._failure_headers(headers)
        self.start["headers"] = headers
        await self.downstream(self.start)
        await self.downstream({"type": "http.response.body", "body": output, "more_body": more})

    def _failsafe_pass(self, failsafe: FailsafeRewriter, data: bytes, more: bool) -> bytes:
        try:
            return failsafe.feed(data) + (b"" if more else failsafe.close())
        except Exception:
            # Even the conservative pass failed: the page ends here rather than go on unread.
            self._failure("the failsafe pass failed")
            self.ended = True
            return b""

    def _failure_headers(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """A failed page is never stored anywhere, and loads nothing from another host."""
        policy = fallback_csp(self.csp_nonce)
        kept = [(n, v) for n, v in headers if n.lower() != b"cache-control"]
        kept.append((b"cache-control", b"private, no-store"))
        kept.append((b"content-security-policy", policy.encode("latin-1")))
        return kept

    async def _transform_sliced(self, data: bytes, more: bool) -> bytes:
        """Large bodies in slices, yielding in between: a tag-dense page never stalls others."""
        if len(data) <= _SLICE:
            return self._transform(data, more)
        out = []
        for at in range(0, len(data), _SLICE):
            last = at + _SLICE >= len(data)
            out.append(self._transform(data[at : at + _SLICE], more or not last))
            if self.ended:
                break
            if not last:
                await anyio.sleep(0)
        return b"".join(out)

    async def _cached_output(self, raw: bytes, pipeline: _Pipeline) -> bytes:
        page = pipeline.cached
        if page is None:
            assert pipeline.cache_key is not None
            rewritten = await self._transform_sliced(raw, False)
            parts = tuple(rewritten.split(BANNER_SLOT))
            if len(parts) > 2 or pipeline.rewriter.failed or self.passthrough or self.failed:
                return rewritten.replace(BANNER_SLOT, pipeline.banner)
            page = RewrittenPage(parts, pipeline.rewriter.is_document, raw, pipeline.held)
            self.runtime.page_cache.put(pipeline.cache_key, page)
        return page.render(pipeline.banner)

    def _build_pipeline(self, raw: bytes) -> _Pipeline | None:
        decoder = self.decoder
        if decoder is not None and not decoder.probe(raw):
            return None
        # An app's pages start with the same kilobyte again and again (its layout's head): what
        # the browser will read it as is looked up, not sniffed again. The last page's start is
        # compared in place first: a match costs neither a copy of the kilobyte nor its hash.
        content_type = self.content_type
        last = self.runtime.last_page_start
        if (
            decoder is None
            and last is not None
            and last[0] == content_type
            and raw.startswith(last[1])
            and (len(last[1]) == _SNIFF_BYTES or len(raw) == len(last[1]))
        ):
            found = last[2]
        else:
            sample = (decoder.peek(raw) if decoder is not None else raw)[:_SNIFF_BYTES]
            key = (content_type, sample)
            looked_up = self.runtime.page_starts.get(key)
            if looked_up is None:
                sniffed = sniff_charset(content_type, sample)
                # The markup charset is what injected markup is written in, on the rewriter's
                # side.
                looked_up = (sniffed, sniffed.markup, _page_lang(sniffed.readable(sample)))
                self.runtime.page_starts.put(key, looked_up)
            found = looked_up
            if decoder is None:
                self.runtime.last_page_start = (content_type, sample, found)
        sniffed, charset, page_lang = found
        transcoder = sniffed.transcoder()
        codec = BodyCodec(decoder, transcoder) if decoder or transcoder else None
        nonce = self.csp_nonce
        shared = self.config.shared_cache_mode
        resolved = self.config.locale_resolver(self.scope) if self.config.locale_resolver else None
        state = self.state
        locale, head, banner_parts = self.runtime.page_parts(
            charset,
            page_lang=page_lang,
            accept_language=None if shared else self.info.accept_language,
            resolved=resolved,
            state=state,
            root_path=self.info.root_path,
            nonce=nonce,
        )
        granted = self.runtime.required if shared else state.granted
        site = self.info.site
        cache_key: Hashable | None = None
        cached: RewrittenPage | None = None
        if self._single_message and codec is None and self.runtime.page_cache.enabled:
            # Third parties are judged against the host the page is served from: a page made
            # for a forged Host must not reach the visitors of the real one.
            cache_key = (body_key(raw), granted, locale.tag, charset, head, site)
            cached = self.runtime.page_cache.get(cache_key, raw)
        # A cached page keeps the marker it was made with: this visitor's banner names it.
        keyed_held = shared and self._single_message
        needs_nonce = not shared and self.info.csrf_nonce is None
        drawn_nonce = drawn_held = ""
        if needs_nonce or (cached is None and not keyed_held):
            drawn_nonce, drawn_held = new_nonce_and_marker()
        self.info.ensure_csrf_nonce(shared, drawn_nonce)
        if cached is not None:
            held = cached.held
        elif keyed_held:
            held = _held_marker(raw, self.config)
        else:
            held = drawn_held
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
            parts=banner_parts,
        ).encode(charset, "xmlcharrefreplace")

        runtime = self.runtime

        # Kept with the classifier it is given to, for later pages too: it holds no request.
        def placeholder(category_id: str, vendor: str) -> bytes:
            markup = runtime.placeholder(locale, category_id, vendor)
            return markup.encode(charset, "xmlcharrefreplace")

        def new_rewriter() -> HtmlRewriter:
            classify = None
            if not granted >= self.runtime.all_categories:
                classify = self._guarded(
                    self.runtime.holdback.classifier(
                        granted, placeholder, memo_key=(locale.tag, charset), site=site
                    )
                )
            return HtmlRewriter(
                classify,
                head_injection=head,
                body_injection=BANNER_SLOT if cache_key is not None else banner,
                held_marker=held.encode(),
            )

        return _Pipeline(
            codec, charset, banner, cache_key, new_rewriter, held, self._fallback, cached
        )

    def _transform(self, data: bytes, more: bool) -> bytes:
        pipeline = self.pipeline
        assert pipeline is not None
        if pipeline.codec is not None:
            return self._transform_coded(pipeline.codec, pipeline.rewriter, data, more)
        try:
            if more:
                return pipeline.rewriter.feed(data)
            return pipeline.rewriter.finish(data)
        except Exception:
            if not self.started:
                raise  # the caller still chooses the headers: the failsafe pass takes the page
            # Mid-stream, the app's bytes would go out unread: the page ends here instead.
            self._failure("the page could not be rewritten")
            self.ended = True
            return b""

    def _transform_coded(
        self, codec: BodyCodec, rewriter: _FailClosed, data: bytes, more: bool
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
                self._failure("the body could not be read")
            self.ended = True
        try:
            out.append(codec.write(rewriter.close(), final=True))
        except Exception:
            self._failure("the rewritten page could not be closed")
        try:
            out.append(codec.end(final=True))
        except Exception:
            self._failure("the compressed page could not be closed")
        return b"".join(out)

    def _response_headers(
        self, headers: list[tuple[bytes, bytes]], output: bytes, more: bool
    ) -> list[tuple[bytes, bytes]]:
        assert self.pipeline is not None
        result = self._cache_rules(headers, drop_length=True)
        if not more:
            result.append((b"content-length", str(len(output)).encode()))
        failed = (self.failed or self.ended) and self.holding
        if failed:
            result = self._failure_headers(result)
        if self.config.shared_cache_mode:
            # One cached page serves every visitor, so no header may name one visitor's choice.
            return result
        if self.runtime.csp_policy is not None and not failed:
            # The failure policy above is stricter still; it stands alone.
            result.append(self._consent_policy(self.runtime.csp_policy))
        if self.info.new_csrf_cookie and self.pipeline.is_document:
            result.append(
                (b"set-cookie", self.info.csrf_cookie_header(self.config).encode("latin-1"))
            )
        return result

    def _consent_policy(self, builder: PolicyBuilder) -> tuple[bytes, bytes]:
        """The policy of this visitor's verified choice, added beside the app's own: browsers
        enforce both, so it only takes away."""
        # The checked origin only: a raw Host header could carry anything into the policy.
        origin = self.info.origin
        policy = builder.policy(
            self.state.granted,
            origin.partition("://")[2] if origin else "",
            nonce=self.csp_nonce,
            report_path=self.runtime.urls_for(self.info.root_path).csp_report,
        )
        return self.runtime.csp_mode.header_name.encode(), policy.encode("latin-1")

    def _cache_rules(
        self, headers: list[tuple[bytes, bytes]], *, drop_length: bool = False
    ) -> list[tuple[bytes, bytes]]:
        """Headers of a page rewritten for this visitor, for GET, HEAD and 304 alike: no shared
        cache stores it, its validator names the visitor's state, Vary names what changes it.
        ``drop_length``: the Content-Length goes too (the body is rewritten)."""
        shared = self.config.shared_cache_mode
        rules = _SHARED_RULES if shared else _PRIVATE_RULES
        result: list[tuple[bytes, bytes]] = []
        vary: list[bytes] = []
        cache_control: bytes | None = None
        for name, value in headers:
            # Most of a page's headers are none of these: one look-up each.
            rule = rules.get(name.lower())
            if rule is not None:
                if rule is _VARY:
                    vary += [t.strip() for t in value.split(b",") if t.strip()]
                    continue
                if rule is _CACHE_CONTROL:
                    cache_control = (
                        value if cache_control is None else cache_control + b", " + value
                    )
                    continue
                if rule is _DROP or (rule is _LENGTH and drop_length):
                    continue
                if rule is _NO_STORE:
                    value = b"no-store"
                elif rule is _ETAG:
                    value = self._visitor_etag(value)
            result.append((name, value))
        if not vary:
            # What is added is the same for every page: joined once, by the runtime.
            if self.runtime.page_vary_value:
                result.append((b"vary", self.runtime.page_vary_value))
        else:
            tokens = {t.lower() for t in vary}
            if b"*" not in tokens:
                vary += [h for h in self.runtime.page_vary if h.lower() not in tokens]
            result.append((b"vary", b", ".join(vary)))
        if not shared:
            result.append((b"cache-control", _private(cache_control)))
        elif cache_control is not None:
            result.append((b"cache-control", cache_control))
        return result

    def _visitor_etag(self, value: bytes) -> bytes:
        tag = value.strip()
        weak = tag.startswith(b"W/")
        opaque = (tag[2:] if weak else tag).strip(b'"')
        kind = b"w" if weak else b"s"
        return b'W/"' + opaque + b"-c" + kind + self.state_tag() + b'"'

    def _current_path(self) -> str:
        # The path as the browser sees it: the mount point once, whatever the server's convention.
        path = self.info.root_path + self.info.route_path
        query = self.scope.get("query_string", b"")
        quoted = path if _SAFE_PATH.fullmatch(path) else quote(path, safe=_PATH_SAFE)
        return quoted + ("?" + query.decode("latin-1") if query else "")


def _held_marker(body: bytes, config: ConsentConfig) -> str:
    """Unpredictable for page content. Random per response (drawn with the CSRF nonce, see
    ``new_nonce_and_marker``); in shared-cache mode, where every visitor must get the same
    bytes, derived from the whole body (which includes any content that would try to guess it)
    and the secret key."""
    return keyed_hex(config.secret_keys[0], body, person=b"consent-held", size=12)


def _read_file(path: str | None, fd: int | None, offset: int | None, count: int | None) -> bytes:
    """A file a server would have sent itself (pathsend, zerocopysend), read into the body."""
    if path is not None:
        with open(path, "rb") as file:
            return file.read()
    assert fd is not None
    chunks: list[bytes] = []
    while count is None or count > 0:
        size = _FILE_CHUNK if count is None else min(count, _FILE_CHUNK)
        # Without an offset the file is read from, and advances, its current position.
        data = os.read(fd, size) if offset is None else os.pread(fd, size, offset)
        if not data:
            break
        chunks.append(data)
        if offset is not None:
            offset += len(data)
        if count is not None:
            count -= len(data)
    return b"".join(chunks)


def _local_link(link: bytes, host: str) -> bool:
    urls = re.findall(rb"<([^>]*)>", link)
    return bool(urls) and all(is_local_url(url.decode("latin-1"), host) for url in urls)


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
