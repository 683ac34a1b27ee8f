"""Byte-level pieces of the HTML rewriter: patterns, the start-tag grammar and attributes.

Everything here follows the HTML tokenizer closely enough to find where a tag ends (quotes
respected) and to read its attributes, and nothing more. All work is on bytes; text handed to
callers is decoded as latin-1, which never fails and keeps ASCII intact.
"""

import html
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import ModuleType
from typing import TypeVar, overload

_T = TypeVar("_T")
_W = rb"[\t\n\f\r ]"

# Raw-text elements: their content is not markup, only the matching end tag closes them.
RAW_TEXT = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes"}
)
# Elements the classifier is asked about.
CONSIDERED = frozenset(
    {
        "script",
        "iframe",
        "img",
        "embed",
        "object",
        "video",
        "audio",
        "source",
        "track",
        "link",
        "input",
    }
)
# Other elements whose start tag changes how what follows is read or fetched: the page's base
# URL, ``<noscript>`` (raw text in a browser that runs scripts), foreign content, frames, and
# ``<image>``, which HTML's tree builder turns into ``<img>``.
OTHER = frozenset({"noscript", "svg", "math", "base", "frame", "image"})
# Attributes that make any element fetch (legacy backgrounds, link pings) or that name an SVG
# resource; a tag carrying one is classified whatever its name. The names are also looked for
# in a lower-cased copy of a chunk (far faster than a search that ignores case), each hit then
# checked against the tag around it.
FETCH_ATTR_NAMES = (b"ping", b"background", b"xlink:href")
FETCH_ATTR = re.compile(
    rb"[\t\n\f\r /\"'](?:" + b"|".join(FETCH_ATTR_NAMES) + rb")[\t\n\f\r ]*+=", re.IGNORECASE
)
# Most frequent first: the alternation stops at the first name that matches.
_SEARCHED = ["img", "source", "script", "link", "iframe", "style", "video", "audio", "track"]
_SEARCHED += sorted((CONSIDERED | RAW_TEXT | OTHER | {"plaintext"}) - set(_SEARCHED))


def _search(*extra: str, after: Mapping[str, str] | None = None) -> re.Pattern[bytes]:
    # The leading class turns most `<` (end tags, div, span, ...) away with one test, and names
    # are grouped by first letter so that a branch fails on its first byte: with both, ignoring
    # case costs no more than searching a lower-cased copy.
    groups: dict[str, list[str]] = {}
    for name in [*_SEARCHED, *extra]:
        groups.setdefault(name[0], []).append(name[1:] + (after or {}).get(name, ""))
    trie = "|".join(
        re.escape(first) + "(?:" + "|".join(rest) + ")" for first, rest in groups.items()
    )
    first = re.escape("".join(sorted(groups)) + "!?")
    pattern = "<(?=[" + first + "])(?:(" + trie + ")[\t\n\f\r />]|[!?])"
    return re.compile(pattern.encode(), re.IGNORECASE)


