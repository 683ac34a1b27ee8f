"""The three-line integration with each framework the README shows."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent.types import Receive, Scope, Send

DOC = "<!doctype html><html lang='en'><head><title>t</title></head><body><p>hi</p></body></html>"


def assert_wrapped(client: TestClient, path: str = "/") -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.text.count("data-consent-banner") == 1
    assert re.search(r'name="csrf_token" value="[^"]+"', response.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert token
    decision = client.post(
        "/_consent/decision",
        data={"action": "reject_all", "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert decision.status_code == 303


def test_raw_asgi_callable(make_config: Callable[..., ConsentConfig]) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["consent"].decided in (True, False)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": DOC.encode()})

    assert_wrapped(TestClient(ConsentMiddleware(app, config=make_config())))


def test_fastapi(make_config: Callable[..., ConsentConfig]) -> None:
    api = FastAPI()

    @api.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> str:
        return DOC.replace("hi", "decided=" + str(request.scope["consent"].decided))

    api.add_middleware(ConsentMiddleware, config=make_config())
    client = TestClient(api)
    assert_wrapped(client)
    assert "decided=True" in client.get("/").text


def test_django(make_config: Callable[..., ConsentConfig]) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="django-test-key-0123456789",
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["testserver"],
            MIDDLEWARE=[],
        )
        django.setup()
    from django.core.asgi import get_asgi_application

    client = TestClient(ConsentMiddleware(get_asgi_application(), config=make_config()))
    assert_wrapped(client)


def _django_home(request: object) -> object:
    from django.http import HttpResponse

    return HttpResponse(DOC, content_type="text/html; charset=utf-8")


def _urlpatterns() -> list[object]:
    from django.urls import path

    return [path("", _django_home)]


def __getattr__(name: str) -> object:
    # Django reads urlpatterns from ROOT_URLCONF lazily; building them lazily keeps the
    # import of this module free of Django set-up.
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)
