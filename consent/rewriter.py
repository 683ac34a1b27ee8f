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

Where the optional C extension ``consent._speedups`` is built, it runs the commonest stretch of
the scan in the body: finding the next construct that matters, passing by inert drawings, and
taking the tags and scripts whose answer the classifier remembers, writing the held form of
those it holds from the forms made here before. Everything else stays here, so the output is
the same without it. ``CONSENT_NO_SPEEDUPS=1``, read on import,
keeps to Python; ``SPEEDUPS`` says which runs.
"""

import html
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self, SupportsIndex, cast, overload

from consent import _scanner as sc
from consent.names import (
    ATTR_CATEGORY,
    ATTR_HELD,
    ATTR_HELD_PREFIX,
    ATTR_HELD_SRC,
    ATTR_HELD_TYPE,
    HELD_SCRIPT_TYPE,
)

# Link types that never make the browser fetch by themselves; any other (stylesheet, icon,
# preload, prefetch, modulepreload, manifest, preconnect, ...) may.
LINK_RELS_WITHOUT_FETCH = frozenset(
    {
        "alternate",
        "author",
        "bookmark",
        "canonical",
        "external",
        "help",
        "license",
        "me",
        "next",
        "nofollow",
        "noopener",
        "noreferrer",
        "opener",
        "prev",
        "privacy-policy",
        "search",
        "shortlink",
        "tag",
        "terms-of-service",
    }
)


__all__ = [
    "SPEEDUPS",
    "Answers",
    "Classifier",
    "Element",
    "Hold",
    "HtmlRewriter",
    "Known",
    "Remembering",
    "rewrite",
]


@dataclass(frozen=True, slots=True)
class Element:
    """What the classifier sees of an element.

    ``attrs`` has lower-case names, the first of duplicates, and values with character
    references decoded (``None`` for an attribute without a value). ``text`` is the content of
    an inline ``<script>`` (up to the rewriter's limit, ``complete`` tells whether it is all of
    it), else ``None``. Text is latin-1 decoded. ``base`` is the ``href`` of the page's
    ``<base>`` when one came before the element: relative URLs resolve against it.
    """

    tag: str
    attrs: Mapping[str, str | None]
    text: str | None = None
    # The start tag exactly as written: the same bytes always classify the same way, which
    # lets a classifier remember its answers across pages (news pages repeat their tags).
    raw: bytes = b""
    base: str | None = None
    complete: bool = True


# Element's fields in order (a test holds them to the dataclass's) and their slots, filled
# directly: the frozen dataclass's own __init__ sets each through object.__setattr__, at twice
# the cost, for every element the rewriter reads.
_ELEMENT_FIELDS = ("tag", "attrs", "text", "raw", "base", "complete")
_NEW_ELEMENT = object.__new__
_ELEMENT_SLOTS = tuple(getattr(Element, name).__set__ for name in _ELEMENT_FIELDS)


def _element(
    tag: str,
    attrs: Mapping[str, str | None],
    text: str | None,
    raw: bytes,
    base: str | None,
    complete: bool = True,
) -> Element:
    """``Element(tag, attrs, text, raw, base, complete)``, the same object made faster."""
    element = _NEW_ELEMENT(Element)
    set_tag, set_attrs, set_text, set_raw, set_base, set_complete = _ELEMENT_SLOTS
    set_tag(element, tag)
    set_attrs(element, attrs)
    set_text(element, text)
    set_raw(element, raw)
    set_base(element, base)
    set_complete(element, complete)
    return element


@dataclass(frozen=True, slots=True)
class Hold:
    """The classifier's verdict that an element must wait for consent to ``category``."""

    category: str
    vendor: str | None = None
    placeholder: bytes = b""  # emitted just before the held element


Classifier = Callable[[Element], Hold | None]
# Answers by (start tag as written, inline text, base URL): see Remembering. A tag with a
# nonce is kept as the bytes before and after the nonce's value (a pair, which no tag's bytes
# equal); a long text by its digest, in a tuple, which no text (str) equals or is compared
# with as bytes would be.
_AnswerKey = tuple[bytes | tuple[bytes, bytes], str | tuple[bytes] | None, str | None]
Known = dict[_AnswerKey, Hold | None]
# Held forms by (start tag, name, category): see _HELD_TAGS.
HeldTags = dict[
    tuple[bytes | tuple[bytes, bytes], str, str], tuple[bytes, bytes] | tuple[bytes, bytes, bytes]
]
# What the compiled scan is given for a rewriter that can hold nothing: every answer is "none".
_HOLD_NOTHING: Literal[True] = True
_EPOCHS = itertools.count(1)


class Answers(dict[_AnswerKey, Hold | None]):
    """Known answers that the compiled scan may keep beside its own index of keys.

    Within one ``epoch`` an answer once given is never changed or taken back: an answer the
    scan kept with the epoch stands while the epoch lasts, and the scan need not look it up
    again. Everything that could take an answer back or change it starts a new epoch (epochs
    are never reused); adding an answer for a new key does not.
    """

    __slots__ = ("epoch",)

    def __init__(self) -> None:
        super().__init__()
        self.epoch = next(_EPOCHS)

    def _renew(self) -> None:
        self.epoch = next(_EPOCHS)

    # Each change is made first and the new epoch started after it: code that runs while it is
    # made (a mapping's keys() in update, another thread) may keep an answer with the epoch
    # current then, which must not stand once the change is in.
    def __setitem__(self, key: _AnswerKey, value: Hold | None) -> None:
        changed = key in self and self[key] is not value
        super().__setitem__(key, value)
        if changed:
            self._renew()

    def __delitem__(self, key: _AnswerKey) -> None:
        super().__delitem__(key)
        self._renew()

    def clear(self) -> None:
        super().clear()
        self._renew()

    def pop(self, *args: Any) -> Any:
        try:
            return super().pop(*args)
        finally:
            self._renew()

    def popitem(self) -> tuple[_AnswerKey, Hold | None]:
        try:
            return super().popitem()
        finally:
            self._renew()

    def update(self, *args: Any, **kwargs: Any) -> None:
        # dict.update would write past __setitem__.
        try:
            super().update(*args, **kwargs)
        finally:
            self._renew()

    # typeshed's dict.__or__ answers a plain dict, so mypy finds any subclass's in-place union
    # at odds with it; dict's own C code would write past __setitem__ here as in update.
    def __ior__(self, other: Any, /) -> Self:  # type: ignore[override,misc]
        try:
            return super().__ior__(other)
        finally:
            self._renew()

    # A copy (copy, deepcopy, pickle) is another dict: made by __init__, it has an epoch of its
    # own. The default reduction would carry this one's epoch over to it, and an answer kept
    # from the copy would then stand for this dict.
    def __reduce_ex__(self, protocol: SupportsIndex, /) -> tuple[Any, ...]:
        return (type(self), (), None, None, iter(self.items()))


