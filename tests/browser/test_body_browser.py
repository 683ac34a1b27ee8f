"""The encoding we read a page in is the one Chromium reads it in (``document.characterSet``).

Pages are answered by Chromium's own request interception, so that the bytes and the
``Content-Type`` header are exactly the generated ones.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from consent import ConsentMiddleware
from consent.body import LABELS, PRESCAN_BYTES, sniff_charset
from consent.types import Receive, Scope, Send
from tests.browser.conftest import LiveServer, _open, demo_config

pytestmark = pytest.mark.browser

_URL = "http://charset.test/page"


class _Pages:
    """One tab; each call serves one body with one Content-Type and reads the encoding."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.body = b""
        self.content_type = ""
        page.route("**/*", self._answer)

    def _answer(self, route: Any) -> None:
        if route.request.url != _URL:
            route.abort()
            return
        route.fulfill(status=200, headers={"content-type": self.content_type}, body=self.body)

    def encoding(self, content_type: str, body: bytes) -> str:
        self.body, self.content_type = body, content_type
        self.page.goto(_URL, wait_until="commit")
        name: str = self.page.evaluate("document.characterSet")
        return name


@pytest.fixture(scope="module")
def pages(browser: Any) -> Iterator[_Pages]:
    # An English locale: Chromium's default for an undeclared page follows the locale.
    context = browser.new_context(locale="en-US")
    yield _Pages(context.new_page())
    context.close()


def ours(content_type: str, body: bytes) -> str:
    return sniff_charset(content_type, body).name


_ASCII_PAGE = b"<title>t</title><p>plain text</p>"
_BOMS = {"": b"", "utf-8": b"\xef\xbb\xbf", "utf-16le": b"\xff\xfe", "utf-16be": b"\xfe\xff"}
_HTTP = [
    "text/html",
    "text/html;charset=UTF-16",
    "text/html; charset=latin1",
    'text/html; charset="iso-2022-jp"',
    "text/html; charset=bogus",
]
_METAS = [
    b"",
    b"<meta charset=utf-16>",
    b"<meta charset=ascii>",
    b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">',
    b"<meta charset=x-user-defined>",
    b"<title><meta charset=shift_jis></title><meta charset=nonsense>",
]


@pytest.mark.parametrize("bom", list(_BOMS))
@pytest.mark.parametrize("content_type", _HTTP)
@pytest.mark.parametrize("meta", _METAS)
def test_bom_http_and_meta_decide_as_in_chromium(
    pages: _Pages, bom: str, content_type: str, meta: bytes
) -> None:
    body = _BOMS[bom] + meta + _ASCII_PAGE
    assert ours(content_type, body) == pages.encoding(content_type, body)


_LABEL = st.one_of(
    st.sampled_from(sorted(LABELS)),
    st.sampled_from(["utf-16", "UTF-16LE", " latin1 ", "x-user-defined", "unknown", "", "utf8;"]),
)
_SPACE = st.sampled_from(["", " ", "  ", "\t", "\n", "/", " / "])


@st.composite
def _attribute(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["charset", "CHARSET", "http-equiv", "content", "name", "x"]))
    value = draw(
        st.one_of(
            _LABEL,
            st.sampled_from(["content-type", "Content-Type", "refresh"]),
            _LABEL.map(lambda label: f"text/html; charset={label}"),
            _LABEL.map(lambda label: f"text/html;charset = '{label}'"),
            _LABEL.map(lambda label: f'x charset charset="{label}"'),
        )
    )
    quote = draw(st.sampled_from(['"', "'", ""]))
    if not quote and any(c in value for c in " \t\n>'\"="):
        quote = '"'
    if quote and quote in value:
        quote = '"' if quote == "'" else "'"
    spaced = draw(_SPACE) + "=" + draw(_SPACE).replace("/", "")
    return f"{name}{spaced}{quote}{value}{quote}"


