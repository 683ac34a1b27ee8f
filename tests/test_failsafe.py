"""The conservative pass: nothing that points to another host stays live, in any chunking."""

from __future__ import annotations

import itertools

import html5lib
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.failsafe import FailsafeRewriter, fallback_csp, is_local_url

HOST = "news.example"


def run(chunks: list[bytes], limit: int = 65536) -> bytes:
    failsafe = FailsafeRewriter(HOST, "marketing", limit=limit)
    return b"".join(failsafe.feed(c) for c in chunks) + failsafe.close()


def live_elsewhere(document: bytes) -> list[str]:
    """URLs on another host that a browser fetches or runs from this markup (html5lib's parse)."""
    tree = html5lib.parse(document, namespaceHTMLElements=False)
    found = []
    for element in tree.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        tag = tag.rpartition("}")[2]
        if tag == "script" and element.get("type") not in (None, "", "module"):
            continue
        if tag == "script" and element.get("src") is None and (element.text or "").strip():
            found.append(f"inline script {element.text!r}")
        for attr, value in element.attrib.items():
            name = attr.rpartition("}")[2] if isinstance(attr, str) else ""
            if name not in ("src", "href", "data", "poster", "background", "srcdoc"):
                continue
            if name == "href" and tag in ("a", "area"):
                continue
            if tag == "link" and element.get("rel") in ("canonical", "alternate"):
                continue  # links to follow, not to fetch
            if name == "srcdoc" or not is_local_url(value, HOST, tag=tag):
                found.append(f"{tag} {name}={value}")
    return found


FRAGMENTS = [
    b'<script src="https://www.google-analytics.com/analytics.js"></script>',
    b"<script>window.dataLayer=[];gtm('<img src=https://t.example/x>')</script>",
    b'<script type="application/ld+json">{"a": "</scrip"}</script>',
    b'<script src="/static/app.js"></script>',
    b'<img src="//t.example/p.gif" alt="a>b">',
    b"<img src=https:\\\\t.example/p.gif>",
    b'<img src="https:t.example/p.gif">',
    b"<img src='&#104;ttps://t.example/x'>",
    b'<img src="/local.png" srcset="/a.png 1x, https://t.example/b.png 2x">',
    b"<img/src=//t.example/x>",
    b'<img alt="x"src="//t.example/y">',
    b'<iframe src="https://www.youtube.com/embed/x"></iframe>',
    b'<iframe srcdoc="&lt;script src=//t.example/x&gt;&lt;/script&gt;"></iframe>',
    b'<link rel="stylesheet" href="https://fonts.example/css">',
    b'<link rel="canonical" href="https://other.example/page">',
    b'<link rel="preconnect" href="https://t.example">',
    b'<a href="https://other.example/">outbound</a>',
    b"<!-- <img src=https://t.example/c> -->",
    b"<!--> <img src=https://t.example/abrupt>",
    b"<!---> <img src=https://t.example/abrupt2>",
    b"<!-- a --!> <img src=https://t.example/bang>",
    b"<svg><script><img src=https://t.example/svg></script></svg>",
    b'<svg><image href="https://t.example/i.svg"/></svg>',
    b'<object data="https://t.example/o.swf"></object>',
    b'<video poster="https://t.example/p.jpg" src="/v.mp4"></video>',
    b'<div style="background:url(https://t.example/bg.png)">x</div>',
    b'<base href="https://t.example/">',
    b"<p>a < b and c<d</p>",
    b"<textarea><img src=https://t.example/ta></textarea>",
    b'<img src="https://news.example/own.png">',
    b"<? bogus > <img src=https://t.example/after-bogus>",
    b"</ img src=https://t.example/endtag>",
    b"<p>text</p>",
]