class Remembering(Protocol):
    """A classifier that shows the answers it remembers.

    For an element whose key ``(raw, text, base)`` is in ``known`` (``text`` is ``None`` for
    one classified on its start tag alone, and a complete inline script's text otherwise),
    calling the classifier would return that answer and nothing else: the compiled scan takes
    such elements without the call. ``known`` is ``None`` while no such promise holds. ``raw``
    is the start tag's bytes, or for a tag with a nonce the pair ``_scanner.tag_key`` makes;
    the hold-back policy also keeps a script over 16 KiB by ``(digest,)`` in place of its
    text, which the compiled scan never looks up.
    """

    @property
    def known(self) -> Known | None: ...

    def __call__(self, element: Element, /) -> Hold | None: ...


_FastScan = Callable[
    [
        bytes | bytearray,
        int,
        Known | Literal[True] | None,
        str | None,
        list[bytes | bytearray],
        int,
        bytes,
        HeldTags,
        int,
        bool,
        bool,
        bytes | None,
        bool,
    ],
    tuple[int, int, int, int, bool],
]


def _compiled_scan() -> _FastScan | None:
    compiled = sc.speedups()
    return None if compiled is None else cast(_FastScan, compiled.scan)


_fast_scan = _compiled_scan()
# Whether the compiled scan is in use (tests swap ``_fast_scan`` to run both).
SPEEDUPS = _fast_scan is not None

_DATA, _TAG, _SCRIPT, _RAW, _COMMENT, _BOGUS, _PLAIN, _NOSCRIPT, _CDATA = range(9)
_PRE, _HEAD, _BODY, _MAIN = range(4)  # before the first markup, then until each injection

_DOCUMENT_START = frozenset({"html", "head", "body", "meta", "title", "link"})
_HEAD_ONLY = frozenset({"html", "meta", "title", "link", "base", "style"})
_FETCHING = frozenset({"src", "srcset", "srcdoc", "poster", "href", "background", "imagesrcset"})
_OBJECT_FETCHING = _FETCHING | {"data"}
_SCRIPT_FETCHING = frozenset({"src"})
# Elements with no content of interest, classified without leaving the scanning loop.
_PLAIN_NAMES = {
    n.encode(): n
    for n in ("img", "source", "link", "video", "audio", "embed", "object", "track", "frame")
}
_PLAIN_NAMES[b"image"] = "img"  # HTML's tree builder reads <image> as <img>
# What SVG elements fetch, and what any element fetches.
_SVG_FETCHING = frozenset({"href", "xlink:href"})
_ANY_FETCHING = frozenset({"background", "ping"})
_SVG_CONSIDERED = sc.SVG_CONSIDERED
# Foreign content (WHATWG HTML, "parsing main inside foreign content"): namespaces of the
# elements open inside <svg> or <math>, and which of them are integration points.
_HTML_NS, _SVG_NS, _MATH_NS = range(3)
_NO_IP, _HTML_IP, _TEXT_IP = range(3)
_BREAKOUT = sc.BREAKOUT
_VOID = frozenset(
    "area base br col embed frame hr img input keygen link meta param source track wbr".split()  # noqa: SIM905
)
_NOSCRIPT_END = sc.end_tag("noscript")
_CDATA_START = b"<![CDATA["
_FONT_BREAKOUT = re.compile(rb"[\t\n\f\r /\"'](?:color|face|size)[\t\n\f\r />=]", re.IGNORECASE)
_BOM = b"\xef\xbb\xbf"
_SMALL = 16384  # held-back bytes below this are copied into each new chunk
# An unchanged tail longer than this is joined through a view: below, a copy costs less.
_SMALL_TAIL = 4096
_REREAD = 512  # a tag cut by a chunk's end up to this long is read again from its start
_DOCTYPE = b"<!doctype"
# The usual start of a page, read in one match as the loop below would read it construct by
# construct: a doctype or none, then <html> and <head> start tags, white space between.
_PROLOGUE = re.compile(
    rb"[\t\n\f\r ]*+(?:<!doctype[^>]*+>[\t\n\f\r ]*+)?"
    rb"(<html(?=[\t\n\f\r />])" + sc.ATTRS.pattern + rb">)[\t\n\f\r ]*+"
    rb"<head(?=[\t\n\f\r />])" + sc.ATTRS.pattern + rb">",
    re.IGNORECASE,
)
_SCRIPT_END = sc.end_tag("script")
_LT, _GT, _BANG, _QUESTION, _SLASH, _DASH, _EQ = b"<>!?/-="
_SPACES = frozenset(b"\t\n\f\r ")
_LETTERS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SEARCHED = sc.RAW_TEXT | sc.CONSIDERED | sc.OTHER | {"plaintext", "body", "template", "/template"}
_LONGEST = max(len(n) for n in _SEARCHED) + 1
_PREFIXES = frozenset(b"<" + n.encode()[:i] for n in _SEARCHED for i in range(len(n) + 1))


