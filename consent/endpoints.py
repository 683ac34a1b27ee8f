"""The reserved endpoints under the prefix: decisions, preferences, receipts, policy, assets.

The only module of the request path that uses Starlette (requests, responses, form parsing).
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)

from consent.assets import assets
from consent.audit import AuditStore, AuditUnavailable, Decision, receipt_path
from consent.body import readable_accept_encoding
from consent.config import ConsentConfig
from consent.cookie import CookiePayload, cookie_name_for, parse_cookie_header
from consent.csp import MAX_REPORT_BYTES
from consent.csrf import is_valid_nonce, new_nonce, token_for, verify_token
from consent.decisions import DecisionError, parse_choice, safe_next
from consent.enforcement import expiry_headers
from consent.names import (
    ACTION_CUSTOMIZE,
    FIELD_ACTION,
    FIELD_CSRF,
    FIELD_LOCALE,
    FIELD_NEXT,
)
from consent.runtime import ConsentRuntime, regional_answer, regional_fields
from consent.site import (
    clean_root_path,
    decision_allowed,
    is_https,
    origin_from_url,
    request_origin,
    same_origin,
    split_root_path,
)
from consent.state import ConsentState
from consent.tcfserver import TC_COOKIE
from consent.types import Receive, Scope, Send

logger = logging.getLogger("consent")

_NO_STORE = {"cache-control": "no-store"}
_FORM_TYPE = "application/x-www-form-urlencoded"
# Validators: the scope the app sees may have to lose or translate them.
_CONDITIONAL = frozenset({b"if-none-match", b"if-modified-since"})


class RequestInfo:
    """What the middleware reads from a request's headers.

    The headers are walked once, keeping the raw values; the cookies, the CSRF nonce, the
    origin and the like are worked out when something first reads them: most responses are
    no pages and read none of it.
    """

    __slots__ = (
        "_config",
        "_cookies",
        "_host",
        "_language",
        "_names",
        "_nonce",
        "_scope",
        "conditional",
        "cookie_bytes",
        "encodings",
        "gpc",
        "new_csrf_cookie",
        "root_path",
        "route_path",
    )

    def __init__(self, scope: Scope, config: ConsentConfig) -> None:
        self._scope = scope
        self._config = config
        cookie = b""
        language: bytes | None = None
        gpc = False
        host = b""
        encodings = conditional = False
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                cookie = cookie + b"; " + value if cookie else value
            elif name == b"accept-language":
                language = value
            elif name == b"sec-gpc":
                gpc = value.strip() == b"1"
            elif name == b"host":
                host = value
            elif name == b"accept-encoding":
                encodings = encodings or readable_accept_encoding(value) != value
            elif name in _CONDITIONAL:
                conditional = True
            elif not name.islower():
                # Servers send names in lower case; what changes the app's scope is looked for
                # in any case all the same.
                lowered = name.lower()
                encodings = encodings or lowered == b"accept-encoding"
                conditional = conditional or lowered in _CONDITIONAL
        # The Cookie header(s) as sent: the visitor's state is remembered by this value.
        self.cookie_bytes = cookie
        self.gpc = gpc
        # Whether the request offers codings we could not read back, and carries validators:
        # only then has the scope the app sees to be changed.
        self.encodings = encodings
        self.conditional = conditional
        self.new_csrf_cookie = False
        self._language = language
        self._host = host
        self._names: tuple[str, str] | None = None
        self._cookies: dict[str, str] | None = None
        self._nonce: tuple[str | None] | None = None
        # Where the app is mounted ("" or "/news") and the path below it, whichever convention
        # the server follows for scope["path"]; see site.split_root_path.
        root = scope.get("root_path")
        path = str(scope.get("path", "/"))
        if root:
            self.root_path = clean_root_path(str(root))
            self.route_path = split_root_path(path, self.root_path)
        else:
            self.root_path = ""
            self.route_path = path or "/"

    @classmethod
    def from_scope(cls, scope: Scope, config: ConsentConfig) -> RequestInfo:
        return cls(scope, config)

    @property
    def accept_language(self) -> str | None:
        return None if self._language is None else self._language.decode("latin-1")

    @property
    def host(self) -> str:
        return self._host.decode("latin-1")

    @property
    def cookie_header(self) -> str:
        return self.cookie_bytes.decode("latin-1")

    @property
    def https(self) -> bool:
        return is_https(str(self._scope.get("scheme", "http")), self._config.public_origin)

    def _cookie_names(self) -> tuple[str, str]:
        names = self._names
        if names is None:
            # Only the name this site uses is read: on https a plain-named cookie may have been
            # planted by a sibling subdomain or over plain http, so it counts for nothing.
            config = self._config
            names = self._names = _cookie_names(
                config.cookie_name,
                config.csrf_cookie_name,
                self.secure(config),
                config.cookie_domain,
            )
        return names

    @property
    def consent_cookie_name(self) -> str:
        return self._cookie_names()[0]

    @property
    def csrf_cookie_name(self) -> str:
        return self._cookie_names()[1]

    @property
    def cookies(self) -> dict[str, str]:
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = parse_cookie_header(self.cookie_header, self._cookie_names())
        return cookies

    def visitor_state(self, runtime: ConsentRuntime) -> ConsentState:
        """The visitor's state, remembered by the runtime per Cookie header."""
        cookie = self.cookie_bytes
        if not cookie:
            return runtime.visitor_state(cookie, False, str, gpc=self.gpc)
        secure = self.secure(self._config)
        return runtime.visitor_state(cookie, secure, lambda: self.consent_cookie_name, gpc=self.gpc)

    @property
    def consent_cookie(self) -> str | None:
        return self.cookies.get(self.consent_cookie_name)

    @property
    def csrf_nonce(self) -> str | None:
        if self._nonce is None:
            nonce = None
            # Whatever name the cookie has on this site holds the configured one (an ASCII
            # token): a header without those bytes has none, and most headers are not parsed.
            if self._config.csrf_cookie_name.encode() in self.cookie_bytes:
                nonce = self.cookies.get(self.csrf_cookie_name)
            self._nonce = (nonce if is_valid_nonce(nonce) else None,)
        return self._nonce[0]

    @property
    def origin(self) -> str | None:
        """The origin browsers use for this site (public_origin, else scheme and Host)."""
        scheme = str(self._scope.get("scheme", "http"))
        return request_origin(scheme, self.host, self._config.public_origin)

    @property
    def site(self) -> str:
        """The host the page is served from, as browsers see it (the origin's host, else the
        Host header): third parties are judged against it."""
        return _site(str(self._scope.get("scheme", "http")), self._host, self._config.public_origin)

    @property
    def all_cookie_names(self) -> list[str]:
        """Every cookie name the browser sent; only decisions need them, so parsed on demand."""
        names = (p.split("=", 1)[0].strip() for p in self.cookie_header.split(";") if "=" in p)
        return list(dict.fromkeys(names))

    def ensure_csrf_nonce(self, shared: bool, drawn: str | None = None) -> None:
        """A new nonce (``drawn``, when the caller already took one from ``new_nonce_and_marker``)
        for a visitor without a valid one; its cookie is set with the response."""
        if self.csrf_nonce is None and not shared:
            self._nonce = (drawn or new_nonce(),)
            self.new_csrf_cookie = True

    def secure(self, config: ConsentConfig) -> bool:
        return self.https if config.cookie_secure is None else config.cookie_secure

    def csrf_cookie_header(self, config: ConsentConfig) -> str:
        # What set_cookie_header makes of it, without its keywords: one for each new visitor's page.
        # Its SameSite is the consent cookie's: a site that set "none" to be used in another
        # site's frame would otherwise have every decision posted there refused for want of it.
        name, attributes = _csrf_cookie(
            config.csrf_cookie_name,
            self.secure(config),
            config.cookie_domain,
            config.cookie_samesite,
        )
        return f"{name}={self.csrf_nonce or ''}{attributes}"


