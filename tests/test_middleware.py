"""The middleware against a small Starlette site: state, injection, pass-through, headers."""

from __future__ import annotations

import asyncio
import gzip
import re
import zlib
from collections.abc import AsyncIterator, Callable

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from consent import ConsentConfig, ConsentMiddleware
from consent.types import Message, Receive, Scope, Send
from tests.conftest import PAGE, csrf_token, http_scope, page_app


def wrap(app: Starlette, config: ConsentConfig) -> TestClient:
    return TestClient(ConsentMiddleware(app, config=config))


def html_app(body: bytes | str, **headers: str) -> Starlette:
    async def page(request: Request) -> Response:
        data = body.encode() if isinstance(body, str) else body
        response = Response(data, media_type=headers.pop("media_type", "text/html; charset=utf-8"))
        for name, value in headers.items():
            response.headers[name.replace("_", "-")] = value
        return response

    return Starlette(routes=[Route("/", page, methods=["GET", "HEAD"])])


def accept(client: TestClient, action: str = "accept_all", **extra: str) -> None:
    token = csrf_token(client)
    response = client.post(
        "/_consent/decision",
        data={"action": action, "csrf_token": token, **extra},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


# ----- scope state ---------------------------------------------------------------------------


def test_undecided_state_in_scope(client: TestClient) -> None:
    state = client.get("/state").json()
    assert state == {
        "decided": False,
        "granted": ["necessary"],
        "consent_id": None,
        "analytics": False,
    }


def test_decided_state_in_scope(client: TestClient) -> None:
    accept(client)
    state = client.get("/state").json()
    assert state["decided"] is True
    assert state["granted"] == ["analytics", "marketing", "necessary", "preferences"]
    assert state["analytics"] is True
    assert state["consent_id"]


# ----- injection -----------------------------------------------------------------------------


def test_banner_follows_the_contract(client: TestClient) -> None:
    html = client.get("/").text
    root = re.search(r"<div[^>]*data-consent-banner[^>]*>", html)
    assert root is not None
    assert 'lang="en"' in root.group(0) and 'dir="ltr"' in root.group(0)
    assert " hidden" not in root.group(0)
    form = re.search(r'<form[^>]*method="post"[^>]*action="/_consent/decision"', html)
    assert form is not None
    assert re.search(r'<input type="hidden" name="csrf_token" value="[^"]+"', html)
    for action in ("accept_all", "reject_all", "customize"):
        assert re.search(
            rf'<button[^>]*name="action" value="{action}" data-consent-action="{action}"', html
        ), action
    assert "data-consent-open" in html
    boxes = re.findall(r'<input[^>]*name="category"[^>]*>', html)
    assert len(boxes) == 4
    for box in boxes:
        checked = " checked" in box
        assert checked == ('value="necessary"' in box)
        assert (" disabled" in box) == ('value="necessary"' in box)


def test_banner_comes_right_after_body_and_assets_in_head(client: TestClient) -> None:
    html = client.get("/").text
    assert html.index("<body>") < html.index("data-consent-banner") < html.index("<h1>")
    head = html[html.index("<head>") : html.index("</head>")]
    assert re.search(r"/_consent/static/consent\.[0-9a-f]{12}\.css", head)
    # The script sits inside the banner, so that it knows the server's banner from any other.
    banner = html[html.index("data-consent-banner") : html.index("<h1>")]
    assert re.search(r"<script src=\"/_consent/static/consent\.[0-9a-f]{12}\.js\" defer>", banner)


def test_decided_visitor_gets_reopen_control_but_no_visible_banner(client: TestClient) -> None:
    accept(client, "reject_all")
    html = client.get("/").text
    root = re.search(r"<div[^>]*data-consent-banner[^>]*>", html)
    assert root is not None and " hidden" in root.group(0)
    assert "data-consent-open" in html


def test_reopened_choices_show_the_stored_state(client: TestClient) -> None:
    token = csrf_token(client)
    client.post(
        "/_consent/decision",
        data={"action": "custom", "category": "analytics", "csrf_token": token},
        follow_redirects=False,
    )
    html = client.get("/").text
    analytics = re.search(r'<input[^>]*value="analytics"[^>]*>', html)
    marketing = re.search(r'<input[^>]*value="marketing"[^>]*>', html)
    assert analytics and " checked" in analytics.group(0)
    assert marketing and " checked" not in marketing.group(0)


def test_tracker_is_held_back_until_consent(client: TestClient) -> None:
    html = client.get("/").text
    tag = re.search(r"<script[^>]*google-analytics[^>]*>", html)
    assert tag is not None
    assert 'type="text/plain"' in tag.group(0)
    assert 'data-consent-category="analytics"' in tag.group(0)
    assert ' src="' not in tag.group(0)
    assert '<script src="/static/first-party.js"></script>' in html
    accept(client)
    assert (
        '<script src="https://www.google-analytics.com/analytics.js"></script>'
        in client.get("/").text
    )


def test_content_length_matches_the_rewritten_body(client: TestClient) -> None:
    response = client.get("/")
    assert int(response.headers["content-length"]) == len(response.content)


def test_streamed_html_loses_content_length_and_gets_the_banner(
    make_config: Callable[..., ConsentConfig],
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(PAGE), 7):
            yield PAGE[i : i + 7].encode()

    async def page(request: Request) -> Response:
        return StreamingResponse(chunks(), media_type="text/html")

    client = wrap(Starlette(routes=[Route("/", page)]), make_config())
    response = client.get("/")
    assert "content-length" not in response.headers or int(
        response.headers["content-length"]
    ) == len(response.content)
    assert response.text.count("data-consent-banner") == 1
    assert "<h1>Headline</h1>" in response.text


# ----- pass-through ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        ('{"a": "<body>"}', "application/json"),
        ("<div>partial <b>html</b></div>", "text/html"),
        ("data: <body>\n\n", "text/event-stream"),
        ("body{color:red}", "text/css"),
    ],
)
def test_non_documents_pass_byte_for_byte(
    make_config: Callable[..., ConsentConfig], body: str, media_type: str
) -> None:
    client = wrap(html_app(body, media_type=media_type), make_config())
    response = client.get("/")
    assert response.content == body.encode()
    assert "data-consent-banner" not in response.text


