"""The compiled scan under attack: what it newly takes (held tags written from their remembered
forms, inline scripts looked up by their text, the phase before the body, <noscript> read
whole, frames and inputs, tags cut by a chunk's end) gives the Python output for hostile
input in any chunking, and no remembered answer is used for an element it was not made for.
"""

from types import ModuleType

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from consent import rewriter
from consent.holdback import HoldbackPolicy
from consent.rewriter import Classifier, Element, Hold, HtmlRewriter
from tests.conftest import speedups
from tests.test_rewriter import BODY, HEAD, Remembered, grows_linearly, splits, tracker
from tests.test_speedups import Scan, policy


def rewritten_counted(
    html: bytes,
    pieces: list[bytes],
    classify: Classifier | None,
    scan: Scan,
    cap: int = 262144,
) -> tuple[bytes, int]:
    """The output with both injections and an inline script limit, and how many elements
    were held."""
    saved = rewriter._fast_scan
    rewriter._fast_scan = scan  # type: ignore[assignment]
    try:
        pass_ = HtmlRewriter(
            classify, head_injection=HEAD, body_injection=BODY, max_inline_script=cap
        )
        out = b"".join(pass_.feed(piece) for piece in pieces) + pass_.close()
        assert not pass_.failed
        return out, pass_.held_count
    finally:
        rewriter._fast_scan = saved


@pytest.fixture(scope="module")
def sp() -> ModuleType:
    return speedups()


def test_a_cut_script_s_answer_is_not_that_of_a_whole_script_with_its_start() -> None:
    # With a limit of 16 bytes, the text the classifier is given of a longer script is its
    # first 16 bytes, which may be all of another script: what was answered for the one must
    # not stand for the other.
    text = b"var a = 1;//abcd"
    whole = b"<p><script>" + text + b"</script>"
    cut = b"<p><script>" + text + b"fbq('init','1');</script>"
    granted = frozenset({"necessary"})
    for scan in (None, rewriter._fast_scan):
        hold_back = policy()
        outputs = []
        for html in (whole, cut, whole):
            classify = hold_back.classifier(granted, None, memo_key=("en",), site="example.com")
            outputs.append(rewritten_counted(html, [html], classify, scan, cap=16))
        fresh = [
            rewritten_counted(
                html,
                [html],
                policy().classifier(granted, None, memo_key=("en",), site="example.com"),
                scan,
                cap=16,
            )
            for html in (whole, cut)
        ]
        assert fresh[1][1] == 1  # the cut script is held: its start does not show it harmless
        assert outputs == [fresh[0], fresh[1], fresh[0]]


def hold_trackers(element: Element) -> Hold | None:
    hold = tracker(element)
    return None if hold is None else Hold("c", placeholder=b"<!--ph-->")


# What the compiled scan newly takes, and what sits next to it: held and harmless tags,
# scripts and their ends, noscript, frames, inputs, the body's start, drawings, and text long
# enough to bring any of them to a 512-byte boundary.
NEW_PATHS = [
    b"<img src=https://tracker.test/a>",
    b"<IMG SRC=//tracker.test/b alt=x>",
    b"<img src=/own.png>",
    b"<image src=//tracker.test/i>",
    b"<link rel=stylesheet href=https://tracker.test/s.css>",
    b"<script>t('tracker.test')</script>",
    b"<script>var a = 1;</script>",
    b"<script src=https://tracker.test/t.js></script>",
    b"<SCRIPT async SRC='/own.js'></SCRIPT >",
    b"<script>a</scripts></script/>",
    b"<script>a</SCRIPT\t>",
    b"<script><!--<script>x</script>y--></script>",
    b"<script><!--></script>",
    b"<script><!-- <script> -->tracker.test</script>",
    b"<script>",
    b"</script>",
    b"<!--<script>",
    b"-->",
    b"<noscript>",
    b"</noscript>",
    b"<noscript><img src=https://tracker.test/n><img src=/n></noscript>",
    b"<noscript><!-- <img src=https://tracker.test/c> --></noscript>",
    b"<noscript><noscript><img src=//tracker.test/d></noscript></noscript>",
    b"<noscript><script>t('tracker.test')</script></noscript>",
    b"<iframe src=https://tracker.test/f>x</iframe>",
    b"<iframe src=/own><img src=https://tracker.test/q></IFRAME >",
    b"<frame src=//tracker.test/fr>",
    b"<input type=image src=https://tracker.test/in>",
    b"<input type=IMAGE src=//tracker.test/in2>",
    b"<input type='im&#97;ge' src=https://tracker.test/in3>",
    b"<input type=hidden value='&amp;' src=https://tracker.test/in4>",
    b"<input type='image ' src=https://tracker.test/in5>",
    b"<input>",
    b"<body>",
    b"<BODY class=x>",
    b"<template>",
    b"</template>",
    b"<head>",
    b"<!doctype html>",
    b"<svg><image href=https://tracker.test/s></svg>",
    b"<svg><path d=1></path></svg>",
    b"<math><mi>x</mi></math>",
    b"<svg>",
    b"</svg>",
    b"<p title='<img src=https://tracker.test/t>'>",
    b"<",
    b">",
    b"'",
    b"\x00",
    b"\xc3\xa9",
    b"x" * 100,
    b"y" * 497,
]
new_paths_html = st.lists(st.sampled_from(NEW_PATHS), min_size=1, max_size=40).map(b"".join)


