"""The opt-out side of regions: the GPC signal recorded as a decision, and ``gpc.json``.

Where a region's law gives an opt-out (docs/regions.md), a browser's ``Sec-GPC: 1`` decides
without a click: the first page it asks for records a receipt with method ``gpc``, and the
signed cookie then says so, so that the receipt is written once per consent id, never per
request, and never costs a database read.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace

from consent.audit import Decision, receipt_path
from consent.cookie import CookiePayload
from consent.endpoints import (
    RequestInfo,
    continued_consent_id,
    opens_document,
    set_cookie_header,
)
from consent.runtime import ConsentRuntime
from consent.state import ConsentState
from consent.types import Message, Scope, Send

logger = logging.getLogger("consent")

WELL_KNOWN_GPC = "/.well-known/gpc.json"
SIGNAL = "gpc"
# The site's GPC support resource (GPC specification, section 3.4), dated when the process
# started: the day its configuration, and so its support, last changed.
_GPC_DOCUMENT = json.dumps(
    {"gpc": True, "lastUpdate": time.strftime("%Y-%m-%d", time.gmtime())}
).encode()


async def regional_request(
    runtime: ConsentRuntime, scope: Scope, info: RequestInfo, state: ConsentState, send: Send
) -> tuple[ConsentState, Send] | None:
    """The visitor's state under their region's model, and the ``send`` that carries a newly
    recorded signal's cookie; None when the request was answered here."""
    regional = runtime.regional
    assert regional is not None
    try:
        state = regional.state(state, regional.applied(scope), runtime.gpc_refuses)
    except Exception:
        # The opt-in reading of the cookie stands: the strictest model, never a broken page.
        logger.exception("consent: the region could not be applied; the visitor is asked")
        return state, send
    if scope["type"] != "http":
        return state, send
    if info.route_path == WELL_KNOWN_GPC and runtime.config.honour_gpc:
        await send_gpc_document(send, _GPC_DOCUMENT, scope.get("method", "GET"))
        return None
    # A page every visitor shares carries no cookie: the state endpoint records it there.
    shared = runtime.config.shared_cache_mode
    if not shared and signal_pending(runtime, state) and _opens_a_page(scope):
        recorded = await record_signal(runtime, info, state, info.root_path + info.route_path)
        if recorded is not None:
            state, cookie = recorded
            send = with_cookie(send, cookie)
    return state, send


def _opens_a_page(scope: Scope) -> bool:
    """A GET a browser sends to open a document, never a script's fetch or a preload."""
    return scope.get("method") == "GET" and opens_document(scope.get("headers", ()), frames=False)


async def send_gpc_document(send: Send, body: bytes, method: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"public, max-age=86400"),
                (b"access-control-allow-origin", b"*"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def signal_pending(runtime: ConsentRuntime, state: ConsentState) -> bool:
    """Whether this request's GPC signal decides something no receipt records yet."""
    if not state.gpc or state.asks or state.model == "opt_in":
        return False
    # The cookie was verified once for this Cookie header when the state was worked out.
    return bool(runtime.gpc_refuses) and not state.signal_recorded


async def record_signal(
    runtime: ConsentRuntime, info: RequestInfo, state: ConsentState, path: str
) -> tuple[ConsentState, bytes] | None:
    """Record the GPC signal as this visitor's opt-out; the new state and its cookie, or None
    when the store cannot record it now (the signal is still honoured, and recorded later)."""
    config = runtime.config
    locale = runtime.locale_for(None, info.accept_language, None)
    granted = (state.granted - runtime.gpc_refuses) | runtime.required
    try:
        store = await runtime.store()
        previous = runtime.codec.decode(info.consent_cookie)
        consent_id = await continued_consent_id(store, previous)
        receipt = await store.record(
            Decision(
                consent_id=consent_id,
                action=SIGNAL,
                method=SIGNAL,
                granted=granted,
                refused=runtime.all_categories - granted,
                policy_version=config.policy_version,
                locale=locale.tag,
                texts_hash=locale.texts_hash(),
                texts=dict(locale.texts),
                path=receipt_path(path, config.audit_query_params),
                rule=SIGNAL,
                region=state.region,
                privacy_model=state.model,
                gpp=state.gpp,
            )
        )
    except Exception:
        # Never the page's failure: the signal is honoured all the same, recorded later.
        logger.exception("the audit store could not record a GPC signal")
        return None
    now = runtime.now()
    payload = CookiePayload(
        consent_id=consent_id,
        granted=granted,
        policy_version=config.policy_version,
        decided_at=now,
        receipt_id=receipt.receipt_id,
        signal=True,
    )
    cookie = set_cookie_header(
        info.consent_cookie_name,
        runtime.codec.encode(payload),
        max_age=config.cookie_max_age,
        secure=info.secure(config),
        domain=config.cookie_domain,
        http_only=False,
        samesite=config.cookie_samesite.capitalize(),
    )
    decided = replace(
        state,
        decided=True,
        granted=granted,
        consent_id=consent_id,
        decided_at=payload.decided_datetime,
        signal_recorded=True,
    )
    return decided, cookie.encode("latin-1")


def with_cookie(send: Send, cookie: bytes) -> Send:
    """``send`` with the signal's cookie added to the response's start."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie)]
        await send(message)

    return sending