# Attributes that are certainly complete, possessively, so that a tag cut by a chunk boundary
# stops exactly before the unfinished token (name, `=`, value), never inside it.
ATTRS = re.compile(
    rb"(?:[\t\n\f\r /]++"
    rb"|[^\t\n\f\r />][^\t\n\f\r />=]*+(?=[\t\n\f\r />=])"
    rb"(?:" + _W + rb"*+=" + _W + rb"*+"
    rb"(?:\"[^\"]*+\"|'[^']*+'|[^\t\n\f\r >\"'][^\t\n\f\r >]*+(?=[\t\n\f\r >])|(?=>))"
    rb"|(?=" + _W + rb"*+[^\t\n\f\r =])))*+"
)
# One attribute of a complete tag, with its value as written (quotes included).
ATTR = re.compile(
    rb"([^\t\n\f\r />][^\t\n\f\r />=]*)"
    rb"(?:" + _W + rb"*=" + _W + rb"*(\"[^\"]*\"|'[^']*'|[^\t\n\f\r >]*))?"
)
TAG_NAME = re.compile(rb"</?([a-zA-Z][^\t\n\f\r />]*+)")
_NAME_REST = re.compile(rb"[^\t\n\f\r />=]*+")
_TAG_NAME_REST = re.compile(rb"[^\t\n\f\r />]*+")
SPACES = re.compile(_W + rb"*+")
_UNQUOTED = re.compile(rb"[^\t\n\f\r >]*+")
COMMENT_END = re.compile(rb"--!?>")
# Elements that end SVG and MathML content when they start inside it (the "breakout" tags).
BREAKOUT = frozenset(
    [
        "b",
        "big",
        "blockquote",
        "body",
        "br",
        "center",
        "code",
        "dd",
        "div",
        "dl",
        "dt",
        "em",
        "embed",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "head",
        "hr",
        "i",
        "img",
        "li",
        "listing",
        "menu",
        "meta",
        "nobr",
        "ol",
        "p",
        "pre",
        "ruby",
        "s",
        "small",
        "span",
        "strong",
        "strike",
        "sub",
        "sup",
        "table",
        "tt",
        "u",
        "ul",
        "var",
    ]
)
SVG_CONSIDERED = frozenset({"script", "image", "use", "feimage"})
# What can make foreign content differ from inert drawing markup: any name that HTML or the
# tree builder treats specially, declarations, and attributes that fetch.
FOREIGN_NAMES = (
    BREAKOUT
    | RAW_TEXT
    | CONSIDERED
    | OTHER
    | SVG_CONSIDERED
    | {"plaintext", "body", "template", "font", "foreignobject", "desc", "annotation-xml"}
    | {"mi", "mo", "mn", "ms", "mtext", "mglyph", "malignmark", "a"}
)


def _trie(names: Iterable[str]) -> bytes:
    # Alternatives grouped by first letter: a branch fails on its first byte, where a flat list
    # of some ninety names would be tried one by one at every tag inside an icon.
    groups: dict[str, list[str]] = {}
    for name in sorted(names, key=len, reverse=True):
        groups.setdefault(name[0], []).append(re.escape(name[1:]))
    trie = "|".join(re.escape(f) + "(?:" + "|".join(r) + ")" for f, r in sorted(groups.items()))
    return trie.encode()


_STOP_NAMES = _trie(FOREIGN_NAMES)
# The rest of an <svg> or <math> start tag and all its content up to its end tag, when that is
# drawing markup alone (no name from the list above, no declaration, no attribute that
# fetches): matched in one go, it is the common icon, and it reads the same in any namespace.
_NOT_FETCHING = (
    rb"(?!(?i:" + _trie(["href", "xlink:href", "ping", "background"]) + rb")[\t\n\f\r />=])"
)
_INERT_ATTRS = ATTRS.pattern.replace(
    rb"|[^\t\n\f\r />][^\t\n\f\r />=]*+",
    rb"|" + _NOT_FETCHING + rb"[^\t\n\f\r />][^\t\n\f\r />=]*+",
).replace(
    # The usual ` name="value"` first, in one step: the same bytes the general steps would take.
    rb"(?:[\t\n\f\r /]++|",
    rb"(?:[\t\n\f\r ]++" + _NOT_FETCHING + rb"[^\t\n\f\r />\"'=][^\t\n\f\r />=\"']*+=\"[^\"]*+\""
    rb"|[\t\n\f\r /]++|",
    1,
)
INERT_FOREIGN = {
    name: re.compile(
        _INERT_ATTRS
        + rb">(?:[^<]++|<(?![!?]|/?(?i:"
        + _STOP_NAMES
        + rb")[\t\n\f\r />])/?[a-zA-Z][^\t\n\f\r />]*+"
        + _INERT_ATTRS
        + rb">)*+(?=</(?i:"
        + name.encode()
        + rb")[\t\n\f\r />])"
    )
    for name in ("svg", "math")
}
# Candidates in the body once nothing is left to inject, and while the banner still waits. An
# <svg> or <math> whose content is inert (an icon) is no candidate: the search passes it by.
_PASS_INERT = {n: "(?!" + p.pattern.decode("latin-1") + ")" for n, p in INERT_FOREIGN.items()}
SEARCH_MAIN = _search(after=_PASS_INERT)
SEARCH_BODY = _search("body", "template", "/template", after=_PASS_INERT)