_NO_TAG = (b"", sc.LazyAttrs(b"", 0, 0))
# Held forms of start tags by their bytes, name and category: pages repeat their tags from one
# view to the next (news pages are rendered anew for every request), so most are made once.
# Bounded by count and tag length: some 16 MB with every entry at the limit, well under 1 MB
# for the tags real pages hold. A plain dict, emptied when full, so that the compiled scan
# reads it too.
# A tag with a nonce is kept by the bytes around the nonce's value, as three parts between
# which go the nonce's value and the marker.
_HELD_TAGS: HeldTags = {}
_MAX_HELD_TAGS = 4096
_MAX_REMEMBERED_TAG = 2048  # longer tags (a srcdoc, a data: URL) are rewritten each time


def _held_name(attr: str) -> bytes:
    if attr == "src":
        return ATTR_HELD_SRC.encode()
    if attr == "type":
        return ATTR_HELD_TYPE.encode()
    return (ATTR_HELD_PREFIX + attr).encode()


def _attr_text(value: str) -> bytes:
    return html.escape(value).encode("ascii", "xmlcharrefreplace")


# What a held form does with an element's attributes, by the attributes it fetches with: each
# of those (its lower-case name as bytes) to the name it is moved aside to, and the names that
# are the server's alone, dropped from the page's markup on anything but a script. Names are
# compared as the bytes they are read from, which Latin-1 decodes one for one.
_HeldRules = tuple[dict[bytes, bytes], frozenset[bytes]]
_CATEGORY_NAME = ATTR_CATEGORY.encode()
_HELD_NAME = ATTR_HELD.encode()
_HELD_TYPE_NAME = ATTR_HELD_TYPE.encode()
_HELD_TYPE = b'type="' + HELD_SCRIPT_TYPE.encode() + b'"'


def _held_rules(fetching: frozenset[str]) -> _HeldRules:
    moves = {attr.encode(): _held_name(attr) for attr in fetching}
    return moves, frozenset({_CATEGORY_NAME, _HELD_NAME, *moves.values()})


_SCRIPT_RULES = _held_rules(_SCRIPT_FETCHING | _SVG_FETCHING)
_SVG_RULES = _held_rules(_SVG_FETCHING)
_OBJECT_RULES = _held_rules(_OBJECT_FETCHING | _ANY_FETCHING)
_ELEMENT_RULES = _held_rules(_FETCHING | _ANY_FETCHING)
_ANY_RULES = _held_rules(_ANY_FETCHING)
# The category attribute of held forms, by category: a classifier names a few. Bounded by
# count and length, emptied when full, as a classifier may name any.
_CATEGORY_ATTRS: dict[str, bytes] = {}
_MAX_CATEGORY_ATTRS = 64
_MAX_CATEGORY_ATTR = 256


