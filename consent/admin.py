"""The admin view at <prefix>/admin: placeholder until the audit views land."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from consent.runtime import ConsentRuntime


async def admin_response(request: Request, runtime: ConsentRuntime) -> Response:
    return PlainTextResponse("Not found", status_code=404)