# A quoted attribute value holding `<` or `>`: only then can a tag's end or a `<` inside a tag
# be mistaken by looking for `>` and `<` alone.
QUOTED_ANGLE = re.compile(rb"=[\t\n\f\r ]*+(?:\"[^\"<>]*+[<>]|'[^'<>]*+[<>])")
# Text and tags of no interest, read exactly as the tokenizer reads them (quotes, `<` inside
# attribute names and values, `</` followed by anything but a letter). It stops before the
# first construct that does not end within the searched range.
SKIP = re.compile(
    rb"(?:[^<]++"
    rb"|</?[a-zA-Z][^\t\n\f\r />]*+" + ATTRS.pattern + rb">"
    rb"|</>"
    rb"|</(?![a-zA-Z>])[^>]*+>"
    rb"|<(?![a-zA-Z/!?])"
    rb")*+"
)
_END_TAGS: dict[str, re.Pattern[bytes]] = {}

# Where an unfinished start tag stopped, as states of the HTML tokenizer.
BEFORE_NAME, IN_TAG_NAME, IN_NAME, AFTER_NAME, BEFORE_VALUE, DQ, SQ, UNQUOTED, DONE = range(9)
_GT, _EQ, _SLASH, _DQ, _SQ = b">"[0], b"="[0], b"/"[0], b'"'[0], b"'"[0]


def skip(pattern: re.Pattern[bytes], buf: bytes | bytearray, pos: int) -> int:
    """Where ``pattern``, which matches the empty string too, stops when matched at ``pos``."""
    m = pattern.match(buf, pos)
    return pos if m is None else m.end()


def end_tag(name: str) -> re.Pattern[bytes]:
    """The end tag that closes raw text ``name``: ``</name`` then space, ``/`` or ``>``."""
    pattern = _END_TAGS.get(name)
    if pattern is None:
        pattern = re.compile(rb"</(?i:" + name.encode() + rb")[\t\n\f\r />]")
        _END_TAGS[name] = pattern
    return pattern


def step_tag(buf: bytes | bytearray, state: int, pos: int) -> tuple[int, int]:
    """Run the start-tag states from ``state`` at ``pos``.

    Returns ``(DONE, end)`` with ``end`` just past the closing ``>``, or the state and position
    at the end of ``buf`` to resume from when more bytes arrive. Each byte is examined a bounded
    number of times, so an endless tag costs linear time over any number of chunks.
    """
    n = len(buf)
    while pos < n:
        if state == BEFORE_NAME:
            pos = skip(ATTRS, buf, pos)
            if pos >= n:
                break
            if buf[pos] == _GT:
                return DONE, pos + 1
            # An unfinished attribute: its first character may be `=`, which is part of a name.
            state, pos = IN_NAME, pos + 1
        elif state == IN_TAG_NAME:
            pos = skip(_TAG_NAME_REST, buf, pos)
            if pos < n:
                if buf[pos] == _GT:
                    return DONE, pos + 1
                state = BEFORE_NAME
        elif state == IN_NAME:
            pos = skip(_NAME_REST, buf, pos)
            if pos < n:
                c = buf[pos]
                if c == _GT:
                    return DONE, pos + 1
                if c == _EQ:
                    state, pos = BEFORE_VALUE, pos + 1
                elif c == _SLASH:
                    state = BEFORE_NAME
                else:
                    state = AFTER_NAME
        elif state == AFTER_NAME:
            pos = skip(SPACES, buf, pos)
            if pos < n:
                c = buf[pos]
                if c == _GT:
                    return DONE, pos + 1
                if c == _EQ:
                    state, pos = BEFORE_VALUE, pos + 1
                else:
                    state = BEFORE_NAME
        elif state == BEFORE_VALUE:
            pos = skip(SPACES, buf, pos)
            if pos < n:
                c = buf[pos]
                if c == _GT:
                    return DONE, pos + 1
                if c == _DQ:
                    state, pos = DQ, pos + 1
                elif c == _SQ:
                    state, pos = SQ, pos + 1
                else:
                    state = UNQUOTED
        elif state in (DQ, SQ):
            close = buf.find(b'"' if state == DQ else b"'", pos)
            if close < 0:
                return state, n
            state, pos = BEFORE_NAME, close + 1
        else:  # UNQUOTED
            pos = skip(_UNQUOTED, buf, pos)
            if pos < n:
                if buf[pos] == _GT:
                    return DONE, pos + 1
                state = BEFORE_NAME
    return state, n