def _category_attr(category: str) -> bytes:
    found = _CATEGORY_ATTRS.get(category)
    if found is None:
        found = b" " + _CATEGORY_NAME + b'="' + _attr_text(category) + b'"'
        if len(category) <= _MAX_CATEGORY_ATTR:
            if len(_CATEGORY_ATTRS) >= _MAX_CATEGORY_ATTRS:
                _CATEGORY_ATTRS.clear()
            _CATEGORY_ATTRS[category] = found
    return found


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

    # The state every page starts in, as class defaults: one rewriter is made per page view,
    # and most of this is never written for most pages. What is mutated in place is made in
    # __init__.
    held_count = 0
    _document: bool | None = None
    _phase = _PRE
    _templates = 0
    _at_start = True
    _failed = False
    _closed = False
    # Where in the unprocessed bytes each waiting construct resumes.
    _mode = _DATA
    _pos = 0
    _tag_state = sc.BEFORE_NAME
    _raw_end = _SCRIPT_END
    _raw_keep = 0
    _script_text = 0  # offset of an undecided inline script's text (its tag is at 0)
    _script_state = sc.SCRIPT_DATA
    _script_foreign = False  # an SVG script: its text is read, then parsed as markup
    _script_tag = _NO_TAG  # an undecided inline script's start tag and attributes
    _base: str | None = None  # the first <base href>, as written
    # A browser running our script reads <noscript> as raw text; what a browser without
    # scripts would read in it goes through a nested rewriter confined to that text.
    _noscript_raw = True
    _inner: "HtmlRewriter | None" = None
    _inner_end = _NOSCRIPT_END
    # Per call of _run, which sets them before anything reads them.
    _quoted_angle = -1  # where the next quoted value holding `<` or `>` starts
    _emit = 0
    _keep = 0
    # Where the first end tag of each drawing name after the last one looked for starts (-1:
    # none in the chunk), so that drawings near a chunk's end cost one search; and what the
    # call writes.
    _drawing_ends: dict[str, int]
    _out: list[bytes | bytearray]

    def __init__(
        self,
        classify: Classifier | None,
        *,
        head_injection: bytes = b"",
        body_injection: bytes = b"",
        max_inline_script: int = 262144,
        held_marker: bytes = b"",
    ) -> None:
        # The value of ATTR_HELD on what is held: the browser restores only elements carrying it.
        self._held_attr = _held_attr(held_marker)
        # None: nothing can be held (the visitor granted everything), so once the banner is
        # in place the rest of the body passes through without being scanned at all.
        self._passthrough_after_body = classify is None
        self._classifier: Classifier = classify if classify is not None else _hold_nothing
        self._remembering = cast(Remembering, classify) if hasattr(classify, "known") else None
        self._head = head_injection
        self._body = body_injection
        self._cap = max_inline_script if max_inline_script > 0 else 0
        # Unprocessed bytes.
        self._pending = bytearray()
        # Elements open inside <svg>/<math>: (name, namespace, integration point).
        self._foreign: list[tuple[str, int, int]] = []
        # Left foreign content on an end tag whose element may not be open: the page may
        # still be inside <svg>, so raw text is also read as markup from then on.
        self._uncertain: list[tuple[str, int, int]] = []

    @property
    def is_document(self) -> bool | None:
        """Whether the body is a whole document (``None`` until its first markup is seen)."""
        return self._document

    @property
    def failed(self) -> bool:
        """True once the rewriter gave up on its own error and passes bytes through."""
        return self._failed

    @property
    def held_bytes(self) -> int:
        """Input bytes waiting for the construct they start (a tag, a script) to complete."""
        return len(self._pending)

    def abandon(self) -> bytes:
        """Stops rewriting; returns the input not yet sent on, unprocessed, for another pass."""
        rest = bytes(self._pending)
        self._pending = bytearray()
        self._failed = True
        return rest

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
        return self._ended(out)

    def finish(self, chunk: bytes) -> bytes:
        """``feed(chunk) + close()``: the body's last bytes. With nothing held from before (a
        body that came whole), they are read in one pass that knows nothing follows: no
        construct cut by the chunk's end is looked for, nor kept to be read again by close."""
        if self._failed or self._closed or self._pending or not chunk:
            out = self.feed(chunk)
            rest = self.close()
            return out + rest if rest else out
        buf = chunk if type(chunk) is bytes else bytes(chunk)
        try:
            out = self._run(buf, True)
        except Exception as exc:
            out = self._fail(buf, exc)
        return self._ended(out)

    def _ended(self, out: bytes) -> bytes:
        """``out``, the last the body gave, with the injections still due after it."""
        self._closed = True
        if self._pending:
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
        self._quoted_angle = -1
        self._drawing_ends = {}
        n = len(buf)
        pos = self._pos
        while pos < n or (final and self._mode == _SCRIPT):
            mode = self._mode
            if mode == _DATA:
                if self._foreign:
                    pos = self._scan_foreign(buf, pos, final)
                elif self._phase == _MAIN and self._passthrough_after_body:
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
            elif mode == _NOSCRIPT:
                pos = self._noscript(buf, pos, final)
            elif mode == _CDATA:
                pos = self._cdata(buf, pos, final)
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
            if n - emit > _SMALL_TAIL:
                # A long unchanged tail (the rest of a page where nothing more can be held) is
                # joined from the input itself, not copied once for the list and again by join.
                return b"".join((*out, memoryview(buf)[emit:]))
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
        attrs_end = sc.attrs_end
        classify = self._classifier
        fast = _fast_scan
        remembering = self._remembering
        held_attr = self._held_attr
        while True:
            if fast is None:
                m = search(buf, pos)
            else:
                # Takes what needs no decision, and stops where this loop's next match is: the
                # search from there finds it at once, with pos as the loop left it.
                known: Known | Literal[True] | None
                if self._passthrough_after_body:
                    # No classifier: the scan needs no answers to pass every element by.
                    known = _HOLD_NOTHING
                else:
                    known = None if remembering is None else remembering.known
                    if type(known) is not dict and type(known) is not Answers:
                        known = None  # the compiled scan reads these two only
                # While the page may still be inside <svg>, a script is read the other way.
                cap = -1 if self._uncertain else self._cap
                due = phase == _BODY
                pos, p, self._emit, held, injected = fast(
                    buf,
                    pos,
                    known,
                    self._base,
                    self._out,
                    self._emit,
                    held_attr,
                    _HELD_TAGS,
                    cap,
                    due,
                    self._noscript_raw,
                    self._body if due and not self._templates else None,
                    True,  # a stop it found in text comes back with pos at it: no closer look
                )
                self.held_count += held
                if injected:
                    # It wrote the body's injection after a <body> as _tag_done would have.
                    self._phase = phase = _MAIN
                    if known is None or known is _HOLD_NOTHING:
                        return pos  # it stopped there: the loop goes on the way of _MAIN
                    search = sc.SEARCH_MAIN.search
                m = None if p < 0 else search(buf, p)
            if m is None:
                if final:
                    return n
                # A tag of no interest may be cut by the chunk's end: a `<` in its attributes
                # is no markup, so it waits to be read whole.
                start = self._open_construct(buf, pos, n)
                if start >= 0:
                    return self._enclosing(buf, start, final)
                last = buf.rfind(b"<", max(pos, n - _LONGEST))
                if last >= 0 and bytes(buf[last:]).lower() in _PREFIXES:
                    return self._wait(last, last)
                return n
            p = m.start()
            if p > pos:
                gt = buf.rfind(b">", pos, p)
                if buf.find(b"<", max(pos, gt + 1), p) >= 0 or (
                    gt >= 0 and _may_be_quoted(buf, pos, gt)
                ):
                    # Worth a closer look: the match may lie inside another tag's attributes.
                    start = self._open_construct(buf, pos, p)
                    if start >= 0:
                        pos = self._enclosing(buf, start, final)
                        if pos < 0 or self._mode != _DATA or self._phase != phase or self._foreign:
                            return pos
                        continue
            name_bytes = m.group(1)
            name = _PLAIN_NAMES.get(name_bytes)
            if name is None and name_bytes is not None:
                name_bytes = name_bytes.lower()
                name = _PLAIN_NAMES.get(name_bytes)
            if name is not None:
                # The common case inlined: an image, source, link, ... complete in this chunk.
                name_end = m.end() - 1
                end = attrs_end(buf, name_end)
                if end < n and buf[end] == _GT:
                    end += 1
                    raw = bytes(buf[p:end])
                    attrs = sc.LazyAttrs(raw, name_end - p, end - p - 1)
                    try:
                        hold = classify(_element(name, attrs, None, raw, self._base))
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
            if pos < 0 or self._mode != _DATA or self._phase != phase or self._foreign:
                return pos

    def _open_construct(self, buf: bytes | bytearray, pos: int, p: int) -> int:
        """Where a tag or bogus comment still open at ``p`` starts, or -1 when ``p`` is in
        text. ``pos`` is in text and nothing searched for lies between."""
        gt = buf.rfind(b">", pos, p)
        quoted = False
        if gt >= 0 and _may_be_quoted(buf, pos, gt):
            if self._quoted_angle < pos:
                self._next_quoted_angle(buf, pos)
            quoted = self._quoted_angle <= p
        if not quoted:
            # Every `>` then ends a tag or is text, so the tokenizer is in text after the last.
            if gt >= 0:
                pos = gt + 1
            if buf.find(b"<", pos, p) < 0:
                return -1
        m = sc.SKIP.match(buf, pos, p)
        end = m.end() if m is not None else pos
        return -1 if end >= p else end

    def _next_quoted_angle(self, buf: bytes | bytearray, pos: int) -> None:
        # One search finds the next such value for all the matches before it.
        m = sc.QUOTED_ANGLE.search(buf, pos)
        self._quoted_angle = len(buf) + 1 if m is None else m.start()

    def _enclosing(self, buf: bytes | bytearray, start: int, final: bool) -> int:
        """Reads the tag or bogus comment at ``start`` to its real end."""
        n = len(buf)
        if buf[start + 1] == _SLASH and (start + 2 >= n or buf[start + 2] not in _LETTERS):
            if start + 2 >= n:
                return n if final else self._wait(start, start)
            if buf[start + 2] == _GT:
                return start + 3
            return self._bogus(buf, start + 2, final)
        return self._tag(buf, start, sc.skip(sc.TAG_NAME, buf, start), final, None)

    def _scan_foreign(self, buf: bytes | bytearray, pos: int, final: bool) -> int:
        """Inside <svg> or <math>: every tag is read, as the tree builder's stack matters."""
        n = len(buf)
        while self._foreign and self._mode == _DATA:
            p = buf.find(b"<", pos)
            if p < 0:
                return n
            if p + 2 >= n and not final:
                return self._wait(p, p)
            c = buf[p + 1] if p + 1 < n else 0
            if c in _LETTERS:
                pos = self._tag(buf, p, sc.skip(sc.TAG_NAME, buf, p), final, None)
            elif c == _SLASH:
                pos = self._enclosing(buf, p, final) if p + 2 < n else n
            elif c == _BANG:
                if buf.startswith(_CDATA_START, p) and self._foreign[-1][1] != _HTML_NS:
                    pos = self._cdata(buf, p + len(_CDATA_START), final)
                elif n - p < len(_CDATA_START) and _CDATA_START.startswith(buf[p:]) and not final:
                    return self._wait(p, p)
                else:
                    pos = self._declaration(buf, p, final)
            elif c == _QUESTION:
                pos = self._bogus(buf, p + 2, final)
            else:
                pos = p + 1
            if pos < 0:
                return pos
        return pos

    def _cdata(self, buf: bytes | bytearray, pos: int, final: bool) -> int:
        end = buf.find(b"]]>", pos)
        if end >= 0:
            self._mode = _DATA
            return end + 3
        if final:
            return len(buf)
        self._mode = _CDATA
        resume = max(pos, len(buf) - 2)
        return self._wait(resume, resume)

    def _noscript(self, buf: bytes | bytearray, pos: int, final: bool) -> int:
        inner = self._inner
        assert inner is not None
        m = self._inner_end.search(buf, pos)
        n = len(buf)
        stop = m.start() if m is not None else n if final else max(pos, n - 10)
        try:
            out = inner.feed(bytes(buf[pos:stop])) if stop > pos else b""
            done = m is not None or final
            if done:
                out += inner.close()
        except Exception as exc:
            raise _ClassifierFailed(exc) from exc
        self._put(buf, pos, out)
        self._emit = stop
        if not done:
            return self._wait(stop, stop)
        self.held_count += inner.held_count
        self._inner = None
        self._mode = _DATA
        return stop

    def _scan_head(self, buf: bytes | bytearray, pos: int, final: bool) -> int:
        """Markup before the head injection: every construct is looked at."""
        n = len(buf)
        if self._at_start:
            if n - pos < len(_BOM) and _BOM.startswith(bytes(buf[pos:])) and not final:
                return self._wait(pos, pos)
            self._at_start = False
            if buf.startswith(_BOM, pos):
                pos += len(_BOM)
            prologue = _PROLOGUE.match(buf, pos)
            if prologue is not None and _fetches_nothing(prologue.group(1)):
                # Most pages: the head injection goes right after <head>, with nothing held.
                self._document = True
                self._inject_head(buf, prologue.end())
                return prologue.end()
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
            self._inject_head(buf, at)

    def _inject_head(self, buf: bytes | bytearray, at: int) -> None:
        """The head injection at ``at``; the body's is due from there."""
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
        end = sc.attrs_end(buf, name_end)
        if end < n and buf[end] == _GT:
            return self._tag_done(buf, p, end + 1, name_end, name, final)
        if final:
            return n  # cut off by the end of the body: browsers drop it, we pass it on
        if n - p <= _REREAD:
            # Read again whole with the next chunk, as if the body had not been cut there: for
            # the short tags that most cuts fall in, cheaper than resuming the tag's grammar,
            # and the compiled scan can take it then. Longer tags resume where they stopped,
            # so that no byte is read more than a bounded number of times.
            return self._wait(p, p)
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
                self._inject_head(buf, end)
                return end
            if name not in _HEAD_ONLY or (closing and name == "html"):
                self._inject_head(buf, p)
                phase = _BODY
        if phase == _BODY:
            if name == "body" and not closing and not self._templates:
                if sc.FETCH_ATTR.search(buf, name_end - 1, end):
                    self._consider(buf, p, end, name_end, name, final)
                self._put(buf, end, self._body)
                self._phase = _MAIN
                return end
            if name == "template":
                self._templates = max(0, self._templates + (-1 if closing else 1))
        if self._foreign:
            return self._foreign_tag(buf, p, end, name_end, name, closing, final)
        if closing:
            return end
        return self._html_tag(buf, p, end, name_end, name, final)

    def _html_tag(
        self, buf: bytes | bytearray, p: int, end: int, name_end: int, name: str, final: bool
    ) -> int:
        """A start tag read by HTML's own rules."""
        if name in sc.CONSIDERED and not (self._uncertain and name in sc.RAW_TEXT):
            return self._consider(buf, p, end, name_end, name, final)
        if name in sc.RAW_TEXT and self._uncertain:
            # Maybe still inside <svg>, where this is no raw text: its content is read as
            # markup as well, up to where raw text would end.
            if name in sc.CONSIDERED:
                # A script's text is not read as a whole here: it is judged without it.
                tag = bytes(buf[p:end])
                attrs = sc.LazyAttrs(tag, name_end - p, end - p - 1)
                complete = name != "script"
                element = _element(name, attrs, None, tag, self._base, complete)
                hold = self._classify(element)
                if hold is not None:
                    self._hold(buf, p, end, tag, name_end - p, name, hold)
            self._read_twice(name)
        elif name in sc.RAW_TEXT:
            self._mode = _RAW
            self._raw_end = sc.end_tag(name)
            self._raw_keep = len(name) + 2
            self._script_state = sc.SCRIPT_DATA
        elif name in sc.OTHER:
            if name == "image":
                return self._consider(buf, p, end, name_end, "img", final)
            if name in ("svg", "math"):
                if not _self_closing(buf, name_end, end):
                    inert = sc.INERT_FOREIGN[name].match(buf, name_end)
                    if inert is not None:
                        return inert.end()
                    if not final and len(buf) - p <= _REREAD and self._unended(buf, name_end, name):
                        # Maybe an inert drawing cut by the chunk's end: read again whole.
                        return self._wait(p, p)
                    self._foreign.append((name, _SVG_NS if name == "svg" else _MATH_NS, _NO_IP))
            elif name == "base":
                if self._base is None:
                    self._base = sc.parse_attrs(buf, name_end, end - 1).get("href")
            elif name == "noscript" and self._noscript_raw:
                self._read_twice(name)
            elif name == "frame":
                return self._consider(buf, p, end, name_end, name, final)
        elif name == "plaintext" and not self._uncertain:
            # While the page may still be inside <svg>, where it is no plaintext, markup is read on.
            self._mode = _PLAIN
        elif sc.FETCH_ATTR.search(buf, name_end - 1, end):
            return self._consider(buf, p, end, name_end, name, final)
        return end

    def _unended(self, buf: bytes | bytearray, pos: int, name: str) -> bool:
        """Whether no end tag ``name`` follows ``pos`` in this chunk."""
        found = self._drawing_ends.get(name)
        if found is None or 0 <= found < pos:
            m = sc.end_tag(name).search(buf, pos)
            found = self._drawing_ends[name] = -1 if m is None else m.start()
        return found < 0

    def _read_twice(self, name: str) -> None:
        self._mode = _NOSCRIPT
        self._inner_end = sc.end_tag(name)
        self._inner = self._nested()
        if self._uncertain:
            # Read as the content of the foreign element it would be.
            ns = self._uncertain[-1][1]
            point = _HTML_IP if name == "title" and ns == _SVG_NS else _NO_IP
            self._inner._foreign = [*self._uncertain, (name, ns, point)]

    def _nested(self) -> "HtmlRewriter":
        inner = HtmlRewriter(self._classifier, max_inline_script=self._cap)
        inner._held_attr = self._held_attr
        inner._phase = _MAIN
        inner._document = False
        inner._at_start = False
        inner._noscript_raw = False
        inner._base = self._base
        return inner

    def _foreign_tag(
        self,
        buf: bytes | bytearray,
        p: int,
        end: int,
        name_end: int,
        name: str,
        closing: bool,
        final: bool,
    ) -> int:
        """A tag inside <svg> or <math>, dispatched as HTML's tree builder does."""
        stack = self._foreign
        top, ns, point = stack[-1]
        if closing:
            if ns == _HTML_NS:
                self._html_end_tag(name)
                return end
            if name in ("br", "p"):
                self._pop_to_html()
                return end
            for i in range(len(stack) - 1, -1, -1):
                entry = stack[i]
                if entry[0] == name:
                    del stack[i:]
                    return end
                if entry[1] == _HTML_NS:
                    del stack[i + 1 :]
                    self._html_end_tag(name)
                    return end
            # Read by the rules of the page around, whose open elements are not known here: it
            # closes the foreign content when an element of that name is open around it (a
            # container holding user content, usually), else it is ignored. From here on the
            # page is read as HTML, and raw text also as the foreign content it may still be.
            self._uncertain = list(stack)
            stack.clear()
            return end
        self_closing = _self_closing(buf, name_end, end)
        html_rules = (
            ns == _HTML_NS
            or point == _HTML_IP
            or (point == _TEXT_IP and name not in ("mglyph", "malignmark"))
        )
        breakout = name in _BREAKOUT or (name == "font" and _FONT_BREAKOUT.search(buf, p, end))
        if breakout and not html_rules and not (top == "annotation-xml" and name == "svg"):
            self._pop_to_html()
            if not stack:
                return self._html_tag(buf, p, end, name_end, name, final)
            html_rules = True
        if html_rules:
            if name in ("svg", "math"):
                if not self_closing:
                    stack.append((name, _SVG_NS if name == "svg" else _MATH_NS, _NO_IP))
                return end
            if name == "image":
                name = "img"
            if name not in _VOID:
                stack.append((name, _HTML_NS, _NO_IP))
            return self._html_tag(buf, p, end, name_end, name, final)
        child_ns = _SVG_NS if name == "svg" else ns
        if not self_closing:
            stack.append((name, child_ns, _integration_point(name, child_ns, buf, p, end)))
        if child_ns == _SVG_NS and (name in _SVG_CONSIDERED or sc.FETCH_ATTR.search(buf, p, end)):
            if name == "script":
                self._script_foreign = True
            return self._consider(buf, p, end, name_end, name, final)
        return end

    def _pop_to_html(self) -> None:
        stack = self._foreign
        while stack and stack[-1][1] != _HTML_NS and stack[-1][2] == _NO_IP:
            stack.pop()

    def _html_end_tag(self, name: str) -> None:
        """An end tag by HTML's rules inside an integration point: it closes an HTML element
        of that name above the nearest foreign element, else it is ignored."""
        stack = self._foreign
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][1] != _HTML_NS:
                return
            if stack[i][0] == name:
                del stack[i:]
                return

    def _consider(
        self, buf: bytes | bytearray, p: int, end: int, name_end: int, name: str, final: bool
    ) -> int:
        if self._passthrough_after_body:
            # Nothing can be held: only how what follows the tag is read matters.
            return self._skip_considered(name, end)
        tag = bytes(buf[p:end])
        attrs = sc.LazyAttrs(tag, name_end - p, end - p - 1)
        foreign = self._script_foreign
        self._skip_considered(name, end)
        if name == "script":
            external = "src" in attrs or (foreign and ("href" in attrs or "xlink:href" in attrs))
            if not external:
                self._mode = _SCRIPT
                self._script_foreign = foreign
                self._script_text = end
                self._script_tag = (tag, attrs)
                return self._script(buf, end, final, p)
        elif name == "input" and (attrs.get("type") or "").lower() != "image":
            return end
        hold = self._classify(_element(name, attrs, None, tag, self._base))
        if hold is not None:
            self._hold(buf, p, end, tag, name_end - p, name, hold)
        return end

    def _skip_considered(self, name: str, end: int) -> int:
        """The tokenizer's state after a considered start tag, before any judgement: raw text
        after an HTML script or frame, markup after an SVG script."""
        if name == "script":
            foreign = self._script_foreign
            self._script_foreign = False
            self._script_state = sc.SCRIPT_DATA
            if not foreign:
                self._mode = _RAW
                self._raw_end = _SCRIPT_END
                self._raw_keep = 8
        elif name == "iframe":
            self._mode = _RAW
            self._raw_end = sc.end_tag("iframe")
            self._raw_keep = 8
        return end

    def _script(self, buf: bytes | bytearray, pos: int, final: bool, start: int = 0) -> int:
        """An inline script waiting to be classified: its tag at ``start``, its text after."""
        n = len(buf)
        text = self._script_text
        limit = text + self._cap
        close, state, resume = sc.script_end(buf, pos, self._script_state)
        if close >= 0:
            stop = min(close, limit)
        elif limit + 9 <= n or final:
            stop = min(n, limit)
        else:
            self._script_state = state
            return self._wait(start, resume)
        # Past the limit the script is judged on its start; the classifier is told so, and
        # holds it unless that start shows it harmless.
        complete = close <= limit if close >= 0 else n <= limit
        name_end = start + len("<script")
        # The start tag's attributes, already read to tell inline from external: read once.
        tag, attrs = self._script_tag
        self._script_tag = _NO_TAG
        script = bytes(buf[text:stop]).decode("latin-1")
        hold = self._classify(_element("script", attrs, script, tag, self._base, complete))
        if hold is not None:
            self._hold(buf, start, text, tag, name_end - start, "script", hold)
        if self._script_foreign:
            # An SVG script's content is markup to the tokenizer: read it as such.
            self._script_foreign = False
            self._mode = _DATA
            return text
        if close >= 0:
            self._mode = _DATA
            return close
        self._mode = _RAW
        self._script_state = state
        return self._raw(buf, resume, final)

    def _raw(self, buf: bytes | bytearray, pos: int, final: bool) -> int:
        n = len(buf)
        if self._raw_end is _SCRIPT_END:
            close, state, resume = sc.script_end(buf, pos, self._script_state)
            if close >= 0:
                self._mode = _DATA
                return close
            if final:
                return n
            self._script_state = state
            return self._wait(resume, resume)
        m = self._raw_end.search(buf, pos)
        if m is not None:
            self._mode = _DATA
            return m.start()
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
        # No placeholder for a script before the body: in the head it would end the head.
        placeholder = hold.placeholder if name != "script" or self._phase == _MAIN else b""
        self._put(buf, p, placeholder)
        nonce = None
        parts: tuple[bytes, bytes] | tuple[bytes, bytes, bytes]
        if len(tag) > _MAX_REMEMBERED_TAG:
            parts = _held_parts(tag, name_end, name, hold.category)
        else:
            nonce = sc.nonce_value(tag)
            key = (sc.tag_key(tag, nonce), name, hold.category)
            found = _HELD_TAGS.get(key)
            if found is None:
                found = _held_parts(tag, name_end, name, hold.category, nonce)
                if len(_HELD_TAGS) >= _MAX_HELD_TAGS:
                    _HELD_TAGS.clear()
                _HELD_TAGS[key] = found
            parts = found
        if len(parts) == 3:
            # Kept without the nonce's value: this view's goes between the first two.
            assert nonce is not None
            head, middle, after = parts
            self._out.extend((head, tag[nonce[0] : nonce[1]], middle, self._held_attr, after))
        else:
            self._out.extend((parts[0], self._held_attr, parts[1]))
        self._emit = end
        self.held_count += 1


