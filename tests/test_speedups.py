"""The compiled scan against the Python rewriter it stands in for: the same output, byte for byte.

Each piece of the extension is checked against the pattern it mirrors, then whole pages are
rewritten both ways: generated ones, and the shared real pages (read from ``../shared``).
"""

import copy
import ctypes
import gc
import itertools
import mmap
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import cast

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from consent import _scanner as sc
from consent import catalogue as catalogue_module
from consent import rewriter
from consent.catalogue import _HOST_END, Catalogue, LiteralSearch, _trie_regex, not_tracker_hosts
from consent.holdback import HoldbackPolicy
from consent.names import ATTR_HELD, MARKETING
from consent.parties import Parties
from consent.rewriter import Answers, Classifier, Element, Hold, HtmlRewriter, Known
from tests.conftest import realpages_folder, speedups
from tests.realpages import harness
from tests.test_rewriter import (
    BODY,
    HEAD,
    PIECES,
    CountingScan,
    Remembered,
    grows_linearly,
    html_like,
    splits,
    tracker,
)

Scan = Callable[..., tuple[int, ...]] | None


@pytest.fixture(scope="module")
def sp() -> ModuleType:
    return speedups()


def rewritten_counted(
    html: bytes, pieces: list[bytes], classify: Classifier | None, scan: Scan, **kw: bytes
) -> tuple[bytes, int]:
    """The output, and how many elements the rewriter says it held."""
    saved = rewriter._fast_scan
    rewriter._fast_scan = scan  # type: ignore[assignment]
    try:
        pass_ = HtmlRewriter(classify, **kw)  # type: ignore[arg-type]
        out = b"".join(pass_.feed(piece) for piece in pieces) + pass_.close()
        assert not pass_.failed
        assert b"".join(pieces) == html
        return out, pass_.held_count
    finally:
        rewriter._fast_scan = saved


def rewritten(
    html: bytes, pieces: list[bytes], classify: Classifier | None, scan: Scan, **kw: bytes
) -> bytes:
    return rewritten_counted(html, pieces, classify, scan, **kw)[0]


def test_the_extension_knows_the_names_the_python_code_uses(sp: ModuleType) -> None:
    assert set(sp.SEARCHED) == sc.CONSIDERED | sc.RAW_TEXT | sc.OTHER | {"plaintext"}
    assert set(sp.PLAIN) == {name.decode() for name in rewriter._PLAIN_NAMES}
    assert set(sp.FOREIGN) == set(sc.FOREIGN_NAMES)
    assert set(sp.RAW_TEXT) == sc.RAW_TEXT - {"script", "iframe"}
    assert {name.encode() for name in sp.FETCH_ATTR} == set(sc.FETCH_ATTR_NAMES)
    for name in sp.SEARCHED:
        if name not in ("svg", "math"):
            assert sc.SEARCH_MAIN.fullmatch(b"<" + name.upper().encode() + b" ") is not None


ATTR_PIECES = [b" ", b"\t", b"\n", b"/", b"=", b">", b'"', b"'", b"<", b"\x00", b"a", b"x"]
ATTR_PIECES += [b"href", b"HREF", b"xlink:href", b"ping", b"Background", b"src", b"b=1", b'c="']
attr_like = st.lists(st.sampled_from(ATTR_PIECES), max_size=30).map(b"".join)
_INERT_ATTRS = re.compile(sc._INERT_ATTRS)


@settings(max_examples=2000)
@given(attr_like, st.integers(min_value=0, max_value=60))
def test_attributes_end_where_the_patterns_do(sp: ModuleType, data: bytes, pos: int) -> None:
    pos = min(pos, len(data))
    assert sp.attrs_end(data, pos) == sc.skip(sc.ATTRS, data, pos)
    assert sc.attrs_end_python(data, pos) == sc.skip(sc.ATTRS, data, pos)
    assert sp.attrs_end(data, pos, True) == sc.skip(_INERT_ATTRS, data, pos)


VALUE_PIECES = [b"&amp;", b"&", b"&#x41;", b"&notin;", b"&not", b"\xe9", b"\xff", b"&#0;"]
VALUE_PIECES += [b"=", b'"', b"'", b" ", b"\t", b">", b"/", b"NONCE", b"Src", b"\x00", b"a"]
attribute_text = st.lists(
    st.sampled_from(ATTR_PIECES) | st.sampled_from(VALUE_PIECES) | st.binary(max_size=3),
    max_size=40,
).map(b"".join)


@settings(max_examples=3000)
@given(
    attribute_text, st.integers(min_value=-2, max_value=80), st.integers(min_value=-2, max_value=90)
)
@example(b'a="b', 0, 4)  # a quote never closed: an unquoted value that starts with it
@example(b'a="', 0, 3)
@example(b"A=1 a=2 =x", 0, 10)
@example(b"src=a&amp;b&notin x", 0, 20)
def test_attributes_are_read_as_the_python_code_reads_them(
    sp: ModuleType, data: bytes, start: int, end: int
) -> None:
    expected = sc.parse_attrs_python(data, start, end)
    found = sp.parse_attrs(data, start, end)
    assert found == expected
    assert list(found) == list(expected)  # in the same order
    assert sp.parse_attrs(bytearray(data), start, end) == expected


DRAWING = [b"<svg", b"<SVG", b"<math", b"</svg>", b"</math>", b"</SVG >", b"<path d=1>", b"<g>"]
DRAWING += [b"</g>", b"<a>", b"<img>", b"<!--", b"<?", b"<foreignObject>", b"</", b"<", b">"]
DRAWING += [b" href=x", b" fill='#000'", b' d="<img >"', b"text", b"/", b" ", b"<p/>", b"<G "]
DRAWING += [b"\x00", b"<img\x00", b"<svg\x00", b"<IMG"]
drawing = st.lists(st.sampled_from(DRAWING), max_size=30).map(b"".join)


@settings(max_examples=2000)
@given(drawing)
def test_inert_drawings_are_the_pattern_s(sp: ModuleType, data: bytes) -> None:
    for m in re.finditer(rb"<(svg|math)(?=[\t\n\f\r />])", data, re.IGNORECASE):
        name = m.group(1).lower().decode()
        expected = sc.INERT_FOREIGN[name].match(data, m.end()) is not None
        assert sp.is_inert(data, m.end(), name) is expected


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(html_like | drawing, st.integers(min_value=0, max_value=400))
@example(b'\x00<img\x00" "<\n/', 0)  # a NUL inside a name ends no C string here
@example(b"<svg\x00</svg><?>", 0)
@example(b"<BODY\x00x><body\x00><TEMPLATE></Template ><bodyx>", 0)
def test_the_next_candidate_is_the_pattern_s(each_sp: ModuleType, data: bytes, pos: int) -> None:
    found_where_the_patterns_match(each_sp, data, min(pos, len(data)))


def found_where_the_patterns_match(
    sp: ModuleType, data: bytes | memoryview, pos: int, expected: bytes | None = None
) -> None:
    """The scan from pos stops where SEARCH_MAIN (SEARCH_BODY before the body) first matches
    in expected (data's bytes), having passed nothing over."""
    text = bytes(data) if expected is None else expected
    m = sc.SEARCH_MAIN.search(text, pos)
    assert sp.scan(data, pos, None, None) == (pos, -1 if m is None else m.start()), (text, pos)
    for body_due, search in ((False, sc.SEARCH_MAIN), (True, sc.SEARCH_BODY)):
        found = sp.scan(data, pos, None, None, [], 0, b"", {}, 0, body_due, True)
        m = search.search(text, pos)
        assert found == (pos, -1 if m is None else m.start(), 0, 0, False), (text, pos, body_due)


