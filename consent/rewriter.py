"""Streaming HTML rewriter: injects the banner's markup and holds back third-party elements.

The body goes through as bytes in any ASCII-compatible charset. One regular expression finds
the few tags that matter (scripts, embeds, images, links, raw-text elements, comments, and
``<head>``/``<body>`` while injection is due); all other bytes are passed on in slices without
being looked at from Python. Until the head injection is placed, every construct is looked at,
which is only the start of a document. The result does not
depend on how the body is cut into chunks: whatever a construct cut at a chunk's end needs is
held back until the next chunk completes it, and a scan never restarts from the beginning of
what it holds.

A ``<`` inside an attribute value of an element the rewriter does not consider is taken for
markup; templating engines escape it as ``&lt;``, so pages rarely carry one.
"""

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from consent import _scanner as sc
from consent.names import (
    ATTR_CATEGORY,
    ATTR_HELD,
    ATTR_HELD_PREFIX,
    ATTR_HELD_SRC,
    ATTR_HELD_TYPE,
    HELD_SCRIPT_TYPE,
)

__all__ = ["Classifier", "Element", "Hold", "HtmlRewriter", "rewrite"]


@dataclass(frozen=True, slots=True)
class Element:
    """What the classifier sees of an element.

    ``attrs`` has lower-case names, the first of duplicates, and values with character
    references decoded (``None`` for an attribute without a value). ``text`` is the content of
    an inline ``<script>`` (up to the rewriter's limit), else ``None``. Text is latin-1 decoded.
    """

    tag: str
    attrs: Mapping[str, str | None]
    text: str | None = None
    # The start tag exactly as written: the same bytes always classify the same way, which
    # lets a classifier remember its answers across pages (news pages repeat their tags).
    raw: bytes = b""


@dataclass(frozen=True, slots=True)
class Hold:
    """The classifier's verdict that an element must wait for consent to ``category``."""

    category: str
    vendor: str | None = None
    placeholder: bytes = b""  # emitted just before the held element


Classifier = Callable[[Element], Hold | None]

_DATA, _TAG, _SCRIPT, _RAW, _COMMENT, _BOGUS, _PLAIN = range(7)
_PRE, _HEAD, _BODY, _MAIN = range(4)  # before the first markup, then until each injection

_DOCUMENT_START = frozenset({"html", "head", "body", "meta", "title", "link"})
_HEAD_ONLY = frozenset({"html", "meta", "title", "link", "base", "style"})
_FETCHING = frozenset({"src", "srcset", "srcdoc", "poster", "href", "background", "imagesrcset"})
_OBJECT_FETCHING = _FETCHING | {"data"}
_SCRIPT_FETCHING = frozenset({"src"})
# Elements with no content of interest, classified without leaving the scanning loop.
_PLAIN_NAMES = {
    n.encode(): n for n in ("img", "source", "link", "video", "audio", "embed", "object", "track")
}
_BOM = b"\xef\xbb\xbf"
_SMALL = 16384  # held-back bytes below this are copied into each new chunk
_DOCTYPE = b"<!doctype"
_SCRIPT_END = sc.end_tag("script")
_LT, _GT, _BANG, _QUESTION, _SLASH, _DASH = b"<>!?/-"
_LETTERS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LONGEST = max(len(n) for n in sc.RAW_TEXT | sc.CONSIDERED | {"plaintext", "/template"}) + 1
_PREFIXES = frozenset(
    b"<" + n.encode()[:i]
    for n in sc.RAW_TEXT | sc.CONSIDERED | {"plaintext", "body", "template", "/template"}
    for i in range(len(n) + 1)
)


def _held_name(attr: str) -> bytes:
    if attr == "src":
        return ATTR_HELD_SRC.encode()
    if attr == "type":
        return ATTR_HELD_TYPE.encode()
    return (ATTR_HELD_PREFIX + attr).encode()


def _attr_text(value: str) -> bytes:
    return html.escape(value).encode("ascii", "xmlcharrefreplace")