def all_ways(sp: ModuleType, html: bytes, cuts: list[int], cap: int = 262144) -> tuple[bytes, int]:
    """The compiled output, cold then warm, in the given chunks and byte by byte, checked
    against the Python output in one chunk; the Python output."""
    reference = rewritten_counted(html, [html], Remembered(hold_trackers), None, cap=cap)
    classify = Remembered(hold_trackers)
    for _ in range(2):
        found = rewritten_counted(html, splits(html, cuts), classify, sp.scan, cap=cap)
        assert found == reference
    bytewise = [html[i : i + 1] for i in range(len(html))]
    assert rewritten_counted(html, bytewise, classify, sp.scan, cap=cap) == reference
    return reference


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    new_paths_html,
    st.lists(st.integers(min_value=0, max_value=20_000), max_size=8),
    st.sampled_from([262144, 0, 5, 30]),
)
@example(b"<noscript><img src=https://tracker.test/n></noscript>", [20], 262144)
@example(b"<body><script>t('tracker.test')</script><template>", [], 262144)
def test_the_new_paths_give_the_python_output_in_any_chunks(
    sp: ModuleType, html: bytes, cuts: list[int], cap: int
) -> None:
    all_ways(sp, html, cuts, cap)


@pytest.mark.parametrize("piece", NEW_PATHS[:35])
def test_a_tag_cut_at_any_offset_around_512_bytes_gives_the_python_output(
    sp: ModuleType, piece: bytes
) -> None:
    html = b"<p>" + b"z" * 490 + (piece + b"<img src=https://tracker.test/w>") * 2
    classify = Remembered(hold_trackers)
    reference = rewritten_counted(html, [html], Remembered(hold_trackers), None)
    for first in range(480, min(len(html), 560)):
        for size in (first, 512):
            pieces = [html[:first], *splits(html[first:], list(range(size, len(html), size)))]
            pieces.insert(1, b"")  # an empty chunk changes nothing
            assert rewritten_counted(html, pieces, classify, sp.scan) == reference


@pytest.mark.parametrize(
    "unit",
    [
        b"<",
        b"</",
        b"<noscript><img src=https://tracker.test/n><!--c--></noscript>",
        b"<noscript><img src=/n>",
        b"<script>a</scrip</script >",
        b"<script><!--<script></script>",
        b"<svg/><path>",
        b"<input type='im&#97;ge' src=https://tracker.test/i>",
        b"<iframe src=/own></ifram</iframe>",
        b"<body><template>",
        b"<img src=https://tracker.test/h",
    ],
)
def test_hostile_runs_of_new_paths_stay_linear_in_time(sp: ModuleType, unit: bytes) -> None:
    # Each page in 4 KB chunks and whole, its output also the Python one at the smaller size.
    classify = Remembered(hold_trackers)
    page = b"<p>" + unit * 1_000
    assert all_ways(sp, page, list(range(4096, len(page), 4096))) == rewritten_counted(
        page, [page], Remembered(hold_trackers), None
    )
    assert grows_linearly(
        lambda n: [
            rewritten_counted(b"<p>" + unit * n, splits(b"<p>" + unit * n, cuts), classify, sp.scan)
            for cuts in ([], list(range(4096, len(unit) * n, 4096)))
        ],
        1_000,
    )


