"""The Meridian Courier: a small news site, bare or wrapped in the consent middleware.

The bare site carries what real news pages carry (its own audience measurement, a Google tag,
a Meta pixel, video embeds, a preferences cookie), pasted the way vendors tell sites to paste
them. Wrapping it with ``ConsentMiddleware`` shows what consent changes, page by page.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from . import i18n
from .articles import ArticleIndex, load_articles
from .i18n import LANGS, SECTIONS, Lang
from .pageviews import PageView, PageViewStore

if TYPE_CHECKING:
    from consent import ConsentConfig

HERE = Path(__file__).parent

LANG_COOKIE = "news_lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 60 * 60
UID_COOKIE = "news_uid"  # set in the browser by static/analytics.js
UID_COOKIE_DAYS = 395
MAX_BEACON_BYTES = 4096
POLICY_VERSION = "2026-11"

# The purpose the app itself checks before storing a page view; the bare app has no consent
# state in its scope and stores everything, like a site that never heard of consent.
ANALYTICS = "analytics"


def create_bare_app(*, data_dir: Path | None = None) -> Starlette:
    """The news site without the middleware. Page views go to ``data_dir`` or to memory."""
    site = _Site(load_articles(), PageViewStore(data_dir))
    routes: list[Route | Mount] = []
    for lang in LANGS:
        prefix = "" if lang == i18n.DEFAULT_LANG else f"/{lang}"
        routes += [
            Route(f"{prefix}/", site.front, name=f"front_{lang}"),
            Route(f"{prefix}/section/{{name}}", site.section, name=f"section_{lang}"),
            Route(f"{prefix}/news/{{slug}}", site.article, name=f"article_{lang}"),
            Route(f"{prefix}/stats", site.stats, name=f"stats_{lang}"),
            Route(f"{prefix}/about-consent", site.about, name=f"about_{lang}"),
        ]
    routes += [
        Route("/lang/{code}", site.switch_language),
        Route("/collect", site.collect, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: site.not_found})
    app.state.pageviews = site.pageviews
    app.state.articles = site.articles
    return app


def create_app(*, config: ConsentConfig | None = None, data_dir: Path | None = None) -> ASGIApp:
    """The news site wrapped exactly as the README tells users to wrap theirs."""
    from consent import ConsentConfig, ConsentMiddleware

    if config is None:
        # Without a directory the receipts go to a throw-away one: the demo must not litter
        # the working directory, and the contract knows no in-memory audit store.
        audit_dir = data_dir if data_dir is not None else Path(tempfile.mkdtemp("-news-demo"))
        audit_dir.mkdir(parents=True, exist_ok=True)
        config = ConsentConfig(
            dev_mode=True,
            audit_url=f"sqlite:///{audit_dir}/consent-audit.db",
            audit_key=_demo_audit_key(audit_dir),
            policy_version=POLICY_VERSION,
            # The site's own cookies: the middleware strips news_lang from responses when
            # preferences are refused, and lists both in the cookie policy.
            cookie_categories={LANG_COOKIE: "preferences", UID_COOKIE: ANALYTICS},
            # The third parties the articles load, declared as an operator would: the banner
            # names their vendors and the cookie policy lists their cookies.
            services=[
                {"id": "google-analytics"},
                {"id": "meta-pixel"},
                {"id": "youtube-nocookie"},
            ],
            cookie_details={
                LANG_COOKIE: {
                    "lifetime_days": LANG_COOKIE_MAX_AGE // 86400,
                    "purpose": "Remembers the language you chose with the language switch.",
                },
                UID_COOKIE: {
                    "lifetime_days": UID_COOKIE_DAYS,
                    "purpose": "Tells returning browsers apart in the site's own audience"
                    " measurement; set by /static/analytics.js.",
                },
            },
        )
    return ConsentMiddleware(create_bare_app(data_dir=data_dir), config=config)


def _demo_audit_key(directory: Path) -> str:
    """The demo's receipts stay verifiable across restarts with a key kept beside them:
    `consent audit verify --db sqlite:///var/consent-audit.db --key-file var/audit.key`."""
    path = directory / "audit.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


class _Site:
    """The endpoints, sharing the articles, the page-view store and the templates."""

    def __init__(self, articles: ArticleIndex, pageviews: PageViewStore) -> None:
        self.articles = articles
        self.pageviews = pageviews
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        # Structured data stays readable in the page source, still escaped for <script>.
        self.templates.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}
        self.templates.globals.update(
            localize=i18n.localize, format_date=i18n.format_date, sections=SECTIONS
        )

    async def front(self, request: Request) -> Response:
        lang = _lang_of(request)
        return self._page(request, "front.html", lang, "/", articles=list(self.articles))

    async def section(self, request: Request) -> Response:
        lang = _lang_of(request)
        name = request.path_params["name"]
        if name not in SECTIONS:
            raise HTTPException(404)
        return self._page(
            request,
            "section.html",
            lang,
            f"/section/{name}",
            section=name,
            articles=self.articles.in_section(name),
        )

    async def article(self, request: Request) -> Response:
        lang = _lang_of(request)
        slug = request.path_params["slug"]
        article = self.articles.get(slug)
        if article is None:
            raise HTTPException(404)
        others = [other for other in self.articles if other.slug != slug]
        return self._page(
            request,
            "article.html",
            lang,
            f"/news/{slug}",
            article=article,
            edition=article.in_lang(lang),
            related=others[:6],
            most_read=others[::-1][:5],
        )

    async def stats(self, request: Request) -> Response:
        lang = _lang_of(request)
        response = self._page(
            request,
            "stats.html",
            lang,
            "/stats",
            views=self.pageviews.latest(20),
            total=self.pageviews.count(),
            visitors=self.pageviews.distinct_visitors(),
            cookie_names=sorted(request.cookies),
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def about(self, request: Request) -> Response:
        lang = _lang_of(request)
        return self._page(request, "about.html", lang, "/about-consent")

    async def switch_language(self, request: Request) -> Response:
        """Remember the chosen language (a preferences cookie) and go to that version."""
        code = request.path_params["code"]
        if not i18n.is_lang(code):
            raise HTTPException(404)
        target = request.query_params.get("next", "")
        if not _is_local_path(target):
            target = i18n.localize(code, "/")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            LANG_COOKIE,
            code,
            max_age=LANG_COOKIE_MAX_AGE,
            path="/",
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def collect(self, request: Request) -> Response:
        """Store one page view posted by ``analytics.js`` (a beacon: the answer is not read)."""
        state = request.scope.get("consent")
        if state is not None and not state.allows(ANALYTICS):
            return PlainTextResponse("No consent for audience measurement.", status_code=403)
        body = await request.body()
        if len(body) > MAX_BEACON_BYTES:
            return PlainTextResponse("Page view too large.", status_code=413)
        view = _parse_view(body)
        if view is None:
            return PlainTextResponse("Malformed page view.", status_code=400)
        self.pageviews.add(view)
        return Response(status_code=204)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        lang = _lang_of(request)
        response = self._page(request, "not_found.html", lang, None)
        response.status_code = 404
        return response

    def _page(
        self, request: Request, template: str, lang: Lang, path: str | None, **context: Any
    ) -> HTMLResponse:
        """Render a page; ``path`` is its language-neutral address (None: no counterpart)."""
        other = i18n.other(lang)
        counterpart = i18n.localize(other, path or "/")
        html = self.templates.get_template(template).render(
            lang=lang,
            other_lang=other,
            t=i18n.TEXTS[lang],
            other_t=i18n.TEXTS[other],
            path=path,
            current_url=request.url.path,
            counterpart=counterpart,
            switch_href=f"/lang/{other}?next={quote(counterpart, safe='/')}",
            offer=_offer_switch(request, lang),
            **context,
        )
        # The language offer depends on both headers: a shared cache must keep them apart.
        return HTMLResponse(html, headers={"Vary": "Accept-Language, Cookie"})


def _lang_of(request: Request) -> Lang:
    path = request.url.path
    for lang in LANGS:
        if lang != i18n.DEFAULT_LANG and (path == f"/{lang}" or path.startswith(f"/{lang}/")):
            return lang
    return i18n.DEFAULT_LANG


def _offer_switch(request: Request, lang: Lang) -> bool:
    """Whether to suggest the other language: the visitor's choice first, then the browser's."""
    if request.query_params.get("stay"):
        return False
    chosen = request.cookies.get(LANG_COOKIE)
    if i18n.is_lang(chosen):
        return chosen != lang
    preferred = i18n.preferred_lang(request.headers.get("accept-language", ""))
    return preferred is not None and preferred != lang


def _is_local_path(target: str) -> bool:
    # Browsers drop tabs and newlines from URLs and read a backslash as a slash, so any of
    # them could turn "/x" into "//elsewhere".
    return (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(char < " " or char == "\x7f" for char in target)
    )


def _parse_view(body: bytes) -> PageView | None:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    path = data.get("path")
    if not isinstance(path, str) or not _is_local_path(path):
        return None
    fields = {key: data.get(key, "") for key in ("referrer", "lang", "ts", "uid")}
    if not all(isinstance(value, str) for value in fields.values()):
        return None
    return PageView(
        path=path,
        referrer=fields["referrer"],
        lang=fields["lang"],
        client_time=fields["ts"],
        uid=fields["uid"],
    )