def _may_be_quoted(buf: bytes | bytearray, pos: int, gt: int) -> bool:
    """Whether the `>` at ``gt`` may lie inside a quoted attribute value that opened after
    ``pos``: only if the last quote before it follows an `=`. Where it cannot, the quoted
    values holding `<` or `>` need not be looked for: the tokenizer is in text after ``gt``."""
    for quote in b"\"'":
        q = buf.rfind(quote, pos, gt)
        j = q - 1
        while j > pos and buf[j] in _SPACES:
            j -= 1
        if q > pos and buf[j] == _EQ:
            return True
    return False


def _self_closing(buf: bytes | bytearray, name_end: int, end: int) -> bool:
    """Whether the start tag ending at ``end`` closes itself: it ends in "/>", and that '/' is
    not the end of an unquoted attribute value (``<g a=b/>`` leaves its element open)."""
    if buf[end - 2] != _SLASH:
        return False
    value_ends = [m.end(2) for m in sc.ATTR.finditer(buf, name_end, end - 1)]
    return not value_ends or value_ends[-1] != end - 1


def _integration_point(name: str, ns: int, buf: bytes | bytearray, p: int, end: int) -> int:
    """Whether a foreign element reads its content by HTML's rules (an integration point)."""
    if ns == _SVG_NS:
        return _HTML_IP if name in ("foreignobject", "desc", "title") else _NO_IP
    if name in ("mi", "mo", "mn", "ms", "mtext"):
        return _TEXT_IP
    if name == "annotation-xml":
        encoding = (sc.parse_attrs(buf, p, end - 1).get("encoding") or "").lower()
        if encoding in ("text/html", "application/xhtml+xml"):
            return _HTML_IP
    return _NO_IP