def closer_look(data: bytes, pos: int, p: int) -> bool:
    """The rewriter loop's test that the match at p may lie inside another tag's attributes."""
    gt = data.rfind(b">", pos, p)
    return p > pos and (
        data.find(b"<", max(pos, gt + 1), p) >= 0
        or (gt >= 0 and rewriter._may_be_quoted(data, pos, gt))
    )


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(html_like | drawing, st.integers(min_value=0, max_value=400), st.booleans())
@example(b"<p title='a> <img src=x>'>", 0, False)  # the stop inside a quoted value
@example(b"<p <img src=x>", 0, False)
def test_a_settled_stop_is_at_its_candidate_only_where_the_loop_would_look_no_closer(
    each_sp: ModuleType, data: bytes, pos: int, body_due: bool
) -> None:
    pos = min(pos, len(data))
    knowns: tuple[Known | None, ...] = (None, {})
    for known in knowns:
        args: tuple[object, ...] = (data, pos, known, None, [], 0, b"", {}, 0, body_due, True, None)
        unsettled = each_sp.scan(*args)
        found = each_sp.scan(*args, True)
        assert found[1:] == unsettled[1:]
        stop = found[1]
        if found[0] != unsettled[0]:
            assert stop >= 0 and found[0] == stop
            assert not closer_look(data, unsettled[0], stop)


def test_a_stop_in_text_is_settled_and_one_that_may_be_in_a_tag_is_not(sp: ModuleType) -> None:
    settle: tuple[object, ...] = (None, [], 0, b"", {}, 0, False, True, None, True)
    assert sp.scan(b"<p>x</p><img src=a>", 0, {}, *settle)[:2] == (8, 8)
    assert sp.scan(b"<p>x</p><img src=a>", 0, None, *settle)[:2] == (8, 8)
    # Inside a quoted value, or after a '<' that opens a tag: the loop reads it closer.
    assert sp.scan(b"<p title='a> <img src=x>'>", 0, {}, *settle)[:2] == (0, 13)
    assert sp.scan(b"<p <img src=x>", 0, {}, *settle)[:2] == (0, 3)
    # Without settle, the stop keeps the position it started from.
    assert sp.scan(b"<p>x</p><img src=a>", 0, {}, *settle[:-1])[:2] == (0, 8)


def test_every_two_bytes_after_a_lt_are_read_as_the_patterns_read_them(each_sp: ModuleType) -> None:
    # Most '<' are turned away on the two bytes after them: each pair, at offsets across a
    # block of 32 bytes, with enough after it for a whole block or not, and cut by the end.
    for first in range(256):
        lead = b"y" * (first % 37)
        found_where_the_patterns_match(each_sp, lead + b"<" + bytes([first]), 0)
        for second in range(256):
            data = lead + b"<" + bytes([first, second])
            found_where_the_patterns_match(each_sp, data + b" ", 0)
            found_where_the_patterns_match(each_sp, data + b">" + b"z" * 40, 0)


def in_every_case(name: bytes) -> Iterator[bytes]:
    choices = [(c.lower(), c.upper()) if c.isalpha() else (c,) for c in name.decode()]
    for letters in itertools.product(*choices):
        yield "".join(letters).encode()


def test_searched_names_in_any_case_are_found(each_sp: ModuleType) -> None:
    names = [name.encode() for name in each_sp.SEARCHED] + [b"body", b"template", b"/template"]
    ends = [b" ", b"\t", b"\n", b"\x0c", b"\r", b"/", b">", b"", b"x", b"\x00", b"=", b"<"]
    for name in names:
        for i, spelled in enumerate(in_every_case(name)):
            for end in ends:
                data = b"y" * (i % 37) + b"<" + spelled + end
                found_where_the_patterns_match(each_sp, data, 0)
                found_where_the_patterns_match(each_sp, data + b"z" * 32, 0)
                found_where_the_patterns_match(each_sp, data[:-2] + end, 0)


# Constructs to put at every offset of short buffers: where a block of 32 bytes ends, where the
# buffer's last bytes are too few for one, and cut by the buffer's end.
AT_EDGES = [b"<", b"<!", b"<?", b"</", b"<img src=x>", b"<IMG\x00", b"<\x00<", b"</template>"]
AT_EDGES += [b"<Body>", b"<svg><g/></svg>", b"<b <img src=x>", b"<p title='<img src=x>'>"]
FILLERS = [b"y" * 100, b"<i>a</i>" * 13, b"<" * 100, b"\x00" * 100]


def test_constructs_at_every_offset_near_the_ends_are_found(each_sp: ModuleType) -> None:
    for size in range(101):
        for at in range(size + 1):
            for piece in AT_EDGES:
                for filler in FILLERS:
                    data = (filler[:at] + piece + filler)[:size]
                    found_where_the_patterns_match(each_sp, data, 0)
                    found_where_the_patterns_match(each_sp, data, at)


@pytest.mark.parametrize("filler", FILLERS[:2], ids=["text", "tags"])
def test_the_last_lt_before_a_remembered_tag_is_the_one_python_sees(
    each_sp: ModuleType, filler: bytes
) -> None:
    # A '<' after the last '>' before a tag may open another tag whose attributes hold it:
    # the compiled scan leaves that tag to Python, which holds it only if it is a tag,
    # wherever that '<' falls in a block.
    held = b"<img src=tracker.test>"  # short enough to lie wholly in the last bytes
    classify = Remembered(hold_trackers)
    rewritten(b"<p>" + held, [b"<p>" + held], classify, None)  # its held form remembered
    for size in range(0, 121, 3):
        for at in range(size + 1):
            for piece in (b"<b <", b"<p title='<", b"<img src=x><", b"<b>x<"):
                html = (b"<p>" + filler[:at] + piece + held[1:] + filler)[:size]
                reference = rewritten(html, [html], Remembered(hold_trackers), None)
                assert rewritten(html, [html], classify, each_sp.scan) == reference
                assert rewritten(html, [html], classify, each_sp.scan) == reference


def test_bad_arguments_raise_instead_of_reading_out_of_bounds(sp: ModuleType) -> None:
    with pytest.raises(ValueError, match="pos"):
        sp.scan(b"<img>", 6, None, None)
    with pytest.raises(ValueError, match="pos"):
        sp.attrs_end(b"<img>", -1)
    with pytest.raises(TypeError):
        sp.scan(b"<img>", 0, [], None)
    with pytest.raises(TypeError):
        sp.scan(b"<img>", 0, None, 1)
    with pytest.raises(TypeError):
        sp.scan("<img>", 0, None, None)
    with pytest.raises(ValueError, match="svg or math"):
        sp.is_inert(b"<svg>", 4, "div")
    with pytest.raises(ValueError, match="svg or math"):
        sp.is_inert(b"<svg>", 4, "svg\x00")


class _KeyThatMisbehaves:
    """Hashes as a remembered tag does, so that the compiled scan's look-up compares with it."""

    def __init__(self, key: tuple[bytes, None, None], act: Callable[[], object]) -> None:
        self.key, self.act, self.armed = key, act, False

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        if self.armed:
            self.act()
        return False


def test_a_remembered_answers_key_that_misbehaves_is_an_error_not_a_crash(sp: ModuleType) -> None:
    page = b"<p><img src=a><img src=b>"
    key = (b"<img src=a>", None, None)
    growing = bytearray(page)

    def fail() -> None:
        raise RuntimeError("compared")

    for act, input_, error in (
        (fail, page, RuntimeError),
        (lambda: growing.extend(b"x"), growing, BufferError),
    ):
        evil = _KeyThatMisbehaves(key, act)
        known: dict[object, None] = {evil: None, key: None}
        evil.armed = True
        with pytest.raises(error):
            sp.scan(input_, 0, known, None)
    emptied: dict[object, None] = {}
    evil = _KeyThatMisbehaves(key, emptied.clear)
    emptied[evil] = None
    emptied[key] = None
    evil.armed = True
    assert sp.scan(page, 0, emptied, None) == (0, 3)  # forgotten mid-look-up: not passed over
    with pytest.raises(OverflowError):
        sp.scan(page, 1 << 70, None, None)
    with pytest.raises(BufferError):
        sp.attrs_end(memoryview(page)[::2], 0)


