"""Real third-party applications wrapped exactly as the README says, used as a visitor would.

Each application keeps its own cookies, forms and machine-readable answers: the middleware may
add a banner to its HTML pages and hold back trackers, and must change nothing else.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from sqlalchemy import Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from consent import ConsentConfig, ConsentMiddleware
from tests.browser.conftest import LiveServer
from tests.conftest import SECRET
from tests.workers import free_port

pytestmark = pytest.mark.browser

AUDIT_KEY = "real-apps-audit-key-0123456789abcdef"


def _config(tmp: Path, **overrides: Any) -> ConsentConfig:
    values: dict[str, Any] = {
        "secret_key": SECRET,
        "audit_url": f"sqlite:///{tmp / 'audit.db'}",
        "audit_key": AUDIT_KEY,
        "policy_version": "2026-11",
    }
    values.update(overrides)
    return ConsentConfig(**values)


def _receipts(tmp: Path) -> int:
    """Receipts in the store; the store creates its tables at the first decision."""
    with sqlite3.connect(tmp / "audit.db") as db:
        if not db.execute("select 1 from sqlite_master where name = 'receipts'").fetchone():
            return 0
        return int(db.execute("select count(*) from receipts").fetchone()[0])


def _context(browser: Any, own: str, **options: Any) -> tuple[Any, list[str]]:
    """A browser context that answers only the site itself and records every other request."""
    context = browser.new_context(**options)
    elsewhere: list[str] = []

    def route(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == own or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    context.route("**/*", route)
    return context, elsewhere


def _cookie_names(context: Any) -> set[str]:
    return {cookie["name"] for cookie in context.cookies()}


# --- Django admin -----------------------------------------------------------------------------

DJANGO_SETTINGS = """
from pathlib import Path
HERE = Path(__file__).parent
SECRET_KEY = "django-real-app-test-key-0123456789abcdef"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "site_urls"
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": HERE / "django.db"}}
STATIC_URL = "static/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

DJANGO_URLS = """
from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import path
urlpatterns = [path("admin/", admin.site.urls), *staticfiles_urlpatterns()]
"""

# The README's Django integration, plus the framework cookies declared as the configuration
# page says to before `undeclared_cookies = "block"`.
DJANGO_ASGI = """
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application
from consent import ConsentConfig, ConsentMiddleware

# The admin's own CSS and JavaScript, served by Django as a small site without a proxy would.
application = ConsentMiddleware(ASGIStaticFilesHandler(get_asgi_application()), config=ConsentConfig(
    audit_url=os.environ["TEST_AUDIT_URL"],
    audit_key=os.environ["TEST_AUDIT_KEY"],
    undeclared_cookies="block",
    cookie_categories={"csrftoken": "necessary", "sessionid": "necessary", "messages": "necessary"},
))
"""


@pytest.fixture(scope="module")
def django_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Django's admin behind the middleware, in its own uvicorn process (Django's settings are
    process-wide, and another test configures them differently)."""
    home = tmp_path_factory.mktemp("django")
    (home / "site_settings.py").write_text(textwrap.dedent(DJANGO_SETTINGS))
    (home / "site_urls.py").write_text(textwrap.dedent(DJANGO_URLS))
    (home / "site_asgi.py").write_text(textwrap.dedent(DJANGO_ASGI))
    env = {
        **os.environ,
        "PYTHONPATH": str(home),
        "DJANGO_SETTINGS_MODULE": "site_settings",
        "CONSENT_SECRET_KEY": SECRET,
        "TEST_AUDIT_URL": f"sqlite:///{home / 'audit.db'}",
        "TEST_AUDIT_KEY": AUDIT_KEY,
        "DJANGO_SUPERUSER_PASSWORD": "correct-horse-battery",
    }
    manage = [sys.executable, "-m", "django"]
    subprocess.run(
        [*manage, "migrate", "--noinput"], env=env, cwd=home, check=True, capture_output=True
    )
    subprocess.run(
        [
            *manage,
            "createsuperuser",
            "--noinput",
            "--username",
            "editor",
            "--email",
            "e@example.org",
        ],
        env=env,
        cwd=home,
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "site_asgi:application",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=home,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/admin/login/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the Django site did not start") from None
                time.sleep(0.1)
        yield url, home
    finally:
        server.terminate()
        server.wait(timeout=10)


def _save(page: Any) -> None:
    """Save a Django admin form from the keyboard: the focused button must not sit under the
    banner (WCAG 2.4.11), which the banner's scroll padding ensures."""
    button = page.locator("input[name=_save]")
    button.focus()
    assert page.evaluate(
        """(el) => { const r = el.getBoundingClientRect();
                     return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === el; }""",
        button.element_handle(),
    ), "the focused Save button is hidden behind the banner"
    page.keyboard.press("Enter")


