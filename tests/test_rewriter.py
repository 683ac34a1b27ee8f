"""Tests of the streaming HTML rewriter."""

import copy
import dataclasses
import itertools
import pickle
import re
import time
from collections.abc import Callable, Iterable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from consent import _scanner, rewriter
from consent.names import (
    ATTR_CATEGORY,
    ATTR_HELD,
    ATTR_HELD_PREFIX,
    ATTR_HELD_SRC,
    ATTR_HELD_TYPE,
    HELD_SCRIPT_TYPE,
)
from consent.rewriter import Answers, Element, Hold, HtmlRewriter, Known, rewrite

# Every test here runs against the pure-Python rewriter and against the compiled scan.
pytestmark = pytest.mark.usefixtures("rewriter_implementation")

HEAD = b"<!--HEAD-INJECTION-->"
BODY = b"<div id=BODY-INJECTION></div>"
HELD = ATTR_HELD.encode()
CATEGORY = ATTR_CATEGORY.encode()


def never(element: Element) -> Hold | None:
    return None


def tracker(element: Element) -> Hold | None:
    """Holds anything that mentions tracker.test, in a fetching attribute or inline text."""
    values = [v or "" for v in element.attrs.values()]
    if any("tracker.test" in v for v in values) or "tracker.test" in (element.text or ""):
        return Hold("analytics", vendor="Tracker", placeholder=b"")
    if element.tag == "script" and not element.complete:
        return Hold("analytics", vendor="Tracker", placeholder=b"")  # unread: held, as policy does
    return None


class Recorder:
    def __init__(self, verdict: Callable[[Element], Hold | None] = never) -> None:
        self.seen: list[Element] = []
        self.verdict = verdict

    def __call__(self, element: Element) -> Hold | None:
        self.seen.append(element)
        return self.verdict(element)


def feed_all(rewriter: HtmlRewriter, pieces: Iterable[bytes]) -> bytes:
    out = b"".join(rewriter.feed(piece) for piece in pieces) + rewriter.close()
    assert not rewriter.failed
    return out


def chunked(
    html: bytes,
    size: int,
    classify: Callable[[Element], Hold | None] = tracker,
    *,
    head_injection: bytes = b"",
    max_inline_script: int = 262144,
) -> bytes:
    rewriter = HtmlRewriter(
        classify, head_injection=head_injection, max_inline_script=max_inline_script
    )
    return feed_all(rewriter, (html[i : i + size] for i in range(0, len(html), size)))


def inject(html: bytes, classify: Callable[[Element], Hold | None] = never) -> bytes:
    return rewrite(html, classify, head_injection=HEAD, body_injection=BODY)


def start_tag(out: bytes, name: bytes) -> bytes:
    m = re.search(rb"<" + name + rb"\b[^>]*>", out)
    assert m is not None, out
    return m.group(0)


# Documents, fragments and injection points.


def test_injections_go_after_head_and_body_start_tags() -> None:
    html = b'<!DOCTYPE html><html><head class="h"><title>t</title></head><body id=b><p>x</p></body></html>'
    out = inject(html)
    assert out == html.replace(b'class="h">', b'class="h">' + HEAD).replace(
        b"id=b>", b"id=b>" + BODY
    )


def test_is_document_is_known_after_first_markup() -> None:
    def after(*pieces: bytes) -> bool | None:
        rewriter = HtmlRewriter(never, head_injection=HEAD)
        for piece in pieces:
            rewriter.feed(piece)
        return rewriter.is_document

    assert after() is None
    assert after(b" \n<!-- c -->") is None
    assert after(b" \n<!-- c -->", b"<!doctype html>") is True
    assert after(b"<div>") is False


@pytest.mark.parametrize(
    "first",
    [
        b"<html>",
        b"<HEAD>",
        b"<body>",
        b"<meta charset=utf-8>",
        b"<title>x</title>",
        b"<link rel=icon href=/i>",
        b"<!DOCTYPE html>",
    ],
)
def test_document_starts(first: bytes) -> None:
    out = inject(b"\xef\xbb\xbf \n<!-- lead -->" + first + b"<p>x")
    assert out.count(HEAD) == 1
    assert out.count(BODY) == 1


@pytest.mark.parametrize(
    "fragment",
    [b"<div>x</div>", b"<script src=a.js></script>", b"text", b"<p>hi<head><body>", b"</div>"],
)
def test_fragments_get_no_injection(fragment: bytes) -> None:
    out = inject(fragment)
    assert out == fragment


def test_fragment_still_holds_trackers() -> None:
    rewriter = HtmlRewriter(tracker, head_injection=HEAD, body_injection=BODY)
    out = feed_all(rewriter, [b'<div><img src="https://tracker.test/p.gif"></div>'])
    assert HEAD not in out and BODY not in out
    assert rewriter.held_count == 1
    assert HELD in out


def test_head_injection_without_head_goes_before_first_script() -> None:
    html = b"<!DOCTYPE html><html><meta charset=utf-8><title>t</title><script>var a;</script><p>x"
    out = inject(html)
    assert out.index(HEAD) == html.index(b"<script")
    assert out.endswith(BODY)


def test_head_injection_without_head_goes_before_body_content() -> None:
    html = b"<!doctype html><title>t</title>\n  Hello"
    out = inject(html)
    assert out == b"<!doctype html><title>t</title>\n  " + HEAD + b"Hello" + BODY


def test_head_injection_before_body_tag_when_no_head() -> None:
    out = inject(b"<html><body><p>x</p></body></html>")
    assert out == b"<html>" + HEAD + b"<body>" + BODY + b"<p>x</p></body></html>"


def test_injections_at_close_when_document_ends_early() -> None:
    assert inject(b"<!DOCTYPE html>") == b"<!DOCTYPE html>" + HEAD + BODY
    assert inject(b"<!DOCTYPE html><head>") == b"<!DOCTYPE html><head>" + HEAD + BODY


def test_body_injection_never_inside_raw_text_comment_or_template() -> None:
    html = (
        b"<!DOCTYPE html><head><title><body></title><style>a{}/*<body>*/</style>"
        b"<script>'<body>'</script><!-- <body> --><textarea><body></textarea></head>"
        b"<template><body></template><body class=real>"
    )
    out = inject(html)
    assert out.count(BODY) == 1
    assert out.index(BODY) == out.index(b"<body class=real>") + len(b"<body class=real>")


def test_empty_and_blank_bodies_stay_empty() -> None:
    assert inject(b"") == b""
    assert inject(b"  \n ") == b"  \n "


def test_without_injections_and_holds_output_is_identical() -> None:
    html = b"<!DOCTYPE html><HTML><Head><Script src=x.js></Script></head><BODY><img src=a.png>"
    assert rewrite(html, never) == html


# Holding back elements.


def test_external_script_is_held() -> None:
    html = b'<script async src="https://tracker.test/t.js" id=t></script>'
    out = rewrite(html, tracker)
    tag = start_tag(out, b"script")
    assert b' src="' not in tag
    assert ATTR_HELD_SRC.encode() + b'="https://tracker.test/t.js"' in tag
    assert b'type="' + HELD_SCRIPT_TYPE.encode() + b'"' in tag
    assert CATEGORY + b'="analytics"' in tag
    assert tag.endswith(b" " + HELD + b">")
    assert b"async" in tag and b"id=t" in tag