# Inputs the generated HTML rarely reaches: names in other cases or cut by NUL, CR or FF,
# attribute edges, drawings with HTML inside, and constructs cut in half.
HARD_PIECES = [
    b"<IMG src=a>",
    b"<Img\x0csrc=b>",
    b"<img\rsrc=c>",
    b"<img\x00src=d>",
    b"<im\x00g>",
    b"<SVG>",
    b"<Svg>",
    b"</SVG>",
    b"<svg\x0c>",
    b"<math>",
    b"</MATH>",
    b"<mi>",
    b"<foreignObject>",
    b"<svg><image href=https://tracker.test/i></svg>",
    b"<svg/>",
    b"<svg><a xlink:href=x>",
    b"<math><mtext><img src=x></mtext></math>",
    b"<img/src=e>",
    b"<img =x>",
    b"<img src==x>",
    b"<img src= >",
    b"<img src='a>'>",
    b"<img src=\"a'>",
    b"</ img>",
    b"</>",
    b"</img\n>",
    b"<!-- <img> -->",
    b"<!->",
    b"<!-->",
    b"<!--->",
    b"<!---->",
    b"<!-- a --!> b",
    b"<!-- - -- ->",
    b"--!>",
    b"-->",
    b"<!--",
    b"<?x <img src=https://tracker.test/q>",
    b"<!DOCTYPE html>",
    b"<![CDATA[<img src=https://tracker.test/c>]]>",
    b"</ ",
    b"<LINK rel=x href=y>",
    b"<source\n\n>",
    b"<link\x0c/>",
    b"<ImAgE>",
    b"\x0c",
    b"\r",
    b"\x00",
    b"</",
    b"<svg",
    b"<img",
    b'="',
    b"<scr",
    b"ipt>",
    b"<title>a <b></title>",
    b"<STYLE media=x>p{}</style >",
    b"<textarea><img src=https://tracker.test/x></TEXTAREA>",
    b"<xmp><script>t()</script></xmp>",
    b"<noembed><iframe src=//tracker.test/f></noembed>",
    b"<noframes>",
    b"</noframes/>",
    b"<title",
    b"</titl",
    b"</style",
]
hard_html = st.lists(
    st.sampled_from(HARD_PIECES) | st.sampled_from(PIECES) | st.binary(max_size=3).filter(bool),
    min_size=4,
    max_size=60,
).map(b"".join)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hard_html, st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_hard_inputs_give_the_python_output(sp: ModuleType, html: bytes, cuts: list[int]) -> None:
    classify = Remembered(hold_trackers)
    reference = rewritten(html, [html], Remembered(hold_trackers), None)
    for _ in range(2):
        assert rewritten(html, splits(html, cuts), classify, sp.scan) == reference
    for pos in range(len(html) + 1):
        found = sp.scan(html, pos, None, None)
        m = sc.SEARCH_MAIN.search(html, pos)
        assert found == (pos, -1 if m is None else m.start())
        assert sp.scan(bytearray(html), pos, classify.known, None) == sp.scan(
            html, pos, classify.known, None
        )


def hold_trackers(element: Element) -> Hold | None:
    hold = tracker(element)
    return None if hold is None else Hold("c", placeholder=b"<!--ph-->")


class Fenced:
    """Buffers placed against pages the process may not read: a read past either end of one
    faults at once, where one past the end of a bytes object goes unseen."""

    def __init__(self) -> None:
        self.page = mmap.PAGESIZE
        self.map = mmap.mmap(-1, 3 * self.page)
        anchor = ctypes.c_char.from_buffer(self.map)
        self.base = ctypes.addressof(anchor)
        del anchor
        self.protect(0)

    def protect(self, access: int) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        for offset in (0, 2 * self.page):
            address = ctypes.c_void_p(self.base + offset)
            if libc.mprotect(address, ctypes.c_size_t(self.page), access) != 0:
                raise OSError(ctypes.get_errno(), "mprotect")

    def ending(self, data: bytes) -> memoryview:
        """data, its last byte the last before the fence after it."""
        start = 2 * self.page - len(data)
        self.map[start : 2 * self.page] = data
        return memoryview(self.map)[start : 2 * self.page]

    def starting(self, data: bytes) -> memoryview:
        """data, its first byte the first after the fence before it."""
        self.map[self.page : self.page + len(data)] = data
        return memoryview(self.map)[self.page : self.page + len(data)]

    def close(self) -> None:
        self.protect(mmap.PROT_READ | mmap.PROT_WRITE)
        self.map.close()


@pytest.fixture(scope="module")
def fenced() -> Iterator[Fenced]:
    if sys.platform != "linux":
        pytest.skip("the fences are made with Linux's mprotect")
    fence = Fenced()
    yield fence
    fence.close()


def read_everywhere(sp: ModuleType, view: memoryview, known: Known) -> None:
    """Each of the extension's functions from every position of view, which must not fault."""
    data = bytes(view)
    for pos in range(len(data) + 1):
        found_where_the_patterns_match(sp, view, pos, data)
        for body_due in (False, True):
            sp.scan(view, pos, known, None, [], 0, b"", rewriter._HELD_TAGS, 99, body_due, True)
        sp.attrs_end(view, pos)
        sp.attrs_end(view, pos, True)
        sp.is_inert(view, pos, "svg")
        sp.is_inert(view, pos, "math")
    view.release()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(hard_html | html_like, st.integers(min_value=0, max_value=100))
def test_nothing_outside_the_buffer_is_read(
    each_sp: ModuleType, fenced: Fenced, html: bytes, size: int
) -> None:
    classify = Remembered(hold_trackers)
    rewritten(html, [html], classify, each_sp.scan)
    for data in (html[-size:] if size else b"", html[:size]):
        read_everywhere(each_sp, fenced.ending(data), classify.known)
        read_everywhere(each_sp, fenced.starting(data), classify.known)


def test_nothing_outside_short_buffers_is_read(each_sp: ModuleType, fenced: Fenced) -> None:
    classify = Remembered(hold_trackers)
    pieces = [*AT_EDGES, *HARD_PIECES]
    rewritten(b"".join(pieces), [b"".join(pieces)], classify, each_sp.scan)
    for size in range(40):
        for piece in pieces:
            data = (FILLERS[1] + piece)[-size:] if size else b""
            read_everywhere(each_sp, fenced.ending(data), classify.known)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(html_like, st.lists(st.integers(min_value=0, max_value=10_000), max_size=10))
def test_any_split_gives_the_python_output(sp: ModuleType, html: bytes, cuts: list[int]) -> None:
    kw = {"head_injection": HEAD, "body_injection": BODY}
    classify = Remembered(hold_trackers)
    cold = rewritten_counted(html, splits(html, cuts), classify, sp.scan, **kw)
    counted = rewritten_counted(html, [html], Remembered(hold_trackers), None, **kw)
    assert cold == counted
    # Now with every start tag and script remembered: the compiled scan takes them itself.
    warm = rewritten_counted(html, splits(html, cuts), classify, sp.scan, **kw)
    assert warm == counted
    reference = counted[0]
    bytewise = [html[i : i + 1] for i in range(len(html))]
    assert rewritten(html, bytewise, classify, sp.scan, **kw) == reference


@given(st.binary(max_size=400), st.lists(st.integers(min_value=0, max_value=500), max_size=6))
def test_arbitrary_bytes_give_the_python_output(
    each_sp: ModuleType, data: bytes, cuts: list[int]
) -> None:
    classify = Remembered(hold_trackers)
    reference = rewritten(data, [data], Remembered(hold_trackers), None)
    for _ in range(2):
        assert rewritten(data, splits(data, cuts), classify, each_sp.scan) == reference


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html_like | hard_html, st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_a_visitor_who_granted_everything_gets_the_python_output(
    sp: ModuleType, html: bytes, cuts: list[int]
) -> None:
    # No classifier: the compiled scan passes every element by without asking for answers.
    kw = {"head_injection": HEAD, "body_injection": BODY}
    reference = rewritten_counted(html, [html], None, None, **kw)
    assert reference[1] == 0
    for pieces in (splits(html, cuts), [html], [html[i : i + 1] for i in range(len(html))]):
        assert rewritten_counted(html, pieces, None, sp.scan, **kw) == reference