def test_head_request_has_the_headers_get_would_have(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = wrap(html_app(PAGE), make_config())
    head = client.head("/")
    get = client.get("/")
    assert head.status_code == 200
    assert head.content == b""
    # The app's length is that of the page before the banner: a HEAD cannot know GET's.
    assert "content-length" not in head.headers
    for name in ("vary", "cache-control", "content-type"):
        assert head.headers[name] == get.headers[name]


@pytest.mark.parametrize("status", [204, 304])
def test_empty_statuses_pass(make_config: Callable[..., ConsentConfig], status: int) -> None:
    async def empty(request: Request) -> Response:
        return Response(status_code=status, media_type="text/html")

    client = wrap(Starlette(routes=[Route("/", empty)]), make_config())
    response = client.get("/")
    assert response.status_code == status
    assert response.content == b""


def test_websocket_and_lifespan_pass(make_config: Callable[..., ConsentConfig]) -> None:
    events: list[str] = []

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        state = websocket.scope["consent"]
        await websocket.send_text(f"{await websocket.receive_text()}:{state.decided}")
        await websocket.close()

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = Starlette(routes=[WebSocketRoute("/ws", echo)], lifespan=lifespan)
    with (
        TestClient(ConsentMiddleware(app, config=make_config())) as client,
        client.websocket_connect("/ws") as ws,
    ):
        ws.send_text("ping")
        assert ws.receive_text() == "ping:False"
    assert events == ["startup", "shutdown"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_html_gets_the_banner(
    make_config: Callable[..., ConsentConfig], encoding: str
) -> None:
    packed = gzip.compress(PAGE.encode()) if encoding == "gzip" else zlib.compress(PAGE.encode())
    client = wrap(html_app(packed, content_encoding=encoding), make_config())
    response = client.get("/", headers={"accept-encoding": "identity"})
    # Compressed again as the app sent it (issue 8: pages must not lose their compression).
    assert response.headers["content-encoding"] == encoding
    assert response.text.count("data-consent-banner") == 1
    assert "<h1>Headline</h1>" in response.text


def test_brotli_html_gets_the_banner(make_config: Callable[..., ConsentConfig]) -> None:
    brotli = pytest.importorskip("brotli")
    client = wrap(html_app(brotli.compress(PAGE.encode()), content_encoding="br"), make_config())
    response = client.get("/", headers={"accept-encoding": "identity"})
    assert response.text.count("data-consent-banner") == 1


def test_unknown_encoding_passes_untouched(make_config: Callable[..., ConsentConfig]) -> None:
    client = wrap(html_app(b"\x00\x01opaque", content_encoding="zstd"), make_config())
    response = client.get("/", headers={"accept-encoding": "identity"})
    assert response.content == b"\x00\x01opaque"
    assert response.headers["content-encoding"] == "zstd"


def test_corrupt_gzip_passes_untouched(make_config: Callable[..., ConsentConfig]) -> None:
    app = ConsentMiddleware(
        html_app(b"not gzip at all", content_encoding="gzip"), config=make_config()
    )
    messages = asyncio.run(call_asgi(app))
    assert messages[0]["status"] == 200
    assert (b"content-encoding", b"gzip") in list(messages[0]["headers"])  # type: ignore[call-overload]
    bodies = [m.get("body", b"") for m in messages[1:]]
    assert b"".join(b for b in bodies if isinstance(b, bytes)) == b"not gzip at all"


async def call_asgi(app: ConsentMiddleware, path: str = "/") -> list[dict[str, object]]:
    scope = http_scope(path)
    messages: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        messages.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    return messages


def test_legacy_charset_is_kept(make_config: Callable[..., ConsentConfig]) -> None:
    page = PAGE.replace('lang="en"', 'lang="uk"').replace("Headline", "Новини")
    body = page.encode("windows-1251")
    client = wrap(html_app(body, media_type="text/html; charset=windows-1251"), make_config())
    response = client.get("/")
    decoded = response.content.decode("windows-1251")
    assert "Новини" in decoded
    assert re.search(r'data-consent-banner[^>]*lang="uk"', decoded)
    uk_reject = "Відхилити"
    assert uk_reject in decoded


def test_a_page_start_seen_before_is_read_as_a_new_one_would_be(
    make_config: Callable[..., ConsentConfig],
) -> None:
    # The last page's first kilobyte is compared in place before it is looked up: a page that
    # starts alike but is shorter, or that goes on differently, is still read for what it is.
    start = b'<!doctype html><html lang="uk"><head><!--'
    meta = b'--><meta charset="windows-1251"><title>t</title></head><body><p>'
    declared = start + b"x" * (980 - len(start)) + meta + "Новини".encode("cp1251") + b"</p>"
    assert declared.index(b"<meta") < 1024 < len(declared)
    later = declared + b"<p>" + b"y" * 2000 + b"</p>"
    short = declared[:600]  # no <meta charset>: read as undeclared
    bodies = [declared, short, declared, later, short, short, later]
    served = iter(bodies)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = next(served)
        headers = [(b"content-type", b"text/html"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    middleware = ConsentMiddleware(app, config=make_config())
    reject = "Відхилити"
    for body in bodies:
        messages = asyncio.run(call_asgi(middleware))
        out = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")  # type: ignore[misc]
        if body is short:
            assert reject.encode("cp1251") not in out and b"&#1042;" in out
        else:
            assert reject.encode("cp1251") in out and b"&#1042;" not in out


def test_characters_the_charset_cannot_hold_become_references(
    make_config: Callable[..., ConsentConfig],
) -> None:
    page = PAGE.replace('lang="en"', 'lang="uk"').encode("latin-1")
    client = wrap(html_app(page, media_type="text/html; charset=iso-8859-1"), make_config())
    raw = client.get("/").content
    raw.decode("latin-1")
    assert b"&#" in raw
    assert b"data-consent-banner" in raw


def test_vary_and_private_on_state_dependent_pages(client: TestClient) -> None:
    response = client.get("/")
    assert "cookie" in response.headers["vary"].lower()
    assert "private" in response.headers["cache-control"]


def test_public_cache_directives_become_private(make_config: Callable[..., ConsentConfig]) -> None:
    client = wrap(html_app(PAGE, cache_control="public, max-age=60, s-maxage=600"), make_config())
    cache_control = client.get("/").headers["cache-control"]
    assert cache_control.startswith("private")
    assert "public" not in cache_control and "s-maxage" not in cache_control
    assert "max-age=60" in cache_control


def test_shared_cache_mode_serves_identical_html(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config(shared_cache_mode=True)
    first = wrap(page_app(), config)
    second = wrap(page_app(), config)
    assert first.get("/").content == second.get("/").content
    assert "private" not in first.get("/").headers.get("cache-control", "")


def test_csp_nonce_is_carried_by_injected_scripts(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = wrap(
        html_app(PAGE, content_security_policy="script-src 'nonce-abcDEF123456' 'strict-dynamic'"),
        make_config(),
    )
    html = client.get("/").text
    injected = re.findall(r"<script[^>]*/_consent/static/[^>]*>", html)
    assert injected
    assert all('nonce="abcDEF123456"' in tag for tag in injected)


# ----- server-side enforcement -----------------------------------------------------------------


def set_cookie_names(response: httpx.Response) -> set[str]:
    headers = response.headers.get_list("set-cookie")
    return {h.split("=", 1)[0] for h in headers}


def test_cookies_of_refused_purposes_never_leave(client: TestClient) -> None:
    names = set_cookie_names(client.get("/"))
    assert "site_lang" not in names and "visit_id" not in names
    assert "session" in names  # undeclared cookies are allowed by default


def test_cookies_of_granted_purposes_pass(client: TestClient) -> None:
    token = csrf_token(client)
    client.post(
        "/_consent/decision",
        data={"action": "custom", "category": "preferences", "csrf_token": token},
        follow_redirects=False,
    )
    names = set_cookie_names(client.get("/"))
    assert "site_lang" in names
    assert "visit_id" not in names


def test_withdrawal_expires_cookies_of_withdrawn_purposes(client: TestClient) -> None:
    accept(client)
    client.cookies.set("visit_id", "v1")
    token = csrf_token(client)
    response = client.post(
        "/_consent/decision",
        data={"action": "reject_all", "csrf_token": token},
        follow_redirects=False,
    )
    expired = [h for h in response.headers.get_list("set-cookie") if h.startswith("visit_id=")]
    assert expired and all("Max-Age=0" in h for h in expired)


def test_gpc_refuses_marketing_from_the_first_request(client: TestClient) -> None:
    html = client.get("/", headers={"sec-gpc": "1"}).text
    assert "Global Privacy Control" in html
    accept(client)
    state = client.get("/state", headers={"sec-gpc": "1"}).json()
    assert "marketing" not in state["granted"]
    assert "analytics" in state["granted"]


# ----- robustness --------------------------------------------------------------------------------


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cookie=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=";,"),
        max_size=300,
    )
)
def test_any_cookie_value_is_no_decision_never_an_error(
    make_config: Callable[..., ConsentConfig], cookie: str
) -> None:
    client = wrap(page_app(), make_config())
    client.cookies.set("consent", cookie)
    response = client.get("/state")
    assert response.status_code == 200
    assert response.json()["decided"] is False


def test_app_exception_is_not_hidden(make_config: Callable[..., ConsentConfig]) -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("app bug")

    client = TestClient(
        ConsentMiddleware(Starlette(routes=[Route("/", broken)]), config=make_config()),
        raise_server_exceptions=False,
    )
    assert client.get("/").status_code == 500


def test_starlette_middleware_form(make_config: Callable[..., ConsentConfig]) -> None:
    async def page(request: Request) -> Response:
        return JSONResponse({"decided": request.scope["consent"].decided})

    app = Starlette(
        routes=[Route("/", page)], middleware=[Middleware(ConsentMiddleware, config=make_config())]
    )
    assert TestClient(app).get("/").json() == {"decided": False}


def test_new_policy_version_makes_earlier_consent_stale(
    make_config: Callable[..., ConsentConfig],
) -> None:
    old = wrap(page_app(), make_config(policy_version="1"))
    accept(old)
    value = old.cookies.get("consent")
    assert value
    new = wrap(page_app(), make_config(policy_version="2"))
    new.cookies.set("consent", value)
    state = new.get("/state").json()
    assert state["decided"] is False
    assert state["granted"] == ["necessary"]
    html = new.get("/").text
    root = re.search(r"<div[^>]*data-consent-banner[^>]*>", html)
    assert root is not None and " hidden" not in root.group(0)


def test_no_legitimate_interest_switch_in_any_locale(client: TestClient) -> None:
    from consent.i18n import LocaleCatalogue

    catalogue = LocaleCatalogue.load()
    for locale in catalogue:
        html = client.get(f"/_consent/preferences?lang={locale.tag}").text
        inputs = re.findall(r"<input[^>]*>", html)
        names = {re.search(r'name="([^"]+)"', tag).group(1) for tag in inputs}  # type: ignore[union-attr]
        assert names == {"csrf_token", "next", "locale", "source", "category"}
    # The [tcf] texts name legitimate interest, as TCF requires; they show only with TCF on.
    texts = catalogue.get("en").texts
    assert any(key.startswith("tcf.") for key in texts)
    english = " ".join(v for k, v in texts.items() if not k.startswith("tcf.")).lower()
    assert "legitimate interest" not in english
    for path in ("/", "/_consent/preferences?lang=en"):
        assert "legitimate interest" not in client.get(path).text.lower()


def test_a_plain_client_without_cookie_gets_only_necessary_cookies(client: TestClient) -> None:
    response = client.get("/")
    names = set_cookie_names(response)
    assert names <= {"consent_csrf", "session"}
    assert "session" in names  # undeclared, allowed by default and reported to the operator


@pytest.mark.parametrize("answer", ["websocket.accept", "websocket.http.response.start"])
async def test_websocket_handshake_cookies_follow_the_purposes(
    make_config: Callable[..., ConsentConfig], answer: str
) -> None:
    cookies = [b"_ga=GA1.1.1.1; Path=/; Max-Age=63072000", b"site_lang=en; Path=/"]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        message: Message = {"type": answer, "headers": [(b"set-cookie", c) for c in cookies]}
        if answer != "websocket.accept":
            message["status"] = 403
        await send(message)

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = ConsentMiddleware(app, config=make_config(cookie_categories={}))
    scope = {**http_scope("/ws"), "type": "websocket", "scheme": "ws"}
    await middleware(scope, receive, send)
    assert sent[0]["type"] == answer
    # An undecided visitor: the analytics cookie stays on the server, the undeclared one passes.
    assert sent[0]["headers"] == [(b"set-cookie", cookies[1])]


# -- exclude_paths --------------------------------------------------------------------------


def _site_with_admin() -> Starlette:
    async def page(request: Request) -> Response:
        response = Response(PAGE, media_type="text/html; charset=utf-8")
        response.set_cookie("visit_id", "v1")  # declared analytics in the test configuration
        response.set_cookie("csrftoken", "t1")
        response.headers["x-consent-decided"] = str(request.scope["consent"].decided)
        return response

    return Starlette(
        routes=[
            Route("/admin", page),
            Route("/admin/{rest:path}", page),
            Route("/administrator", page),
        ]
    )


def test_excluded_paths_are_served_untouched_but_refused_cookies_stay_out(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(
        exclude_paths=["/admin"],
        cookie_categories={"visit_id": "analytics", "csrftoken": "necessary"},
    )
    client = TestClient(ConsentMiddleware(_site_with_admin(), config=config))
    for path in ("/admin", "/admin/", "/admin/app/article/1/change/"):
        response = client.get(path)
        assert response.text == PAGE  # no banner, nothing held back, not re-encoded
        assert response.headers["x-consent-decided"] == "False"  # scope["consent"] is set
        cookies = response.headers.get_list("set-cookie")
        assert any(c.startswith("csrftoken=") for c in cookies)
        assert not any(c.startswith("visit_id=") for c in cookies)
        assert "cache-control" not in response.headers
    # A prefix covers whole path segments only.
    assert "data-consent-banner" in client.get("/administrator").text


# ----- mounted under a path (uvicorn --root-path) -----------------------------------------


async def _any_page(scope: dict[str, object], receive: object, send: Callable[..., object]) -> None:
    assert scope["type"] == "http"
    body = PAGE.encode()
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[misc]
    await send({"type": "http.response.body", "body": body})  # type: ignore[misc]


@pytest.mark.parametrize("path_has_root", [True, False], ids=["path-includes-root", "path-below"])
def test_everything_works_under_a_root_path(
    make_config: Callable[..., ConsentConfig], path_has_root: bool
) -> None:
    # Newer servers put the mount point in scope["path"] too; older ones leave it out. The
    # browser always sees it; `served` is what the server hands the app for a public path.
    def served(public: str) -> str:
        assert public.startswith("/news/")
        return public if path_has_root else public[len("/news") :]

    app = ConsentMiddleware(_any_page, config=make_config())  # type: ignore[arg-type]
    client = TestClient(app, root_path="/news")
    html = client.get(served("/news/world/a?x=1")).text
    assert 'action="/news/_consent/decision"' in html
    assert 'name="next" value="/news/world/a?x=1"' in html
    assert 'href="/news/_consent/preferences' in html
    assets_found = re.findall(r'(?:href|src)="(/[^"]*/static/[^"]+)"', html)
    assert assets_found and all(u.startswith("/news/_consent/static/") for u in assets_found)
    for url in assets_found:
        asset = client.get(served(url))
        assert asset.status_code == 200 and asset.headers["cache-control"].endswith("immutable")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token is not None
    decision = served("/news/_consent/decision")
    answer = client.post(
        decision,
        data={"action": "accept_all", "csrf_token": token.group(1), "next": "/news/world/a?x=1"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/news/world/a?x=1"
    home = client.post(
        decision,
        data={"action": "reject_all", "csrf_token": token.group(1), "next": "//evil.example"},
        follow_redirects=False,
    )
    assert home.headers["location"] == "/news/"
    customize = client.post(
        decision,
        data={"action": "customize", "csrf_token": token.group(1), "next": "/news/world/a"},
        follow_redirects=False,
    )
    assert customize.headers["location"] == "/news/_consent/preferences?next=%2Fnews%2Fworld%2Fa"
    prefs = client.get(served("/news/_consent/preferences") + "?next=/news/world/a").text
    assert 'action="/news/_consent/decision"' in prefs
    assert 'href="/news/world/a"' in prefs
    assert 'href="/news/_consent/static/consent.' in prefs
    assert client.get(served("/news/_consent/receipt")).status_code == 200
