"""The reserved endpoints: decisions, preferences, receipts, policy and assets."""

from __future__ import annotations

import gzip
import re
import socket
import time
import tracemalloc
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent.assets import assets
from consent.cookie import CookiePayload
from consent.csrf import new_nonce, token_for
from consent.enforcement import MAX_EXPIRY_BYTES, MAX_EXPIRY_HEADERS
from consent.types import Message
from tests.conftest import SECRET, csrf_token, http_scope, page_app

DECISION = "/_consent/decision"


def post(client: TestClient, data: dict[str, str | list[str]], **headers: str) -> object:
    return client.post(DECISION, data=data, headers=headers, follow_redirects=False)


def test_form_post_answers_303_and_sets_the_signed_cookie(client: TestClient) -> None:
    token = csrf_token(client)
    response = client.post(
        DECISION,
        data={"action": "accept_all", "csrf_token": token, "next": "/news/a?x=1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/news/a?x=1"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("consent="))
    assert "SameSite=Lax" in cookie and "Path=/" in cookie and "Max-Age=15811200" in cookie
    assert "Domain=" not in cookie and "Secure" not in cookie


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_no_open_redirect(client: TestClient, target: str) -> None:
    token = csrf_token(client)
    response = client.post(
        DECISION,
        data={"action": "reject_all", "csrf_token": token, "next": target},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_json_answer_carries_consent_and_receipt(client: TestClient) -> None:
    token = csrf_token(client)
    response = client.post(
        DECISION,
        data={"action": "custom", "category": ["analytics", "preferences"], "csrf_token": token},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["granted"] == ["analytics", "necessary", "preferences"]
    assert body["consent_id"] and body["receipt_id"]
    assert any(h.startswith("consent=") for h in response.headers.get_list("set-cookie"))


def test_receipt_ids_are_unique_and_consent_id_is_kept(client: TestClient) -> None:
    seen = set()
    consent_ids = set()
    for action in ("accept_all", "reject_all", "accept_all"):
        token = csrf_token(client)
        body = client.post(
            DECISION,
            data={"action": action, "csrf_token": token},
            headers={"accept": "application/json"},
        ).json()
        seen.add(body["receipt_id"])
        consent_ids.add(body["consent_id"])
    assert len(seen) == 3
    assert len(consent_ids) == 1


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"action": "accept_everything"}, 400),
        ({"action": "custom", "category": "profiling"}, 400),
        ({}, 400),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(
    client: TestClient, data: dict[str, str], status: int
) -> None:
    data = {**data, "csrf_token": csrf_token(client)}
    response = client.post(DECISION, data=data, follow_redirects=False)
    assert response.status_code == status
    assert response.text
    assert not any(h.startswith("consent=") for h in response.headers.get_list("set-cookie"))
    assert client.get("/_consent/receipt").status_code == 404


def test_missing_csrf_token_is_403(client: TestClient) -> None:
    csrf_token(client)
    response = client.post(DECISION, data={"action": "accept_all"}, follow_redirects=False)
    assert response.status_code == 403


def test_wrong_csrf_token_is_403(client: TestClient) -> None:
    csrf_token(client)
    response = client.post(
        DECISION, data={"action": "accept_all", "csrf_token": "forged"}, follow_redirects=False
    )
    assert response.status_code == 403


@pytest.mark.parametrize("forged", ["é" * 48, "\u2028", "ｆ" * 48])
def test_a_csrf_token_not_in_ascii_is_403_not_a_server_error(
    client: TestClient, forged: str
) -> None:
    csrf_token(client)
    response = client.post(
        DECISION, data={"action": "accept_all", "csrf_token": forged}, follow_redirects=False
    )
    assert response.status_code == 403


def test_token_of_another_visitor_is_403(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config()
    alice = TestClient(ConsentMiddleware(page_app(), config=config))
    mallory = TestClient(ConsentMiddleware(page_app(), config=config))
    stolen = csrf_token(alice)
    csrf_token(mallory)
    response = mallory.post(
        DECISION, data={"action": "accept_all", "csrf_token": stolen}, follow_redirects=False
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [{"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}],
)
def test_cross_site_posts_are_403(client: TestClient, headers: dict[str, str]) -> None:
    token = csrf_token(client)
    response = client.post(
        DECISION,
        data={"action": "accept_all", "csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_same_origin_post_is_accepted(client: TestClient) -> None:
    token = csrf_token(client)
    response = client.post(
        DECISION,
        data={"action": "accept_all", "csrf_token": token},
        headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_oversized_body_is_413(client: TestClient) -> None:
    token = csrf_token(client)
    response = client.post(
        DECISION,
        data={"action": "accept_all", "csrf_token": token, "next": "/" + "a" * 10000},
        follow_redirects=False,
    )
    assert response.status_code == 413


def test_wrong_method_and_type(client: TestClient) -> None:
    assert client.get(DECISION).status_code == 405
    token = csrf_token(client)
    response = client.post(DECISION, json={"action": "accept_all", "csrf_token": token})
    assert response.status_code == 415


def test_customize_without_script_leads_to_the_preferences_page(client: TestClient) -> None:
    token = csrf_token(client)
    response = client.post(
        DECISION,
        data={"action": "customize", "csrf_token": token, "next": "/news/x"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/_consent/preferences")
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert page.text.count('name="category"') == 4
    assert 'value="/news/x"' in page.text


def test_audit_store_down_answers_503_and_sets_no_cookie(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(audit_url="postgresql://postgres@127.0.0.1:1/nothing")
    client = TestClient(ConsentMiddleware(page_app(), config=config))
    token = csrf_token(client)
    response = client.post(
        DECISION, data={"action": "accept_all", "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 503
    assert not any(h.startswith("consent=") for h in response.headers.get_list("set-cookie"))
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["x-consent-decided"] == "False"


def test_receipt_endpoint(client: TestClient) -> None:
    assert client.get("/_consent/receipt").status_code == 404
    token = csrf_token(client)
    decided = client.post(
        DECISION,
        data={"action": "reject_all", "csrf_token": token},
        headers={"accept": "application/json"},
    ).json()
    body = client.get("/_consent/receipt").json()
    assert body["consent_id"] == decided["consent_id"]
    assert [r["receipt_id"] for r in body["receipts"]] == [decided["receipt_id"]]


def test_policy_page_lists_own_and_declared_cookies(client: TestClient) -> None:
    page = client.get("/_consent/policy?lang=en")
    assert page.status_code == 200
    for name in ("consent", "consent_csrf", "site_lang", "visit_id"):
        assert f"<code>{name}</code>" in page.text


def test_assets_are_hashed_immutable_and_gzipped(client: TestClient) -> None:
    html = client.get("/").text
    url = re.search(r"/_consent/static/consent\.[0-9a-f]{12}\.js", html)
    assert url is not None
    response = client.get(url.group(0), headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert client.get("/_consent/static/nope.js").status_code == 404


def test_browser_weight_budget() -> None:
    """Banner JavaScript plus CSS, gzipped, stays within 6 KB (the brief's bar). The TCF
    layer's files and the GPP API (gpp.js) load only when they are on and are measured on
    their own (below, and in tests/test_optout.py)."""
    base = [a for a in assets().values() if a.logical_name not in {*TCF_FILES, "gpp.js"}]
    assert {a.logical_name for a in base} >= {"consent.js", "consent.css", "gcm.js"}
    total = sum(len(gzip.compress(a.body, 9)) for a in base)
    assert total <= 6 * 1024, total


TCF_FILES = ("tcfstub.js", "tcf.js", "tcf.css")


def test_tcf_layer_weight() -> None:
    """The TCF layer's files, gzipped, as docs/tcf.md states them."""
    sizes = {
        a.logical_name: len(gzip.compress(a.body, 9))
        for a in assets().values()
        if a.logical_name in TCF_FILES
    }
    assert set(sizes) == set(TCF_FILES)
    assert sizes["tcfstub.js"] <= 1024, sizes
    assert sum(sizes.values()) <= 5 * 1024, sizes


def test_unknown_reserved_path_is_404(client: TestClient) -> None:
    assert client.get("/_consent/whatever").status_code == 404
    assert client.get("/_consent/admin").status_code == 404


def test_cookie_is_secure_over_https(make_config: Callable[..., ConsentConfig]) -> None:
    client = TestClient(
        ConsentMiddleware(page_app(), config=make_config()), base_url="https://news.example"
    )
    token = csrf_token(client)
    response = client.post(
        DECISION, data={"action": "reject_all", "csrf_token": token}, follow_redirects=False
    )
    cookies = response.headers.get_list("set-cookie")
    # Without a shared domain the prefix makes the browser refuse a planted copy.
    cookie = next(h for h in cookies if h.startswith("__Host-consent="))
    assert "; Secure" in cookie and "Path=/;" in cookie
    assert "Domain=" not in cookie
    assert not any(h.startswith("consent=") for h in cookies)


def test_configured_domain_shares_consent_across_subdomains(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(cookie_domain="news.example")
    client = TestClient(
        ConsentMiddleware(page_app(), config=config), base_url="https://www.news.example"
    )
    token = csrf_token(client)
    response = client.post(
        DECISION,
        data={"action": "accept_all", "csrf_token": token},
        headers={"origin": "https://live.news.example", "sec-fetch-site": "same-site"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("consent="))
    assert "Domain=news.example" in cookie


@pytest.mark.parametrize(
    ("action", "granted"), [("reject_all", ["necessary"]), ("accept_all", None)]
)
def test_preferences_buttons_decide_whatever_boxes_are_ticked(
    client: TestClient, action: str, granted: list[str] | None
) -> None:
    page = client.get("/_consent/preferences").text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    # The form sends the boxes ticked after an earlier "accept all" with every button.
    response = client.post(
        DECISION,
        data={
            "action": action,
            "category": ["preferences", "analytics", "marketing"],
            "csrf_token": match.group(1),
        },
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200
    expected = granted or ["analytics", "marketing", "necessary", "preferences"]
    assert response.json()["granted"] == expected


# ----- expiry headers of a decision, under attack ------------------------------------------------


def _amplifying_request() -> tuple[str, list[tuple[bytes, bytes]], bytes]:
    """A decision post of about 16 KB: a Host of 1200 labels and 1050 catalogue cookie names."""
    nonce = new_nonce()
    host = "a." * 1200 + "news.example"
    trackers = "; ".join(f"_ga_{index:04d}=1" for index in range(1050))
    body = urlencode({"action": "reject_all", "csrf_token": token_for(nonce, [SECRET])})
    headers = [
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(body)).encode()),
        (b"sec-fetch-site", b"same-origin"),
        (b"cookie", f"consent_csrf={nonce}; {trackers}".encode()),
    ]
    return host, headers, body.encode()


def _assert_bounded(status: int, headers: list[tuple[bytes, bytes]]) -> None:
    assert status == 303
    cookies = [value for name, value in headers if name.lower() == b"set-cookie"]
    expired = [value for value in cookies if b"Max-Age=0" in value]
    assert expired, "the refused cookies are expired"
    assert len(cookies) <= MAX_EXPIRY_HEADERS + 1  # the consent cookie itself
    assert sum(len(n) + len(v) + 4 for n, v in headers) <= MAX_EXPIRY_BYTES + 2048


async def test_a_16_kb_decision_post_gets_bounded_expiry_headers_in_process(
    make_config: Callable[..., ConsentConfig],
) -> None:
    app = ConsentMiddleware(page_app(), config=make_config())
    host, headers, body = _amplifying_request()
    assert len(host) + sum(len(n) + len(v) for n, v in headers) + len(body) > 15_000

    async def post() -> tuple[int, list[tuple[bytes, bytes]]]:
        scope = {**http_scope(DECISION, host=host, headers=headers), "method": "POST"}
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent[0]["status"], list(sent[0]["headers"])

    await post()  # opens the store first, so that only the decision itself is measured
    tracemalloc.start()
    try:
        status, answer = await post()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_bounded(status, answer)
    assert peak < 4 * 1024 * 1024, peak
    await app.runtime.close()


def test_a_16_kb_decision_post_gets_bounded_expiry_headers_over_uvicorn(
    make_config: Callable[..., ConsentConfig],
) -> None:
    from tests.browser.conftest import LiveServer

    host, headers, body = _amplifying_request()
    request = [f"POST {DECISION} HTTP/1.1".encode(), b"host: " + host.encode()]
    request += [name + b": " + value for name, value in headers]
    request += [b"connection: close", b"", body]
    app = ConsentMiddleware(page_app(), config=make_config())
    with LiveServer(app) as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(30)
        sock.sendall(b"\r\n".join(request))
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
            assert len(received) < 1024 * 1024, "the answer keeps growing"
    head = bytes(received).split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    status = int(head[0].split()[1])
    answer = [line.partition(b": ") for line in head[1:]]
    _assert_bounded(status, [(name, value) for name, _, value in answer])


@pytest.mark.parametrize(
    ("keep", "stored"), [((), "/search"), (("page",), "/search?page=2")], ids=["default", "allowed"]
)
def test_receipts_keep_the_path_without_the_query_string(
    make_config: Callable[..., ConsentConfig], keep: tuple[str, ...], stored: str
) -> None:
    config = make_config(audit_query_params=keep)
    with TestClient(ConsentMiddleware(page_app(), config=config)) as client:
        token = csrf_token(client)
        next_path = "/search?q=my+diagnosis&page=2"
        answer = client.post(
            DECISION,
            data={"action": "reject_all", "csrf_token": token, "next": next_path},
            follow_redirects=False,
        )
        assert answer.headers["location"] == next_path  # the visitor still goes back there
        receipts = client.get("/_consent/receipt").json()["receipts"]
    assert [receipt["path"] for receipt in receipts] == [stored]


# ----- consent fixation ------------------------------------------------------------------------


def _decide(client: TestClient, action: str, next_path: str = "/") -> dict[str, str]:
    token = csrf_token(client)
    response = client.post(
        DECISION,
        data={"action": action, "csrf_token": token, "next": next_path},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


def test_a_planted_cookie_never_shows_its_planter_the_victims_receipts(
    make_config: Callable[..., ConsentConfig],
) -> None:
    app = ConsentMiddleware(page_app(), config=make_config())
    attacker, victim = TestClient(app), TestClient(app)
    planted = _decide(attacker, "accept_all")
    for cookie in attacker.cookies.jar:
        if cookie.name == "consent":
            victim.cookies.jar.set_cookie(cookie)
    own = _decide(victim, "reject_all", "/account/health?topic=private")
    # The planter's cookie shows the history up to its own receipt, never what came after.
    seen = attacker.get("/_consent/receipt").json()["receipts"]
    assert [r["receipt_id"] for r in seen] == [planted["receipt_id"]]
    # The planter's next decision starts a history of its own.
    again = _decide(attacker, "accept_all")
    assert again["consent_id"] != own["consent_id"]
    seen = attacker.get("/_consent/receipt").json()["receipts"]
    assert own["receipt_id"] not in {r["receipt_id"] for r in seen}
    # The victim's own cookie shows the victim's decision.
    mine = victim.get("/_consent/receipt").json()["receipts"]
    assert mine[-1]["receipt_id"] == own["receipt_id"]


def test_a_cookie_without_its_receipt_shows_no_receipts(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config()
    app = ConsentMiddleware(page_app(), config=config)
    client = TestClient(app)
    decided = _decide(client, "accept_all")
    # Signed with the site's key, but not the cookie any decision issued.
    bare = CookiePayload(
        consent_id=decided["consent_id"],
        granted=frozenset({"necessary"}),
        policy_version=config.policy_version,
        decided_at=int(time.time()),
    )
    client.cookies.set("consent", app.runtime.codec.encode(bare))
    assert client.get("/_consent/receipt").status_code == 404


def test_over_https_only_the_host_prefixed_cookies_count(
    make_config: Callable[..., ConsentConfig],
) -> None:
    app = ConsentMiddleware(page_app(), config=make_config())
    client = TestClient(app, base_url="https://news.example")
    assert client.get("/state").json()["decided"] is False
    csrf = next(h for h in client.get("/").headers.get_list("set-cookie") if "csrf" in h)
    assert csrf.startswith("__Host-consent_csrf=") and "; Secure" in csrf
    assert "Path=/;" in csrf and "Domain" not in csrf
    # A validly signed cookie under the plain name, as a sibling subdomain or a network
    # attacker on http could plant it, is not the site's.
    stranger = TestClient(app, base_url="https://news.example")
    _decide(stranger, "accept_all")
    planted = stranger.cookies["__Host-consent"]
    client.cookies.set("consent", planted)
    assert client.get("/state").json()["decided"] is False
    assert client.get("/_consent/receipt").status_code == 404
    # A decision expires the plain-named cookie, which nothing reads any more.
    token = csrf_token(client)
    response = client.post(
        DECISION, data={"action": "reject_all", "csrf_token": token}, follow_redirects=False
    )
    cookies = response.headers.get_list("set-cookie")
    assert any(h.startswith("__Host-consent=") for h in cookies)
    assert any(h.startswith("consent=;") and "Max-Age=0" in h for h in cookies)
    assert client.get("/state").json()["decided"] is True


def test_the_policy_page_names_the_cookies_as_the_browser_holds_them(
    make_config: Callable[..., ConsentConfig],
) -> None:
    app = ConsentMiddleware(page_app(), config=make_config())
    secure = TestClient(app, base_url="https://news.example").get("/_consent/policy?lang=en")
    plain = TestClient(app).get("/_consent/policy?lang=en")
    for name in ("consent", "consent_csrf"):
        assert f"<code>__Host-{name}</code>" in secure.text
        assert f"<code>{name}</code>" in plain.text


# ----- behind a TLS-terminating proxy ---------------------------------------------------------


def _cookie(response: object, name: str) -> str:
    """The Set-Cookie header for `name`, under the __Host- prefix it gets on https."""
    headers: list[str] = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return next(h for h in headers if h.startswith((f"{name}=", f"__Host-{name}=")))


def test_a_decision_behind_a_tls_proxy_is_accepted(
    make_config: Callable[..., ConsentConfig],
) -> None:
    # The server sees plain http from the proxy; the browser posted from the https page.
    client = TestClient(
        ConsentMiddleware(page_app(), config=make_config()), base_url="http://news.example"
    )
    token = csrf_token(client)
    response = client.post(
        DECISION,
        data={"action": "accept_all", "csrf_token": token, "next": "/news/a"},
        headers={"origin": "https://news.example", "sec-fetch-site": "same-origin"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    # A path, never an absolute http:// URL: the browser stays on the origin it used.
    assert response.headers["location"] == "/news/a"


def test_a_server_unaware_of_https_is_told_once(
    make_config: Callable[..., ConsentConfig], caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(
        ConsentMiddleware(page_app(), config=make_config()), base_url="http://news.example"
    )
    token = csrf_token(client)
    for _ in range(2):
        response = client.post(
            DECISION,
            data={"action": "reject_all", "csrf_token": token},
            headers={"origin": "https://news.example", "sec-fetch-site": "same-origin"},
            follow_redirects=False,
        )
        assert response.status_code == 303
    warnings = [r.getMessage() for r in caplog.records if "plain http" in r.getMessage()]
    assert len(warnings) == 1
    assert "https://news.example" in warnings[0] and "public_origin" in warnings[0]


def test_public_origin_is_what_origin_must_match(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(public_origin="https://news.example/")
    client = TestClient(ConsentMiddleware(page_app(), config=config), base_url="http://internal")
    page = client.get("/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    # The browser, on https, sends back the Secure cookie the test client keeps for https.
    cookie = _cookie(page, "consent_csrf").split(";")[0]
    form = {"action": "accept_all", "csrf_token": token.group(1)}
    refused = client.post(
        DECISION,
        data=form,
        headers={"origin": "http://internal", "cookie": cookie},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    response = client.post(
        DECISION,
        data=form,
        headers={"origin": "https://news.example", "cookie": cookie},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    # An https public origin makes every cookie Secure (and __Host- prefixed, as no cookie
    # domain is shared) though the server saw http.
    assert "; Secure" in _cookie(response, "__Host-consent")


def test_the_csrf_cookie_is_secure_when_the_public_origin_is_https(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(public_origin="https://news.example")
    client = TestClient(ConsentMiddleware(page_app(), config=config), base_url="http://internal")
    assert "; Secure" in _cookie(client.get("/"), "__Host-consent_csrf")


@pytest.mark.parametrize("samesite", ["lax", "strict", "none"])
def test_the_csrf_cookie_goes_where_the_consent_cookie_goes(
    make_config: Callable[..., ConsentConfig], samesite: str
) -> None:
    # A site used in another site's frame sets "none": a CSRF cookie left at Lax would not
    # come with the decisions posted from that frame, and each would be refused.
    config = make_config(
        public_origin="https://news.example", cookie_samesite=samesite, cookie_secure=True
    )
    client = TestClient(ConsentMiddleware(page_app(), config=config), base_url="http://internal")
    assert f"SameSite={samesite.capitalize()}" in _cookie(client.get("/"), "__Host-consent_csrf")


@pytest.mark.parametrize(
    "headers",
    [
        {"referer": "https://evil.example/news.example"},
        {"referer": "http://testserver.evil.example/"},
    ],
)
def test_forged_decisions_with_a_foreign_referer_are_403(
    client: TestClient, headers: dict[str, str]
) -> None:
    token = csrf_token(client)
    response = post(client, {"action": "accept_all", "csrf_token": token}, **headers)
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert client.get("/_consent/receipt").status_code == 404


def test_expiry_domains_come_from_the_public_origin_not_the_request_host(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(public_origin="https://www.news.example")
    client = TestClient(
        ConsentMiddleware(page_app(), config=config), base_url="https://evil.example"
    )
    token = csrf_token(client)
    client.cookies.set("_ga", "GA1.1.1.1")
    response = client.post(
        DECISION,
        data={"action": "reject_all", "csrf_token": token},
        headers={"sec-fetch-site": "same-origin"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    expired = [h for h in response.headers.get_list("set-cookie") if h.startswith("_ga=")]
    domains = {part.strip() for h in expired for part in h.split(";") if "Domain=" in part}
    assert domains == {"Domain=.www.news.example", "Domain=.news.example"}


def test_consent_ids_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """An id starting with "-" would be read as an option by ``consent audit show``."""
    import secrets

    from consent import endpoints

    drawn = iter(["-leading-dash-id-xx", "abc-def_ghi-jkl-mno"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _n: next(drawn))
    assert endpoints.new_consent_id() == "abc-def_ghi-jkl-mno"
    monkeypatch.undo()
    ids = {endpoints.new_consent_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)


@pytest.mark.parametrize(
    ("scheme", "host", "public_origin", "site"),
    [
        ("http", "news.example", None, "news.example"),
        ("https", "news.example:8443", None, "news.example:8443"),
        ("wss", "news.example", None, "news.example"),
        ("http", "internal:8000", "https://www.news.example", "www.news.example"),
        ("http", "", None, ""),  # no Host: no origin, and the empty host
        ("http", "bad host\u00e9", None, "bad host\u00e9"),  # no origin: the header as sent
    ],
)
def test_the_site_is_the_origin_s_host_else_the_host_header(
    make_config: Callable[..., ConsentConfig],
    scheme: str,
    host: str,
    public_origin: str | None,
    site: str,
) -> None:
    from consent.endpoints import RequestInfo

    scope = http_scope(headers=[])
    scope["scheme"] = scheme
    scope["headers"] = [(b"host", host.encode("latin-1"))]
    info = RequestInfo(scope, make_config(public_origin=public_origin))
    origin = info.origin
    assert info.site == site == (origin.partition("://")[2] if origin else info.host)
