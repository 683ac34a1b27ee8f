"""Every ASGI response message and extension, with servers that offer them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

from consent import ConsentConfig, ConsentMiddleware
from consent.types import Message, Receive, Scope, Send
from tests.conftest import PAGE, SECRET, http_scope
from tests.workers import free_port


def serve(app: Any, extensions: dict[str, Any], method: str = "GET") -> list[Message]:
    """A fake server: offers ``extensions`` and records every message the app stack sends."""
    scope = http_scope("/")
    scope["method"] = method
    scope["extensions"] = extensions
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def body_of(messages: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def kinds(messages: list[Message]) -> list[str]:
    return [m["type"] for m in messages]


@pytest.fixture
def page_file(tmp_path: Path) -> Path:
    path = tmp_path / "page.html"
    path.write_text(PAGE)
    return path


def file_app(path: Path) -> Starlette:
    async def page(request: Request) -> FileResponse:
        return FileResponse(path, media_type="text/html; charset=utf-8")

    return Starlette(routes=[Route("/", page)])


def test_pathsend_of_a_page_comes_after_its_start_with_the_banner(
    make_config: Callable[..., ConsentConfig], page_file: Path
) -> None:
    app = ConsentMiddleware(file_app(page_file), config=make_config())
    sent = serve(app, {"http.response.pathsend": {}})
    assert kinds(sent) == ["http.response.start", "http.response.body"]
    body = body_of(sent)
    assert body.count(b"data-consent-banner") == 1
    assert b'type="text/plain"' in body  # the analytics script is held back
    length = dict(sent[0]["headers"])[b"content-length"]
    assert int(length) == len(body)


def test_pathsend_of_anything_else_is_forwarded(
    make_config: Callable[..., ConsentConfig], tmp_path: Path
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00binary")

    async def page(request: Request) -> FileResponse:
        return FileResponse(path, media_type="application/octet-stream")

    app = ConsentMiddleware(Starlette(routes=[Route("/", page)]), config=make_config())
    sent = serve(app, {"http.response.pathsend": {}})
    assert kinds(sent) == ["http.response.start", "http.response.pathsend"]
    assert sent[1]["path"] == str(path)


def test_zerocopysend_of_a_page_is_read_from_its_offset(
    make_config: Callable[..., ConsentConfig], tmp_path: Path
) -> None:
    path = tmp_path / "page.bin"
    path.write_bytes(b"JUNK" + PAGE.encode() + b"TAIL")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with path.open("rb") as file:
            await send(
                {
                    "type": "http.response.zerocopysend",
                    "file": file,
                    "offset": 4,
                    "count": len(PAGE.encode()),
                }
            )

    sent = serve(ConsentMiddleware(app, config=make_config()), {"http.response.zerocopysend": {}})
    assert kinds(sent) == ["http.response.start", "http.response.body"]
    body = body_of(sent)
    assert body.count(b"data-consent-banner") == 1
    assert b"JUNK" not in body and b"TAIL" not in body
    assert body.endswith(b"</html>")


def test_trailers_come_after_the_whole_rewritten_body(
    make_config: Callable[..., ConsentConfig],
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send(
            {"type": "http.response.start", "status": 200, "headers": headers, "trailers": True}
        )
        data = PAGE.encode()
        for at in range(0, len(data), 40):
            await send(
                {"type": "http.response.body", "body": data[at : at + 40], "more_body": True}
            )
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        await send({"type": "http.response.trailers", "headers": [(b"x-done", b"1")]})

    sent = serve(ConsentMiddleware(app, config=make_config()), {"http.response.trailers": {}})
    assert sent[0]["type"] == "http.response.start" and sent[0]["trailers"] is True
    assert sent[-1]["type"] == "http.response.trailers"
    assert set(kinds(sent[1:-1])) == {"http.response.body"}
    assert not sent[-2].get("more_body", False)
    assert body_of(sent).count(b"data-consent-banner") == 1


def test_debug_messages_stay_before_the_start(make_config: Callable[..., ConsentConfig]) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.debug", "info": {"template": "page.html"}})
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PAGE.encode()})

    sent = serve(ConsentMiddleware(app, config=make_config()), {"http.response.debug": {}})
    assert kinds(sent) == ["http.response.debug", "http.response.start", "http.response.body"]


def test_early_hints_to_other_hosts_wait_for_consent(
    make_config: Callable[..., ConsentConfig],
) -> None:
    links = [
        b"</static/site.css>; rel=preload; as=style",
        b"<https://www.googletagmanager.com/gtm.js>; rel=preload; as=script",
        b"<https://fonts.example>; rel=preconnect",
    ]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.early_hint", "links": links})
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PAGE.encode()})

    sent = serve(ConsentMiddleware(app, config=make_config()), {"http.response.early_hint": {}})
    assert kinds(sent)[0] == "http.response.early_hint"
    assert sent[0]["links"] == [b"</static/site.css>; rel=preload; as=style"]


@pytest.fixture
def granian_site(tmp_path: Path, page_file: Path) -> Iterator[str]:
    """Granian (which offers pathsend) serving a Starlette FileResponse behind the middleware."""
    module = tmp_path / "granian_site.py"
    module.write_text(
        textwrap.dedent(
            f"""
            from starlette.applications import Starlette
            from starlette.responses import FileResponse
            from starlette.routing import Route

            from consent import ConsentConfig, ConsentMiddleware

            async def page(request):
                return FileResponse({str(page_file)!r}, media_type="text/html; charset=utf-8")

            app = ConsentMiddleware(
                Starlette(routes=[Route("/", page)]),
                config=ConsentConfig(
                    secret_key={SECRET!r},
                    audit_url={f"sqlite:///{tmp_path / 'audit.db'}"!r},
                    audit_key="audit-key-for-tests-0123456789",
                ),
            )
            """
        )
    )
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{Path.cwd()}"}
    granian = Path(sys.executable).with_name("granian")
    process = subprocess.Popen(
        [str(granian), "--interface", "asgi", "--port", str(port), "granian_site:app"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "favicon.ico", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("granian did not start")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_granian_serves_a_file_response_page_with_the_banner(granian_site: str) -> None:
    response = httpx.get(granian_site, timeout=10)
    assert response.status_code == 200
    assert response.text.count("data-consent-banner") == 1
    assert 'type="text/plain"' in response.text
    assert int(response.headers["content-length"]) == len(response.content)