def _hold_nothing(element: Element) -> Hold | None:
    return None


class _ClassifierFailed(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class HtmlRewriter:
    """Rewrites one HTML body, chunk by chunk.

    ``feed`` returns the bytes that are ready (possibly ``b""``), ``close`` the rest. The
    rewriter itself never raises; should its own logic fail, it passes the remaining bytes
    through unchanged. An exception raised by ``classify`` propagates to the caller.
    """

    def __init__(
        self,
        classify: Classifier | None,
        *,
        head_injection: bytes = b"",
        body_injection: bytes = b"",
        max_inline_script: int = 262144,
    ) -> None:
        # None: nothing can be held (the visitor granted everything), so once the banner is
        # in place the rest of the body passes through without being scanned at all.
        self._passthrough_after_body = classify is None
        self._classifier: Classifier = classify if classify is not None else _hold_nothing
        self._head = head_injection
        self._body = body_injection
        self._cap = max(0, max_inline_script)
        self.held_count = 0
        self._document: bool | None = None
        self._phase = _PRE
        self._templates = 0
        self._at_start = True
        self._failed = False
        self._closed = False
        # Unprocessed bytes, and where in them each waiting construct resumes.
        self._pending = bytearray()
        self._mode = _DATA
        self._pos = 0
        self._tag_state = sc.BEFORE_NAME
        self._raw_end = _SCRIPT_END
        self._raw_keep = 0
        self._script_text = 0  # offset of an undecided inline script's text (its tag is at 0)
        # Per call of _run.
        self._out: list[bytes | bytearray] = []
        self._emit = 0
        self._keep = 0

    @property
    def is_document(self) -> bool | None:
        """Whether the body is a whole document (``None`` until its first markup is seen)."""
        return self._document

    @property
    def failed(self) -> bool:
        """True once the rewriter gave up on its own error and passes bytes through."""
        return self._failed

    def feed(self, chunk: bytes) -> bytes:
        if self._failed or self._closed:
            return bytes(chunk)
        if not chunk:
            return b""
        if (
            self._passthrough_after_body
            and self._phase == _MAIN
            and self._mode == _DATA
            and not self._pending
        ):
            return bytes(chunk)
        pending = self._pending
        if pending:
            if len(pending) < _SMALL:
                # Immutable bytes keep the fast paths (no copies for attributes or output).
                buf: bytes | bytearray = b"".join((pending, chunk))
                self._pending = bytearray()
            else:
                # A large construct held back grows in place: amortized linear, not quadratic.
                pending += chunk
                buf = pending
        else:
            buf = chunk if type(chunk) is bytes else bytes(chunk)
        try:
            return self._run(buf, False)
        except Exception as exc:
            return self._fail(buf, exc)

    def close(self) -> bytes:
        if self._failed or self._closed:
            return b""
        out = self._guarded(self._pending, final=True) if self._pending else b""
        self._closed = True
        self._pending = bytearray()
        if self._document and not self._failed:
            if self._phase == _HEAD:
                out += self._head
            if self._phase in (_HEAD, _BODY):
                out += self._body
            self._phase = _MAIN
        return out

    def _guarded(self, buf: bytes | bytearray, final: bool) -> bytes:
        try:
            return self._run(buf, final)
        except Exception as exc:
            return self._fail(buf, exc)

    def _fail(self, buf: bytes | bytearray, exc: Exception) -> bytes:
        self._failed = True
        self._pending = bytearray()
        if isinstance(exc, _ClassifierFailed):
            raise exc.error from None
        # Nothing of buf has been sent yet: send it as it is, and the rest untouched.
        return bytes(buf)

    # The scanning loop. Every handler returns the position to continue from, or -1 after
    # setting _keep (where the bytes to hold start) and _pos (where to resume in them).

    def _run(self, buf: bytes | bytearray, final: bool) -> bytes:
        out: list[bytes | bytearray] = []
        self._out = out
        self._emit = 0
        n = len(buf)
        pos = self._pos
        while pos < n or (final and self._mode == _SCRIPT):
            mode = self._mode
            if mode == _DATA:
                if self._phase == _MAIN and self._passthrough_after_body:
                    pos = n
                elif self._phase >= _BODY:
                    pos = self._scan(buf, pos, final)
                else:
                    pos = self._scan_head(buf, pos, final)
            elif mode == _RAW:
                pos = self._raw(buf, pos, final)
            elif mode == _SCRIPT:
                pos = self._script(buf, pos, final)
            elif mode == _TAG:
                pos = self._resume_tag(buf, pos, final)
            elif mode == _COMMENT:
                pos = self._comment(buf, pos, final)
            elif mode == _BOGUS:
                pos = self._bogus(buf, pos, final)
            else:
                pos = n
            if pos < 0:
                break
        emit = self._emit
        if pos >= 0:
            self._pos = 0
            if buf is self._pending:
                self._pending = bytearray()
            if not out:
                # Nothing changed in this chunk: hand it on as it is, without a copy.
                return buf if emit == 0 and type(buf) is bytes else bytes(buf[emit:])
            if n > emit:
                out.append(buf[emit:])
            return b"".join(out)
        keep = self._keep
        if keep > emit:
            out.append(buf[emit:keep])
        self._pos -= keep
        self._script_text -= keep
        if buf is self._pending:
            del self._pending[:keep]
        else:
            self._pending = bytearray(buf[keep:])
        return b"".join(out)

    def _wait(self, keep: int, resume: int) -> int:
        self._keep = keep
        self._pos = resume
        return -1

    def _put(self, buf: bytes | bytearray, at: int, data: bytes) -> None:
        """Emits the input up to ``at``, then ``data``."""
        if at > self._emit:
            self._out.append(buf[self._emit : at])
            self._emit = at
        if data:
            self._out.append(data)

    def _scan(self, buf: bytes | bytearray, pos: int, final: bool) -> int:
        """Markup once the head is done: only the searched constructs are looked at."""
        n = len(buf)
        phase = self._phase
        search = (sc.SEARCH_MAIN if phase == _MAIN else sc.SEARCH_BODY).search
        attrs_end = sc.ATTRS.match
        classify = self._classifier
        while True:
            m = search(buf, pos)
            if m is None:
                last = buf.rfind(b"<", max(pos, n - _LONGEST))
                if last >= 0 and not final and bytes(buf[last:]).lower() in _PREFIXES:
                    return self._wait(last, last)
                return n
            p = m.start()
            name_bytes = m.group(1)
            name = _PLAIN_NAMES.get(name_bytes)
            if name is None and name_bytes is not None:
                name_bytes = name_bytes.lower()
                name = _PLAIN_NAMES.get(name_bytes)
            if name is not None:
                # The common case inlined: an image, source, link, ... complete in this chunk.
                name_end = m.end() - 1
                tail = attrs_end(buf, name_end)
                end = tail.end() if tail else name_end
                if end < n and buf[end] == _GT:
                    end += 1
                    raw = bytes(buf[p:end])
                    attrs = sc.LazyAttrs(raw, name_end - p, end - p - 1)
                    try:
                        hold = classify(Element(name, attrs, None, raw))
                    except Exception as exc:
                        raise _ClassifierFailed(exc) from exc
                    if hold is not None:
                        self._hold(buf, p, end, raw, name_end - p, name, hold)
                    pos = end
                    continue
            if name_bytes is None:
                pos = self._declaration(buf, p, final)
            else:
                pos = self._tag(buf, p, p + 1 + len(name_bytes), final, name_bytes.decode())
                if self._mode == _RAW and pos >= 0:
                    # Mostly a short external script or a style sheet: find its end right here.
                    pos = self._raw(buf, pos, final)
            if pos < 0 or self._mode != _DATA or self._phase != phase:
                return pos

    def _scan_head(self, buf: bytes | bytearray, pos: int, final: bool) -> int:
        """Markup before the head injection: every construct is looked at."""
        n = len(buf)
        if self._at_start:
            if n - pos < len(_BOM) and _BOM.startswith(bytes(buf[pos:])) and not final:
                return self._wait(pos, pos)
            self._at_start = False
            if buf.startswith(_BOM, pos):
                pos += len(_BOM)
        while self._mode == _DATA and self._phase < _BODY:
            pos = sc.skip(sc.SPACES, buf, pos)
            if pos >= n:
                return n
            if buf[pos] == _LT:
                if pos + 1 >= n:
                    if not final:
                        return self._wait(pos, pos)
                    self._content(buf, pos)
                    return pos
                c = buf[pos + 1]
                if c in (_BANG, _QUESTION):
                    pos = self._declaration(buf, pos, final)
                elif c in _LETTERS:
                    pos = self._tag(buf, pos, sc.skip(sc.TAG_NAME, buf, pos), final, None)
                elif c == _SLASH:
                    if pos + 2 >= n and not final:
                        return self._wait(pos, pos)
                    if pos + 2 < n and buf[pos + 2] in _LETTERS:
                        pos = self._tag(buf, pos, sc.skip(sc.TAG_NAME, buf, pos), final, None)
                    elif pos + 2 < n:
                        pos = self._bogus(buf, pos + 2, final)
                    else:
                        self._content(buf, pos)
                        return pos
                else:
                    self._content(buf, pos)
                    return pos
                if pos < 0:
                    return pos
            else:
                self._content(buf, pos)
                return pos
        return pos

    def _content(self, buf: bytes | bytearray, at: int) -> None:
        """Body content before any injection: a fragment, or where the head injection goes."""
        if self._phase == _PRE:
            self._document = False
            self._phase = _MAIN
        elif self._phase == _HEAD:
            self._put(buf, at, self._head)
            self._phase = _BODY

    def _declaration(self, buf: bytes | bytearray, p: int, final: bool) -> int:
        """``<!`` or ``<?``: a comment, a doctype, or a bogus comment."""
        n = len(buf)
        if buf[p + 1] == _QUESTION:
            return self._bogus(buf, p + 2, final)
        if buf.startswith(b"<!--", p):
            if n - p >= 5 and buf[p + 4] == _GT:
                return p + 5
            if n - p >= 6 and buf[p + 4] == _DASH and buf[p + 5] == _GT:
                return p + 6
            if n - p < 6 and not final:
                return self._wait(p, p)
            return self._comment(buf, p + 4, final)
        if n - p < 4 and not final and b"<!--".startswith(bytes(buf[p:])):
            return self._wait(p, p)
        if self._phase == _PRE:
            head = bytes(buf[p : p + len(_DOCTYPE)]).lower()
            if len(head) < len(_DOCTYPE) and not final and _DOCTYPE.startswith(head):
                return self._wait(p, p)
            if head == _DOCTYPE:
                self._document = True
                self._phase = _HEAD
        return self._bogus(buf, p + 2, final)

    def _comment(self, buf: bytes | bytearray, pos: int, final: bool) -> int:
        m = sc.COMMENT_END.search(buf, pos)
        if m is not None:
            self._mode = _DATA
            return m.end()
        if final:
            return len(buf)
        self._mode = _COMMENT
        resume = max(pos, len(buf) - 3)
        return self._wait(resume, resume)

    def _bogus(self, buf: bytes | bytearray, pos: int, final: bool) -> int:
        end = buf.find(b">", pos)
        if end >= 0:
            self._mode = _DATA
            return end + 1
        if final:
            return len(buf)
        self._mode = _BOGUS
        return self._wait(len(buf), len(buf))

    def _tag(
        self, buf: bytes | bytearray, p: int, name_end: int, final: bool, name: str | None
    ) -> int:
        """A tag at ``p`` whose name ends at ``name_end``."""
        n = len(buf)
        end = sc.skip(sc.ATTRS, buf, name_end)
        if end < n and buf[end] == _GT:
            return self._tag_done(buf, p, end + 1, name_end, name, final)
        if final:
            return n  # cut off by the end of the body: browsers drop it, we pass it on
        state = sc.IN_TAG_NAME if name_end >= n else sc.BEFORE_NAME
        state, pos = sc.step_tag(buf, state, name_end)
        if state == sc.DONE:
            return self._tag_done(buf, p, pos, name_end, name, final)
        self._mode = _TAG
        self._tag_state = state
        return self._wait(p, pos)

    def _resume_tag(self, buf: bytes | bytearray, pos: int, final: bool) -> int:
        # The unfinished tag starts at 0.
        state, pos = sc.step_tag(buf, self._tag_state, pos)
        if state != sc.DONE:
            if final:
                self._mode = _DATA
                return len(buf)
            self._tag_state = state
            return self._wait(0, pos)
        self._mode = _DATA
        return self._tag_done(buf, 0, pos, sc.skip(sc.TAG_NAME, buf, 0), None, final)

    def _tag_done(
        self,
        buf: bytes | bytearray,
        p: int,
        end: int,
        name_end: int,
        name: str | None,
        final: bool,
    ) -> int:
        """A complete tag ``buf[p:end]``: injection points, then the element itself."""
        closing = buf[p + 1] == _SLASH
        if name is None:
            name = bytes(buf[p + 1 + closing : name_end]).lower().decode("latin-1")
        elif closing:
            name = name[1:]
        phase = self._phase
        if phase == _PRE:
            self._document = not closing and name in _DOCUMENT_START
            phase = self._phase = _HEAD if self._document else _MAIN
        if phase == _HEAD:
            if not closing and name == "head":
                self._put(buf, end, self._head)
                self._phase = _BODY
                return end
            if name not in _HEAD_ONLY or (closing and name == "html"):
                self._put(buf, p, self._head)
                phase = self._phase = _BODY
        if phase == _BODY:
            if name == "body" and not closing and not self._templates:
                self._put(buf, end, self._body)
                self._phase = _MAIN
                return end
            if name == "template":
                self._templates = max(0, self._templates + (-1 if closing else 1))
        if closing:
            return end
        if name in sc.CONSIDERED:
            return self._consider(buf, p, end, name_end, name, final)
        if name in sc.RAW_TEXT:
            self._mode = _RAW
            self._raw_end = sc.end_tag(name)
            self._raw_keep = len(name) + 2
        elif name == "plaintext":
            self._mode = _PLAIN
        return end

    def _consider(
        self, buf: bytes | bytearray, p: int, end: int, name_end: int, name: str, final: bool
    ) -> int:
        tag = bytes(buf[p:end])
        attrs = sc.LazyAttrs(tag, name_end - p, end - p - 1)
        if name == "script":
            self._mode = _RAW
            self._raw_end = _SCRIPT_END
            self._raw_keep = 8
            if "src" not in attrs:
                self._mode = _SCRIPT
                self._script_text = end
                return self._script(buf, end, final, p)
        elif name == "input" and (attrs.get("type") or "").lower() != "image":
            return end
        elif name == "iframe":
            self._mode = _RAW
            self._raw_end = sc.end_tag("iframe")
            self._raw_keep = 8
        hold = self._classify(Element(name, attrs, None, tag))
        if hold is not None:
            self._hold(buf, p, end, tag, name_end - p, name, hold)
        return end

    def _script(self, buf: bytes | bytearray, pos: int, final: bool, start: int = 0) -> int:
        """An inline script waiting to be classified: its tag at ``start``, its text after."""
        n = len(buf)
        text = self._script_text
        limit = text + self._cap
        m = _SCRIPT_END.search(buf, pos)
        if m is not None:
            stop = min(m.start(), limit)
        elif limit + 9 <= n or final:
            stop = min(n, limit)
        else:
            return self._wait(start, max(pos, n - 8))
        tag = bytes(buf[start:text])
        name_end = start + len("<script")
        attrs = sc.LazyAttrs(tag, name_end - start, text - start - 1)
        hold = self._classify(
            Element("script", attrs, bytes(buf[text:stop]).decode("latin-1"), tag)
        )
        if hold is not None:
            self._hold(buf, start, text, tag, name_end - start, "script", hold)
        self._mode = _RAW
        if m is not None:
            self._mode = _DATA
            return m.start()
        return self._raw(buf, stop, final)

    def _raw(self, buf: bytes | bytearray, pos: int, final: bool) -> int:
        m = self._raw_end.search(buf, pos)
        if m is not None:
            self._mode = _DATA
            return m.start()
        n = len(buf)
        if final:
            return n
        resume = max(pos, n - self._raw_keep)
        return self._wait(resume, resume)

    def _classify(self, element: Element) -> Hold | None:
        try:
            return self._classifier(element)
        except Exception as exc:
            raise _ClassifierFailed(exc) from exc

    def _hold(
        self,
        buf: bytes | bytearray,
        p: int,
        end: int,
        tag: bytes,
        name_end: int,
        name: str,
        hold: Hold,
    ) -> None:
        """Replaces the start tag ``buf[p:end]`` with its held-back form."""
        self._put(buf, p, hold.placeholder)
        self._out.append(_held_tag(tag, name_end, name, hold))
        self._emit = end
        self.held_count += 1


def _held_tag(tag: bytes, name_end: int, name: str, hold: Hold) -> bytes:
    """``tag`` with its fetching attributes moved aside and the held-back markers added.

    Attributes other than those are kept byte for byte. Later duplicates are dropped: browsers
    ignore them anyway, and a second ``src`` must not become the one that loads.
    """
    script = name == "script"
    fetching = _SCRIPT_FETCHING if script else _OBJECT_FETCHING if name == "object" else _FETCHING
    found = [
        (m.group(1).lower().decode("latin-1"), m)
        for m in sc.ATTR.finditer(tag, name_end, len(tag) - 1)
    ]
    present = {attr for attr, _ in found}
    moved = present & fetching
    dropped = {ATTR_CATEGORY, ATTR_HELD, *(_held_name(a).decode() for a in moved)}
    if script and "type" in present:
        dropped.add(ATTR_HELD_TYPE)
    parts = [tag[:name_end]]
    extra = []
    cursor = name_end
    seen: set[str] = set()
    for attr, m in found:
        start, stop = m.span()
        parts.append(tag[cursor:start])
        cursor = stop
        if attr in seen:
            continue
        seen.add(attr)
        raw = m.group(2)
        if attr in moved:
            parts.append(_held_name(attr) + (b"" if raw is None else b"=" + sc.quote_value(raw)))
        elif script and attr == "type":
            parts.append(b'type="' + HELD_SCRIPT_TYPE.encode() + b'"')
            original = b"" if raw is None else b"=" + sc.quote_value(raw)
            extra.append(b" " + ATTR_HELD_TYPE.encode() + original)
        elif attr not in dropped:
            parts.append(tag[start:stop])
    if script and "type" not in present:
        extra.insert(0, b' type="' + HELD_SCRIPT_TYPE.encode() + b'"')
    extra.append(b" " + ATTR_CATEGORY.encode() + b'="' + _attr_text(hold.category) + b'"')
    extra.append(b" " + ATTR_HELD.encode())
    parts.extend(extra)
    parts.append(tag[cursor:])
    return b"".join(parts)


def rewrite(
    html_bytes: bytes,
    classify: Classifier,
    *,
    head_injection: bytes = b"",
    body_injection: bytes = b"",
    max_inline_script: int = 262144,
) -> bytes:
    """Rewrites a whole body at once."""
    rewriter = HtmlRewriter(
        classify,
        head_injection=head_injection,
        body_injection=body_injection,
        max_inline_script=max_inline_script,
    )
    return rewriter.feed(html_bytes) + rewriter.close()