@st.composite
def _markup(draw: st.DrawFn) -> bytes:
    pieces = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(
            st.sampled_from(
                ["meta", "meta", "meta", "comment", "tag", "end", "bang", "text", "raw"]
            )
        )
        if kind == "meta":
            attrs = draw(st.lists(_attribute(), max_size=4))
            gap = draw(st.sampled_from([" ", "/", "\n", "  "]))
            pieces.append(
                draw(st.sampled_from(["<meta", "<META", "<Meta"])) + gap + " ".join(attrs) + ">"
            )
        elif kind == "comment":
            inner = draw(st.sampled_from(["", "-", "<meta charset=koi8-r>", "x--"]))
            pieces.append(f"<!--{inner}-->")
        elif kind == "tag":
            attrs = draw(st.lists(_attribute(), max_size=2))
            pieces.append(f"<div {' '.join(attrs)}>")
        elif kind == "raw":
            name = draw(st.sampled_from(["title", "script", "textarea", "style", "xmp"]))
            pieces.append(f"<{name}><meta charset=koi8-r></{name}>")
        elif kind == "end":
            pieces.append("</p>")
        elif kind == "bang":
            pieces.append(draw(st.sampled_from(["<!doctype html>", "<?xml x?>", "<!x>"])))
        else:
            pieces.append(draw(st.sampled_from(["hello ", "a < b ", "<", "x>y"])))
    return ("".join(pieces) + "<p>body</p>").encode("ascii")[:PRESCAN_BYTES]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_markup())
@example(body=b'<meta content="text/html; charset=utf-16" http-equiv=content-type>')
@example(body=b"<!--><meta charset=koi8-r>")
@example(body=b'<meta charset=bogus content="text/html; charset=koi8-r" http-equiv=content-type>')
def test_meta_prescan_decides_as_in_chromium(pages: _Pages, body: bytes) -> None:
    assert ours("text/html", body) == pages.encoding("text/html", body)


# ----- pages the rewriter reads through a decoder, end to end --------------------------------

_TRACKER = '<script src="https://www.google-analytics.com/analytics.js"></script>'
_DOC = (
    '<!doctype html><html lang="en"><head><title>Новости</title></head>'
    "<body><h1>Заголовок 見出し</h1>" + _TRACKER + "</body></html>"
)


def _cases() -> dict[str, tuple[str, bytes, str]]:
    hidden = _DOC.replace("<script src", "<scr\x1b(Bipt src")
    return {
        "utf-16le-bom": ("text/html", b"\xff\xfe" + _DOC.encode("utf-16-le"), "UTF-16LE"),
        "utf-16be-bom": ("text/html", b"\xfe\xff" + _DOC.encode("utf-16-be"), "UTF-16BE"),
        "http-utf-16": ("text/html; charset=utf-16", _DOC.encode("utf-16-le"), "UTF-16LE"),
        "meta-utf-16": (
            "text/html",
            _DOC.replace("<head>", "<head><meta charset=utf-16>").encode(),
            "UTF-8",
        ),
        "iso-2022-jp-escape": (
            "text/html; charset=iso-2022-jp",
            hidden.replace("Новости", "News").encode("iso2022_jp"),
            "ISO-2022-JP",
        ),
    }


@pytest.fixture(scope="module")
def decoded_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    cases = _cases()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        content_type, body, _ = cases[scope["path"].strip("/")]
        gzipped = scope.get("query_string") == b"gzip"
        headers = [(b"content-type", content_type.encode())]
        if gzipped:
            body = gzip.compress(body)
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    config = demo_config(tmp_path_factory.mktemp("decoded"))
    with LiveServer(ConsentMiddleware(app, config=config)) as server:
        yield server


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("case", list(_cases()))
def test_decoded_pages_are_protected_in_chromium(
    browser: Any, decoded_site: LiveServer, case: str, gzipped: bool
) -> None:
    visit = _open(browser, decoded_site)
    try:
        page = visit.page
        page.goto(f"{decoded_site.url}/{case}" + ("?gzip" if gzipped else ""))
        assert page.evaluate("document.characterSet") == _cases()[case][2]
        assert page.locator("[data-consent-banner]").count() == 1
        assert "見出し" in page.inner_text("h1")
        assert page.locator('script[src*="google-analytics"]').count() == 0
        assert not [url for url in visit.third_party if "google-analytics" in url]
    finally:
        visit.context.close()
