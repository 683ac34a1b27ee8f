"""Who is a third party, and which hosts an inline script names in its URLs."""

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from consent.parties import url_hosts

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
