"""The consent-aware Content-Security-Policy as the middleware sends it, mode by mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent.csp import PolicyBuilder
from consent.failsafe import fallback_csp
from tests.conftest import PAGE, csrf_token

ENFORCED = "content-security-policy"
REPORTED = "content-security-policy-report-only"
APP_POLICY = "default-src 'self'; script-src 'self' 'nonce-AppNonce0123456789'"
ANALYTICS_HOST = "*.google-analytics.com"


def site() -> Starlette:
    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def page_with_policy(request: Request) -> Response:
        return HTMLResponse(PAGE, headers={"content-security-policy": APP_POLICY})

    async def data(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/own-policy", page_with_policy),
            Route("/data", data),
            Route("/admin/panel", page),
        ]
    )


def client_for(config: ConsentConfig, **kwargs: Any) -> TestClient:
    return TestClient(ConsentMiddleware(site(), config=config), **kwargs)


def policies(response: httpx.Response, name: str) -> list[str]:
    return response.headers.get_list(name)


def grant(client: TestClient, *categories: str) -> None:
    response = client.post(
        "/_consent/decision",
        data={"action": "custom", "category": list(categories), "csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def test_off_by_default_adds_nothing_and_builds_nothing(
    make_config: Callable[..., ConsentConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_policy(self: PolicyBuilder, *args: Any, **kwargs: Any) -> str:
        raise AssertionError("a policy was built with the mode off")

    monkeypatch.setattr(PolicyBuilder, "policy", no_policy)
    middleware = ConsentMiddleware(site(), config=make_config())
    assert middleware.runtime.csp_policy is None
    client = TestClient(middleware)
    for path in ("/", "/own-policy"):
        response = client.get(path)
        assert response.status_code == 200
        assert "consent-banner" in response.text or "<dialog" in response.text
        assert policies(response, REPORTED) == []
    assert policies(client.get("/own-policy"), ENFORCED) == [APP_POLICY]
    assert policies(client.get("/"), ENFORCED) == []


def test_report_only_names_what_the_visitor_granted(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = client_for(make_config(csp_mode="report-only"))
    first = client.get("/")
    assert policies(first, ENFORCED) == []
    [refusing] = policies(first, REPORTED)
    assert refusing.startswith("default-src 'self'")
    assert ANALYTICS_HOST not in refusing
    assert "testserver" in refusing
    assert refusing.endswith("; report-uri /_consent/csp-report")
    grant(client, "analytics")
    # The next page carries the new choice: no reload of anything else is needed.
    [granting] = policies(client.get("/"), REPORTED)
    assert ANALYTICS_HOST in granting
    assert "googletagservices.com" not in granting and "doubleclick.net" not in granting
    assert granting.endswith("; report-uri /_consent/csp-report")


def test_enforce_sends_a_second_policy_beside_the_apps_and_keeps_its_nonce(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = client_for(make_config(csp_mode="enforce"))
    response = client.get("/own-policy")
    app_policy, ours = policies(response, ENFORCED)
    assert app_policy == APP_POLICY
    assert ours.startswith("default-src 'self' 'nonce-AppNonce0123456789' ")
    assert ANALYTICS_HOST not in ours
    assert policies(response, REPORTED) == []
    [plain] = policies(client.get("/"), ENFORCED)
    assert "'nonce-" not in plain


def test_necessary_and_own_hosts_are_always_allowed(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(
        csp_mode="enforce",
        csp_necessary_hosts=["pay.example-psp.com"],
        own_domains=["paper-static.example"],
    )
    [policy] = policies(client_for(config).get("/"), ENFORCED)
    for host in ("pay.example-psp.com", "*.pay.example-psp.com", "*.paper-static.example"):
        assert f" {host} " in policy


def test_no_policy_on_what_is_not_rewritten(make_config: Callable[..., ConsentConfig]) -> None:
    client = client_for(make_config(csp_mode="enforce", exclude_paths=["/admin"]))
    for path in ("/data", "/admin/panel"):
        response = client.get(path)
        assert response.status_code == 200
        assert policies(response, ENFORCED) == []
        assert policies(response, REPORTED) == []
    head = client.head("/")
    assert policies(head, ENFORCED) == []


def test_shared_cache_mode_sends_no_per_visitor_policy(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = client_for(make_config(csp_mode="enforce", shared_cache_mode=True))
    response = client.get("/")
    assert "<script" in response.text
    assert policies(response, ENFORCED) == []


def test_a_mounted_site_reports_under_its_mount_point(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = client_for(make_config(csp_mode="report-only"), root_path="/news")
    [policy] = policies(client.get("/"), REPORTED)
    assert policy.endswith("; report-uri /news/_consent/csp-report")


def test_a_host_header_cannot_write_into_the_policy(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = client_for(make_config(csp_mode="enforce"))
    [policy] = policies(client.get("/", headers={"host": "x.example; script-src *"}), ENFORCED)
    assert "script-src *" not in policy
    assert policy.count(";") == policy.count("; ") and "x.example" not in policy


def test_the_failure_policy_stands_alone(
    make_config: Callable[..., ConsentConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    from consent.runtime import ConsentRuntime

    def banner(self: Any, *args: Any, **kwargs: Any) -> str:
        raise RuntimeError("injected banner fault")

    monkeypatch.setattr(ConsentRuntime, "banner", banner)
    client = client_for(make_config(csp_mode="enforce"), raise_server_exceptions=False)
    response = client.get("/own-policy")
    assert response.status_code == 200
    assert policies(response, ENFORCED) == [APP_POLICY, fallback_csp("AppNonce0123456789")]