@pytest.mark.parametrize("attr", [b"src", b"href"])
def test_an_svg_image_s_answer_is_not_that_of_an_html_image_with_its_bytes(
    sp: ModuleType, attr: bytes
) -> None:
    # HTML reads <image> as an <img>, which fetches its src; inside <svg> it is SVG's image,
    # which fetches its href: the same bytes are two elements, each held on its own terms.
    tag = b"<image %s=https://www.google-analytics.com/collect?v=1>" % attr
    pages = (b"<p><svg>" + tag + b"</svg>", b"<p>" + tag)
    granted = frozenset({"necessary"})

    def classifier(hold_back: HoldbackPolicy) -> Classifier:
        return hold_back.classifier(granted, None, memo_key=("en",), site="example.com")

    fresh = {page: rewritten_counted(page, [page], classifier(policy()), None) for page in pages}
    assert sorted(held for _, held in fresh.values()) == [0, 1]
    for scan in (None, sp.scan):
        for order in (pages, pages[::-1]):
            hold_back = policy()
            for page in order * 2:
                found = rewritten_counted(page, [page], classifier(hold_back), scan)
                assert found == fresh[page]


INPUT_ATTRS = [b" ", b"\t", b"/", b"=", b'"', b"'", b"type", b"TYPE", b"Type=", b"image"]
INPUT_ATTRS += [b"IMAGE", b"im&#97;ge", b"&", b"src", b"SRC", b"=x", b"src=https://tracker.test/i"]
INPUT_ATTRS += [b"\x00", b"\xc4\xb0", b"typ", b"e", b" type=image", b" src=//tracker.test/s"]
input_attrs = st.lists(st.sampled_from(INPUT_ATTRS), max_size=14).map(b"".join)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from([b"<input", b"<INPUT", b"<script", b"<Script"]), input_attrs)
def test_input_types_and_script_sources_are_read_as_python_reads_them(
    sp: ModuleType, name: bytes, attrs: bytes
) -> None:
    tag = name + attrs + b">"
    html = b"<p>" + (tag + b"t('tracker.test')</script><img src=https://tracker.test/z>") * 2
    all_ways(sp, html, [len(html) // 2])


# A page that may still be inside a drawing (an end tag closing nothing in it) reads raw text
# both ways: scripts, frames and noscript are then left to Python.
UNCERTAIN = [b"<svg><g></div>", b"<math><mi></span>", b"<svg></foo>", b"</svg>", b"<p>"]


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(UNCERTAIN + NEW_PATHS[:40]), min_size=1, max_size=30).map(b"".join),
    st.lists(st.integers(min_value=0, max_value=5_000), max_size=6),
)
def test_pages_that_may_be_inside_a_drawing_give_the_python_output(
    sp: ModuleType, html: bytes, cuts: list[int]
) -> None:
    all_ways(sp, html, cuts)


TRACKED = b"<img src=https://tracker.test/%d>"