# Script data, its escaped and double-escaped states: inside `<!--`, a `<script>` makes the
# next `</script>` part of the text, as browsers read old pages that hid scripts in comments.
SCRIPT_DATA, SCRIPT_ESCAPED, SCRIPT_DOUBLE = range(3)
_SCRIPT_PATTERNS = (
    re.compile(rb"<(?:!--|/(?i:script)[\t\n\f\r />])"),  # one literal first: a fast search
    re.compile(rb"-->|<(/?)(?i:script)[\t\n\f\r />]"),
    re.compile(rb"-->|</(?i:script)[\t\n\f\r />]"),
)


def script_end(buf: bytes | bytearray, pos: int, state: int) -> tuple[int, int, int]:
    """Where the script text from ``pos`` in ``state`` ends: ``(start of its end tag, state,
    _)``, or ``(-1, state, resume)`` when ``buf`` ends first and the search must go on from
    ``resume`` once more bytes arrive."""
    while True:
        m = _SCRIPT_PATTERNS[state].search(buf, pos)
        if m is None:
            return -1, state, max(pos, len(buf) - 9)
        token = m.group()
        if state == SCRIPT_DATA:
            if token != b"<!--":
                return m.start(), state, m.start()
            # The dashes may be those of `-->`: `<!-->` opens and closes at once.
            state, pos = SCRIPT_ESCAPED, m.start() + 2
        elif token == b"-->":
            state, pos = SCRIPT_DATA, m.end()
        elif state == SCRIPT_DOUBLE:
            state, pos = SCRIPT_ESCAPED, m.end() - 1
        elif m.group(1):
            return m.start(), state, m.start()
        else:
            state, pos = SCRIPT_DOUBLE, m.end() - 1


def decode_value(raw: bytes) -> str:
    """An attribute value as written (quotes included) decoded for the classifier."""
    if raw[:1] in (b'"', b"'"):
        raw = raw[1:-1]
    text = raw.decode("latin-1")
    return html.unescape(text) if "&" in text else text


def quote_value(raw: bytes) -> bytes:
    """An attribute value as written, re-emitted between double quotes.

    Character references are left as written: they decode the same in every quoting style.
    """
    if raw[:1] == b'"':
        return raw
    if raw[:1] == b"'":
        raw = raw[1:-1]
    return b'"' + raw.replace(b'"', b"&quot;") + b'"'


def nonce_value(tag: bytes) -> tuple[int, int] | None:
    """Where the value of a complete start tag's ``nonce`` attribute lies, as written (quotes
    included): the first of that name, the one browsers read. None when the tag has none, or
    one without a value.

    A page with a Content-Security-Policy writes a new nonce into its script tags on every
    view: answers and held forms are kept by the rest of the tag, which is what they depend
    on.
    """
    # A look in a lower-cased copy costs a third of a search that ignores case; most tags
    # hold no nonce and are answered by it alone.
    if tag.lower().find(b"nonce") < 0:
        return None
    for m in ATTR.finditer(tag, skip(TAG_NAME, tag, 0), len(tag) - 1):
        name = m.group(1)
        if len(name) == 5 and name.lower() == b"nonce":
            start, stop = m.span(2)
            return (start, stop) if stop > start else None
    return None