def _fetches_nothing(html_tag: bytes | bytearray) -> bool:
    """Whether an ``<html>`` start tag has no attribute that fetches. A site's pages repeat
    theirs from one view to the next: a tag found plain once is known by a set look-up, which
    costs less than the search."""
    if type(html_tag) is not bytes:  # held bytes, a bytearray: searched, never remembered
        return not sc.FETCH_ATTR.search(html_tag)
    if html_tag in _PLAIN_HTML_TAGS:
        return True
    if sc.FETCH_ATTR.search(html_tag):
        return False
    if len(html_tag) <= _MAX_PLAIN_HTML_TAG:
        if len(_PLAIN_HTML_TAGS) >= _MAX_PLAIN_HTML_TAGS:
            _PLAIN_HTML_TAGS.clear()
        _PLAIN_HTML_TAGS.add(html_tag)
    return True


# Bounded by count and length, emptied when full: a tag is what a page chooses.
_PLAIN_HTML_TAGS: set[bytes] = set()
_MAX_PLAIN_HTML_TAGS = 256
_MAX_PLAIN_HTML_TAG = 256


_HELD_ATTR = b" " + ATTR_HELD.encode()
_HELD_ATTR_VALUE = _HELD_ATTR + b'="'


def _held_attr(marker: bytes) -> bytes:
    """The attribute that names the response's marker, the last one of every held tag."""
    return _HELD_ATTR_VALUE + marker + b'"' if marker else _HELD_ATTR