def test_script_type_is_kept_aside() -> None:
    out = rewrite(b'<script type="module" src="https://tracker.test/m.js"></script>', tracker)
    tag = start_tag(out, b"script")
    assert tag.count(b"type=") == 2
    assert b'type="text/plain"' in tag
    assert ATTR_HELD_TYPE.encode() + b'="module"' in tag


def test_inline_script_is_classified_on_its_text() -> None:
    recorder = Recorder(tracker)
    html = b"<p>a</p><script>load('https://tracker.test/x')</script><script>ok()</script>"
    out = rewrite(html, recorder)
    assert [e.text for e in recorder.seen] == ["load('https://tracker.test/x')", "ok()"]
    assert out == html.replace(
        b"<script>load",
        b'<script type="text/plain" ' + CATEGORY + b'="analytics" ' + HELD + b">load",
    )


def test_inline_script_text_ends_only_at_a_real_end_tag() -> None:
    recorder = Recorder()
    text = b"var s = '</scr' + 'ipt>'; var t = '</scripts>'; if (a<b) {} '<!-- -->'"
    rewrite(b"<script>" + text + b"</SCRIPT >after", recorder)
    assert recorder.seen[0].text == text.decode()


def test_inline_script_text_follows_the_escaped_states() -> None:
    # Inside `<!--`, a `<script>` makes the next `</script>` text (double-escaped), as in
    # browsers: the script ends at the second end tag, and nothing between is markup.
    recorder = Recorder(tracker)
    text = b"<!--<script></script><img src=https://tracker.test/p>--><!--x-->"
    out = rewrite(b"<script>" + text + b"</script><img src=https://tracker.test/q>", recorder)
    assert [e.text for e in recorder.seen if e.tag == "script"] == [text.decode()]
    assert [e.attrs.get("src") for e in recorder.seen if e.tag == "img"] == [
        "https://tracker.test/q"
    ]
    assert out.count(HELD) == 2


def test_inline_script_text_is_capped() -> None:
    recorder = Recorder()
    text = b"x" * 100 + b"tracker.test"
    for size in (1, 7, 64, 1000):
        recorder.seen.clear()
        out = chunked(
            b"<script>" + text + b"</script><img src=i>", size, recorder, max_inline_script=50
        )
        assert recorder.seen[0].text == "x" * 50
        assert out == b"<script>" + text + b"</script><img src=i>"


@pytest.mark.parametrize("length", range(30))
def test_inline_script_cap_is_the_same_for_every_split(length: int) -> None:
    def text_as_placeholder(element: Element) -> Hold:
        return Hold("c", placeholder=(element.text or "").encode())

    html = b"<p><script>" + b"x" * length + b"</script><img src=a>"
    whole = rewrite(html, text_as_placeholder, max_inline_script=16)
    assert whole.startswith(b"<p>" + b"x" * min(length, 16) + b"<script")
    for cut in range(len(html) + 1):
        parts = [html[:cut], html[cut:]]
        rewriter = HtmlRewriter(text_as_placeholder, max_inline_script=16)
        assert feed_all(rewriter, parts) == whole


def test_unterminated_inline_script_is_classified_at_close() -> None:
    recorder = Recorder(tracker)
    out = chunked(b"<script>tracker.test", 3, recorder)
    assert recorder.seen[0].text == "tracker.test"
    assert HELD in out


@pytest.mark.parametrize(
    ("html", "moved"),
    [
        (b'<iframe src="https://tracker.test/e" width=5 allowfullscreen></iframe>', [b"src"]),
        (
            b'<img src="https://tracker.test/p.gif" srcset="https://tracker.test/2.gif 2x" alt="">',
            [b"src", b"srcset"],
        ),
        (
            b'<video poster="https://tracker.test/p.jpg" src="https://tracker.test/v.mp4"></video>',
            [b"poster", b"src"],
        ),
        (b'<audio src="https://tracker.test/a.mp3"></audio>', [b"src"]),
        (b'<picture><source srcset="https://tracker.test/s.avif"></picture>', [b"srcset"]),
        (b'<object data="https://tracker.test/o.swf"></object>', [b"data"]),
        (b'<embed src="https://tracker.test/e.swf">', [b"src"]),
        (b'<link rel="preload" href="https://tracker.test/l.js" as=script>', [b"href"]),
        (b'<video><track src="https://tracker.test/t.vtt"></video>', [b"src"]),
        (b'<input type="image" src="https://tracker.test/b.png">', [b"src"]),
        (b'<iframe srcdoc="&lt;img src=https://tracker.test/x&gt;"></iframe>', [b"srcdoc"]),
    ],
)
def test_fetching_attributes_move_aside(html: bytes, moved: list[bytes]) -> None:
    out = rewrite(html, tracker)
    assert out.count(HELD) == 1
    for attr in moved:
        assert not re.search(rb"[\s<]" + attr + rb"=", out.split(HELD)[0].rsplit(b"<", 1)[1] + b" ")
        held = ATTR_HELD_SRC if attr == b"src" else ATTR_HELD_PREFIX + attr.decode()
        assert held.encode() + b'="' in out


def test_other_attributes_are_kept_byte_for_byte() -> None:
    html = b'<IMG class=\'a "b"\' SRC=https://tracker.test/p.gif width=1 data-x="y>z" hidden>'
    out = rewrite(html, tracker)
    assert b"class='a \"b\"'" in out and b"width=1" in out and b'data-x="y>z"' in out
    assert b" hidden " in out
    assert ATTR_HELD_SRC.encode() + b'="https://tracker.test/p.gif"' in out


def test_moved_values_are_requoted() -> None:
    out = rewrite(b"<img src='https://tracker.test/a?x=\"1\"&amp;y=2'>", tracker)
    assert ATTR_HELD_SRC.encode() + b'="https://tracker.test/a?x=&quot;1&quot;&amp;y=2"' in out


def test_placeholder_goes_before_the_held_element() -> None:
    def embed(element: Element) -> Hold | None:
        return Hold("marketing", vendor="Video", placeholder=b"<div class=ph>Video</div>")

    out = rewrite(b"<p>a</p><iframe src=https://v.test/e></iframe>", embed)
    assert out.startswith(b"<p>a</p><div class=ph>Video</div><iframe ")


def test_category_is_escaped() -> None:
    out = rewrite(b"<img src=x>", lambda e: Hold('a"b&c<'))
    assert CATEGORY + b'="a&quot;b&amp;c&lt;"' in out


def test_author_marked_elements_are_classified_and_remarked() -> None:
    recorder = Recorder(lambda e: Hold("marketing"))
    html = b'<script type="text/plain" data-consent-category="analytics" data-consent-src="a.js"></script>'
    out = rewrite(html, recorder)
    assert recorder.seen[0].attrs[ATTR_CATEGORY] == "analytics"
    assert out.count(CATEGORY) == 1 and CATEGORY + b'="marketing"' in out
    assert b'data-consent-src="a.js"' in out


