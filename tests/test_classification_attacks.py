"""Hold decisions of the fast classification paths against the readings they stand for:
remembered hosts, the one-match URL reading, loader words, srcset splitting and the host
expression read from the slash, each compared with the plain rule over hostile input."""

from __future__ import annotations

import gc
import re
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consent import catalogue as catalogue_module
from consent.catalogue import LOAD_REACH, LOADS, Catalogue, Service, loads_near, may_load
from consent.holdback import HoldbackPolicy, _srcset_urls
from consent.names import ANALYTICS
from consent.parties import Parties, registrable_domain
from consent.rewriter import Element, Hold, rewrite
from consent.urls import _read, host_of
from tests.test_holdback import _srcset_by_states

# -- the one-match URL reading ------------------------------------------------------------

# Every way of writing a host that a browser reads differently from how it is written.
HOSTILE_PIECES = st.lists(
    st.sampled_from(
        [
            *("https:", "HTTPS:", "http:", "hTTp:", "https:\\\\", "/\\", "\\/", "//", "/"),
            *("tracker", "TRACKER", "example", "com", ".", "..", "-", "_", "x@", "@", ":8080"),
            *(" ", "\t", "\n", "\r", "\x0c", "\x00", "\x7f", "%2e", "%41", "\u00e9", "\uff0e"),
            *("?", "#", "&", "\\", "xn--", "\u212a", "\u00ad", "\u0130"),
        ]
    ),
    max_size=14,
).map("".join)


@settings(max_examples=4000, deadline=None)
@given(
    prefix=st.sampled_from(["", "https://", "//", "http://", " https://", "https://\t"]),
    rest=HOSTILE_PIECES,
    base=st.sampled_from([None, "https://cdn.tracker.example/a/", "//TRACKER.example/"]),
)
@example(prefix="", rest="HTTPS://tracker.com/x", base=None)
@example(prefix="https://", rest="x@tracker.com/", base=None)
@example(prefix="https://", rest="tracker.com./", base=None)
@example(prefix="//", rest="tracker.com\\@own.example/", base=None)
@example(prefix="", rest="https:tracker.com/", base=None)
@example(prefix="", rest="//", base="https://cdn.tracker.example/a/")
@example(prefix="https://", rest="tr\u0130cker.com/", base=None)
def test_hostile_spellings_are_read_as_the_general_reading_reads_them(
    prefix: str, rest: str, base: str | None
) -> None:
    url = prefix + rest
    assert host_of(url, base) == _read(url, base)


# -- remembered hosts in the catalogue -------------------------------------------------------


def _service(sid: str, hosts: tuple[str, ...], urls: tuple[str, ...] = ()) -> Service:
    return Service(sid, sid, sid, ANALYTICS, hosts, (), (), "https://x.example", urls=urls)


def _walk(catalogue: Catalogue, url: str, base: str | None) -> Service | None:
    """The rule itself: each parent domain in turn, its urls rules and then its hosts."""
    parsed = host_of(url, base)
    if parsed is None:
        return None
    host, rest = parsed
    labels = host.split(".")
    for i in range(len(labels)):
        suffix = ".".join(labels[i:])
        rules: list[tuple[str, Service]] = []
        for service in catalogue.services:
            for rule in service.urls:
                rule_host, _, path = rule.partition("/")
                if rule_host == suffix:
                    rules.append(("/" + path.lower(), service))
        rules.sort(key=lambda item: len(item[0]), reverse=True)
        for prefix, service in rules:
            if rest.startswith(prefix):
                return service
        for service in catalogue.services:
            if suffix in service.hosts:
                return service
    return None


HOST_LABELS = ["a", "cdn", "tracker", "example", "com", "ads", "own"]


@settings(max_examples=500, deadline=None)
@given(
    asked=st.lists(
        st.tuples(
            st.lists(st.sampled_from(HOST_LABELS), min_size=1, max_size=4).map(".".join),
            st.sampled_from(["/", "/pixel", "/PIXEL/x", "/p", "/other", "?pixel"]),
            st.sampled_from(["https://", "//", "HTTPS://", "https://u@"]),
        ),
        max_size=25,
    )
)
def test_remembered_hosts_give_what_reading_every_path_gives(
    asked: list[tuple[str, str, str]],
) -> None:
    # Rules on a host, on a domain above a host with a service, and beside it.
    catalogue = Catalogue(
        [
            _service("whole", ("tracker.example", "ads.com")),
            _service("by-path", ("cdn.tracker.example",), urls=("tracker.example/pixel",)),
            _service("above", ("a.ads.com",), urls=("com/p",)),
            _service("own-cdn", ("own.example",), urls=("cdn.own.example/pixel",)),
        ]
    )
    for host, path, scheme in asked + asked[::-1]:
        url = scheme + host + path
        assert catalogue.match_url(url) is _walk(catalogue, url, None), url


