"""ASGI lifespan through the middleware: the app's own start-up and shutdown, then our clean-up."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from starlette.applications import Starlette

from consent import ConsentConfig, ConsentMiddleware
from consent.types import Message, Receive, Scope, Send

LIFESPAN_SCOPE: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}


async def _run_lifespan(app: ConsentMiddleware) -> list[Message]:
    incoming: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app(dict(LIFESPAN_SCOPE), receive, send)
    return sent


async def test_the_apps_lifespan_runs_and_shutdown_closes_the_store(
    make_config: Callable[..., ConsentConfig],
) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    middleware = ConsentMiddleware(Starlette(lifespan=app_lifespan), config=make_config())
    store = await middleware.runtime.store()
    assert await store.ping()
    sent = await _run_lifespan(middleware)
    assert events == ["startup", "shutdown"]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert not await store.ping()  # closed before the server heard "complete"


@pytest.mark.parametrize("behaviour", ["raises", "returns"])
async def test_apps_without_lifespan_still_start_and_the_store_is_closed(
    make_config: Callable[..., ConsentConfig], behaviour: str
) -> None:
    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if behaviour == "raises":
                raise RuntimeError("only http here")
            return

    middleware = ConsentMiddleware(http_only, config=make_config())
    store = await middleware.runtime.store()
    sent = await _run_lifespan(middleware)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert not await store.ping()


def _connect_database() -> None:
    raise RuntimeError("database unreachable")


async def test_a_failing_startup_is_not_hidden_and_still_closes_the_store(
    make_config: Callable[..., ConsentConfig],
) -> None:
    @contextlib.asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        _connect_database()
        yield

    middleware = ConsentMiddleware(Starlette(lifespan=broken), config=make_config())
    store = await middleware.runtime.store()
    with pytest.raises(RuntimeError, match="database unreachable"):
        await _run_lifespan(middleware)
    assert not await store.ping()