def test_duplicates_first_wins_and_later_copies_are_dropped() -> None:
    recorder = Recorder(tracker)
    out = rewrite(b"<img src=https://tracker.test/a SRC=b.png src=c.png alt=1 ALT=2>", recorder)
    assert recorder.seen[0].attrs["src"] == "https://tracker.test/a"
    assert recorder.seen[0].attrs["alt"] == "1"
    assert b"src=" not in out.replace(ATTR_HELD_SRC.encode() + b"=", b"")
    assert out.count(b"alt=") == 1


def test_the_rewriter_s_elements_are_the_dataclass_s() -> None:
    # Made by filling their slots: every field must be filled, and the result the same.
    assert tuple(field.name for field in dataclasses.fields(Element)) == rewriter._ELEMENT_FIELDS
    cases: list[tuple[str, dict[str, str | None], str | None, bytes, str | None, bool]] = [
        ("img", {"src": "a"}, None, b"<img src=a>", None, True),
        ("script", {}, "t()", b"<script>", "https://base.test/", False),
    ]
    for values in cases:
        made = rewriter._element(*values)
        assert made == Element(*values)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.tag = "iframe"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("html", "held"),
    [
        # Every held name of what an image fetches is the server's: one the page wrote would be
        # restored as if moved aside. Its own data-consent-type is no such name there.
        (
            b"<img data-consent-srcdoc='javascript:x()' src=https://t.test/p DATA-CONSENT-SRC=/own"
            b" data-consent-held data-consent-category=none data-consent-type=x alt=a>",
            b'<img  data-consent-src="https://t.test/p"    data-consent-type=x alt=a'
            b' data-consent-category="ads" data-consent-held>',
        ),
        # A site's own held script keeps its data-consent-src, -type and -href: the server
        # moved none of src, type and href aside.
        (
            b"<script data-consent-src=/own.js data-consent-type=module data-consent-held"
            b" data-consent-category=x data-consent-href=h></script>",
            b"<script data-consent-src=/own.js data-consent-type=module   data-consent-href=h"
            b' type="text/plain" data-consent-category="ads" data-consent-held></script>',
        ),
        # Where the server moves them, the script's own are dropped, and a second src too.
        (
            b"<script src=https://t.test/a.js data-consent-src=/own.js type=module"
            b" data-consent-type=x SRC=/b.js></script>",
            b'<script data-consent-src="https://t.test/a.js"  type="text/plain"  '
            b' data-consent-type="module" data-consent-category="ads" data-consent-held></script>',
        ),
        (
            b"<div background=https://t.test/bg.png data-consent-background=/x"
            b" data-consent-ping=z ping=/p PING=/q>",
            b'<div data-consent-background="https://t.test/bg.png"   data-consent-ping="/p" '
            b' data-consent-category="ads" data-consent-held>',
        ),
    ],
)
def test_held_names_the_page_wrote_itself_are_dropped(html: bytes, held: bytes) -> None:
    assert rewrite(html, lambda e: Hold("ads")) == held


def test_attribute_values_are_decoded_for_the_classifier() -> None:
    recorder = Recorder()
    rewrite(b"<iframe src='a?b=1&amp;c=&quot;2&quot;' Title=T  hidden data-x=></iframe>", recorder)
    attrs = recorder.seen[0].attrs
    assert attrs["src"] == 'a?b=1&c="2"'
    assert attrs["title"] == "T"
    assert attrs["hidden"] is None
    assert attrs["data-x"] == ""
    assert dict(attrs) == {"src": 'a?b=1&c="2"', "title": "T", "hidden": None, "data-x": ""}
    assert len(attrs) == 4 and "src" in attrs and attrs.get("nope", "d") == "d"


def test_non_ascii_bytes_reach_the_classifier_as_latin1() -> None:
    recorder = Recorder()
    rewrite("<img alt='été'>".encode(), recorder)
    assert recorder.seen[0].attrs["alt"] == "été".encode().decode("latin-1")


def test_input_other_than_image_is_not_classified() -> None:
    recorder = Recorder()
    rewrite(b"<input type=text src=x><input TYPE=IMAGE src=y>", recorder)
    assert [e.attrs["src"] for e in recorder.seen] == ["y"]


def test_greater_than_inside_quotes_does_not_end_the_tag() -> None:
    recorder = Recorder(tracker)
    out = rewrite(b'<img alt="a > b" title=\'c>d\' src="https://tracker.test/x">', recorder)
    assert recorder.seen[0].attrs == {
        "alt": "a > b",
        "title": "c>d",
        "src": "https://tracker.test/x",
    }
    assert out.endswith(b" " + HELD + b">")


def test_mixed_case_tags_are_found() -> None:
    recorder = Recorder()
    rewrite(b"<ScRiPt SRC=a.js></sCrIpT><IFRAME src=b></IFRAME><Img Src=c>", recorder)
    assert [(e.tag, e.attrs["src"]) for e in recorder.seen] == [
        ("script", "a.js"),
        ("iframe", "b"),
        ("img", "c"),
    ]


def test_self_closing_and_unquoted_values() -> None:
    out = rewrite(b'<img src=https://tracker.test/a/><img src="https://tracker.test/b"/>', tracker)
    assert ATTR_HELD_SRC.encode() + b'="https://tracker.test/a/"' in out
    assert out.endswith(b" " + HELD + b"/>")


def test_noscript_and_template_contents_are_processed() -> None:
    recorder = Recorder(tracker)
    out = rewrite(
        b"<noscript><img src=https://tracker.test/n></noscript><template><iframe src=https://tracker.test/t></iframe></template>",
        recorder,
    )
    assert [e.tag for e in recorder.seen] == ["img", "iframe"]
    assert out.count(HELD) == 2


# Markup that is not what it looks like.


@pytest.mark.parametrize(
    "html",
    [
        b"<!-- <script src=https://tracker.test/a></script> -->",
        b"<!--[if IE]><script src=https://tracker.test/a></script><![endif]-->",
        b"<![CDATA[ x ]]>",
        b"<!x <img src=x>",
        b"<?php <img src=x ?>",
        b"<style>img{} <img src=x></style>",
        b"<textarea><img src=x></textarea>",
        b"<title><iframe src=x></title>",
        b"<xmp><img src=x></xmp>",
        b"<iframe src=a><img src=x></iframe>",
        b"<!-- a -- b --!-><img src=x>",
    ],
)
def test_tags_that_are_not_elements_are_ignored(html: bytes) -> None:
    recorder = Recorder()
    assert rewrite(html, recorder) == html
    assert all(e.attrs.get("src") != "x" for e in recorder.seen)
    assert all("tracker.test" not in (e.attrs.get("src") or "") for e in recorder.seen)