@pytest.mark.parametrize(
    ("html", "held"),
    [
        # Inside a drawing a style sheet or a title is markup: an image breaks out of it.
        (b"<p><svg><style>" + TRACKED % 1 + b"</style></svg>", 1),
        (b"<p><math><title>" + TRACKED % 1 + b"</title></math>", 1),
        (b"<p><math><style>" + TRACKED % 1 + b"</style></math>", 1),
        (b"<p><svg><title>" + TRACKED % 1 + b"</title></svg>", 1),
        (b"<p><svg><style></svg>" + TRACKED % 1, 1),
        (b"<p><svg><style>" + TRACKED % 1, 1),
        (b"<p><svg><g></div><style>" + TRACKED % 1 + b"</style>", 1),
        (b"<p><svg><title><style>" + TRACKED % 1 + b"</style></title></svg>" + TRACKED % 2, 1),
        # Where a drawing lets HTML in, or was left, the style sheet is raw text again.
        (b"<p><svg><desc><style>" + TRACKED % 1 + b"</style></desc></svg>" + TRACKED % 2, 1),
        (b"<p><svg><foreignObject><textarea>" + TRACKED % 1 + b"</textarea>" + TRACKED % 2, 1),
        (b"<p><math><mtext><title>" + TRACKED % 1 + b"</title></mtext></math>" + TRACKED % 2, 1),
        (b"<p><svg><font color=red><style>" + TRACKED % 1, 0),
        # A noscript read as text ends at its own end tag, whatever it seems to open.
        (b"<p><noscript><title></noscript>" + TRACKED % 1, 1),
        (b"<p><noscript><style></noscript>" + TRACKED % 1 + b"</style>", 1),
        # What is read again as markup for browsers without scripts has its own raw text.
        (b"<p><noscript><title>" + TRACKED % 1 + b"</title>" + TRACKED % 2 + b"</noscript>", 1),
        (b"<p><noscript><xmp></noscript>" + TRACKED % 1 + b"</xmp>" + TRACKED % 2, 2),
        (b"<p><noscript><svg><style>" + TRACKED % 1 + b"</style></svg></noscript>", 1),
        (b"<p><noscript><textarea>" + TRACKED % 1 + b"</noscript>" + TRACKED % 2, 1),
        # End tags that end raw text, and look-alikes that do not.
        (b"<p><style>x</style\x00>" + TRACKED % 1 + b"</style>" + TRACKED % 2, 1),
        (b"<p><STYLE>x</STYLE\x0b>" + TRACKED % 1 + b"</sTyLe>" + TRACKED % 2, 1),
        (b"<p><title>x</TITLE\x0c>" + TRACKED % 1, 1),
        (b"<p><textarea>x</textarea/>" + TRACKED % 1, 1),
        (b"<p><xmp>x</xmpp>" + TRACKED % 1 + b"</xmp>" + TRACKED % 2, 1),
        (b"<p><noembed>" + TRACKED % 1 + b"</noembed\r>" + TRACKED % 2, 1),
        (b"<p><noframes>" + TRACKED % 1 + b"</noframes\n" + TRACKED % 2, 0),
        # No comment hides the end of a title or a style sheet.
        (b"<p><title><!--</title>-->" + TRACKED % 1, 1),
        (b"<p><style><!--</style>-->" + TRACKED % 1, 1),
        (b"<p><template><style>" + TRACKED % 1 + b"</style></template>" + TRACKED % 2, 1),
        (b"<p><iframe><style></iframe>" + TRACKED % 1, 1),
    ],
)
def test_raw_text_is_passed_by_only_where_html_reads_it_as_text(
    sp: ModuleType, html: bytes, held: int
) -> None:
    # Each way of cutting the page (every byte its own chunk among them) puts an end tag or a
    # drawing's start at a chunk's end somewhere.
    cuts = list(range(0, len(html), 7))
    assert all_ways(sp, html, cuts)[1] == held
    assert all_ways(sp, html * 3, [len(html) - 3, 2 * len(html) + 5])[1] == 3 * held


HEAD_SCRIPT = b"<script src=https://tracker.test/t.js></script>"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            b"<html><head><title><body></title></head><body><p>",
            b"<html><head>{H}<title><body></title></head><body>{B}<p>",
        ),
        (
            b"<!doctype html><head><title>t</title>" + HEAD_SCRIPT + b"<xmp><body></xmp><body>",
            b"<!doctype html><head>{H}<title>t</title>"
            + HEAD_SCRIPT
            + b"<xmp><body></xmp><body>{B}",
        ),
        (
            b"<!doctype html><head><noscript><title><body></title></noscript></head><body>",
            b"<!doctype html><head>{H}<noscript><title><body></title></noscript></head><body>{B}",
        ),
        (
            b"<!doctype html><head><TITLE>a</TITLE\x00><body></title><body>",
            b"<!doctype html><head>{H}<TITLE>a</TITLE\x00><body></title><body>{B}",
        ),
        (
            b"<!doctype html><head><base href=https://tracker.test/><title><base href=/x>"
            b"</title>" + HEAD_SCRIPT + b"</head><body>",
            b"<!doctype html><head>{H}<base href=https://tracker.test/><title><base href=/x>"
            b"</title>" + HEAD_SCRIPT + b"</head><body>{B}",
        ),
        (
            b"<!doctype html><head><template><style><body></style></template><body>",
            b"<!doctype html><head>{H}<template><style><body></style></template><body>{B}",
        ),
    ],
)
def test_with_nothing_to_hold_raw_text_keeps_the_injections_where_python_puts_them(
    sp: ModuleType, html: bytes, expected: bytes
) -> None:
    # A visitor who granted everything: the scan passes scripts and raw text by without
    # answers, and a <body> written inside a title or a style sheet is no place for the banner.
    want = expected.replace(b"{H}", HEAD).replace(b"{B}", BODY)
    assert rewritten_counted(html, [html], None, None) == (want, 0)
    for pieces in ([html], [html[i : i + 1] for i in range(len(html))], splits(html, [9, 40])):
        assert rewritten_counted(html, pieces, None, sp.scan) == (want, 0)