def tag_key(tag: bytes, nonce: tuple[int, int] | None) -> bytes | tuple[bytes, bytes]:
    """What a tag's answers and held forms are kept by: its bytes, or for a tag with a nonce
    (where :func:`nonce_value` found it) the pair of bytes before and after the nonce's value,
    which no tag's bytes equal."""
    return tag if nonce is None else (tag[: nonce[0]], tag[nonce[1] :])


def speedups() -> ModuleType | None:
    """The optional C extension, or None where it is not built or ``CONSENT_NO_SPEEDUPS=1``
    keeps to the Python code."""
    if os.environ.get("CONSENT_NO_SPEEDUPS", "") not in ("", "0"):
        return None
    try:
        from consent import _speedups
    except ImportError:
        return None
    return _speedups


def parse_attrs_python(buf: bytes | bytearray, start: int, end: int) -> dict[str, str | None]:
    """Attributes of a complete tag between ``start`` and ``end``; the first of a name wins."""
    attrs: dict[str, str | None] = {}
    for m in ATTR.finditer(buf, start, end):
        name = m.group(1).lower().decode("latin-1")
        if name not in attrs:
            raw = m.group(2)
            attrs[name] = None if raw is None else decode_value(raw)
    return attrs


def attrs_end_python(buf: bytes | bytearray, pos: int) -> int:
    """Where the attributes of a tag whose name ends at ``pos`` end, as :data:`ATTRS` reads
    them: at its ``>`` when the tag is complete."""
    return skip(ATTRS, buf, pos)


_compiled = speedups()
# The extension's copies give the same names, values and ends (tests compare the two over
# arbitrary bytes); the classifier reads the attributes of every element it sees first, and
# the rewriter finds the end of every tag it reads.
parse_attrs: Callable[[bytes | bytearray, int, int], dict[str, str | None]] = (
    parse_attrs_python if _compiled is None else _compiled.parse_attrs
)
attrs_end: Callable[[bytes | bytearray, int], int] = (
    attrs_end_python if _compiled is None else _compiled.attrs_end
)


class LazyAttrs(Mapping[str, str | None]):
    """A tag's attributes, read from its bytes only when a classifier first asks."""

    __slots__ = ("_end", "_parsed", "_start", "_tag")

    def __init__(self, tag: bytes, start: int, end: int) -> None:
        self._tag = tag
        self._start = start
        self._end = end
        self._parsed: dict[str, str | None] | None = None

    def parsed(self) -> Mapping[str, str | None]:
        """The attributes as a plain mapping, for a reader that asks for many names: its
        ``get`` is the dict's own, with no method of this class in between."""
        parsed = self._parsed
        if parsed is None:
            parsed = self._parsed = parse_attrs(self._tag, self._start, self._end)
        return parsed

    def __getitem__(self, key: str) -> str | None:
        return self.parsed()[key]

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str | _T | None, /) -> str | _T | None: ...
    def get(self, key: str, default: object = None, /) -> object:
        # Mapping.get goes through __getitem__ and a KeyError for every absent name.
        parsed = self._parsed
        return (self.parsed() if parsed is None else parsed).get(key, default)

    def __contains__(self, key: object) -> bool:
        parsed = self._parsed
        return key in (self.parsed() if parsed is None else parsed)

    def __iter__(self) -> Iterator[str]:
        return iter(self.parsed())

    def __len__(self) -> int:
        return len(self.parsed())

    def __repr__(self) -> str:
        return f"LazyAttrs({self.parsed()!r})"