def _django_login_and_edit(page: Any, url: str, group: str) -> None:
    page.goto(url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "editor")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.wait_for_url(url + "/admin/")
    assert page.locator("#user-tools").count() == 1, "the login did not hold"
    page.goto(url + "/admin/auth/group/add/")
    page.fill("#id_name", group)
    _save(page)
    page.wait_for_url(re.compile(r".*/admin/auth/group/$"))
    page.locator("#result_list").get_by_role("link", name=group).click()
    # A click does not wait for the page it opens as goto does: the banner's deferred script,
    # which pads the page, must have run before the keyboard reaches the button.
    page.wait_for_url(re.compile(r".*/admin/auth/group/\d+/change/$"))
    page.wait_for_load_state("load")
    page.fill("#id_name", group + " (renamed)")
    _save(page)
    page.wait_for_url(re.compile(r".*/admin/auth/group/$"))
    assert page.locator("#result_list").get_by_role("link", name=group + " (renamed)").count() == 1


def test_django_admin_works_for_an_undecided_visitor(
    browser: Any, django_site: tuple[str, Path]
) -> None:
    url, _ = django_site
    context, elsewhere = _context(browser, urlsplit(url).netloc)
    page = context.new_page()
    try:
        _django_login_and_edit(page, url, "Night desk")
        assert {"csrftoken", "sessionid"} <= _cookie_names(context)
        # The banner is there, unanswered: nothing was decided for the visitor.
        assert page.locator("[data-consent-banner]").count() == 1
        assert "consent" not in _cookie_names(context)
        assert elsewhere == []
    finally:
        context.close()


def test_django_admin_works_after_reject_all(browser: Any, django_site: tuple[str, Path]) -> None:
    url, home = django_site
    context, elsewhere = _context(browser, urlsplit(url).netloc)
    page = context.new_page()
    try:
        before = _receipts(home)
        page.goto(url + "/admin/login/")
        page.click("[data-consent-banner] [data-consent-action=reject_all]")
        page.wait_for_function("document.querySelector('[data-consent-banner]').hidden")
        assert _receipts(home) == before + 1
        _django_login_and_edit(page, url, "Sports desk")
        names = _cookie_names(context)
        assert {"csrftoken", "sessionid"} <= names
        assert elsewhere == []
    finally:
        context.close()


# --- FastAPI /docs ----------------------------------------------------------------------------


def _fastapi_app() -> Any:
    from fastapi import FastAPI

    api = FastAPI(title="Newsroom API")

    @api.get("/articles/{slug}")
    async def article(slug: str) -> dict[str, str]:
        return {"slug": slug}

    return api