def test_markup_after_an_abrupt_comment_is_seen() -> None:
    recorder = Recorder()
    rewrite(b"<!--><img src=a><!---><img src=b><!----><img src=c><!-- x --!><img src=d>", recorder)
    assert [e.attrs["src"] for e in recorder.seen] == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    "html",
    [
        b"<img src=a",
        b'<img src="a>',
        b"<!-- open",
        b"<script>open",
        b"<scr",
        b"<",
        b"</",
        b"<!",
        b"<!-",
        b"<iframe src=a>x",
    ],
)
def test_unfinished_constructs_are_flushed(html: bytes) -> None:
    for size in range(1, len(html) + 1):
        assert chunked(html, size, never) == html


# Chunking and hostile input.

PIECES = [
    b"<!DOCTYPE html>",
    b"<html>",
    b"<head>",
    b"</head>",
    b"<body>",
    b"<BODY class=x>",
    b"</body>",
    b"<meta charset=utf-8>",
    b"<title>t</title>",
    b"<template>",
    b"</template>",
    b"<noscript>",
    b"</noscript>",
    b"<script>",
    b"</script>",
    b"<script src=https://tracker.test/a.js>",
    b"<SCRIPT type=module>",
    b"'</scr'+'ipt>'",
    b"</script ",
    b"<img src=https://tracker.test/p>",
    b'<img alt="a>b" src=x>',
    b"<iframe src='https://tracker.test/e'>",
    b"</iframe>",
    b"<style>",
    b"</style>",
    b"<textarea>",
    b"</textarea>",
    b"<!--",
    b"-->",
    b"--!>",
    b"<!-->",
    b"<![CDATA[",
    b"]]>",
    b"<!x>",
    b"<?x>",
    b"<",
    b">",
    b'"',
    b"'",
    b"=",
    b" ",
    b"\n",
    b"-",
    b"<!--->",
    b"/",
    b"<a href=x>",
    b"</a>",
    b"<link rel=preload href=https://tracker.test/l>",
    b"<source srcset=s>",
    b"<video poster=p>",
    b"<object data=o>",
    b"<plaintext>",
    b"\xef\xbb\xbf",
    b"text",
    b"tracker.test",
    b"<input type=image src=i>",
    b"<xmp>",
    b"</xmp>",
    b"<title>",
    b"</title>",
    # Nonces, which answers and held forms are kept without: their values differ per view.
    b"<script nonce=n1 src=https://tracker.test/n.js>",
    b"<script nonce=n2 src=https://tracker.test/n.js>",
    b"<img NONCE='n3' src=https://tracker.test/q>",
    b'<script nonce="n4">',
    b"<img nonce src=https://tracker.test/r>",
    b"<img nonce= src=https://tracker.test/s>",
    b"<img nonce=n5 src=https://tracker.test/s>",
    b'<img alt="nonce=x" src=https://tracker.test/t>',
    b"<script nonce=a nonce=b src=https://tracker.test/u.js>",
]
piece = st.one_of(st.sampled_from(PIECES), st.binary(max_size=4).filter(bool))
html_like = st.lists(st.sampled_from(PIECES) | piece, min_size=6, max_size=80).map(b"".join)


def splits(html: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(html) + 1) for c in cuts} | {0, len(html)})
    return [html[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html_like, st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
@example(b"<!--x--><img src=a>", [])
@example(b"<!--x--!><img src=a>", [])
@example(b"<!---><img src=a>", [])
@example(b"<p><script>" + b"x" * 20 + b"</script><img src=a>", [])
@example(b"<p><script>" + b"x" * 10 + b"</script><img src=a>", [])
@example(b"<!doctype html><title>x</title><head><body>", [])
def test_chunking_does_not_change_the_output(html: bytes, cuts: list[int]) -> None:
    # Holding every element makes any difference in what was parsed show in the output.
    def hold_all(element: Element) -> Hold:
        return Hold("c", placeholder=b"<!--ph:" + (element.text or "").encode("latin-1") + b"-->")

    kw = {"head_injection": HEAD, "body_injection": BODY, "max_inline_script": 16}
    whole = rewrite(html, hold_all, **kw)  # type: ignore[arg-type]
    pieces = HtmlRewriter(hold_all, **kw)  # type: ignore[arg-type]
    assert feed_all(pieces, splits(html, cuts)) == whole
    bytewise = HtmlRewriter(hold_all, **kw)  # type: ignore[arg-type]
    assert feed_all(bytewise, (html[i : i + 1] for i in range(len(html)))) == whole


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    html_like,
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=4),
    st.sampled_from(["hold all", "never", "no classifier"]),
)
@example(b"<p><script>" + b"x" * 20 + b"</script><img src=a>", [], "hold all")
@example(b"<!doctype html><html><head><img src=a", [], "hold all")
@example(b"<!doctype html><html><head><title>t</title><body><img alt='a>b", [40], "never")
@example(b"<!DOCTYPE html><script><body></script>", [], "no classifier")
def test_finishing_with_the_last_chunk_gives_what_feed_and_close_give(
    html: bytes, cuts: list[int], classifier: str
) -> None:
    # A body that comes whole is read in one pass that knows it ends there: every construct
    # its end cuts short must come out as close would have read it after feed.
    def hold_all(element: Element) -> Hold:
        return Hold("c", placeholder=b"<!--ph:" + (element.text or "").encode("latin-1") + b"-->")

    classify = {"hold all": hold_all, "never": never, "no classifier": None}[classifier]
    kw = {"head_injection": HEAD, "body_injection": BODY, "max_inline_script": 16}
    *first, last = splits(html, cuts)
    fed = HtmlRewriter(classify, **kw)  # type: ignore[arg-type]
    expected = feed_all(fed, [*first, last])
    finished = HtmlRewriter(classify, **kw)  # type: ignore[arg-type]
    out = b"".join(finished.feed(piece) for piece in first) + finished.finish(last)
    assert out == expected
    assert (finished.is_document, finished.held_count, finished.failed) == (
        fed.is_document,
        fed.held_count,
        False,
    )
    # Closed: nothing more is injected, and what comes after passes as it would.
    assert finished.close() == fed.close() == b""
    assert finished.feed(b"<img src=a>") == fed.feed(b"<img src=a>")


@pytest.mark.parametrize("classify", [None, never, tracker])
def test_a_long_unchanged_tail_comes_out_as_it_went_in(
    classify: Callable[[Element], Hold | None] | None,
) -> None:
    # Joined from a view of the input rather than from a copy: the same bytes either way.
    page = (
        b"<!doctype html><html><head><title>t</title></head><body>"
        + b"<img src=https://tracker.test/p>"
        + b"<p>"
        + bytes(range(256)).replace(b"<", b"").replace(b">", b"") * 64
    )
    whole = HtmlRewriter(classify, head_injection=HEAD, body_injection=BODY)
    out = whole.finish(page)
    pieces = HtmlRewriter(classify, head_injection=HEAD, body_injection=BODY)
    assert out == feed_all(pieces, [page[at : at + 1000] for at in range(0, len(page), 1000)])
    assert type(out) is bytes and out.endswith(page[-10000:])


