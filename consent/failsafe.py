"""The conservative pass that finishes a page when the normal rewriting fails.

It knows nothing of the catalogue: every element that would make the browser fetch from
another host, and every inline script, is held back. It reads tags as the HTML tokenizer
does, but where it is unsure it reads more as markup than a browser would, so an error costs
a held first-party element, never a live third-party one. No construct is held in memory
beyond a bound: past it the attribute is treated as pointing elsewhere.

Bytes go through in any ASCII-compatible charset; the pass never raises on any input.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from consent.names import (
    ATTR_CATEGORY,
    ATTR_HELD,
    ATTR_HELD_PREFIX,
    ATTR_HELD_SRC,
    ATTR_HELD_TYPE,
    HELD_SCRIPT_TYPE,
)
from consent.rewriter import LINK_RELS_WITHOUT_FETCH, Classifier, Element, Hold

__all__ = ["FailsafeRewriter", "fallback_csp", "hold_everything_foreign", "is_local_url"]

_WS = b"\t\n\f\r "
_TAG_NAME = re.compile(rb"[a-zA-Z][^\t\n\f\r />]*")
_SEPARATOR = re.compile(rb"[\t\n\f\r /]*")
_ATTR_NAME = re.compile(rb"[^\t\n\f\r />][^\t\n\f\r />=]*")
_EQUALS = re.compile(rb"[\t\n\f\r ]*=[\t\n\f\r ]*")
_UNQUOTED = re.compile(rb"[^\t\n\f\r >]*")
_UNQUOTED_END = re.compile(rb"[\t\n\f\r >]")
_NAME_END = re.compile(rb"[\t\n\f\r />=]")
_SCRIPT_END = re.compile(rb"</script[\t\n\f\r />]", re.IGNORECASE)
_COMMENT_END = re.compile(rb"--!?>")
_CSS_URL = re.compile(r"url\(\s*[\"']?([^\"')\s]*)", re.IGNORECASE)
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_STRIPPED = "".join(map(chr, range(0x21)))

# Attributes that fetch or run something wherever they appear; href except on links to follow.
_FETCHING = frozenset(
    {
        "src",
        "srcset",
        "imagesrcset",
        "lowsrc",
        "poster",
        "background",
        "data",
        "codebase",
        "archive",
        "manifest",
        "href",
        "xlink:href",
    }
)
_NAVIGATION = frozenset({"a", "area"})
# Elements whose document or code a data: URL would run with the page's reach.
_ACTIVE = frozenset({"script", "iframe", "frame", "object", "embed", "portal"})
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})
# Script types a browser runs or acts on; anything else is data it leaves alone.
_SCRIPT_RUN_TYPES = frozenset({"", "module", "importmap", "speculationrules"})
_DATA, _SCRIPT, _COMMENT, _BOGUS, _TAG = range(5)
_LIMIT = 65536


def _host_of(authority: str) -> str:
    authority = re.split(r"[/?#]", authority, maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host.partition("]")[0].lower() + "]"
    return host.partition(":")[0].rstrip(".").lower()


def is_local_url(value: str, host: str, *, tag: str = "") -> bool:
    """Whether ``value`` (character references decoded) provably stays on ``host``.

    Browsers strip control characters and spaces around a URL, drop tabs and newlines inside
    it and read backslashes as slashes in web URLs: the same is done here before reading the
    host. Any spelling this cannot read counts as another host.
    """
    url = value.strip(_STRIPPED)
    url = url.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")
    if not url:
        return True
    scheme = _SCHEME.match(url)
    if scheme is not None:
        name = scheme.group(1).lower()
        if name == "data":
            return tag not in _ACTIVE
        if name not in _SPECIAL_SCHEMES:
            return False
        return bool(host) and _host_of(url[scheme.end() :].lstrip("/")) == _host_of(host)
    if url.startswith("//"):
        return bool(host) and _host_of(url.lstrip("/")) == _host_of(host)
    return True


def _srcset_local(value: str, host: str) -> bool:
    return all(
        is_local_url(candidate.strip().split(" ")[0], host)
        for candidate in value.split(",")
        if candidate.strip()
    )


def _style_local(value: str, host: str) -> bool:
    return all(is_local_url(url, host) for url in _CSS_URL.findall(value))


def _script_runs(attrs: Mapping[str, str | None]) -> bool:
    kind = (attrs.get("type") or "").strip().lower()
    return kind in _SCRIPT_RUN_TYPES or "javascript" in kind or "ecmascript" in kind


def _foreign_attribute(tag: str, name: str, value: str | None, rel: str | None, host: str) -> bool:
    """Whether one attribute would make the browser fetch from, or run, something else."""
    if name == "srcdoc":
        return True
    if name == "style":
        return value is not None and not _style_local(value, host)
    if name not in _FETCHING or value is None:
        return False
    if name in ("href", "xlink:href"):
        if tag in _NAVIGATION:
            return False
        if tag == "link" and rel is not None:
            tokens = set(rel.lower().split())
            if tokens and tokens <= LINK_RELS_WITHOUT_FETCH:
                return False
    if name in ("srcset", "imagesrcset"):
        return not _srcset_local(value, host)
    return not is_local_url(value, host, tag=tag)


def hold_everything_foreign(host: str, category: str) -> Classifier:
    """A classifier for the normal rewriter once the real one has failed: the same rules."""

    def classify(element: Element) -> Hold | None:
        attrs = element.attrs
        if element.tag == "script" and _script_runs(attrs):
            src = attrs.get("src")
            if src is None or not is_local_url(src, host, tag="script"):
                return Hold(category=category)
            return None
        rel = attrs.get("rel")
        for name, value in attrs.items():
            if _foreign_attribute(element.tag, name, value, rel, host):
                return Hold(category=category)
        return None

    return classify


def fallback_csp(nonce: str | None) -> str:
    """A policy under which no third-party script, frame, image or beacon loads.

    Styles and fonts are left to the page's own policy: they keep failure pages readable.
    """
    scripts = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    return (
        f"script-src {scripts}; frame-src 'self'; child-src 'self'; object-src 'none'; "
        "img-src 'self' data: blob:; media-src 'self' data: blob:; connect-src 'self'"
    )


class FailsafeRewriter:
    """Streams a page through, holding back everything that points to another host."""

    def __init__(self, host: str, category: str, *, limit: int = _LIMIT) -> None:
        self._host = host
        self._category = category
        self._limit = max(limit, 64)
        self._pending = b""
        self._mode = _DATA
        self._foreign = False  # inside <svg> or <math>, where <script> holds markup
        # A tag cut at the bound and sent in pieces: its name, and the value or name it is in.
        self._tag = ""
        self._until = b""
        self.held_count = 0

    def feed(self, chunk: bytes) -> bytes:
        buf = self._pending + chunk
        self._pending = b""
        return self._run(buf, final=False)

    def close(self) -> bytes:
        buf = self._pending
        self._pending = b""
        return self._run(buf, final=True) if buf else b""

    def _run(self, buf: bytes, final: bool) -> bytes:
        out: list[bytes] = []
        pos = 0
        n = len(buf)
        while pos < n:
            mode = self._mode
            if mode == _TAG:
                pos = self._continue_tag(buf, pos, out)
                if pos < n:
                    piece_end, piece = self._attributes(buf, pos, pos, final, unsure=True)
                    if piece is None:
                        self._pending = buf[pos:]
                        return b"".join(out)
                    out.append(piece)
                    pos = piece_end
                continue
            if mode == _SCRIPT:
                m = _SCRIPT_END.search(buf, pos)
                end = m.start() if m else -1
                tail = 9  # len("</script") + 1: a cut end tag waits for the next chunk
            elif mode == _COMMENT:
                m = _COMMENT_END.search(buf, pos)
                end = m.end() if m else -1
                tail = 3
            elif mode == _BOGUS:
                end = buf.find(b">", pos)
                end = end + 1 if end >= 0 else -1
                tail = 0
            else:
                lt = buf.find(b"<", pos)
                if lt < 0:
                    out.append(buf[pos:])
                    break
                out.append(buf[pos:lt])
                pos, piece = self._markup(buf, lt, final)
                if piece is None:
                    self._pending = buf[lt:]
                    break
                out.append(piece)
                continue
            if end < 0:
                keep = n if final else max(pos, n - tail)
                out.append(buf[pos:keep])
                self._pending = buf[keep:]
                break
            out.append(buf[pos:end])
            pos = end
            self._mode = _DATA
        return b"".join(out)

    def _continue_tag(self, buf: bytes, pos: int, out: list[bytes]) -> int:
        """Sends on the value or name a cut tag was in; returns where its attributes resume."""
        until = self._until
        if until in (b'"', b"'"):
            end = buf.find(until, pos)
            end = end + 1 if end >= 0 else -1
        else:
            m = (_UNQUOTED_END if until == b" " else _NAME_END).search(buf, pos)
            end = m.start() if m else -1
        if end < 0:
            out.append(buf[pos:])
            return len(buf)
        out.append(buf[pos:end])
        self._until = b""
        return end

    def _markup(self, buf: bytes, lt: int, final: bool) -> tuple[int, bytes | None]:
        """What starts at ``buf[lt] == '<'``: where it ends and its output, or None to wait."""
        ahead = buf[lt + 1 : lt + 6]
        if not final and (
            not ahead
            or (ahead[:1] == b"!" and len(ahead) < 5 and b"!--->".startswith(ahead))
            or ahead == b"/"
        ):
            return lt, None
        first = ahead[:1]
        if first == b"!":
            if ahead.startswith(b"!--"):
                # <!--> and <!---> end at once, as in browsers.
                for abrupt in (b"<!-->", b"<!--->"):
                    if buf.startswith(abrupt, lt):
                        return lt + len(abrupt), abrupt
                self._mode = _COMMENT
                return lt + 4, b"<!--"
            self._mode = _BOGUS
            return lt + 1, b"<"
        if first == b"?":
            self._mode = _BOGUS
            return lt + 1, b"<"
        if first == b"/":
            if ahead.startswith(b"/>"):
                return lt + 3, b"</>"
            if ahead[1:2].isalpha():
                return self._start(buf, lt, lt + 2, final, end_tag=True)
            self._mode = _BOGUS
            return lt + 1, b"<"
        if first.isalpha():
            return self._start(buf, lt, lt + 1, final, end_tag=False)
        return lt + 1, b"<"

    def _start(
        self, buf: bytes, lt: int, name_at: int, final: bool, *, end_tag: bool
    ) -> tuple[int, bytes | None]:
        name = _TAG_NAME.match(buf, name_at)
        assert name is not None
        if name.end() >= len(buf) and not final:
            return lt, None
        self._tag = ("/" if end_tag else "") + name.group().lower().decode("latin-1")
        return self._attributes(buf, lt, name.end(), final, unsure=False)

    def _attributes(
        self, buf: bytes, lt: int, pos: int, final: bool, *, unsure: bool
    ) -> tuple[int, bytes | None]:
        """Reads attributes from ``pos`` to the tag's end; ``buf[lt:pos]`` is what precedes."""
        n = len(buf)
        name_end = pos
        attrs: list[tuple[str, int, int, str | None]] = []  # name, its span, decoded value
        cut = b""  # where a tag cut at the buffer's end stopped: a quote, " " or "n"
        cut_at = n
        closed = self_closing = False
        while True:
            separator = pos
            pos = _SEPARATOR.match(buf, pos).end()  # type: ignore[union-attr]
            if pos >= n:
                cut_at = n
                break
            if buf[pos] == 0x3E:  # '>'
                # A '/' right before it closes the element, unless it ends an unquoted value.
                self_closing = pos > separator and buf[pos - 1] == 0x2F
                pos += 1
                closed = True
                break
            attr = _ATTR_NAME.match(buf, pos)
            assert attr is not None
            start, pos = attr.span()
            name = attr.group().lower().decode("latin-1")
            if pos >= n:
                cut_at = start
                if n - start > 64:  # longer than any fetching attribute's name: send it on
                    cut, cut_at = b"n", n
                break
            value: str | None = None
            eq = _EQUALS.match(buf, pos)
            if eq is not None:
                at = eq.end()
                if at >= n:
                    cut_at = start
                    break
                quote = buf[at : at + 1]
                if quote in (b'"', b"'"):
                    close = buf.find(quote, at + 1)
                    if close < 0:
                        attrs.append((name, start, attr.end(), None))
                        cut = quote
                        break
                    raw = buf[at + 1 : close]
                    pos = close + 1
                else:
                    unquoted = _UNQUOTED.match(buf, at)
                    assert unquoted is not None
                    raw = unquoted.group()
                    pos = unquoted.end()
                    if pos >= n:
                        attrs.append((name, start, attr.end(), None))
                        cut = b" "
                        break
                value = html.unescape(raw.decode("latin-1"))
            attrs.append((name, start, attr.end(), value))
        tag = self._tag
        if closed:
            if tag in ("svg", "math") and not self_closing:
                self._foreign = True
            elif tag in ("/svg", "/math"):
                self._foreign = False
            self._mode = _SCRIPT if tag == "script" and not self._foreign else _DATA
            return pos, self._rewrite(buf[lt:pos], lt, name_end, attrs, unsure, first=not unsure)
        if final:
            # A tag cut by the end of the body is dropped by browsers: it cannot fetch.
            return n, buf[lt:n]
        if not unsure and n - lt <= self._limit:
            return lt, None
        # Past the bound: send what there is with every fetching attribute held, and read the
        # rest of the tag as it comes.
        self._mode = _TAG
        self._until = cut
        piece = self._rewrite(buf[lt:cut_at], lt, name_end, attrs, True, first=not unsure)
        if cut_at < n:
            self._pending = buf[cut_at:]
        return n, piece

    def _rewrite(
        self,
        raw: bytes,
        lt: int,
        name_end: int,
        attrs: list[tuple[str, int, int, str | None]],
        unsure: bool,
        *,
        first: bool,
    ) -> bytes:
        tag = self._tag
        if tag.startswith("/"):
            return raw  # browsers ignore an end tag's attributes
        values: dict[str, str | None] = {}
        for name, _, _, value in attrs:
            values.setdefault(name, value)
        rel = values.get("rel")
        moved = [
            (start, end)
            for name, start, end, value in attrs
            if name != "type"
            and (
                (unsure and (name in _FETCHING or name in ("srcdoc", "style")))
                or _foreign_attribute(tag, name, value, rel, self._host)
            )
        ]
        # SVG scripts run too; only their content is read differently (as markup).
        hold_script = tag == "script" and (unsure or _script_runs(values))
        if hold_script and not unsure:
            src = values.get("src")
            hold_script = src is None or not is_local_url(src, self._host, tag="script")
        if hold_script:
            moved += [(s, e) for name, s, e, _ in attrs if name in ("type", "src")]
        if not moved and not hold_script and not (unsure and first):
            return raw
        parts = [raw[: name_end - lt]]
        if first:
            self.held_count += 1
            markers = f' {ATTR_CATEGORY}="{html.escape(self._category)}" {ATTR_HELD}'
            if hold_script:
                # The first type attribute wins: this one, written before the page's own.
                markers = f' type="{HELD_SCRIPT_TYPE}"' + markers
            parts.append(markers.encode("ascii", "xmlcharrefreplace"))
        cursor = name_end - lt
        for start, end in sorted(set(moved)):
            parts.append(raw[cursor : start - lt])
            parts.append(_held_name(raw[start - lt : end - lt].lower().decode("latin-1")))
            cursor = end - lt
        parts.append(raw[cursor:])
        return b"".join(parts)


def _held_name(attr: str) -> bytes:
    if attr == "src":
        return ATTR_HELD_SRC.encode()
    if attr == "type":
        return ATTR_HELD_TYPE.encode()
    return (ATTR_HELD_PREFIX + attr).encode("latin-1")