def test_two_catalogues_in_one_process_answer_each_by_its_own_services() -> None:
    first = Catalogue([_service("t", ("tracker.example",))])
    second = Catalogue([_service("u", ("cdn.example",))])
    for _ in range(2):
        assert first.match_url("https://x.tracker.example/a.js").id == "t"  # type: ignore[union-attr]
        assert second.match_url("https://x.tracker.example/a.js") is None
        assert second.match_host("x.cdn.example").id == "u"  # type: ignore[union-attr]
        assert first.match_host("x.cdn.example") is None


def test_two_parties_tests_in_one_process_answer_each_by_their_own_domains() -> None:
    news = Parties(own_domains=["cdn.example"])
    shop = Parties()
    for _ in range(2):
        assert not news.third_party("x.cdn.example", "news.example")
        assert shop.third_party("x.cdn.example", "news.example")
        # A host that is a site's own is a third party on the other site.
        assert not shop.third_party("www.news.example", "news.example")
        assert shop.third_party("www.news.example", "shop.example")


# -- loader words --------------------------------------------------------------------------

SCRIPT_PIECES = st.lists(
    st.sampled_from(
        [
            *("createElement(", "createelement(", "create", "Element(", ".src=", ".src==", "x"),
            *(".SRC=", "['src']=", "setAttribute('src'", "new Image", "new image", "fetch("),
            *("Fetch(", "refetch(", "sendBeacon(", "XMLHttpRequest", "document.write"),
            *("document . write", "Document.Write", "importScripts(", "$.get(", "$.post("),
            *("jQuery.getScript(", ".getJSON(", ".ajax(", "innerHTML+=", "insertAdjacentHTML("),
            *("'https://tracker.example/a.js'", '"//TRACKER.example"', "'https:\\/\\/t.example'"),
            *("f", "etch(", "wri", "te", " ", "\n", ";", "=", "(", "'", "src", "Image"),
            " " * 600,
        ]
    ),
    max_size=20,
).map("".join)


@settings(max_examples=3000, deadline=None)
@given(text=SCRIPT_PIECES, start=st.integers(-1200, 1500), span=st.integers(0, 2500))
def test_loader_words_answer_as_the_expression_does(text: str, start: int, span: int) -> None:
    expected = LOADS.search(text, max(0, start), start + span) is not None
    assert loads_near(text, start, start + span) is expected
    if LOADS.search(text) is not None:
        assert may_load(text)


@settings(max_examples=500, deadline=None)
@given(texts=st.lists(SCRIPT_PIECES, min_size=1, max_size=6))
def test_the_remembered_loader_answer_is_for_that_script_alone(texts: list[str]) -> None:
    """Scripts of the same length, asked in turn and again: each gets its own answer."""
    width = max(map(len, texts))
    padded = [text.ljust(width) for text in texts]
    for text in padded + padded[::-1] + padded:
        expected = any(word in text for word in catalogue_module._LOADER_WORDS)
        assert may_load(text) is expected
        if LOADS.search(text) is not None:
            assert expected


# The host in a script's URL, read from the quote before its slashes.
_FROM_THE_QUOTE = re.compile(
    r"[:'\"`=](?:\\?/){2}((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9])"
    r"(?=[/:'\"?\\#\s),;&]|$)",
    re.IGNORECASE,
)


def _loaded_host(parties: Parties, text: str, site: str) -> str | None:
    for found in _FROM_THE_QUOTE.finditer(text):
        host = found.group(1).lower()
        if parties.third_party(host, site) and LOADS.search(
            text, max(0, found.start() - LOAD_REACH), found.end() + LOAD_REACH
        ):
            return host
    return None


@settings(max_examples=3000, deadline=None)
@given(
    texts=st.lists(SCRIPT_PIECES, min_size=1, max_size=3),
    site=st.sampled_from(["news.example", "tracker.example", "t.example:8443"]),
)
def test_a_script_loads_the_host_the_plain_rules_find(texts: list[str], site: str) -> None:
    parties = Parties(own_domains=["own.example"])
    for text in texts + texts:
        assert parties.loaded_host(text, site) == _loaded_host(parties, text, site)