def quoted_values() -> list[bytes]:
    """Unfinished image tags whose quoted values hide a '>', a '<', the other quote, a type
    that would fetch nothing or a tracker, with the closing quote at every offset of the 16
    and 32 byte blocks."""
    pages = []
    for length in range(40):
        fill = b"x" * length
        for q, other in ((b'"', b"'"), (b"'", b'"')):
            pages.append(b"<img alt=" + q + fill + b">" + other + q)
            pages.append(b"<img data-y=" + q + b"/own" + fill + b"'\"" + q + b" data-x='>'")
            pages.append(b"<img title=" + q + fill + b"<img src=//tracker.test/b>" + q)
            pages.append(b"<input type=" + q + b"image" + q + b" alt=" + q + fill + q)
            hidden = other + b" type=hidden " + other
            pages.append(b"<input alt=" + q + fill + hidden + q + b" type=image")
            pages.append(b"<input value=" + q + fill + b">" + hidden + q + b" type=image")
    return pages


@pytest.mark.parametrize("cut", [None, 0, 1])
def test_quoted_values_end_at_their_own_quote_in_both_builds(
    each_sp: ModuleType, cut: int | None
) -> None:
    # A value's end is found 16 bytes at a time: a '>' or a tracker inside a value must stay
    # inside it, the quote that ends it may be the buffer's last byte or missing altogether.
    for tag in quoted_values():
        html = b"<p>" + tag + b" src=https://tracker.test/c><p>"
        pieces = [html] if cut is None else [html[: len(tag) + cut], html[len(tag) + cut :]]
        reference = rewritten_counted(html, [html], Remembered(hold_trackers), None)
        assert reference[1] == 1, html
        for _ in range(2):
            classify = Remembered(hold_trackers)
            assert rewritten_counted(html, pieces, classify, each_sp.scan) == reference, html


# Where the compiled scan stops in text it hands the loop its candidate as the position: pages
# where the stretch before a tracker holds what would call for a closer look (quoted values
# with '<' or '>', a '<' that opens nothing the scan looks for, comments, a cut script, raw
# text, drawings), so that a stop settled too far would let the tracker through unread.
SETTLE_PAGES = [
    b"<p title='<img src=https://tracker.test/a>'><img src=https://tracker.test/b>",
    b'<p title="x>y" <img src=https://tracker.test/a>><img src=/own>',
    b"<p a='1'><b c=\"2>\"><img src=https://tracker.test/a>",
    b"<img src=/own><p <img src=https://tracker.test/a>><img src=https://tracker.test/b>",
    b"<!--<img src=https://tracker.test/c>--><img src=https://tracker.test/d>",
    b"<!--x--!><img src=https://tracker.test/e><!---><img src=/own>",
    b"<img src=/own><script>x='<img src=https://tracker.test/f>'</script><img src=/own>",
    b"<noscript><img src=https://tracker.test/n></noscript><img src=/own>",
    b"<textarea><img src=https://tracker.test/t></textarea><img src=https://tracker.test/u>",
    b"<svg><p title='x'><img src=https://tracker.test/s></svg><img src=https://tracker.test/v>",
    b"<math><mi title='>'><img src=https://tracker.test/m></math>",
    b"<img src=/own><img src=/own alt='a=\"'><img src=https://tracker.test/g>",
    b"<a href=x title=a'b><img src=https://tracker.test/h></a>",
    b"<?x <img src=https://tracker.test/i>><img src=https://tracker.test/j>",
    b"</x <img src=https://tracker.test/k>><img src=https://tracker.test/l>",
]


@pytest.mark.parametrize("page", SETTLE_PAGES)
@pytest.mark.parametrize("head", [b"", b"<html><head></head><body>"])
def test_a_settled_stop_never_skips_an_element_in_any_two_chunks(
    sp: ModuleType, page: bytes, head: bytes
) -> None:
    html = head + page + b"<img src=/own><img src=https://tracker.test/z>" + page
    reference = rewritten_counted(html, [html], Remembered(hold_trackers), None)
    assert reference[1] > 0
    classify = Remembered(hold_trackers)  # cold on the first splits, warm after
    for cut in range(len(html) + 1):
        pieces = [html[:cut], html[cut:]]
        assert rewritten_counted(html, pieces, classify, sp.scan) == reference, cut