def test_finishing_an_empty_chunk_closes() -> None:
    finished = HtmlRewriter(never, head_injection=HEAD, body_injection=BODY)
    fed = HtmlRewriter(never, head_injection=HEAD, body_injection=BODY)
    page = b"<!doctype html><html><head><title>t</title>"
    assert finished.feed(page) + finished.finish(b"") == fed.feed(page) + fed.close()


def test_an_error_of_its_own_in_finish_passes_the_body_on_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: HtmlRewriter, buf: bytes, final: bool) -> bytes:
        raise ValueError("rewriter bug")

    monkeypatch.setattr(HtmlRewriter, "_run", broken)
    page = b"<!doctype html><html><head><img src=https://tracker.test/p>"
    finished = HtmlRewriter(tracker, head_injection=HEAD, body_injection=BODY)
    assert finished.finish(page) == page
    assert finished.failed and finished.close() == b""


def test_a_classifier_error_propagates_from_finish_too() -> None:
    def broken(element: Element) -> Hold | None:
        raise LookupError("classifier bug")

    with pytest.raises(LookupError):
        HtmlRewriter(broken).finish(b"<img src=x>")


@settings(max_examples=300, deadline=None)
@given(html_like, st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_nothing_to_do_means_identical_output(html: bytes, cuts: list[int]) -> None:
    rewriter = HtmlRewriter(never)
    assert feed_all(rewriter, splits(html, cuts)) == html
    assert rewriter.held_count == 0


@settings(max_examples=600, deadline=None)
@given(html_like, st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
@example(b"<!DOCTYPE html><script><body></script>", [])
@example(b"<!DOCTYPE html><iframe src=x><body></iframe>", [30])
@example(b"<!DOCTYPE html><svg><script><body></script></svg>", [])
def test_without_a_classifier_the_injections_land_where_they_would(
    html: bytes, cuts: list[int]
) -> None:
    # A visitor who granted everything has no classifier: the page is read only as far as the
    # injections need, and they land where a classifier holding nothing would put them.
    kw = {"head_injection": HEAD, "body_injection": BODY}
    reference = rewrite(html, never, **kw)  # type: ignore[arg-type]
    assert feed_all(HtmlRewriter(None, **kw), splits(html, cuts)) == reference  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(html_like)
def test_injections_appear_once_in_documents_only(html: bytes) -> None:
    rewriter = HtmlRewriter(never, head_injection=HEAD, body_injection=BODY)
    out = feed_all(rewriter, [html])
    if rewriter.is_document:
        assert out.count(HEAD) == html.count(HEAD) + 1
        assert out.count(BODY) == html.count(BODY) + 1
        assert out.index(HEAD) <= out.index(BODY) or html.count(HEAD)
    else:
        assert out == html
    assert out.replace(HEAD, b"").replace(BODY, b"") == html.replace(HEAD, b"").replace(BODY, b"")


@settings(max_examples=300, deadline=None)
@given(html_like)
def test_holding_only_adds_markers(html: bytes) -> None:
    rewriter = HtmlRewriter(lambda e: Hold("c"))
    out = feed_all(rewriter, [html])
    assert out.count(HELD) >= rewriter.held_count
    if rewriter.held_count == 0:
        assert out == html


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_arbitrary_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    rewriter = HtmlRewriter(tracker, head_injection=HEAD, body_injection=BODY)
    feed_all(rewriter, splits(data, cuts))


def test_classifier_errors_propagate() -> None:
    def broken(element: Element) -> Hold | None:
        raise LookupError("classifier bug")

    rewriter = HtmlRewriter(broken)
    with pytest.raises(LookupError):
        rewriter.feed(b"<img src=x>")


class CountingPattern:
    """Wraps a compiled pattern and counts the bytes each call may examine."""

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern = pattern
        self.examined = 0

    def _count(self, buf: bytes | bytearray, pos: int = 0) -> None:
        self.examined += len(buf) - pos

    def match(self, buf: bytes | bytearray, pos: int = 0) -> re.Match[bytes] | None:
        self._count(buf, pos)
        return self.pattern.match(buf, pos)

    def search(self, buf: bytes | bytearray, pos: int = 0) -> re.Match[bytes] | None:
        self._count(buf, pos)
        return self.pattern.search(buf, pos)


class CountingScan:
    """Wraps the compiled scan and counts the bytes each call passes over: from its position
    to the candidate where it stops, or to the chunk's end."""

    def __init__(self, scan: Callable[..., tuple[int, ...]]) -> None:
        self.scan = scan
        self.examined = 0

    def __call__(
        self, buf: bytes | bytearray, pos: int, known: Known | None, *rest: object
    ) -> tuple[int, ...]:
        found: tuple[int, ...] = self.scan(buf, pos, known, *rest)
        stop = found[1]
        self.examined += (len(buf) if stop < 0 else stop) - pos
        return found


class Remembered:
    """A classifier that remembers its answers on start tags and whole inline scripts, as the
    hold-back policy does: the compiled scan then takes the remembered ones itself. They are
    kept in an Answers dict, as the policy keeps them, or (``plain``) in a plain dict, which
    the scan reads on every element."""

    def __init__(self, verdict: Callable[[Element], Hold | None], *, plain: bool = False) -> None:
        self.verdict = verdict
        self.known: Known = {} if plain else Answers()
        self.calls = 0

    def __call__(self, element: Element) -> Hold | None:
        self.calls += 1
        if not element.complete:
            return self.verdict(element)
        key = (
            _scanner.tag_key(element.raw, _scanner.nonce_value(element.raw)),
            element.text,
            element.base,
        )
        if key not in self.known:
            self.known[key] = self.verdict(element)
        return self.known[key]


def remembering(verdict: Callable[[Element], Hold | None]) -> Remembered:
    return Remembered(verdict)


HOSTILE = {
    "script tag never closed": b"<!DOCTYPE html><head><script " + b"a=1 " * 50_000,
    "script text never closed": b"<script>" + b"x<" * 100_000,
    "script repeated": b"<script" * 30_000,
    "a without end": b"<a " * 60_000,
    "comment never closed": b"<!--" + b"- <img src=x> " * 15_000,
    "quote never closed": b'<img src="' + b"y" * 200_000,
    "tag name never ends": b"<" + b"x" * 200_000,
    "inert svg repeated": b"<p>" + b"<svg><path d=1></svg>" * 20_000,
}


def test_a_short_tag_or_drawing_cut_by_a_chunk_s_end_waits_to_be_read_whole() -> None:
    icon = b'<svg viewBox="0 0 24 24"><path d="M12 2z"></path></svg>'
    page = b"<p>text" + icon + b"<img src=https://tracker.test/i alt=x>tail"
    whole = rewrite(page, tracker)
    # Each construct from its start to its last `>`, which completes it.
    spans = (
        (page.index(b"<svg"), page.index(b"</svg>") + 5),
        (page.index(b"<img"), page.index(b">tail")),
    )
    for start, last in spans:
        for cut in range(start + 1, last + 1):
            pass_ = HtmlRewriter(remembering(tracker))
            first = pass_.feed(page[:cut])
            # Held from where the construct starts, nothing of it read as foreign content yet.
            assert pass_.held_bytes == cut - start
            assert not pass_._foreign
            assert first + pass_.feed(page[cut:]) + pass_.close() == whole


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_scanned_in_linear_work(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Counting the bytes given to each pattern call bounds the work independently of timing:
    # a scan that restarted from the beginning of what it holds would examine O(n²) bytes.
    html = HOSTILE[name]
    counters = {}
    names = ("ATTRS", "SEARCH_MAIN", "SEARCH_BODY", "COMMENT_END", "SPACES", "TAG_NAME")
    for attr in (*names, "_NAME_REST", "_TAG_NAME_REST", "_UNQUOTED"):
        counters[attr] = CountingPattern(getattr(_scanner, attr))
        monkeypatch.setattr(_scanner, attr, counters[attr])
    script_end = CountingPattern(_scanner.end_tag("script"))
    monkeypatch.setitem(_scanner._END_TAGS, "script", script_end)
    monkeypatch.setattr("consent.rewriter._SCRIPT_END", script_end)
    compiled = CountingScan(rewriter._fast_scan) if rewriter._fast_scan else None
    monkeypatch.setattr(rewriter, "_fast_scan", compiled)
    out = chunked(html, 1024, remembering(tracker), head_injection=HEAD)
    assert out.replace(HEAD, b"") == html
    examined = sum(c.examined for c in counters.values()) + script_end.examined
    assert examined + (compiled.examined if compiled else 0) <= 8 * len(html)


def grows_linearly(rewrite_n: Callable[[int], object], n: int) -> bool:
    """A loose timing check: ten times the bytes may not take a hundred times as long
    (quadratic); the factor 40 leaves room for a noisy machine. CPU time, not the clock on the
    wall: the load of other processes does not count."""

    def seconds(count: int) -> float:
        start = time.process_time()
        rewrite_n(count)
        return time.process_time() - start

    small = min(seconds(n) for _ in range(3))
    large = min(seconds(10 * n) for _ in range(3))
    return large < 40 * max(small, 1e-4)


def test_hostile_input_time_grows_linearly() -> None:
    # On top of the work count above.
    assert grows_linearly(lambda n: chunked(b"<script " + b"a " * n, 4096, never), 20_000)


def test_held_attribute_names_follow_the_shared_names() -> None:
    assert ATTR_HELD_SRC == ATTR_HELD_PREFIX + "src"
    assert ATTR_HELD_TYPE == ATTR_HELD_PREFIX + "type"


# -- Reading markup as browsers do (WHATWG tokenizer and tree-builder states that matter) --


@pytest.mark.parametrize(
    "html",
    [
        b'<div title="<textarea>"><script src=https://tracker.test/a.js></script>',
        b"<div title='<!--'><script src=https://tracker.test/a.js></script>-->",
        b"<div <textarea><script src=https://tracker.test/a.js></script></textarea>",
        b"<p a=<style>><script src=https://tracker.test/a.js></script></style>",
        b"</ <textarea>><script src=https://tracker.test/a.js></script></textarea>",
        b'<div title="a>b <textarea>"><script src=https://tracker.test/a.js></script>',
    ],
)
def test_a_lt_inside_a_tag_is_no_markup(html: bytes) -> None:
    # Each page hides a construct inside another tag's attributes or a bogus comment; it
    # must not swallow the tracker that follows it.
    html = b"<p>" + html  # after the first tag, where only searched names are looked at
    for size in (len(html), 7, 1):
        out = chunked(html, size)
        assert out.count(HELD) == 1, (size, out)


def test_noscript_is_raw_text_for_a_browser_that_runs_scripts() -> None:
    html = (
        b"<noscript><!--</noscript><script src=https://tracker.test/a.js></script>-->"
        b"<noscript><img src=https://tracker.test/pixel></noscript>"
    )
    for size in (len(html), 5, 1):
        out = chunked(html, size)
        # The script after the first </noscript> runs; the pixel inside the second is held
        # for visitors without scripts.
        assert b'<script type="text/plain" src' not in out
        assert out.count(HELD) == 2, out


@pytest.mark.parametrize("name", [b"style", b"title", b"textarea", b"xmp", b"noscript"])
def test_raw_text_names_inside_svg_hold_markup(name: bytes) -> None:
    html = (
        b"<svg><" + name + b"><img src=https://tracker.test/p></" + name + b"></svg>"
        b"<svg><" + name + b"><image href=https://tracker.test/s /></" + name + b"></svg>"
    )
    out = chunked(html, len(html))
    assert out.count(HELD) == 2, out
    assert out == chunked(html, 3)


def test_svg_script_image_and_cdata() -> None:
    recorder = Recorder(tracker)
    html = (
        b'<svg><script xlink:href="https://tracker.test/s.js"/>'
        b"<script>track('https://tracker.test/')</script>"
        b"<![CDATA[<textarea>]]><image href=https://tracker.test/i></image></svg>"
        b"<math><mtext><style><!--</style><img src=https://tracker.test/m></mtext></math>"
    )
    out = rewrite(html, recorder)
    assert out.count(HELD) == 4, out
    assert b'data-consent-xlink:href="https://tracker.test/s.js"' in out


def test_foreign_content_follows_the_tree_builder() -> None:
    icon = b'<svg class="i" viewBox="0 0 24 24"><path d="M12 2C6 2 2 6 2 12"></path><g/></svg>'
    cases = [
        # An icon is drawing markup: what follows it is read as before.
        (icon * 2 + b"<img src=https://tracker.test/a>", ["https://tracker.test/a"]),
        # Inside <foreignObject> the content is HTML again: <style> is raw text there.
        (
            b"<svg><foreignObject><style><img src=https://tracker.test/a></style>"
            b"</foreignObject><style><img src=https://tracker.test/b></style></svg>",
            ["https://tracker.test/b"],
        ),
        # A breakout tag (<p>) leaves the SVG: the <style> after it is raw text again.
        (
            b"<svg><p><style><!--</style><img src=https://tracker.test/c>-->",
            ["https://tracker.test/c"],
        ),
        # </svg> inside an attribute does not end the SVG.
        (
            b"<svg><g title='</svg>'><style><img src=https://tracker.test/d></style></g></svg>",
            ["https://tracker.test/d"],
        ),
    ]
    for html, srcs in cases:
        for size in (len(html), 5):
            recorder = Recorder(tracker)
            chunked(b"<p>" + html, size, recorder)
            assert [e.attrs.get("src") for e in recorder.seen] == srcs, html


@pytest.mark.parametrize(
    "html",
    [
        # The '/' ends an unquoted value: <foreignObject> stays open, and the frame in it is
        # HTML's, which loads.
        b"<svg><foreignObject a=b/><iframe src=https://tracker.test/f></iframe></svg>",
        b"<svg><foreignObject a= /><iframe src=https://tracker.test/f></iframe></svg>",
        # The <svg> is open, and <style> in it holds markup, not raw text.
        b"<svg a=b/><style><foreignObject><iframe src=https://tracker.test/f></iframe></style>",
        b"<math a=b/><style><mi><iframe src=https://tracker.test/f></iframe></mi></style>",
    ],
)
def test_a_slash_that_ends_an_unquoted_value_closes_no_foreign_element(html: bytes) -> None:
    for size in (len(html) + 3, 5):
        recorder = Recorder(tracker)
        out = chunked(b"<p>" + html, size, recorder)
        assert [e.attrs.get("src") for e in recorder.seen] == ["https://tracker.test/f"], html
        assert out.count(HELD) == 1, out


def test_plaintext_while_the_page_may_be_inside_svg_is_read_as_markup() -> None:
    # </style> closes nothing open in the drawing: browsers stay inside it, where <plaintext>
    # is an SVG element and the image after it breaks out as HTML's, which loads.
    html = b"<p><svg></style><plaintext><img src=https://tracker.test/p>"
    for size in (len(html), 5):
        recorder = Recorder(tracker)
        out = chunked(html, size, recorder)
        assert [e.attrs.get("src") for e in recorder.seen] == ["https://tracker.test/p"]
        assert out.count(HELD) == 1, out


def test_image_is_read_as_img_and_base_is_passed_on() -> None:
    recorder = Recorder()
    html = (
        b'<p><div title="<base href=https://example.org/>">'
        b'<base href="https://cdn.example/"><base href="https://other.example/">'
        b"<image src=a.gif><script src=/x.js></script><frame src=f.html>"
    )
    rewrite(html, recorder)
    assert [(e.tag, e.base) for e in recorder.seen] == [
        ("img", "https://cdn.example/"),
        ("script", "https://cdn.example/"),
        ("frame", "https://cdn.example/"),
    ]


def test_ping_and_background_are_classified_on_any_element() -> None:
    recorder = Recorder(tracker)
    html = b'<head><body background="https://tracker.test/b.gif"><a href=/x ping=https://tracker.test/p>'
    out = rewrite(html, recorder, head_injection=HEAD)
    assert b'data-consent-background="https://tracker.test/b.gif"' in out


def test_a_script_past_the_limit_is_marked_incomplete() -> None:
    recorder = Recorder()
    body = b"x" * 300
    for size in (1000, 7):
        recorder.seen.clear()
        chunked(
            b"<script>" + body + b"</script><script>ok()</script>",
            size,
            recorder,
            max_inline_script=100,
        )
        assert [(len(e.text or ""), e.complete) for e in recorder.seen] == [(100, False), (4, True)]


# Fragments whose reading differs between a naive scanner and the tokenizer; the pages built
# from them are compared with html5lib's reading of the same bytes (scripting on, as in the
# browser that runs the banner's script).
TRICKY = [
    '<div title="<textarea>">',
    "<div title='<!--'>",
    '<div title="a>b">',
    "<div <textarea>",
    "<p a=<style>>",
    "</ <textarea>>",
    "</>",
    "<!-->",
    "<!--->",
    "<!-- a --!>",
    "<!--",
    "-->",
    "<?x <style> ?>",
    "<noscript>",
    "</noscript>",
    "<svg>",
    "</svg>",
    "<math>",
    "</math>",
    "<mtext>",
    "<foreignObject>",
    "</foreignObject>",
    "<desc>",
    "<style>",
    "</style>",
    "<title>",
    "</title>",
    "<textarea>",
    "</textarea>",
    "<xmp>",
    "</xmp>",
    "<script>",
    "</script>",
    "<![CDATA[",
    "]]>",
    "<p>",
    "<div>",
    "</div>",
    "<b>",
    '"',
    "'",
    ">",
    "<",
    "text ",
    "<img src=https://tracker.test/i>",
    "<script src=https://tracker.test/s></script>",
    "<iframe src=https://tracker.test/f></iframe>",
    "<image src=https://tracker.test/m>",
    "<svg><image href=https://tracker.test/v /></svg>",
    "track('https://tracker.test/')",
    "<script><!--<script>",
    # A '/' that ends an unquoted value closes nothing; <plaintext> where <svg> may be open.
    "<svg a=b/>",
    "<foreignObject a=b/>",
    "<plaintext>",
    # Nonces, which answers and held forms are kept without.
    "<script nonce=n1 src=https://tracker.test/n></script>",
    "<img nonce=n2 src=https://tracker.test/q>",
    "<img nonce= src=https://tracker.test/q>",
]
tricky_pages = st.lists(st.sampled_from(TRICKY), max_size=14).map(lambda p: "".join(p).encode())
_HTML = "{http://www.w3.org/1999/xhtml}"
_SVG = "{http://www.w3.org/2000/svg}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_HTML_FETCHING = frozenset(
    {"img", "script", "iframe", "frame", "embed", "video", "audio", "source", "track", "input"}
)


def _loaded_trackers(html: bytes) -> list[str]:
    """What html5lib's tree (scripting on) would fetch from tracker.test or run inline."""
    import html5lib

    found = []
    for element in html5lib.parse(html, scripting=True).iter():
        tag = str(element.tag)
        if tag.startswith(_HTML) and tag[len(_HTML) :] in _HTML_FETCHING:
            names: tuple[str, ...] = ("src", "srcset")
        elif tag in (_SVG + "image", _SVG + "script", _SVG + "feImage"):
            names = ("href", _XLINK_HREF)
        else:
            names = ()
        found += [f"{tag} {n}" for n in names if "tracker.test" in (element.get(n) or "")]
        runs = (element.get("type") or "").lower() != HELD_SCRIPT_TYPE
        script = tag in (_HTML + "script", _SVG + "script")
        if script and runs and "tracker.test" in (element.text or ""):
            found.append(f"{tag} text")
    return found


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tricky_pages, st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_nothing_html5lib_would_load_survives(html: bytes, cuts: list[int]) -> None:
    cuts = sorted({min(c, len(html)) for c in cuts})
    rewriter = HtmlRewriter(tracker)
    pieces = [html[a:b] for a, b in zip([0, *cuts], [*cuts, len(html)], strict=True)]
    out = feed_all(rewriter, pieces)
    assert out == rewrite(html, tracker)
    assert _loaded_trackers(out) == []


def test_answers_begin_a_new_epoch_whenever_an_answer_could_change() -> None:
    tag = (b"<img src=x>", None, None)
    other = (b"<img src=y>", None, None)
    answers = Answers()
    epochs = [answers.epoch, Answers().epoch]
    unchanged = answers.epoch
    answers[tag] = None  # a new key: nothing told before changes
    answers[tag] = None  # the same answer again
    answers.setdefault(other, None)
    answers.setdefault(other, Hold("analytics"))  # not written: the key has an answer
    assert answers.epoch == unchanged and answers[other] is None
    changes: list[Callable[[Answers], object]] = [
        lambda a: a.__setitem__(tag, Hold("analytics")),
        lambda a: a.__delitem__(tag),
        lambda a: a.pop(other),
        lambda a: a.popitem(),
        lambda a: a.clear(),
        lambda a: a.update({tag: None}),
        lambda a: a.__ior__({tag: None}),
    ]
    for change in changes:
        answers[tag] = None
        answers[other] = None
        before = answers.epoch
        change(answers)
        assert answers.epoch != before
        epochs.append(answers.epoch)
    # Never reused: an answer kept with an old epoch can never pass for a new one's.
    assert len(set(epochs)) == len(epochs)


def test_a_copy_of_an_answers_dict_has_an_epoch_of_its_own() -> None:
    # A copy is another dict: were it to share the epoch, an answer the compiled scan kept from
    # the copy would stand for the original, which may never have had it.
    tag = (b"<img src=x>", None, None)
    answers = Answers()
    answers[tag] = Hold("analytics")
    copies = [copy.copy(answers), copy.deepcopy(answers), pickle.loads(pickle.dumps(answers))]  # noqa: S301
    epochs = {answers.epoch}
    for copied in copies:
        assert type(copied) is Answers
        assert copied == answers
        assert copied.epoch not in epochs
        epochs.add(copied.epoch)


def test_a_change_ends_the_epoch_seen_while_it_was_made() -> None:
    # Code that runs while update or |= reads its argument (a mapping's keys()) may keep an
    # answer with the epoch current then: that epoch must be over once the change is in.
    tag = (b"<img src=x>", None, None)
    answers = Answers()
    seen: list[int] = []

    class Reading:
        def keys(self) -> list[tuple[bytes, None, None]]:
            seen.append(answers.epoch)
            return [tag]

        def __getitem__(self, key: object) -> Hold:
            return Hold("analytics")

    for change in (answers.update, answers.__ior__):
        answers[tag] = None
        change(Reading())
        assert answers[tag] == Hold("analytics")
        assert answers.epoch != seen[-1]


_prologue_parts = st.lists(
    st.sampled_from(
        [
            b"<!DOCTYPE html>",
            b"<!doctype html public '-//x'>",
            b"<!-- a comment -->",
            b"\xef\xbb\xbf",
            b"<html>",
            b"<HTML lang=en>",
            b"<html background=https://tracker.test/b.png>",
            b"<html data-x='a>b' class=\"c\">",
            b"<html/>",
            b"<head>",
            b"<HEAD profile=x>",
            b"<head data-y='>'>",
            b"<header>",
            b"<title>t</title>",
            b"<script src=https://tracker.test/t.js></script>",
            b"<body>",
            b"<p>text",
            b" ",
            b"\n\t",
            b"<",
            b">",
        ]
    ),
    max_size=8,
)


@settings(max_examples=600, deadline=None)
@given(_prologue_parts, st.lists(st.integers(min_value=0, max_value=400), max_size=4))
@example([b"<!DOCTYPE html>", b"\n\t", b"<HTML lang=en>", b" ", b"<head data-y='>'>"], [])
@example([b"\xef\xbb\xbf", b"<html background=https://tracker.test/b.png>", b"<head>"], [])
@example([b"<html/>", b"<HEAD profile=x>", b"<title>t</title>", b"<body>"], [9])
def test_the_usual_start_of_a_page_read_at_once_is_read_as_the_loop_reads_it(
    parts: list[bytes], cuts: list[int]
) -> None:
    html = b"".join(parts) + b"<img src=https://tracker.test/i.gif><p>end"
    pieces = splits(html, cuts)

    def rewritten(prologue: re.Pattern[bytes]) -> tuple[bytes, int]:
        saved = rewriter._PROLOGUE
        rewriter._PROLOGUE = prologue
        try:
            pass_ = HtmlRewriter(tracker, head_injection=b"<!--head-->", body_injection=b"<b/>")
            out = b"".join(pass_.feed(piece) for piece in pieces) + pass_.close()
            return out, pass_.held_count
        finally:
            rewriter._PROLOGUE = saved

    # A pattern that never matches leaves every construct to the loop.
    assert rewritten(rewriter._PROLOGUE) == rewritten(re.compile(rb"(?!)()"))


def test_html_tags_found_plain_are_remembered_and_those_that_fetch_never_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rewriter, "_PLAIN_HTML_TAGS", set())
    monkeypatch.setattr(rewriter, "_MAX_PLAIN_HTML_TAGS", 2)
    plain = b'<!DOCTYPE html>\n<html lang="en">\n<head><img src=https://tracker.test/i.gif>'
    fetching = b"<html background=https://tracker.test/b.png><head><title>t</title>"
    first = [HtmlRewriter(tracker, head_injection=HEAD).finish(page) for page in (plain, fetching)]
    assert {b'<html lang="en">'} == rewriter._PLAIN_HTML_TAGS
    # The same bytes when the answer is remembered as when it was searched for.
    again = [HtmlRewriter(tracker, head_injection=HEAD).finish(page) for page in (plain, fetching)]
    assert again == first
    assert b"<html background=" not in first[1] and b"-background=" in first[1]  # held
    assert rewriter._fetches_nothing(bytearray(b"<html dir=ltr>"))  # held bytes: not kept
    assert {b'<html lang="en">'} == rewriter._PLAIN_HTML_TAGS
    long_tag = b"<html data-x=" + b"x" * 300 + b">"
    assert rewriter._fetches_nothing(long_tag) and long_tag not in rewriter._PLAIN_HTML_TAGS
    for tag in (b"<html>", b"<html lang=fr>", b"<html lang=de>"):
        assert rewriter._fetches_nothing(tag)
    assert len(rewriter._PLAIN_HTML_TAGS) <= 2  # emptied when full


def test_the_usual_start_of_a_page_is_read_at_once() -> None:
    page = b'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">'
    match = rewriter._PROLOGUE.match(page)
    assert match is not None and match.end() == page.index(b"\n<meta")
    for other in (b"<!doctype html><!-- c --><html><head>", b"<html><header>", b"<head>"):
        assert rewriter._PROLOGUE.match(other) is None


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (b'<script nonce="abc" src=x>', b'"abc"'),
        (b"<script src=x NONCE='a b'>", b"'a b'"),
        (b"<script nonce=abc>", b"abc"),
        (b"<script\nNonce = abc\tsrc=x>", b"abc"),
        (b"<script nOnCe=abc src=x>", b"abc"),  # any mix of cases
        (b"<script src=x NONCe=abc>", b"abc"),
        (b"<script nonce= src=x>", b"src=x"),  # the value is what follows the spaces
        (b"<script nonce src=x>", None),  # no value
        (b'<script nonce="" src=x>', b'""'),
        (b"<script nonce=>", None),  # an empty value
        (b"<script nonce nonce=abc>", None),  # the first of a name is the one read
        (b"<script nonce=a nonce=b>", b"a"),
        (b'<script alt="nonce=abc" src=x>', None),  # inside another value
        (b"<script data-nonce=abc>", None),
        (b"<script nonces=abc>", None),
        (b"<nonce src=x>", None),  # a name of an element, not of an attribute
    ],
)
def test_a_tag_s_nonce_is_the_value_browsers_read(tag: bytes, value: bytes | None) -> None:
    found = _scanner.nonce_value(tag)
    assert (None if found is None else tag[found[0] : found[1]]) == value