def opens_document(headers: Iterable[tuple[bytes, bytes]], *, frames: bool) -> bool:
    """Whether a request opens a document (with ``frames``, a frame's too): as its
    ``Sec-Fetch-Dest`` says, or, from browsers that send none, as its ``Accept`` asks HTML."""
    accept = b""
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"sec-fetch-dest":
            destination = value.strip().lower()
            return destination == b"document" or (frames and destination in (b"iframe", b"frame"))
        if lowered == b"accept":
            accept = value.lower()
    return b"text/html" in accept


@functools.lru_cache(maxsize=256)  # bounded: the Host is the visitor's to choose
def _site(scheme: str, host: bytes, public_origin: str | None) -> str:
    decoded = host.decode("latin-1")
    origin = request_origin(scheme, decoded, public_origin)
    return origin.partition("://")[2] if origin else decoded


# Both depend on the configuration and the scheme alone: a handful of answers per process.
@functools.lru_cache(maxsize=16)
def _cookie_names(consent: str, csrf: str, secure: bool, domain: str | None) -> tuple[str, str]:
    return (
        cookie_name_for(consent, secure=secure, domain=domain),
        cookie_name_for(csrf, secure=secure, domain=domain),
    )


@functools.lru_cache(maxsize=16)
def _csrf_cookie(name: str, secure: bool, domain: str | None, samesite: str) -> tuple[str, str]:
    """The CSRF cookie's name on this site, and the attributes it is set with: one look-up for
    both on every new visitor's page."""
    return (
        cookie_name_for(name, secure=secure, domain=domain),
        _cookie_attributes(None, secure, domain, True, samesite.capitalize()),
    )