@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=10),
)
def test_nothing_on_another_host_stays_live_in_any_chunking(
    parts: list[bytes], cuts: list[int]
) -> None:
    page = b"<!doctype html><html><head></head><body>" + b"\n".join(parts) + b"</body></html>"
    whole = run([page])
    points = sorted({c % len(page) for c in cuts} | {0, len(page)})
    chunks = [page[a:b] for a, b in itertools.pairwise(points)]
    assert run(chunks) == whole
    assert live_elsewhere(whole) == []


@pytest.mark.parametrize("start", [b"<svg a=b/>", b"<svg a= />", b"<math a=b/>", b"<svg/>"])
def test_a_slash_that_ends_an_unquoted_value_leaves_the_drawing_open(start: bytes) -> None:
    """In a drawing, <script> holds markup: an image in it is the page's, and loads."""
    page = (
        b"<!doctype html><html><head></head><body>"
        + start
        + b"<script><img src=https://t.example/in-script></script></body></html>"
    )
    for chunks in ([page], [page[:50], page[50:]]):
        assert live_elsewhere(run(chunks)) == []


@pytest.mark.parametrize(
    "fragment",
    [
        b'<script src="/static/app.js"></script>',
        b'<img src="/local.png" alt="x">',
        b'<img src="https://news.example/own.png">',
        b'<a href="https://other.example/">outbound</a>',
        b'<link rel="canonical" href="https://other.example/page">',
        b'<script type="application/ld+json">{}</script>',
        b"<p>a < b</p>",
    ],
)
def test_what_stays_on_the_site_passes_byte_for_byte(fragment: bytes) -> None:
    assert run([fragment]) == fragment


def test_held_elements_carry_the_contract_markers() -> None:
    out = run([b'<script src="https://t.example/x.js"></script><img src="//t.example/p">'])
    assert out == (
        b'<script type="text/plain" data-consent-category="marketing" data-consent-held'
        b' data-consent-src="https://t.example/x.js"></script>'
        b'<img data-consent-category="marketing" data-consent-held data-consent-src="//t.example/p">'
    )


def test_an_unclosed_attribute_is_never_held_past_the_bound() -> None:
    tag = b'<img alt="' + b"x" * 200_000 + b'" src="https://t.example/x"><img src="//t.example/y">'
    failsafe = FailsafeRewriter(HOST, "marketing", limit=4096)
    out = []
    for at in range(0, len(tag), 1000):
        out.append(failsafe.feed(tag[at : at + 1000]))
        # Bytes go out as they come: at most the bound plus one chunk waits.
        assert sum(map(len, out)) >= at - 4096 - 1000
    page = b"".join(out) + failsafe.close()
    assert live_elsewhere(page) == []
    assert b"x" * 200_000 in page


def test_a_fetching_attribute_cut_at_the_bound_is_held() -> None:
    tag = b'<img src="https://t.example/' + b"a" * 10_000 + b'">'
    out = run([tag[i : i + 100] for i in range(0, len(tag), 100)], limit=1024)
    assert live_elsewhere(out) == []
    assert out.startswith(b"<img data-consent-category")


def test_the_fallback_policy_admits_only_the_site_and_the_pages_nonce() -> None:
    policy = fallback_csp("abc123XYZ")
    assert "script-src 'self' 'nonce-abc123XYZ'" in policy
    for directive in ("frame-src 'self'", "img-src 'self' data: blob:", "connect-src 'self'"):
        assert directive in policy
    assert "object-src 'none'" in policy


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("/a", True),
        ("a/b", True),
        ("https://news.example/x", True),
        ("https://NEWS.example.:443/x", True),
        ("//t.example/x", False),
        ("https:t.example", False),
        ("https:///t.example/x", False),
        ("\\\\t.example/x", False),
        ("/\\t.example/x", False),
        (" \t//t.example", False),
        ("ht\ntps://t.example", False),
        ("https://news.example@t.example/", False),
        ("https://t.example\\@news.example/", False),
        ("javascript:alert(1)", False),
        ("data:image/png;base64,AA", True),
    ],
)
def test_hosts_are_read_as_browsers_read_them(url: str, local: bool) -> None:
    assert is_local_url(url, HOST) is local