# -- srcset --------------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(
    value=st.lists(
        st.sampled_from(
            [
                *("https://t.example/a.png", "data:image/png;base64,AAA=", "a,b", "1x", "2w"),
                *(",", ",,", " ", "\t", "\n", "\x0c", "\x0b", "\u00a0", "(", ")", "(,", "),"),
                *("//tracker.example/p", "x", "1.5x, ", "100w (", "u("),
            ]
        ),
        max_size=14,
    ).map("".join)
)
@example(value="data:image/png;base64,AAA= 1x, https://tracker.example/p.gif 2x")
@example(value="a.png 1x (, https://tracker.example/p.gif 2x")
def test_odd_srcsets_are_split_as_html_splits_them(value: str) -> None:
    assert _srcset_urls(value) == _srcset_by_states(value)


# -- what the caches keep ------------------------------------------------------------------


def _kept_after_reading(
    template: str, classifier: Callable[[], Callable[[Element], Hold | None]]
) -> tuple[int, int]:
    """Bytes still allocated once a page view's classifier has read a page of ``template``
    150 times (``{i}`` the count, ``{x}`` 20,000 letters), and how many elements it held."""
    page = "".join(template.format(i=i, x="x" * 20_000) for i in range(150))
    # The public suffix list is read on the first host asked about, once for all.
    assert registrable_domain("www.news.example") == "news.example"

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = _holds(page.encode(), classifier())
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before, held
    finally:
        tracemalloc.stop()


def test_long_host_names_on_pages_are_not_kept() -> None:
    """A page can name hosts of any length (no browser fetches them): the bounded caches
    keep no copy of such a name, so pages full of them leave no memory behind."""
    policy = HoldbackPolicy(Catalogue([]), [], unclassified=ANALYTICS, parties=Parties())
    kept, held = _kept_after_reading(
        '<script src="https://h{i}{x}.example/a.js"></script>'
        '<script src="https://H{i}{x}.EXAMPLE/a.js"></script>',
        lambda: policy.classifier(frozenset(), None, site="s.example"),
    )
    # Every one of them is held: a third party's script.
    assert held == 300
    # 300 names of 20 kB were read: far less than one of them per name may stay.
    assert kept < 1_000_000


@pytest.mark.parametrize(
    "template",
    [
        # Long tags are answered each time instead of kept.
        '<img src="/a{i}.png" alt="{x}">'
        '<script src="https://t{i}.tracker.example/a.js" data-x="{x}"></script>',
        # Long scripts are kept by a digest of their text.
        '<script>var a{i} = "{x}"; new Image().src = "https://t{i}.tracker.example/p";</script>'
        '<script>var b{i} = "{x}";</script>',
    ],
    ids=["tags", "scripts"],
)
def test_long_tags_and_scripts_are_not_kept(template: str) -> None:
    """A page view's remembered answers are kept by the element's bytes and text, which a page
    can write at any length: pages full of long ones leave no copy of them behind."""
    policy = HoldbackPolicy(Catalogue([]), [], unclassified=ANALYTICS, parties=Parties())
    kept, held = _kept_after_reading(
        template, lambda: policy.classifier(frozenset(), None, memo_key="en", site="s.example")
    )
    # What loads from a third party is held, the site's own elements are not.
    assert held == 150
    # 300 elements of 20 kB were read: far less than one of them per element may stay.
    assert kept < 1_000_000


def _holds(page: bytes, page_view: Callable[[Element], Hold | None]) -> int:
    """How many of the page's elements ``page_view`` holds (counted: a hold is not kept)."""
    held = 0

    def look(element: Element) -> Hold | None:
        nonlocal held
        hold = page_view(element)
        held += hold is not None
        return hold

    rewrite(page, look)
    return held


def test_long_base_addresses_are_not_kept() -> None:
    """A page's ``<base href>`` is read with each of its relative URLs, and a page can write
    it at any length: page views with long ones leave no copy of them behind."""
    policy = HoldbackPolicy(Catalogue([]), [], unclassified=ANALYTICS, parties=Parties())
    pages = [
        f'<base href="https://t.tracker.example/{i}{"x" * 20_000}/">'
        '<script src="a.js"></script><img src="b.png">'.encode()
        for i in range(150)
    ]
    assert registrable_domain("www.news.example") == "news.example"  # the suffix list, read
    held = 0
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for page in pages:
            page_view = policy.classifier(frozenset(), None, memo_key="en", site="s.example")
            held += _holds(page, page_view)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Each page's script comes from the tracker its base names.
    assert held == 150
    # 150 addresses of 20 kB were read: far less than one of them per page may stay.
    assert kept < 1_000_000
