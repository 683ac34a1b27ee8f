"""ASGI lifespan: forwarded to the wrapped app, with the middleware's own clean-up at shutdown.

The middleware owns the audit store's connections, so it must learn when the server stops. It
listens in on the app's lifespan conversation; an app that does not speak lifespan (it raises or
returns before reading the first message) is answered by the middleware itself, so the server
still sees a supported protocol and the store is still closed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from consent.types import ASGIApp, Message, Receive, Scope, Send

# After any of these the server stops (a failed start-up ends the process too).
_FINAL_ANSWERS = frozenset(
    {"lifespan.startup.failed", "lifespan.shutdown.complete", "lifespan.shutdown.failed"}
)


async def lifespan(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    on_shutdown: Callable[[], Awaitable[None]],
) -> None:
    received: list[Message] = []
    sent = False
    closed = False

    async def app_receive() -> Message:
        message = await receive()
        received.append(message)
        return message

    async def app_send(message: Message) -> None:
        nonlocal sent, closed
        sent = True
        if message["type"] in _FINAL_ANSWERS and not closed:
            # Before the answer: once the server hears "complete" it may end the process.
            closed = True
            await on_shutdown()
        await send(message)

    try:
        await app(scope, app_receive, app_send)
    except Exception:
        if sent or received:
            raise  # the app speaks lifespan and failed: the server must hear of it
        await _answer_alone(receive, send, on_shutdown, pending=None)
        return
    if not sent:
        pending = received[0] if received else None
        await _answer_alone(receive, send, on_shutdown, pending=pending)
    elif not closed:
        await on_shutdown()


async def _answer_alone(
    receive: Receive,
    send: Send,
    on_shutdown: Callable[[], Awaitable[None]],
    *,
    pending: Message | None,
) -> None:
    while True:
        message = pending if pending is not None else await receive()
        pending = None
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