def test_raw_text_elements_are_read_to_their_end_in_c(sp: ModuleType) -> None:
    # A title, style sheet or text area judges nothing: the scan passes it by whole, trackers
    # written inside it being text, not elements.
    page = b"<p>" + b"".join(
        b"<title>t %d</title><STYLE>p{}</style ><textarea><img src=https://tracker.test/%d>"
        b"</textarea><xmp><script>t()</script></xmp>" % (i, i)
        for i in range(20)
    )
    out: list[bytes | bytearray] = []
    pos, stop, emit, held, _injected = sp.scan(
        page, 0, {}, None, out, 0, b"", {}, 262144, False, True
    )
    # Passed up to the last end tag, with nothing after it to look at.
    assert (pos, stop, emit, held) == (len(page) - len(b"</xmp>"), -1, 0, 0)
    assert out == []
    # Where the page may still be inside <svg> (no inline limit), Python reads the text.
    assert sp.scan(page, 0, {}, None, [], 0, b"", {}, -1, False, True)[:2] == (0, 3)
    assert rewritten(page, [page], Remembered(hold_trackers), sp.scan) == page


def test_with_nothing_to_hold_the_compiled_scan_takes_the_head_s_elements(
    sp: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scripts, frames and images between the head injection and <body> are what an
    # accepted visitor's page makes the rewriter read; Python sees none of them any more.
    head = b"".join(
        b"<script async src=https://tracker.test/%d.js></script><script>t(%d)</script>"
        b"<link rel=preload href=//cdn.test/%d.css><noscript><img src=https://t.test/p></noscript>"
        % (i, i, i)
        for i in range(20)
    )
    page = b"<!doctype html><html><head><title>t</title>" + head + b"</head><body><p>x</p>"
    considered: list[str] = []
    original = HtmlRewriter._consider

    def counting(self: HtmlRewriter, *args: object) -> int:
        considered.append(str(args[4]))
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(HtmlRewriter, "_consider", counting)
    kw = {"head_injection": HEAD, "body_injection": BODY}
    reference = rewritten(page, [page], None, None, **kw)
    assert considered == ["script"] * 40  # Python reads each script itself
    considered.clear()
    assert rewritten(page, [page], None, sp.scan, **kw) == reference
    assert considered == []
    assert sp.scan(page, 0, True, None) == sp.scan(page, 0, True, None)
    with pytest.raises(TypeError):
        sp.scan(page, 0, False, None)


REMEMBERED_PAGE = b"<p>" + b"".join(
    b"<img src=/i/%d.jpg><img src=https://tracker.test/p><script>var n = %d;</script>"
    b"<SCRIPT async SRC='https://tracker.test/t.js'></script><script src=/own.js></script >"
    b"<script>t('tracker.test')</script><image src=//tracker.test/i>"
    b"<noscript><img src=https://tracker.test/n><img src=/n></noscript>"
    b"<iframe src=https://tracker.test/f>x</IFRAME ><iframe src=/own></iframe>"
    b"<input type=hidden value='&amp;'><input type=IMAGE src=//tracker.test/i><input>"
    % (i % 7, i % 3)
    for i in range(50)
)


FRESH = itertools.count()


def taken(sp: ModuleType, page: bytes, known: Known) -> tuple[int, int]:
    """Where the writing scan stops on page (len(page) when it took every element itself), and
    how many elements it held."""
    pos, stop, _emit, held, _injected = sp.scan(
        page, 3, known, None, [], 0, b"", rewriter._HELD_TAGS, 100, False, True
    )
    return (pos if stop < 0 else stop), held


@pytest.mark.parametrize("plain", [False, True], ids=["answers", "plain dict"])
def test_an_answer_changed_or_taken_back_is_read_again(each_sp: ModuleType, plain: bool) -> None:
    # A tag no other run used: until the Python code makes its held form, a held answer stops
    # the scan.
    tag = b"<img src=https://tracker.test/changed-answer-%d>" % next(FRESH)
    page = b"<p>" + tag + b"<img src=/own.jpg>"
    everything = (len(page), 0)
    classify = Remembered(lambda element: None, plain=plain)
    assert rewritten(page, [page], classify, each_sp.scan) == page
    key = (tag, None, None)
    assert key in classify.known
    # Twice: the second time from the index, with the answer it kept.
    assert taken(each_sp, page, classify.known) == everything
    assert taken(each_sp, page, classify.known) == everything
    classify.known[key] = Hold("analytics")
    assert taken(each_sp, page, classify.known) == (3, 0)
    out = rewritten(page, [page], classify, each_sp.scan)
    assert out == rewritten(page, [page], classify, None)
    assert out.count(ATTR_HELD.encode()) == 1
    assert taken(each_sp, page, classify.known) == (len(page), 1)
    del classify.known[key]
    assert taken(each_sp, page, classify.known) == (3, 0)
    classify.known[key] = None
    assert taken(each_sp, page, classify.known) == everything
    classify.known.clear()
    assert taken(each_sp, page, classify.known) == (3, 0)
    classify.known.update({key: None, (b"<img src=/own.jpg>", None, None): None})
    assert taken(each_sp, page, classify.known) == everything
    classify.known |= {key: Hold("analytics")}
    assert taken(each_sp, page, classify.known) == (len(page), 1)
    # Another answer with another placeholder: what the index kept of the last one goes.
    classify.known[key] = Hold("analytics", placeholder=b"<!--another placeholder-->")
    for _ in range(2):
        out = rewritten(page, [page], classify, each_sp.scan)
        assert out == rewritten(page, [page], classify, None)
        assert out.count(b"<!--another placeholder-->") == 1


def test_one_visitors_answers_never_stand_for_anothers(each_sp: ModuleType) -> None:
    page = b"<p>" + b"<img src=https://tracker.test/visitor>" * 3 + b"<script>t()</script>"
    granted = Remembered(lambda element: None)
    refused = Remembered(hold_trackers)
    for _ in range(3):
        for classify, held in ((granted, 0), (refused, 3)):
            out, count = rewritten_counted(page, [page], classify, each_sp.scan)
            assert (out, count) == rewritten_counted(page, [page], classify, None)
            assert count == held


def test_a_tag_remembered_under_one_base_is_not_taken_under_another(each_sp: ModuleType) -> None:
    tag = b"<img src=pixel.gif>"
    page = b"<p>" + tag
    known = Answers()
    known[(tag, None, None)] = None
    for _ in range(2):
        assert each_sp.scan(page, 3, known, None) == (len(page), -1)
    assert each_sp.scan(page, 3, known, "https://tracker.test/") == (3, 3)
    known[(tag, None, "https://tracker.test/")] = None
    for _ in range(2):
        assert each_sp.scan(page, 3, known, "https://tracker.test/") == (len(page), -1)
    assert each_sp.scan(page, 3, known, "https://other.test/") == (3, 3)


def test_an_answer_kept_from_a_copy_never_stands_for_the_original(each_sp: ModuleType) -> None:
    tag = b"<img src=https://tracker.test/copied-%d>" % next(FRESH)
    page = b"<p>" + tag
    original = Answers()
    copied = copy.copy(original)
    copied[(tag, None, None)] = None
    for _ in range(2):
        assert each_sp.scan(page, 3, copied, None) == (len(page), -1)
    # The original never answered for the tag: its classifier must be asked.
    assert each_sp.scan(page, 3, original, None) == (3, 3)


def test_an_answer_kept_while_update_runs_is_read_again(each_sp: ModuleType) -> None:
    tag = b"<img src=https://tracker.test/updated-%d>" % next(FRESH)
    page = b"<p>" + tag
    key = (tag, None, None)
    known = Answers()
    known[key] = None

    class Reading:
        def keys(self) -> list[tuple[bytes, None, None]]:
            # A page scanned meanwhile, with the answer as it still is.
            assert each_sp.scan(page, 3, known, None) == (len(page), -1)
            return [key]

        def __getitem__(self, key: object) -> Hold:
            return Hold("analytics")

    known.update(Reading())
    # Held now: the scan stops at it (the 4-argument scan writes nothing).
    assert each_sp.scan(page, 3, known, None) == (3, 3)


def kept_by_index(sp: ModuleType) -> int:
    """The bytes of tags, texts, bases, held forms and placeholders the index keeps alive (its
    slots' references, as the module's traverse names them)."""
    total = 0
    for obj in gc.get_referents(sp):
        if isinstance(obj, tuple) and all(isinstance(x, (bytes, str)) or x is None for x in obj):
            total += sum(len(x) for x in obj if x is not None)
        elif isinstance(getattr(obj, "placeholder", None), bytes):
            total += len(obj.placeholder)
    return total


def test_the_index_budget_counts_the_bases_it_keeps(sp: ModuleType) -> None:
    # Each page writes a long base of its own: once the answers are gone, only the index keeps
    # the bases alive, and they count against its budget like the tags.
    sp.index_clear()
    budget = sp.index_info()[3]
    tag = b"<img src=/a.jpg>"
    page = b"<p>" + tag
    for i in range(2000):
        base = f"https://site.test/{i}/" + "b" * 16000
        known = Answers()
        known[(tag, None, base)] = None
        assert sp.scan(page, 3, known, base) == (len(page), -1)
    del known
    assert sp.index_info()[1] <= budget
    assert kept_by_index(sp) <= budget
    sp.index_clear()


def test_the_index_budget_counts_the_held_forms_it_keeps(sp: ModuleType) -> None:
    sp.index_clear()
    budget = sp.index_info()[3]
    held_tags: dict[tuple[bytes, str, str], tuple[bytes, bytes]] = {}
    known = Answers()
    tags = []
    for i in range(4000):
        tag = b"<img src=https://tracker.test/%d/%s>" % (i, b"p" * 1900)
        tags.append(tag)
        known[(tag, None, None)] = Hold("analytics")
        held_tags[(tag, "img", "analytics")] = (tag[:-1] + b' data-category="analytics"', b">")
    page = b"<p>" + b"".join(tags)
    out: list[bytes] = []
    found = sp.scan(page, 3, known, None, out, 0, b" data-held", held_tags, 100, False, False)
    assert found[1] == -1 and found[3] == len(tags)
    del out, held_tags, known
    assert sp.index_info()[1] <= budget
    assert kept_by_index(sp) <= budget
    sp.index_clear()


def test_code_run_while_an_answer_is_kept_leaves_the_index_count_right(sp: ModuleType) -> None:
    # Reading a held answer's placeholder may run code (a property), which may empty the slot
    # the answer was going to: nothing is kept in it then, and nothing is counted.
    armed = [True]

    class Sneaky:
        category = "analytics"

        @property
        def placeholder(self) -> bytes:
            if armed:
                armed.clear()
                sp.index_clear()
            return b"x" * 100

    tag = b"<img src=https://tracker.test/sneaky-%d>" % next(FRESH)
    page = b"<p>" + tag
    known = Answers()
    known[(tag, None, None)] = cast(Hold, Sneaky())
    sp.index_clear()
    assert sp.scan(page, 3, known, None) == (3, 3)
    assert not armed
    assert sp.index_info()[:2] == (0, 0)


def test_the_scan_takes_answers_only_with_an_epoch(sp: ModuleType) -> None:
    class NoEpoch(dict[tuple[bytes, str | None, str | None], Hold | None]):
        pass

    class ZeroEpoch(NoEpoch):
        epoch = 0

    for known, error in ((NoEpoch(), TypeError), (ZeroEpoch(), ValueError)):
        with pytest.raises(error):
            sp.scan(b"<p><img src=x>", 3, known, None)


def test_the_index_keeps_within_its_bounds(sp: ModuleType) -> None:
    # More inline script text than the index may keep, and more tags than it has slots.
    text = b"x" * 16000
    scripts = b"".join(b"<script>var s%d = '%s';</script>" % (i, text) for i in range(1200))
    images = b"".join(b"<img src=/i/%d.jpg>" % i for i in range(20_000))
    page = b"<p>" + images + scripts
    classify = Remembered(tracker)
    reference = rewritten(page, [page], classify, None)
    sp.index_clear()
    assert sp.index_info()[:2] == (0, 0)
    for _ in range(2):
        assert rewritten(page, [page], classify, sp.scan) == reference
        entries, kept, slots, budget = sp.index_info()
        assert 0 < entries <= slots
        assert budget // 2 < kept <= budget


def test_remembered_tags_cost_no_classifier_call(sp: ModuleType) -> None:
    classify = Remembered(hold_trackers)
    reference = rewritten_counted(REMEMBERED_PAGE, [REMEMBERED_PAGE], classify, None)
    python_calls = classify.calls
    assert reference[1] > 0
    assert python_calls == 12 * 50
    assert rewritten_counted(REMEMBERED_PAGE, [REMEMBERED_PAGE], classify, sp.scan) == reference
    # Every tag and script is remembered, its held form made once: Python is never asked.
    assert classify.calls == python_calls
    for size in (4096, 97):
        # Python reads what a chunk's end cuts, the compiled scan the rest.
        pieces = splits(REMEMBERED_PAGE, list(range(size, len(REMEMBERED_PAGE), size)))
        assert rewritten_counted(REMEMBERED_PAGE, pieces, classify, sp.scan) == reference


def test_the_compiled_scan_writes_what_python_wrote_for_each_remembered_element(
    sp: ModuleType,
) -> None:
    classify = Remembered(hold_trackers)
    rewritten(REMEMBERED_PAGE, [REMEMBERED_PAGE], classify, None)
    out: list[bytes | bytearray] = [b"before"]
    pos, stop, emit, held, _injected = sp.scan(
        REMEMBERED_PAGE,
        3,
        classify.known,
        None,
        out,
        0,
        b" held",
        rewriter._HELD_TAGS,
        100,
        False,
        True,
    )
    # It stops past the last element it took, here the page's last <input>.
    assert REMEMBERED_PAGE.endswith(b"<input>")
    assert (pos, stop) == (len(REMEMBERED_PAGE), -1)
    written = b"".join(out[1:]) + REMEMBERED_PAGE[emit:]
    expected = rewritten(REMEMBERED_PAGE, [REMEMBERED_PAGE], classify, None)
    assert written == expected.replace(f" {ATTR_HELD}".encode(), b" held")
    assert held == expected.count(f" {ATTR_HELD}".encode())
    # A cap below a script's length, or none, leaves that script to Python.
    for cap in (0, -1):
        found = sp.scan(
            REMEMBERED_PAGE,
            3,
            classify.known,
            None,
            [],
            0,
            b"",
            rewriter._HELD_TAGS,
            cap,
            False,
            True,
        )
        assert found[1] == REMEMBERED_PAGE.index(b"<script>") == found[0]
    # The index keeps the held forms it wrote: they stand when _HELD_TAGS forgets them.
    kept: list[bytes | bytearray] = [b"before"]
    found = sp.scan(
        REMEMBERED_PAGE, 3, classify.known, None, kept, 0, b" held", {}, 100, False, True
    )
    assert b"".join(kept[1:]) + REMEMBERED_PAGE[found[2] :] == written
    # Without its held form anywhere the held image goes back to Python, with nothing written.
    sp.index_clear()
    nothing: list[bytes | bytearray] = []
    held_at = REMEMBERED_PAGE.index(b"<img src=https:")
    found = sp.scan(REMEMBERED_PAGE, 3, classify.known, None, nothing, 0, b"", {}, 100, False, True)
    assert found == (held_at, held_at, 0, 0, False)
    assert nothing == []


@pytest.mark.parametrize(
    "inside",
    [
        b"<img src=https://tracker.test/a><!-- a comment that </noscript> does not end",
        b"<img src=https://tracker.test/a><svg><a href=https://tracker.test/s></a></svg>",
        b"<img src=https://tracker.test/a><img src=https://tracker.test/cut",
        b"<img src=https://tracker.test/a><p title='<img src=https://tracker.test/c>'>",
        b"<img src=https://tracker.test/a><script>t('tracker.test')",
        b"<img src=https://tracker.test/a><input type='im&#97;ge' src=//tracker.test/r>",
        b"<img src=https://tracker.test/a><iframe src=https://tracker.test/f>",
    ],
)
def test_a_noscript_the_compiled_scan_cannot_take_whole_is_left_as_it_was(
    sp: ModuleType, inside: bytes
) -> None:
    page = b"<p>" + (b"<noscript>" + inside + b"</noscript><img src=https://tracker.test/z>") * 3
    classify = Remembered(hold_trackers)
    reference = rewritten_counted(page, [page], classify, None)
    for _ in range(2):
        assert rewritten_counted(page, [page], classify, sp.scan) == reference
    # Its held image was written, then taken back: nothing is written, the scan stops there.
    out: list[bytes | bytearray] = []
    found = sp.scan(page, 3, classify.known, None, out, 0, b"", rewriter._HELD_TAGS, 99, 0, 1)
    assert found == (3, 3, 0, 0, False)
    assert out == []
    # Read as markup (inside a noscript already), a <noscript> tag is passed by.
    found = sp.scan(page, 3, classify.known, None, out, 0, b"", rewriter._HELD_TAGS, 99, 0, 0)
    assert found[0] > 3
    assert found[3] > 0


# Every way a comment, bogus comment or declaration ends, each with a held image inside that
# must not be read as one, between remembered elements the compiled scan takes.
DECLARATIONS = [
    b"<!---->",
    b"<!-->",
    b"<!--->",
    b"<!-- <img src=https://tracker.test/1> -->",
    b"<!-- <img src=https://tracker.test/2> --!>",
    b"<!-- - -- <img src=https://tracker.test/3> --->",
    b"<!--[if IE]><img src=https://tracker.test/4><![endif]-->",
    b"<? <img src=https://tracker.test/5 ?>",
    b"<!DOCTYPE html>",
    b"<!-x <img src=https://tracker.test/6>",
    b"<![CDATA[ <img src=https://tracker.test/7 ]]>",
]


def test_comments_and_declarations_are_passed_over_in_c(sp: ModuleType) -> None:
    body = b"".join(
        b"<img src=https://tracker.test/z><p>" + declaration + b"</p><img src=/own.png>"
        for declaration in DECLARATIONS
    )
    page = b"<p>" + body * 2
    classify = Remembered(hold_trackers)
    reference = rewritten_counted(page, [page], Remembered(hold_trackers), None)
    # Only the tracker's image outside the comments is held, once in each copy of the body.
    assert reference[1] == 2 * len(DECLARATIONS)
    for _ in range(2):
        assert rewritten_counted(page, [page], classify, sp.scan) == reference
    # Its answers remembered, the scan reads the whole page without handing anything back.
    found = sp.scan(page, 3, classify.known, None, [], 0, b"", rewriter._HELD_TAGS, 99, 0, 1)
    assert found[:2] == (len(page), -1)
    assert found[3] == reference[1]
    # Cut anywhere, the pieces come out as Python writes the whole page.
    for cut in range(3, len(page)):
        assert rewritten_counted(page, [page[:cut], page[cut:]], classify, sp.scan) == reference


def test_a_declaration_whose_end_is_not_in_the_buffer_goes_back_to_python(sp: ModuleType) -> None:
    classify = Remembered(hold_trackers)
    rewritten(b"<p><img src=/own.png>", [b"<p><img src=/own.png>"], classify, None)
    for opened in (b"<!-- -- -!> --", b"<!--", b"<!-", b"<!", b"<?x", b"<!DOCTYPE", b"<!-- --!"):
        page = b"<p><img src=/own.png>" + opened
        found = sp.scan(page, 3, classify.known, None, [], 0, b"", rewriter._HELD_TAGS, 99, 0, 1)
        assert found[:2] == (page.index(opened), page.index(opened)), opened
    # With no answers to read, the scan stops at a comment as at any other candidate.
    page = b"<p><!-- x --><img src=/own.png>"
    assert sp.scan(page, 3, None, None) == (3, 3)


def _with_nonce(nonce: bytes) -> bytes:
    return (
        b"<p><script nonce=" + nonce + b" src=https://tracker.test/a.js></script>"
        b"<img src=/own.png nonce='" + nonce + b"'>"
        b'<script NONCE="' + nonce + b'" src=/own.js></script>'
        b"<iframe nonce=" + nonce + b" src=https://tracker.test/f></iframe>"
        b"<script nonce=" + nonce + b">track('tracker.test')</script>"
    )


def test_tags_with_a_new_nonce_on_every_view_are_taken_in_c(sp: ModuleType) -> None:
    classify = Remembered(hold_trackers)
    rewritten(_with_nonce(b"first"), [_with_nonce(b"first")], classify, None)
    calls = classify.calls
    for nonce in (b"second", b"third", b"fourth-and-longer"):
        page = _with_nonce(nonce)
        reference = rewritten_counted(page, [page], Remembered(hold_trackers), None)
        # The held tags carry this view's nonce, not the one of the view remembered.
        assert reference[0].count(nonce) == 5
        assert reference[1] == 3
        found = sp.scan(page, 3, classify.known, None, [], 0, b"", rewriter._HELD_TAGS, 99, 0, 1)
        # It read on to the last script's end tag, handing nothing back.
        assert found[:2] == (page.rindex(b"</script>"), -1)
        assert found[3] == reference[1]
        for _ in range(2):
            assert rewritten_counted(page, [page], classify, sp.scan) == reference
    # Every answer came from what the first view left: the classifier was not asked again.
    assert classify.calls == calls


def hold_tracker_sources(element: Element) -> Hold | None:
    return Hold("c") if "tracker.test" in (element.attrs.get("src") or "") else None


@pytest.mark.parametrize(
    "other",
    [
        b"<p><img nonce= src=https://tracker.test/p>",
        b'<p><img nonce="a src=https://tracker.test/p">',
        b"<p><img nonce=a src=https://tracker.test/p nonce=b>",
        b"<p><img nonce src=https://tracker.test/p>",
    ],
)
def test_a_nonce_s_value_never_stands_for_the_bytes_around_it(
    each_sp: ModuleType, other: bytes
) -> None:
    """The answer of a tag with a nonce is kept by the bytes around the nonce's value: a tag
    that reads differently is never given it, by the index or by the answers."""
    classify = Remembered(hold_tracker_sources)
    remembered_tag = b"<p><img nonce=a src=https://tracker.test/p>"
    assert rewritten_counted(remembered_tag, [remembered_tag], classify, None)[1] == 1
    reference = rewritten_counted(other, [other], Remembered(hold_tracker_sources), None)
    for scan in (None, each_sp.scan, each_sp.scan):
        assert rewritten_counted(other, [other], classify, scan) == reference


@pytest.mark.parametrize(
    "script",
    [
        b"<script><!-- <script></script> still text --></script>",
        b"<script><!--></script>",
        b"<script><!-- -- > </script>",
        b"<script><!-- <script> --></script>",
        b"<script>a</SCRIPT\t>",
        b"<script>a</scripts></script/>",
        b"<script><!-- <SCRIPT/> </script> --> </script>",
    ],
)
def test_inline_script_ends_are_the_python_ones(sp: ModuleType, script: bytes) -> None:
    page = b"<p>" + script + b"<img src=https://tracker.test/x>tail"
    close = sc.script_end(page, page.index(b">", 3) + 1, sc.SCRIPT_DATA)[0]
    classify = Remembered(hold_trackers)
    reference = rewritten_counted(page, [page], classify, None)
    assert rewritten_counted(page, [page], classify, sp.scan) == reference
    # With no held form anywhere (the index forgets those it kept), the held image stops it.
    sp.index_clear()
    after = sp.scan(page, 3, classify.known, None, [], 0, b"", {}, 1000, False, True)[0]
    assert after == close


HOSTILE = {
    "remembered images": b"<p>" + b"<img src=x alt='a'>" * 20_000,
    "inert drawings": b"<p>" + b'<svg><path d="1"></path></svg>' * 10_000,
    "drawings never closed": b"<p>" + b"<svg><g>" * 20_000,
    "quoted markup": b"<p>" + b"<b title='<img src=x>'>" * 10_000,
    "nul bytes and open quotes": b"<p>" + b"<img \x00='\x00" * 20_000,
    "endless attributes": b"<p><img " + b"a=1 " * 50_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_costs_the_compiled_scan_linear_work(
    sp: ModuleType, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = HOSTILE[name]
    counting = CountingScan(sp.scan)
    classify = Remembered(tracker)
    reference = rewritten(html, [html], Remembered(tracker), None)
    pieces = [html[i : i + 1024] for i in range(0, len(html), 1024)]
    assert rewritten(html, pieces, classify, counting) == reference
    # No byte is passed over twice but those of a short tag cut by a chunk's end, read again
    # whole with the next chunk: a scan that went back over a chunk for every element it
    # passed, or Python that handed it the same stretch again, would count far more.
    assert counting.examined <= len(html) + rewriter._REREAD * len(pieces)


def test_drawings_inside_quotes_stay_linear_in_time(sp: ModuleType) -> None:
    # Whether an <svg> is inert is read ahead of it; an <svg> written inside the quoted value
    # of another is read again.
    def rewrite_n(n: int) -> None:
        html = b'<p><svg><path d="' + b"<svg><g>" * n
        pieces = [html[i : i + 4096] for i in range(0, len(html), 4096)]
        rewritten(html, pieces, Remembered(tracker), sp.scan)

    assert grows_linearly(rewrite_n, 5_000)


@pytest.mark.parametrize(
    "unit",
    [
        b"<noscript><img src=https://tracker.test/n>",
        b"<iframe src=/own>",
        b"<script src=https://tracker.test/s>",
        b"<script><!--<script>",
        b"<noscript><img src=/n></noscript><!--",
    ],
)
def test_elements_never_closed_stay_linear_in_time(sp: ModuleType, unit: bytes) -> None:
    # The compiled scan looks ahead for an element's end; where it finds none, Python reads
    # the rest: the look-ahead is not repeated for every element.
    classify = Remembered(hold_trackers)

    def rewrite_n(n: int) -> None:
        html = b"<p>" + unit * n
        pieces = [html[i : i + 4096] for i in range(0, len(html), 4096)]
        rewritten(html, pieces, classify, sp.scan)
        rewritten(html, [html], classify, sp.scan)

    # Both sizes beyond the processor's caches; a quadratic cost would take 100 times as long.
    assert grows_linearly(rewrite_n, 50_000)


def test_a_failed_classifier_s_memory_is_not_used() -> None:
    from consent.middleware import _Guarded

    inner = Remembered(tracker)
    inner.known[(b"<img src=x>", None, None)] = None
    calls: list[str] = []

    def fail_on_script(element: Element) -> Hold | None:
        if element.tag == "script":
            raise RuntimeError("classifier bug")
        return inner(element)

    def fall_back() -> Classifier:
        calls.append("fallback")
        return lambda element: Hold("c")

    guarded = _Guarded(fail_on_script, fall_back)
    assert guarded.known is None  # the wrapped function shows no memory
    guarded = _Guarded(inner, fall_back)
    assert guarded.known is inner.known
    guarded._classify = fail_on_script
    assert guarded(Element("script", {})) == Hold("c")
    assert calls == ["fallback"]
    assert guarded.known is None  # from now on every element is the fallback's


def real_pages() -> Iterator[tuple[str, bytes]]:
    folder = realpages_folder()
    for page in harness.load_pages(folder):
        yield page.site, page.body


def policy() -> HoldbackPolicy:
    parties = Parties((), not_tracker_hosts())
    return HoldbackPolicy(Catalogue.builtin(), (), unclassified=MARKETING, parties=parties)


@pytest.mark.parametrize("chunk", [0, 4096, 1000])
def test_real_pages_come_out_as_the_python_rewriter_writes_them(sp: ModuleType, chunk: int) -> None:
    granted = frozenset({"necessary"})

    def placeholder(category: str, vendor: str) -> bytes:
        return b"<span>" + vendor.encode() + b"</span>"

    policies = {"python": policy(), "compiled": policy()}
    passed = 0
    for site, body in real_pages():
        size = chunk or len(body)
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        outputs = []
        for _ in range(2):  # cold, then warm: the second view is read from what is remembered
            for name, scan in (("python", None), ("compiled", sp.scan)):
                classify = policies[name].classifier(
                    granted, placeholder, memo_key=("en", "utf-8"), site=site
                )
                outputs.append(rewritten_counted(body, pieces, classify, scan, head_injection=HEAD))
        assert outputs[1] == outputs[0] == outputs[2] == outputs[3], site
        # A visitor who granted everything: no classifier, nothing held.
        granted_all = [
            rewritten_counted(body, pieces, None, scan, head_injection=HEAD, body_injection=BODY)
            for scan in (None, sp.scan)
        ]
        assert granted_all[0] == granted_all[1], site
        passed += 1
    assert passed > 100


@pytest.mark.parametrize(("value", "compiled"), [("1", False), ("0", True), ("", True)])
def test_an_environment_variable_keeps_to_python(
    sp: ModuleType, value: str, compiled: bool
) -> None:
    # The scan, the attributes the classifier reads, and where the rewriter's tags end.
    probe = (
        "from consent.rewriter import SPEEDUPS, _fast_scan; from consent import _scanner as sc; "
        "print(SPEEDUPS, _fast_scan is not None, sc.parse_attrs is not sc.parse_attrs_python, "
        "sc.attrs_end is not sc.attrs_end_python)"
    )
    env = {**os.environ, "CONSENT_NO_SPEEDUPS": value}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split() == [str(compiled)] * 4


_body_attributes = st.lists(
    st.sampled_from(
        [
            b" ",
            b"\t",
            b"/",
            b"=",
            b'"',
            b"'",
            b">",
            b"a",
            b"ping",
            b"PING",
            b"background",
            b"xlink:href",
            b"xlink:hre",
            b"https://tracker.test/x",
            b"class",
            b"x",
            b"<",
            b"\n",
        ]
    ),
    max_size=10,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(_body_attributes, st.sampled_from([b"body", b"BODY", b"Body", b"bodyx", b"template"]))
@example(b" background=https://tracker.test/x", b"body")
@example(b" xlink:href =https://tracker.test/x", b"body")
@example(b"/PING\t=https://tracker.test/x", b"Body")
@example(b" class='a>b' ping =x", b"body")
@example(b' data-x="ping=1"', b"BODY")
def test_the_body_s_injection_goes_where_python_puts_it(
    each_sp: ModuleType, attributes: bytes, name: bytes
) -> None:
    page = (
        b"<!doctype html><html><head><img src=https://tracker.test/h><script>t()</script>"
        b"<" + name + attributes + b"><img src=https://tracker.test/b><img src=/own.jpg><p>end"
    )
    kw = {"head_injection": b"<!--head-->", "body_injection": b"<div id=banner></div>"}
    classify = Remembered(hold_trackers)
    reference = rewritten_counted(page, [page], classify, None, **kw)
    for _ in range(2):  # then from the index
        assert rewritten_counted(page, [page], classify, each_sp.scan, **kw) == reference
    # A visitor who granted everything: the scan stops after the injection, the rest passes.
    expected = rewritten(page, [page], Remembered(lambda element: None), None, **kw)
    assert rewritten(page, [page], None, each_sp.scan, **kw) == expected


def _literal_search(sp: ModuleType, words: list[str], lookahead: str) -> LiteralSearch:
    """The search the catalogue makes of ``words``, with the extension ``sp`` (or without)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalogue_module, "_speedups", sp)
        return LiteralSearch(words, lookahead)


def _expected(words: list[str], lookahead: str, text: str, pos: int, endpos: int) -> object:
    found = re.compile(_trie_regex(sorted(set(words))) + lookahead).search(text, pos, endpos)
    return None if found is None else (found.start(), found.end(), words.index(found.group()))


def _assert_found_as_the_expression_finds(
    search: LiteralSearch,
    words: list[str],
    lookahead: str,
    text: str,
    windows: Iterable[tuple[int, int]],
) -> None:
    for pos, endpos in windows:
        expected = _expected(words, lookahead, text, pos, endpos)
        assert search.search(text, pos, endpos) == expected, (text, pos, endpos)


# Few characters, so that literals share beginnings, stand inside one another and come often;
# one past latin-1, in literals and texts, and characters that may end a host or not.
LITERAL_ALPHABET = "ab.\xe9\u0100/ \xa0\n"


@settings(max_examples=400, deadline=None)
@given(
    words=st.lists(st.text(alphabet=LITERAL_ALPHABET, min_size=1, max_size=4), max_size=8),
    text=st.text(alphabet=LITERAL_ALPHABET, max_size=30),
    lookahead=st.sampled_from(["", _HOST_END, r"(?=[a\xe9\n]|$)"]),
    cut=st.integers(-2, 4),
)
def test_literals_are_found_where_the_prefix_tree_expression_finds_them(
    sp: ModuleType, words: list[str], text: str, lookahead: str, cut: int
) -> None:
    search = _literal_search(sp, words, lookahead)
    assert (search._compiled is not None) == bool(words)
    # The whole text, and the text as if it ended early (a window of a script).
    windows = [
        (pos, endpos) for endpos in (len(text), len(text) - cut) for pos in range(-2, len(text) + 2)
    ]
    if not words:
        assert all(search.search(text, pos, endpos) is None for pos, endpos in windows)
        return
    _assert_found_as_the_expression_finds(search, words, lookahead, text, windows)


# The bytes at both ends of latin-1 (a pair or a four-character hash built from them must not
# wrap), and literals long enough to pass the four-character test and to be cut by a window.
BYTE_ALPHABET = "ab\x00\xff/"


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.text(alphabet=BYTE_ALPHABET, min_size=1, max_size=9), max_size=10),
    text=st.text(alphabet=BYTE_ALPHABET, max_size=40),
    lookahead=st.sampled_from(["", _HOST_END, r"(?=[\x00\xff\n]|$)"]),
)
def test_long_literals_of_any_byte_are_found_where_the_expression_finds_them(
    sp: ModuleType, words: list[str], text: str, lookahead: str
) -> None:
    if not words:
        return
    search = _literal_search(sp, words, lookahead)
    windows = (
        (pos, endpos) for endpos in range(len(text) + 1) for pos in (-1, 0, endpos - 5, endpos - 1)
    )
    _assert_found_as_the_expression_finds(search, words, lookahead, text, windows)


@pytest.mark.parametrize("lookahead", ["", _HOST_END])
def test_a_literal_is_not_found_past_the_end_of_its_window(sp: ModuleType, lookahead: str) -> None:
    # Literals of four characters and more pass a hash of the text's next four characters:
    # near the end of the text or of the window, fewer are there to read.
    words = [".comx", ".com", ".c", "\xff\xff\xff\xff\xff", "m"]
    search = _literal_search(sp, words, lookahead)
    for text in ("a.comx", "a.com", "a.co", "x\xff\xff\xff\xff\xff", "x\xff\xff\xff", ".c"):
        windows = (
            (pos, endpos) for endpos in range(-1, len(text) + 2) for pos in range(-3, len(text) + 2)
        )
        _assert_found_as_the_expression_finds(search, words, lookahead, text, windows)


def test_literals_past_latin_1_and_twins_answer_as_the_expression(sp: ModuleType) -> None:
    # Literals that can never stand in latin-1 text are left out of the compiled tables, but
    # count in the numbering; a literal given twice answers as its first copy, one character
    # long or longer; a one-character literal with a follow rule is judged at the window's end.
    words = ["\u0100b", "b", "ab", "\u0100", "ab", "b", "abc\u20ac", "a"]
    for lookahead in ("", r"(?=[/\n]|$)"):
        search = _literal_search(sp, words, lookahead)
        for text in ("xab/", "xabc", "xb", "ab\u0100b", "\u0100b/", "abc\u20ac", "a/b", "aab"):
            windows = (
                (pos, endpos) for endpos in range(len(text) + 1) for pos in range(-1, len(text) + 1)
            )
            _assert_found_as_the_expression_finds(search, words, lookahead, text, windows)


def test_literals_read_a_str_subclass_s_characters_not_its_methods(sp: ModuleType) -> None:
    class Lying(str):
        def __len__(self) -> int:
            return 10**6

        def __getitem__(self, key: object) -> str:
            return "ab"

    literals = sp.Literals(["ab", "cd"], "/")
    assert literals.search(Lying("xcd"), 0) == (1, 3, 1)
    assert literals.search(Lying("xcd"), 0, 10**6) == (1, 3, 1)
    assert literals.search(Lying("xab!"), 0) is None


def test_literals_leave_text_wider_than_latin_1_to_the_expression(sp: ModuleType) -> None:
    literals = sp.Literals(["ab", "b"])
    assert literals.search("xab\xe9", 0) == (1, 3, 0)
    assert literals.search("xab\u0100", 0) is NotImplemented
    assert literals.search("xab", 2) == (2, 3, 1)
    assert literals.search("xab", 3) is None
    assert literals.search("xab", 99) is None
    assert sp.Literals([]).search("ab", 0) is None


def test_literals_take_any_iterable_of_str_and_str_subclasses(sp: ModuleType) -> None:
    class Text(str):
        pass

    literals = sp.Literals(word for word in [Text("ab"), "b"])
    assert literals.search(Text("xab"), 0) == (1, 3, 0)
    assert literals.search(Text("x\u0100ab"), 0) is NotImplemented
    # The words are read once, into the object: the list may change after.
    words = ["ab", "b"]
    literals = sp.Literals(words, "/")
    words[:] = ["abcdefgh"]
    assert literals.search("xab/", 0) == (1, 3, 0)
    assert literals.search("xab!b", 0) == (4, 5, 1)


def test_literals_refuse_bad_arguments(sp: ModuleType) -> None:
    with pytest.raises(TypeError):
        sp.Literals(["a", b"b"])
    with pytest.raises(TypeError):
        sp.Literals(3)
    with pytest.raises(TypeError):
        sp.Literals(["a"], b"/")
    with pytest.raises(ValueError, match="empty"):
        sp.Literals(["a", ""])
    literals = sp.Literals(["a"], "/")
    with pytest.raises(TypeError):
        literals.search(b"a", 0)
    with pytest.raises(TypeError):
        literals.search("a")
    with pytest.raises(TypeError):
        literals.search("a", "0")
    with pytest.raises(TypeError):
        literals.search("a", 0, None)
    with pytest.raises(TypeError):
        literals.search("a", 0, 1, 2)
    with pytest.raises(OverflowError):
        literals.search("a", 1 << 80)
