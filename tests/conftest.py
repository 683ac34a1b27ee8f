"""Fixtures shared by the suite: configurations, wrapped test apps and clients."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware, rewriter
from tests import workers
from tests.reference import NodeReference

# Speed is measured in bench/, not asserted in tests: a deadline only makes a loaded machine
# fail correct code.
settings.register_profile("consent", deadline=None, print_blob=True)
settings.load_profile("consent")

SECRET = "test-secret-key-0123456789abcdef"

_WORKER_DATABASE = pytest.StashKey[tuple[str, str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker gets a PostgreSQL database of its own, made empty at the
    start of its run and dropped at the end; the tests find it in the usual variable."""
    if not workers.worker_name():
        return
    shared = os.environ.get(workers.POSTGRES_URL_VARIABLE, workers.DEFAULT_POSTGRES_URL)
    mine = workers.create_worker_database(shared)
    if mine is not None:
        os.environ[workers.POSTGRES_URL_VARIABLE] = mine
        config.stash[_WORKER_DATABASE] = (shared, mine)


# At the end of the session, not in pytest_unconfigure: a worker's process may be ended as soon
# as it has reported its session finished. Last, after the session's fixtures are torn down.
@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _WORKER_DATABASE in config.stash:
        shared, mine = config.stash[_WORKER_DATABASE]
        os.environ[workers.POSTGRES_URL_VARIABLE] = shared
        workers.drop_worker_database(shared, mine)
        del config.stash[_WORKER_DATABASE]


PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Test page</title></head>
<body><h1>Headline</h1><p>Article text.</p>
<script src="https://www.google-analytics.com/analytics.js"></script>
<script src="/static/first-party.js"></script>
</body></html>"""


@pytest.fixture
def audit_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'audit.db'}"


@pytest.fixture
def make_config(audit_url: str) -> Callable[..., ConsentConfig]:
    def build(**overrides: Any) -> ConsentConfig:
        values: dict[str, Any] = {
            "secret_key": SECRET,
            "audit_url": audit_url,
            "audit_key": "audit-key-for-tests-0123456789",
            "cookie_categories": {"site_lang": "preferences", "visit_id": "analytics"},
        }
        values.update(overrides)
        return ConsentConfig(**values)

    return build


def page_app() -> Starlette:
    async def page(request: Request) -> Response:
        state = request.scope["consent"]
        response = HTMLResponse(PAGE)
        response.set_cookie("site_lang", "en", max_age=3600)
        response.set_cookie("visit_id", "v1", max_age=3600)
        response.set_cookie("session", "s1")
        response.headers["x-consent-decided"] = str(state.decided)
        return response

    async def state(request: Request) -> Response:
        consent = request.scope["consent"]
        return JSONResponse(
            {
                "decided": consent.decided,
                "granted": sorted(consent.granted),
                "consent_id": consent.consent_id,
                "analytics": consent.allows("analytics"),
            }
        )

    return Starlette(routes=[Route("/", page), Route("/news/{slug}", page), Route("/state", state)])


@pytest.fixture
def client(make_config: Callable[..., ConsentConfig]) -> Iterator[TestClient]:
    app = ConsentMiddleware(page_app(), config=make_config())
    with TestClient(app) as test_client:
        yield test_client


def csrf_token(client: TestClient, path: str = "/") -> str:
    """The token from a page's banner (and the visitor's CSRF cookie is kept by the client)."""
    import re

    html = client.get(path).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the banner form must carry a CSRF token"
    return match.group(1)


def http_scope(
    path: str = "/", *, host: str = "testserver", headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    """An ASGI HTTP scope for driving an app directly, without a test client."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host.encode()), *(headers or [])],
        "client": ("127.0.0.1", 1),
        "server": (host, 80),
    }


def require(kind: str) -> bool:
    """True when CI demands this kind of test to run (and so to fail, not skip)."""
    return os.environ.get(f"CONSENT_REQUIRE_{kind.upper()}") == "1"


_HELD_MARKER = re.compile(rb"&#34;held&#34;:&#34;([A-Za-z0-9_-]+)&#34;")


def without_held_marker(body: bytes) -> bytes:
    """The body with its per-response held-back marker (named in the banner) made constant."""
    found = _HELD_MARKER.search(body)
    return body.replace(found.group(1), b"held-marker") if found else body


@pytest.fixture(scope="session")
def tcf_reference() -> Iterator[NodeReference]:
    """IAB's TCF library in a node process, for the whole run."""
    process = NodeReference("tcf.cjs")
    yield process
    process.close()


@pytest.fixture(scope="session")
def gpp_reference() -> Iterator[NodeReference]:
    """IAB's GPP library in a node process, for the whole run."""
    process = NodeReference("gpp.cjs")
    yield process
    process.close()


ROOT = Path(__file__).resolve().parent.parent


def speedups_compiled(folder: Path, *flags: str) -> Path:
    """The extension compiled anew from its source into folder, as the build hook compiles it
    but with warnings as errors and flags on top; a skip without a compiler, a failure where CI
    demands the extension."""
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None and not require("speedups"):
        pytest.skip("no C compiler here")
    sys.path.insert(0, str(ROOT))
    try:
        import hatch_build
    finally:
        sys.path.remove(str(ROOT))
    target = folder / ("_speedups" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    command = [*hatch_build._link_command(), *hatch_build.FLAGS, "-Werror", *flags]
    command += [f"-I{sysconfig.get_paths()['include']}", str(ROOT / hatch_build.SOURCE)]
    done = subprocess.run(
        [*command, "-o", str(target)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return target


def speedups_variant(folder: Path, *flags: str) -> ModuleType:
    """The extension compiled with flags (``-DCONSENT_NO_SIMD``: the portable search for '<'),
    loaded beside the installed one."""
    spec = importlib.util.spec_from_file_location(
        "consent._speedups", speedups_compiled(folder, *flags)
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def speedups() -> ModuleType:
    """The rewriter's compiled extension; a skip without it, a failure where CI demands it
    (``CONSENT_REQUIRE_SPEEDUPS=1``: a build that lost its extension must not pass)."""
    try:
        from consent import _speedups
    except ImportError as exc:
        message = f"the compiled rewriter scan is not built ({exc})"
        if require("speedups"):
            pytest.fail(message)
        pytest.skip(message)
    return _speedups


@pytest.fixture(scope="module", params=["as built", "CONSENT_NO_SIMD"])
def each_sp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The installed extension, then one compiled with the portable search for '<' (memchr)
    instead of the blocks of 32 bytes that SSE2 compares at once."""
    if request.param == "as built":
        return speedups()
    return speedups_variant(tmp_path_factory.mktemp("no-simd"), "-DCONSENT_NO_SIMD")


@pytest.fixture(scope="module", params=["python", "compiled"])
def rewriter_implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a module's tests with the pure-Python rewriter, then with the compiled scan."""
    compiled = speedups().scan if request.param == "compiled" else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rewriter, "_fast_scan", compiled)
        yield request.param


def realpages_folder() -> Path:
    """The shared real pages' folder; a skip without them, a failure in CI, which has them."""
    from tests.realpages import harness

    folder = harness.realpages_dir()
    if not (folder / "manifest.json").is_file():
        message = f"the shared real pages are missing ({folder}); set CONSENT_REALPAGES"
        if os.environ.get("CONSENT_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return folder