@functools.lru_cache(maxsize=64)
def _cookie_attributes(
    max_age: int | None, secure: bool, domain: str | None, http_only: bool, samesite: str
) -> str:
    parts = ["", "Path=/", f"SameSite={samesite}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if domain:
        parts.append(f"Domain={domain}")
    if secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    return "; ".join(parts)


def set_cookie_header(
    name: str,
    value: str,
    *,
    max_age: int | None,
    secure: bool,
    domain: str | None,
    http_only: bool,
    samesite: str = "Lax",
) -> str:
    return f"{name}={value}" + _cookie_attributes(max_age, secure, domain, http_only, samesite)


class ConsentEndpoints:
    def __init__(self, runtime: ConsentRuntime) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self._warned_scheme = False
        urls = runtime.urls
        self._routes = {
            urls.decision: self.decision,
            urls.preferences: self.preferences,
            urls.policy: self.policy,
            urls.receipt: self.receipt,
            urls.token: self.token,
            urls.state: self.visitor_state,
            urls.csp_report: self.csp_report,
        }

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, info: RequestInfo, state: ConsentState
    ) -> None:
        request = Request(scope, receive)
        path = info.route_path
        handler = self._routes.get(path)
        if handler is not None:
            response = await handler(request, info, state)
        elif path.startswith(self.runtime.urls.static):
            response = self.static(request, path[len(self.runtime.urls.static) :])
        elif path == self.runtime.urls.admin or path.startswith(self.runtime.urls.admin + "/"):
            # The admin view reads its page from the path below the mount point.
            admin_scope = {**scope, "path": path, "root_path": info.root_path}
            response = await self.admin(Request(admin_scope, receive), info, state)
        else:
            response = PlainTextResponse("Not found", status_code=404, headers=_NO_STORE)
        await response(scope, receive, send)

    # ----- decision ------------------------------------------------------------------------

    async def decision(self, request: Request, info: RequestInfo, state: ConsentState) -> Response:
        wants_json = "application/json" in request.headers.get("accept", "")
        signal = self.runtime.gpc_refuses if state.gpc else frozenset()
        try:
            fields = await self._read_form(request, info)
            choice = parse_choice(
                fields,
                categories=self.config.category_ids,
                required=self.runtime.required,
                refused_by_signal=signal,
            )
            tcf = self.runtime.tcf
            tcf_choice = tcf.choice_for(choice, fields, signal) if tcf is not None else None
        except DecisionError as error:
            return _refusal(error.status, error.reason, wants_json)
        next_path = safe_next(
            next((v for k, v in fields if k == FIELD_NEXT), None), home=info.root_path + "/"
        )
        if choice.action == ACTION_CUSTOMIZE:
            target = (
                self.runtime.urls_for(info.root_path).preferences
                + "?"
                + urlencode({"next": next_path})
            )
            return RedirectResponse(target, status_code=303, headers=_NO_STORE)
        shown = next((v for k, v in fields if k == FIELD_LOCALE), None)
        locale = self.runtime.locale_for(None, info.accept_language, shown)
        texts = dict(locale.texts)
        tc_string = ac_string = None
        if tcf is not None and tcf_choice is not None:
            tc_string = tcf.tc_string(tcf_choice, locale.tag)
            ac_string = tcf.ac_string(choice.granted)
        try:
            store = await self.runtime.store()
            previous = self.runtime.codec.decode(info.consent_cookie)
            consent_id = await continued_consent_id(store, previous)
            decision = Decision(
                consent_id=consent_id,
                action=choice.action,
                method=choice.source,
                granted=choice.granted,
                refused=choice.refused,
                policy_version=self.config.policy_version,
                locale=locale.tag,
                texts_hash=locale.texts_hash(),
                texts=texts,
                path=receipt_path(next_path, self.config.audit_query_params),
                rule="gpc" if state.gpc else self.config.rule_name,
                tc_string=tc_string,
                ac_string=ac_string,
                **regional_fields(self.runtime, state, choice.granted),
            )
            receipt = await store.record(decision)
        except AuditUnavailable:
            logger.exception("the audit store could not record a decision")
            return self._unavailable(wants_json, next_path)
        payload = CookiePayload(
            consent_id=consent_id,
            granted=choice.granted,
            policy_version=self.config.policy_version,
            decided_at=self.runtime.now(),
            receipt_id=receipt.receipt_id,
            # A GPC receipt of this consent id stays recorded: the signal is not recorded again.
            signal=previous is not None and previous.signal and previous.consent_id == consent_id,
        )
        secure = info.secure(self.config)
        headers = dict(_NO_STORE)
        response: Response
        if wants_json:
            response = JSONResponse(
                {
                    "consent_id": consent_id,
                    "granted": sorted(choice.granted),
                    "refused": sorted(choice.refused),
                    "receipt_id": receipt.receipt_id,
                    "policy_version": self.config.policy_version,
                    "decided_at": receipt.recorded_at.isoformat(),
                    **({"tc_string": tc_string, "ac_string": ac_string} if tcf else {}),
                    **({"gpp": receipt.gpp} if receipt.gpp is not None else {}),
                },
                headers=headers,
            )
        else:
            response = RedirectResponse(next_path, status_code=303, headers=headers)
        response.raw_headers.append(
            (
                b"set-cookie",
                set_cookie_header(
                    info.consent_cookie_name,
                    self.runtime.codec.encode(payload),
                    max_age=self.config.cookie_max_age,
                    secure=secure,
                    domain=self.config.cookie_domain,
                    http_only=False,
                    samesite=self.config.cookie_samesite.capitalize(),
                ).encode("latin-1"),
            )
        )
        if tc_string is not None:
            # Set here, not by script: Safari caps cookies written by script at 7 days.
            tc_cookie = set_cookie_header(
                TC_COOKIE,
                tc_string,
                max_age=self.config.cookie_max_age,
                secure=secure,
                domain=self.config.cookie_domain,
                http_only=False,
                samesite=self.config.cookie_samesite.capitalize(),
            )
            response.raw_headers.append((b"set-cookie", tc_cookie.encode("latin-1")))
        withdrawn = self.runtime.cookie_policy.withdrawn(info.all_cookie_names, choice.granted)
        # The request's Host is the visitor's to choose: where the operator named the site
        # (its cookie domain, else its public origin) that name bounds the domains expired.
        site = self.config.cookie_domain or urlsplit(self.config.public_origin or "").hostname
        expired = expiry_headers(withdrawn, info.host, secure=secure, cookie_domain=site)
        if info.consent_cookie_name != self.config.cookie_name:
            # The plain-named cookie of before the prefix, never read again on this site.
            legacy = [n for n in info.all_cookie_names if n == self.config.cookie_name]
            expired += expiry_headers(legacy, "", secure=True)
        for value in expired:
            response.raw_headers.append((b"set-cookie", value.encode("latin-1")))
        return response

    async def _read_form(self, request: Request, info: RequestInfo) -> list[tuple[str, str]]:
        if request.method != "POST":
            raise DecisionError(405, "decisions are posted")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != _FORM_TYPE:
            raise DecisionError(415, f"send {_FORM_TYPE}")
        self._check_origin(request, info)
        tcf = self.runtime.tcf
        limit = self.config.max_decision_body + (tcf.form_bytes if tcf else 0)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise DecisionError(413, "body too large")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise DecisionError(413, "body too large")
        try:
            fields = parse_qsl(
                body.decode("utf-8"),
                keep_blank_values=True,
                max_num_fields=64 + (tcf.form_fields if tcf else 0),
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise DecisionError(400, "malformed form body") from exc
        tokens = [v for k, v in fields if k == FIELD_CSRF]
        token = tokens[0] if len(tokens) == 1 else None
        if self.config.shared_cache_mode and not token:
            if not _same_origin_proven(request, info):
                raise DecisionError(403, "cross-site request refused")
        elif not verify_token(token, info.csrf_nonce, self.config.secret_keys):
            raise DecisionError(403, "missing or invalid CSRF token")
        if not any(k == FIELD_ACTION for k, _ in fields):
            raise DecisionError(400, "exactly one action is required")
        return fields

    def _check_origin(self, request: Request, info: RequestInfo) -> None:
        headers = request.headers
        if not decision_allowed(
            fetch_site=headers.get("sec-fetch-site"),
            origin=headers.get("origin"),
            referer=headers.get("referer"),
            expected=info.origin,
            cookie_domain=self.config.cookie_domain,
        ):
            raise DecisionError(403, "cross-site request refused")
        if not info.https and not self._warned_scheme:
            origin = headers.get("origin") or ""
            if origin.lower().startswith("https://"):
                # Once per process: the site works, but its cookies go out without Secure.
                self._warned_scheme = True
                logger.warning(
                    "consent: a decision came from %s but the server reports plain http, so "
                    "cookies are set without Secure; let the server trust the proxy "
                    "(uvicorn --forwarded-allow-ips) or set public_origin",
                    origin_from_url(origin) or "an https page",
                )

    def _unavailable(self, wants_json: bool, next_path: str) -> Response:
        reason = "consent could not be recorded right now; nothing was stored, please try again"
        if wants_json:
            return JSONResponse(
                {"error": reason}, status_code=503, headers={**_NO_STORE, "retry-after": "30"}
            )
        return PlainTextResponse(
            reason, status_code=503, headers={**_NO_STORE, "retry-after": "30"}
        )

    # ----- pages -----------------------------------------------------------------------------

    async def preferences(
        self, request: Request, info: RequestInfo, state: ConsentState
    ) -> Response:
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse("Method not allowed", status_code=405)
        locale = self.runtime.locale_for(
            None, info.accept_language, request.query_params.get("lang")
        )
        t = self.runtime.texts(locale)
        info.ensure_csrf_nonce(shared=False)
        next_path = safe_next(request.query_params.get("next"), home=info.root_path + "/")
        urls = self.runtime.urls_for(info.root_path)
        message = None
        if request.query_params.get("saved") == "1":
            message = t("preferences.saved")
        html = self.runtime.templates.render(
            "consent/preferences.html",
            t=t,
            locale=locale,
            css_url=self.runtime.asset_url("consent.css", info.root_path),
            theme_style=self.runtime.theme_style,
            decision_url=urls.decision,
            policy_url=urls.policy + f"?lang={locale.tag}",
            back_url=next_path,
            csrf=token_for(info.csrf_nonce or "", self.config.secret_keys),
            next=next_path,
            categories=self.runtime.category_rows(t, state),
            gpc=state.gpc,
            decided=state.decided,
            consent_id=state.consent_id,
            message=message,
            model=state.model,
            optout_keep=sorted(state.granted - self.runtime.gpc_refuses - self.runtime.required),
            id_suffix="",
            tcf=self.runtime.tcf_views.view(locale.tag) if self.runtime.tcf_views else None,
            tcf_css_url=self.runtime.asset_url("tcf.css", info.root_path),
            tcf_checked=self.runtime.tcf_views.stored(info.cookie_header)
            if self.runtime.tcf_views and state.decided
            else None,
        )
        response = HTMLResponse(html, headers={**_NO_STORE, "x-robots-tag": "noindex"})
        if info.new_csrf_cookie:
            response.raw_headers.append(
                (b"set-cookie", info.csrf_cookie_header(self.config).encode("latin-1"))
            )
        return response

    async def policy(self, request: Request, info: RequestInfo, state: ConsentState) -> Response:
        locale = self.runtime.locale_for(
            None, info.accept_language, request.query_params.get("lang")
        )
        html = self.runtime.policy_page(locale, info.root_path, secure=info.secure(self.config))
        return HTMLResponse(
            html, headers={"cache-control": "public, max-age=300", "vary": "Accept-Language"}
        )

    async def receipt(self, request: Request, info: RequestInfo, state: ConsentState) -> Response:
        payload = self.runtime.codec.decode(info.consent_cookie)
        if payload is None:
            return JSONResponse(
                {"error": "no consent cookie with this request"}, status_code=404, headers=_NO_STORE
            )
        try:
            store = await self.runtime.store()
            history = await store.receipts_for(payload.consent_id)
        except AuditUnavailable:
            return JSONResponse(
                {"error": "the receipt store is unavailable"}, status_code=503, headers=_NO_STORE
            )
        # Only the history up to the receipt this very cookie was issued with: a cookie planted
        # in someone else's browser never shows the decisions they made after it.
        ids = [r.receipt_id for r in history]
        receipts = history[: ids.index(payload.receipt_id) + 1] if payload.receipt_id in ids else []
        if not receipts:
            return JSONResponse(
                {"error": "no receipt stored for this consent id"},
                status_code=404,
                headers=_NO_STORE,
            )
        return JSONResponse(
            {"consent_id": payload.consent_id, "receipts": [r.to_json() for r in receipts]},
            headers=_NO_STORE,
        )

    async def token(self, request: Request, info: RequestInfo, state: ConsentState) -> Response:
        info.ensure_csrf_nonce(shared=False)
        response = JSONResponse(
            {"csrf_token": token_for(info.csrf_nonce or "", self.config.secret_keys)},
            headers=_NO_STORE,
        )
        if info.new_csrf_cookie:
            response.raw_headers.append(
                (b"set-cookie", info.csrf_cookie_header(self.config).encode("latin-1"))
            )
        return response

    async def csp_report(
        self, request: Request, info: RequestInfo, state: ConsentState
    ) -> Response:
        """Consent policy reports: counted, never stored as sent. Always 204, junk included,
        so a sender learns nothing from the answer; no cookie is set."""
        if request.method == "POST":
            declared = request.headers.get("content-length")
            if declared is None or (declared.isdigit() and int(declared) <= MAX_REPORT_BYTES):
                body = b""
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > MAX_REPORT_BYTES:
                        break  # read no further: parse_reports counts nothing of it
                self.runtime.csp_reports.receive(body)
        return Response(status_code=204, headers=_NO_STORE)

    async def visitor_state(
        self, request: Request, info: RequestInfo, state: ConsentState
    ) -> Response:
        """The verified state, for the banner script of a page every visitor shares (CDN)."""
        cookie = None
        # The GPP script asks too (?for=gpp) and at the same time: only the banner's records.
        asker = request.query_params.get("for")
        if self.runtime.regional is not None and request.method == "GET" and asker is None:
            from consent.optout import record_signal, signal_pending

            # A shared page sets no cookie: a GPC signal no receipt records yet is recorded here.
            if signal_pending(self.runtime, state):
                # The page the script runs on, as its fetch names it; the site's root otherwise.
                page = safe_next(urlsplit(request.headers.get("referer", "")).path or None)
                recorded = await record_signal(self.runtime, info, state, page)
                if recorded is not None:
                    state, cookie = recorded
        answer: dict[str, object] = {
            "decided": state.decided,
            "granted": sorted(state.granted),
            "consent_id": state.consent_id,
            "gpc": state.gpc,
        }
        if self.runtime.regional is not None:
            answer.update(regional_answer(self.runtime, state))
        response = JSONResponse(answer, headers={**_NO_STORE, "vary": "Cookie, Sec-GPC"})
        if cookie is not None:
            response.raw_headers.append((b"set-cookie", cookie))
        return response

    def static(self, request: Request, name: str) -> Response:
        asset = assets().get(name)
        if asset is None:
            return PlainTextResponse("Not found", status_code=404)
        headers = {
            "cache-control": "public, max-age=31536000, immutable",
            "etag": asset.etag,
            "vary": "Accept-Encoding",
            "x-content-type-options": "nosniff",
        }
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                asset.gzipped,
                media_type=asset.media_type,
                headers={**headers, "content-encoding": "gzip"},
            )
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    async def admin(self, request: Request, info: RequestInfo, state: ConsentState) -> Response:
        if not (self.config.admin_user and self.config.admin_password):
            return PlainTextResponse("Not found", status_code=404, headers=_NO_STORE)
        from consent.admin import admin_response

        return await admin_response(request, self.runtime)


