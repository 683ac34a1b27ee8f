"""Tests of the URL host reading: the spellings browsers accept reach the same host."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent import urls
from consent.urls import host_of, resolve


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://www.tracker.example/a.js", "www.tracker.example"),
        ("HTTPS://WWW.TRACKER.EXAMPLE/a.js", "www.tracker.example"),
        ("https:\\\\tracker.example\\a.js", "tracker.example"),
        ("https:/tracker.example/a.js", "tracker.example"),
        ("https:///tracker.example/a.js", "tracker.example"),
        ("https:tracker.example/a.js", "tracker.example"),
        ("//tracker.example/a.js", "tracker.example"),
        ("\\\\tracker.example/a.js", "tracker.example"),
        ("/\\tracker.example/a.js", "tracker.example"),
        ("htt\tps://track\ner.exa\rmple/a.js", "tracker.example"),
        ("\x00 \x1f https://tracker.example/a.js \x01", "tracker.example"),
        ("https://tracker%2Eexample/a.js", "tracker.example"),
        ("https://tracker\u3002example/", "tracker.example"),
        ("https://tracker\uff0eexample/", "tracker.example"),
        ("https://tracker\uff61example/", "tracker.example"),
        ("https://\uff34\uff32\uff21\uff23\uff2b\uff25\uff32.example/", "tracker.example"),
        ("https://trac\u00adker.example/", "tracker.example"),
        ("https://tracker.example./a.js", "tracker.example"),
        ("https://user:pw@tracker.example:8443/a.js", "tracker.example"),
        ("https://a@b@tracker.example/", "tracker.example"),
        ("https://bücher.example/", "xn--bcher-kva.example"),
        ("https://XN--BCHER-KVA.example/", "xn--bcher-kva.example"),
        ("ws://tracker.example/socket", "tracker.example"),
        ("https://tracker.example?x=1", "tracker.example"),
        ("https://tracker.example#x", "tracker.example"),
    ],
)
def test_spellings_browsers_accept(url: str, host: str) -> None:
    assert resolve(url, None) == host


@pytest.mark.parametrize(
    "url",
    [
        "/a.js",
        "a.js",
        "?x",
        "#top",
        "",
        "data:text/html,x",
        "javascript:alert(1)",
        "blob:https://tracker.example/1",
        "mailto:a@tracker.example",
        "https://",
        "file:///x",
    ],
)
def test_the_page_itself_or_no_server(url: str) -> None:
    assert resolve(url, None) is None


def test_relative_urls_resolve_against_the_base() -> None:
    base = "https://cdn.tracker.example/static/v2/"
    assert host_of("a.js", base) == ("cdn.tracker.example", "/static/v2/a.js")
    assert host_of("/x/a.js?q", base) == ("cdn.tracker.example", "/x/a.js?q")
    assert host_of("?q=1", base) == ("cdn.tracker.example", "/static/v2/?q=1")
    assert resolve("//other.example/a.js", base) == "other.example"
    assert resolve("a.js", "//tracker.example/") == "tracker.example"
    assert resolve("a.js", "/relative/") is None


DOTS = st.sampled_from([".", "\u3002", "\uff0e", "\uff61", "%2e", "%2E"])
SLASHES = st.text(alphabet="/\\", min_size=0, max_size=4)
NOISE = st.text(alphabet="\t\n\r", max_size=2)


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(["https", "HTTPS", "http", "Https"]),
    slashes=SLASHES,
    dots=st.tuples(DOTS, DOTS),
    upper=st.booleans(),
    noise=NOISE,
    userinfo=st.sampled_from(["", "a@", "a:b@"]),
    port=st.sampled_from(["", ":443", ":8080"]),
    trailing=st.booleans(),
)
def test_generated_spellings_reach_the_host(
    scheme: str,
    slashes: str,
    dots: tuple[str, str],
    upper: bool,
    noise: str,
    userinfo: str,
    port: str,
    trailing: bool,
) -> None:
    labels = ["www", "tracker", "example"]
    if upper:
        labels = [label.upper() for label in labels]
    host = labels[0] + dots[0] + labels[1] + noise + dots[1] + labels[2] + ("." if trailing else "")
    url = f"{scheme}:{slashes}{userinfo}{host}{port}/p.js"
    assert resolve(url, None) == "www.tracker.example"


# Pieces of URLs around the plain spelling most pages use, and the ways of leaving it.
URL_PIECES = st.lists(
    st.sampled_from(
        [
            *("https:", "http:", "HTTP:", "ftp:", "javascript:", "//", "/", "\\", "a", "B", "0"),
            *(".", "-", "_", "%2e", "@", ":443", "?", "#", "&", " ", "\t", "\n", "\x00", "\u00e9"),
            "\uff0e",
        ]
    ),
    max_size=16,
).map("".join)


@settings(max_examples=3000, deadline=None)
@given(
    url=st.one_of(
        URL_PIECES, st.tuples(st.sampled_from(["https://", "//"]), URL_PIECES).map("".join)
    ),
    base=st.sampled_from([None, "https://cdn.tracker.example/static/", "/relative/"]),
)
def test_plain_urls_are_read_as_the_general_reading_reads_them(url: str, base: str | None) -> None:
    assert urls.host_of(url, base) == urls._read(url, base)


def test_plain_urls_give_host_and_path() -> None:
    assert host_of("https://www.tracker.example/A/b.js?X=1#Frag") == (
        "www.tracker.example",
        "/a/b.js?x=1",
    )
    assert host_of("//tracker.example.?q") == ("tracker.example", "/?q")
    assert host_of("https://./a.js") is None


@settings(max_examples=3000, deadline=None)
@given(url=URL_PIECES.map(lambda rest: "/" + rest))
def test_root_relative_urls_are_read_as_the_general_reading_reads_them(url: str) -> None:
    # host_of answers these without reading them in full: the two must agree.
    assert host_of(url) == urls._read(url, None)


@pytest.mark.parametrize(
    "url",
    [
        "/\t/tracker.example/p.js",
        "/\n\\tracker.example/",
        "/\r/tracker.example",
        "/\\tracker.example",
    ],
)
def test_a_leading_slash_then_a_removed_character_still_names_the_host(url: str) -> None:
    assert resolve(url, None) == "tracker.example"


def test_urls_read_in_full_take_bounded_room() -> None:
    urls._read_cached.cache_clear()
    for i in range(5000):
        assert host_of(f"HTTPS://Host{i}.Example/p") == (f"host{i}.example", "/p")
    info = urls._read_cached.cache_info()
    assert info.maxsize is not None and info.currsize == info.maxsize < 5000
    # A page writes its URLs at any length: a long one is read, and kept nowhere.
    urls._read_cached.cache_clear()
    assert host_of("HTTPS://Long.Example/" + "a" * 5000) == ("long.example", "/" + "a" * 5000)
    assert urls._read_cached.cache_info().currsize == 0


def test_plain_urls_take_no_room() -> None:
    """Most URLs are plain and seen once: they are read each time, not kept."""
    urls._read_cached.cache_clear()
    assert host_of("https://cdn.example/a.js?v=1") == ("cdn.example", "/a.js?v=1")
    assert urls._read_cached.cache_info().currsize == 0


def _browser_names_a_host(url: str) -> bool:
    """Whether a URL without a scheme reaches a host of its own, as browsers read it: C0
    controls and spaces trimmed at both ends, tabs and newlines removed anywhere, then two
    slashes or backslashes first."""
    url = url.strip("".join(map(chr, range(0x21))))
    url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    return len(url) >= 2 and url[0] in "/\\" and url[1] in "/\\"


# Every character that may follow the leading slash: C0 controls, the space, DEL, latin-1 and
# a few past it (a full-width solidus, a line separator, a replacement character).
SECOND = [chr(c) for c in range(0x100)] + ["\uff0f", "\u2044", "\u2028", "\ufffd", "\u3000"]


@pytest.mark.parametrize("second", SECOND, ids=lambda c: f"U+{ord(c):04X}")
def test_the_root_relative_shortcut_never_hides_a_host(second: str) -> None:
    # The shortcut answers "the page's own" from the first two characters alone: for each
    # character after the slash, and a slash or backslash after it, the answer must be the
    # general reading's, and name the host exactly where a browser would contact it.
    for tail in ("/tracker.example/p.js", "\\tracker.example/p.js", "tracker.example/p.js"):
        url = "/" + second + tail
        assert host_of(url) == urls._read(url, None), repr(url)
        assert (resolve(url, None) == "tracker.example") == _browser_names_a_host(url), repr(url)


@pytest.mark.parametrize(
    "url",
    [
        " //tracker.example/p.js",
        "\x00//tracker.example/p.js",
        "\x0c//tracker.example/p.js",
        "\x1f\\\\tracker.example/p.js",
        " \t/\n/tracker.example/p.js",
        "\x0b/\\tracker.example/p.js",
        "\r\n//tracker.example/p.js",
    ],
)
def test_leading_controls_and_spaces_before_a_scheme_relative_url_still_name_the_host(
    url: str,
) -> None:
    # The shortcut looks at the first character only as written: a URL that starts with
    # anything trimmed must be read in full.
    assert resolve(url, None) == "tracker.example"