@overload
def _held_parts(
    tag: bytes, name_end: int, name: str, category: str, nonce: None = None
) -> tuple[bytes, bytes]: ...


@overload
def _held_parts(
    tag: bytes, name_end: int, name: str, category: str, nonce: tuple[int, int] | None
) -> tuple[bytes, bytes] | tuple[bytes, bytes, bytes]: ...


def _held_parts(
    tag: bytes, name_end: int, name: str, category: str, nonce: tuple[int, int] | None = None
) -> tuple[bytes, bytes] | tuple[bytes, bytes, bytes]:
    """``tag`` with its fetching attributes moved aside and the category added: the held form
    before and after the response's marker, which changes with every response while the rest
    is the same for the same bytes. With ``nonce`` (where the value of the tag's nonce lies),
    the part before the marker comes in two, around that value, which changes too.

    Attributes other than those are kept byte for byte. Later duplicates are dropped: browsers
    ignore them anyway, and a second ``src`` must not become the one that loads.
    """
    script = name == "script"
    if script:
        moves, dropped = _SCRIPT_RULES
    elif name in _SVG_CONSIDERED:
        moves, dropped = _SVG_RULES
    elif name == "object":
        moves, dropped = _OBJECT_RULES
    elif name in sc.CONSIDERED or name in ("img", "frame"):
        moves, dropped = _ELEMENT_RULES
    else:
        moves, dropped = _ANY_RULES
    found = list(sc.ATTR.finditer(tag, name_end, len(tag) - 1))
    typed = False
    if script:
        # On anything but a script, every held name is the server's alone: one the page wrote
        # itself would be restored as if the server had moved it aside (a srcdoc, a
        # javascript: URL). A site's own held script may name its source in data-consent-src,
        # kept unless the server moves a src aside itself.
        present = {m.group(1).lower() for m in found}
        typed = b"type" in present
        dropped = frozenset(
            {_CATEGORY_NAME, _HELD_NAME}
            | {held for attr, held in moves.items() if attr in present}
            | ({_HELD_TYPE_NAME} if typed else set())
        )
    parts = [tag[:name_end]]
    extra = []
    cursor = name_end
    seen: set[bytes] = set()
    cut = -1  # where in parts the nonce's value was taken out
    for m in found:
        attr = m.group(1).lower()
        start, stop = m.span()
        parts.append(tag[cursor:start])
        cursor = stop
        if attr in seen:
            continue
        seen.add(attr)
        if nonce is not None and m.span(2) == nonce:
            # Kept as written, but for its value.
            parts.append(tag[start : nonce[0]])
            cut = len(parts)
            parts.append(tag[nonce[1] : stop])
        elif attr in moves:
            raw = m.group(2)
            parts.append(moves[attr] + (b"" if raw is None else b"=" + sc.quote_value(raw)))
        elif script and attr == b"type":
            parts.append(_HELD_TYPE)
            raw = m.group(2)
            original = b"" if raw is None else b"=" + sc.quote_value(raw)
            extra.append(b" " + _HELD_TYPE_NAME + original)
        elif attr not in dropped:
            parts.append(tag[start:stop])
    if script and not typed:
        extra.insert(0, b" " + _HELD_TYPE)
    extra.append(_category_attr(category))
    parts.extend(extra)
    if cut < 0:
        if nonce is not None:
            # Not the value of an attribute kept: the caller's nonce is no nonce of this tag.
            raise ValueError("nonce names no attribute value of the tag")
        return b"".join(parts), tag[cursor:]
    return b"".join(parts[:cut]), b"".join(parts[cut:]), tag[cursor:]


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