def test_fastapi_openapi_json_is_byte_identical(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    bare = TestClient(_fastapi_app()).get("/openapi.json")
    wrapped_app = _fastapi_app()
    wrapped_app.add_middleware(ConsentMiddleware, config=_config(tmp_path))
    wrapped = TestClient(wrapped_app).get("/openapi.json")
    assert wrapped.status_code == bare.status_code == 200
    assert wrapped.content == bare.content
    assert wrapped.headers["content-type"] == bare.headers["content-type"]


def test_fastapi_docs_load_their_cdn_assets_before_any_decision(
    browser: Any, tmp_path: Path
) -> None:
    api = _fastapi_app()
    api.add_middleware(ConsentMiddleware, config=_config(tmp_path))
    with LiveServer(api) as server:
        context = browser.new_context()
        asked: list[str] = []

        # A stand-in for Swagger UI's bundle: enough of its interface for the page's own script.
        bundle = (
            "window.SwaggerUIBundle = function () { return {}; };"
            "SwaggerUIBundle.presets = { apis: {} }; SwaggerUIBundle.SwaggerUIStandalonePreset = {};"
        )

        def cdn(route: Any) -> None:
            url = route.request.url
            asked.append(url)
            if url.endswith(".js"):
                route.fulfill(status=200, body=bundle, content_type="text/javascript")
            elif url.endswith(".css"):
                route.fulfill(status=200, body="", content_type="text/css")
            else:
                route.fulfill(status=204)

        context.route(re.compile(r"https://(cdn\.jsdelivr\.net|fastapi\.tiangolo\.com)/.*"), cdn)
        page = context.new_page()
        try:
            page.goto(server.url + "/docs")
            html = page.content()
            page.wait_for_timeout(200)
            assert page.locator("[data-consent-banner]").count() == 1
            assert any(u.endswith("swagger-ui-bundle.js") for u in asked), asked
            assert any(u.endswith("swagger-ui.css") for u in asked), asked
            assert "data-consent-src" not in html
        finally:
            context.close()


# --- Datasette --------------------------------------------------------------------------------


@pytest.fixture
def datasette_db(tmp_path: Path) -> Path:
    path = tmp_path / "newsroom.db"
    with sqlite3.connect(path) as db:
        db.execute("create table articles (id integer primary key, title text, section text)")
        db.executemany(
            "insert into articles (title, section) values (?, ?)",
            [
                ("Harbour ferry returns", "local"),
                ("Council budget vote", "politics"),
                ("Cup final", "sport"),
            ],
        )
    return path


def _datasette(db: Path) -> Any:
    from datasette.app import Datasette

    canned = {
        "add_article": {
            "sql": "insert into articles (title, section) values (:title, :section)",
            "write": True,
        }
    }
    return Datasette([str(db)], metadata={"databases": {"newsroom": {"queries": canned}}}).app()


class _Recorder:
    """Sits between the middleware and the app and keeps the body bytes the app sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: dict[str, bytes] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = scope["path"] + "?" + scope.get("query_string", b"").decode()
        self.bodies[key] = b""

        async def record(message: Any) -> None:
            if message["type"] == "http.response.body":
                self.bodies[key] += message.get("body", b"")
            await send(message)

        await self.app(scope, receive, record)


@pytest.mark.parametrize(
    "path",
    ["/newsroom/articles.json", "/newsroom/articles.csv", "/newsroom/articles.json?_shape=array"],
)
def test_datasette_machine_readable_answers_are_byte_identical(
    tmp_path: Path, datasette_db: Path, path: str
) -> None:
    recorder = _Recorder(_datasette(datasette_db))
    with LiveServer(ConsentMiddleware(recorder, config=_config(tmp_path))) as server:
        wrapped = httpx.get(server.url + path)
    assert wrapped.status_code == 200
    sent = recorder.bodies[path if "?" in path else path + "?"]
    assert sent, "the app sent a body"
    assert wrapped.content == sent


def test_datasette_table_and_query_pages_work_with_the_banner(
    browser: Any, tmp_path: Path, datasette_db: Path
) -> None:
    app = ConsentMiddleware(_datasette(datasette_db), config=_config(tmp_path))
    with LiveServer(app) as server:
        context, elsewhere = _context(browser, urlsplit(server.url).netloc)
        page = context.new_page()
        try:
            page.goto(server.url + "/newsroom/articles")
            assert page.locator("table.rows-and-columns tbody tr").count() == 3
            assert page.locator("[data-consent-banner]").count() == 1
            page.click("[data-consent-banner] [data-consent-action=reject_all]")
            page.wait_for_function("document.querySelector('[data-consent-banner]').hidden")
            assert _receipts(tmp_path) == 1
            # A canned write query: Datasette's own form, with its own CSRF cookie and token.
            page.goto(server.url + "/newsroom/add_article")
            assert "ds_csrftoken" in _cookie_names(context)
            page.fill("input[name=title]", "Lifeboat crew honoured")
            page.fill("input[name=section]", "local")
            page.click("form.sql input[type=submit], form.sql button[type=submit]")
            page.wait_for_load_state()
            page.goto(server.url + "/newsroom/articles")
            assert page.get_by_text("Lifeboat crew honoured").count() == 1
            assert elsewhere == []
        finally:
            context.close()


# --- sqladmin (an admin UI built on Starlette) ------------------------------------------------


class _Base(DeclarativeBase):
    pass


class Section(_Base):
    __tablename__ = "sections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))


def _sqladmin_app(db: Path) -> Any:
    from sqladmin import Admin, ModelView
    from starlette.applications import Starlette

    class SectionAdmin(ModelView, model=Section):
        column_list: ClassVar[list[Any]] = [Section.id, Section.name]

    engine = create_engine(f"sqlite:///{db}")
    _Base.metadata.create_all(engine)
    app = Starlette()
    admin = Admin(app, engine)
    admin.add_view(SectionAdmin)
    return app


def test_sqladmin_create_and_list_after_reject_all(browser: Any, tmp_path: Path) -> None:
    app = ConsentMiddleware(_sqladmin_app(tmp_path / "admin.db"), config=_config(tmp_path))
    with LiveServer(app) as server:
        context, _ = _context(browser, urlsplit(server.url).netloc)
        page = context.new_page()
        try:
            page.goto(server.url + "/admin/section/list")
            page.click("[data-consent-banner] [data-consent-action=reject_all]")
            page.wait_for_function("document.querySelector('[data-consent-banner]').hidden")
            page.goto(server.url + "/admin/section/create")
            page.fill("input[name=name]", "Obituaries")
            page.click("input[type=submit][value=Save]")
            page.wait_for_url(re.compile(r".*/admin/section/list.*"))
            assert page.get_by_text("Obituaries").count() >= 1
        finally:
            context.close()
