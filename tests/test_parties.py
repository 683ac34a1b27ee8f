"""Who is a third party, and which hosts an inline script names in its URLs."""

import ipaddress
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from consent.parties import Parties, registrable_domain, url_hosts

# The plain reading of a host in a script's URL: a quote, colon or ``=``, two slashes (each
# may be escaped), the name, and what may end a host.
READ_FROM_THE_QUOTE = re.compile(
    r"[:'\"`=](?:\\?/){2}((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9])"
    r"(?=[/:'\"?\\#\s),;&]|$)",
    re.IGNORECASE,
)


@settings(max_examples=2000, deadline=None)
@given(text=st.text(alphabet=":'\"`=\\/aZ.c-1x \n(", max_size=60))
@example(text="'\\//x.co'")
@example(text="=\\/\\/a.b")
@example(text="a.b//c.d://e.f")
def test_hosts_are_read_as_from_the_quote_before_the_slashes(text: str) -> None:
    expected = [(m.start(), m.end(), m.group(1)) for m in READ_FROM_THE_QUOTE.finditer(text)]
    assert list(url_hosts(text)) == expected


def test_a_loader_url_gives_where_it_starts_and_its_host() -> None:
    text = "var s=document.createElement('script');s.src='https:\\/\\/cdn.tracker.example/a.js';"
    start = text.index(":\\/")  # the scheme's colon
    end = text.index("/a.js")
    assert list(url_hosts(text)) == [(start, end, "cdn.tracker.example")]
    assert list(url_hosts("// a comment about www.tracker.example")) == []


HOSTS = ["cdn.news.example", "news.example", "tracker.example", "a.b.github.io", "c.github.io"]
HOSTS += ["own.example", "lib.example", "NEWS.example.", "www.news.example:8443", "[::1]"]


@settings(max_examples=300, deadline=None)
@given(asked=st.lists(st.tuples(st.sampled_from(HOSTS), st.sampled_from(HOSTS)), max_size=30))
def test_remembered_answers_are_those_of_each_site(asked: list[tuple[str, str]]) -> None:
    """Asked in any order, for any site, a host is a third party exactly when its
    registrable domain differs from the site's and no own or allowed domain covers it."""
    parties = Parties(own_domains=["own.example"], allowed=["lib.example"])
    for host, site in asked + asked:
        name = host.lower().rstrip(".")
        page = site.lower().rsplit(":", 1)[0] if site.count(":") == 1 else site.lower()
        expected = registrable_domain(name) != registrable_domain(page) and name not in (
            "own.example",
            "lib.example",
        )
        assert parties.third_party(host, site) is expected, (host, site)


def test_remembered_answers_are_bounded() -> None:
    parties = Parties()
    for i in range(10_000):
        parties.third_party(f"h{i}.example", "news.example")
    info = parties._third_party_cached.cache_info()
    assert info.maxsize is not None and info.currsize <= info.maxsize < 10_000
    assert parties.third_party("h1.example", "news.example")
    assert not parties.third_party("cdn.news.example", "www.news.example")


@settings(max_examples=2000, deadline=None)
@given(
    st.text(alphabet="0123456789abcdefx.:%[]\u0661 ", min_size=1, max_size=20)
    | st.ip_addresses().map(str)
    | st.ip_addresses(v=6).map(lambda ip: f"[{ip}]")
)
@example("fe80::1%eth0.x.lan")  # an IPv6 zone may hold dots and end in a letter
@example("[fe80::a%1.news.example]")
@example("1.2.3.4.")
def test_every_ip_address_is_its_own_site(host: str) -> None:
    # Names are told from addresses before the address parser is tried: none may slip by.
    bare = host.strip().lower().rstrip(".").strip("[]")
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        return
    assert registrable_domain(host) == bare
