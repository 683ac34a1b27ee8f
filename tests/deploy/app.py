"""A small wrapped site for the deployment tests, built by uvicorn in its own process.

``uvicorn tests.deploy.app:create_app --factory`` reads its settings from the environment,
so that each server of a test can run with its own store and public origin.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from consent import ConsentConfig, ConsentMiddleware

ENV_DB = "CONSENT_DEPLOY_DB"
ENV_PUBLIC_ORIGIN = "CONSENT_DEPLOY_PUBLIC_ORIGIN"

SECRET = "deploy-test-secret-key-0123456789"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>Served as {url}.</p>
<p><a href="article?x=1">An article</a></p>
<script src="https://www.google-analytics.com/analytics.js"></script>
</body></html>"""


async def page(request: Request) -> HTMLResponse:
    title = "Article" if request.url.path.endswith("/article") else "Front page"
    return HTMLResponse(PAGE.format(title=title, url=request.url))


def create_app() -> ConsentMiddleware:
    settings: dict[str, Any] = {}
    if os.environ.get(ENV_PUBLIC_ORIGIN):
        settings["public_origin"] = os.environ[ENV_PUBLIC_ORIGIN]
    config = ConsentConfig(
        secret_key=SECRET,
        audit_url=f"sqlite:///{os.environ[ENV_DB]}",
        audit_key="deploy-test-audit-key-0123456789",
        **settings,
    )
    site = Starlette(routes=[Route("/", page), Route("/article", page)])
    return ConsentMiddleware(site, config=config)
