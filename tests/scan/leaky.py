"""Sites for the scan's tests: each does one thing wrong that the middleware cannot see.

Every factory reads the directory for its receipts from CONSENT_SCAN_TEST_DIR, which the tests
point at their own temporary directory. Hosts are named in pieces joined at run time, so the
rewriter finds no URL and no loader it knows: exactly what a tag manager does.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from consent import ConsentConfig, ConsentMiddleware
from consent.names import (
    ACTION_ACCEPT_ALL,
    ACTION_CUSTOMIZE,
    ACTION_REJECT_ALL,
    ATTR_ACTION,
    ATTR_CATEGORY,
    ATTR_LAYER,
    EVENT_CHANGE,
    HELD_SCRIPT_TYPE,
    MARKETING,
)

ENV_DIR = "CONSENT_SCAN_TEST_DIR"
LEAKY_COOKIE = "leaky_visitor"  # set by the server, HttpOnly, declared nowhere
UNKNOWN_PIXEL_HOST = "px.leaky-ads.example"
KEPT_COOKIE = "_gid"  # analytics; set on a path the decision request never sends it for

# Google Analytics with every Consent Mode signal granted, and Meta's browser id, whatever
# the visitor chose.
RUNTIME_TAGS = """
<script>
(function () {
  var host = ["www", "google-analytics", "com"].join(".");
  var hit = new Image();
  hit.src = "https://" + host + "/g/collect?v=2&tid=G-LEAK&gcs=G111&gcd=13t3t3t3t5";
  document.cookie = "_f" + "bp=fb.1.1700000000.42; path=/; max-age=7776000";
  localStorage.setItem("_g" + "a", "GA1.1.42");
  if (navigator.globalPrivacyControl === true) sessionStorage.setItem("gpc_seen", "1");
})();
</script>"""

# A pixel to a host nobody classified, sent on every decision, refusals included.
PIXEL_ON_DECISION = f"""
<script>
document.addEventListener("{EVENT_CHANGE}", function () {{
  var pixel = new Image();
  pixel.src = "https://" + ["px", "leaky-ads", "example"].join(".") + "/p.gif?e=decision";
}});
</script>"""

# The site's own analytics snippet, marked for consent as the docs say, but its cookie goes to
# a path of its own: the decision request to the middleware never carries it, so a withdrawal
# cannot expire it.
KEPT_AFTER_WITHDRAWAL = f"""
<script type="{HELD_SCRIPT_TYPE}" {ATTR_CATEGORY}="analytics">
document.cookie = "{KEPT_COOKIE}=GA1.1.7; path=/more; max-age=86400";
</script>"""

# A banner made to favour Accept all, and a site script that ticks marketing for the visitor
# as soon as the second layer opens.
FAVOUR_ACCEPT = f"""
<style>
[{ATTR_LAYER}='1'] [{ATTR_ACTION}='{ACTION_ACCEPT_ALL}'] {{
  font-size: 22px !important; font-weight: 800 !important; background: #0a7d22 !important;
}}
</style>
<script>
document.addEventListener("click", function (event) {{
  if (event.target.closest("[{ATTR_ACTION}='{ACTION_CUSTOMIZE}']")) {{
    setTimeout(function () {{
      var box = document.querySelector("[{ATTR_LAYER}='2'] input[value='{MARKETING}']");
      if (box) box.checked = true;
    }}, 0);
  }}
}});
</script>"""

HIDE_REJECT = f"""
<style>[{ATTR_LAYER}='1'] [{ATTR_ACTION}='{ACTION_REJECT_ALL}'] {{ display: none !important; }}</style>"""

PLAIN_TAG = '<script async src="https://www.googletagmanager.com/gtag/js?id=G-PLAIN"></script>'


def _page(title: str, extra: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>An article.</p><p><a href="/more">More</a> <a href="/">Home</a></p>
{extra}
</body></html>"""


def _site(extra: str, *, set_cookie: bool = False) -> Starlette:
    async def page(request: Request) -> Response:
        response = HTMLResponse(_page("Leaky news", extra))
        if set_cookie:
            response.set_cookie(LEAKY_COOKIE, "v1", max_age=3600, httponly=True)
        return response

    return Starlette(routes=[Route("/", page), Route("/more", page)])


def _wrapped(app: ASGIApp) -> ASGIApp:
    directory = Path(os.environ.get(ENV_DIR) or ".")
    config = ConsentConfig(
        secret_key="scan-test-secret-key-0123456789abcdef",
        audit_url=f"sqlite:///{directory / 'scan-audit.db'}",
        audit_key="scan-test-audit-key-0123456789",
        policy_version="2026-11",
        # The services its tags belong to, declared, so that only the undeclared cookie
        # the site sets by itself is missing from the cookie policy.
        services=[{"id": "google-analytics"}, {"id": "meta-pixel"}],
    )
    return ConsentMiddleware(app, config=config)


def leaky_app() -> ASGIApp:
    return _wrapped(
        _site(RUNTIME_TAGS + PIXEL_ON_DECISION + KEPT_AFTER_WITHDRAWAL, set_cookie=True)
    )


def dark_banner_app() -> ASGIApp:
    return _wrapped(_site(FAVOUR_ACCEPT))


def hidden_reject_app() -> ASGIApp:
    return _wrapped(_site(HIDE_REJECT))


def bare_app() -> ASGIApp:
    """A site with no consent tool at all."""
    return _site(PLAIN_TAG)