async def continued_consent_id(store: AuditStore, previous: CookiePayload | None) -> str:
    """The consent id a decision is recorded under: the visitor's own, when their cookie is the
    one the latest receipt of that id issued; a fresh one otherwise.

    So a cookie planted in a victim's browser and kept by its planter stops at the victim's
    first decision: the planter's next decision starts a history of its own.
    """
    if previous is not None and previous.receipt_id is not None:
        history = await store.receipts_for(previous.consent_id)
        if history and history[-1].receipt_id == previous.receipt_id:
            return previous.consent_id
    return new_consent_id()


def new_consent_id() -> str:
    """128 random bits in base64url, never starting with ``-``: the id is what a reader quotes
    in an access request, and an operator pastes it into ``consent audit show``, whose
    argument parser would take a leading ``-`` for an option."""
    while True:
        candidate = secrets.token_urlsafe(16)
        if not candidate.startswith("-"):
            return candidate


def _refusal(status: int, reason: str, wants_json: bool) -> Response:
    if wants_json:
        return JSONResponse({"error": reason}, status_code=status, headers=_NO_STORE)
    return PlainTextResponse(reason, status_code=status, headers=_NO_STORE)


def _same_origin_proven(request: Request, info: RequestInfo) -> bool:
    # Without a token (shared-cache pages carry none) only a positive proof will do.
    if request.headers.get("sec-fetch-site") == "same-origin":
        return True
    return same_origin(request.headers.get("origin"), info.origin)
