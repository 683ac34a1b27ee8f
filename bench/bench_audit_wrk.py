"""Durable decisions per second over HTTP against a bare app answering the same form posts.

    python bench/bench_audit_wrk.py [--seconds S] [--connections N] [--workers N]
                                    [--postgres URL | --no-postgres]

``wrk`` (Debian's package) posts one decision form, with a CSRF cookie and token taken from a
page view, over N keep-alive connections to ``uvicorn --workers 4``: first to a bare Starlette
app that parses the form and answers JSON, then to the load test's site (tests/load) with the
receipt store on SQLite and on PostgreSQL. Every post without a consent cookie is a new
visitor's decision, written durably before its answer. Prints requests per second, the share
of the bare app's rate (target: at least 0.6) and checks that the store holds one receipt per
answered decision and still verifies.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_audit_http import drop_schema, postgres_reachable  # noqa: E402
from tests.load.test_audit_load import (  # noqa: E402
    APP_MODULE,
    Client,
    Site,
    Tally,
    inspect_store,
)

TARGET = 0.6

BARE_MODULE = textwrap.dedent(
    '''
    """The yardstick: the same form posts answered without the middleware or a store."""

    import os
    import secrets

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route


    async def decide(request):
        form = await request.form()
        return JSONResponse(
            {"receipt_id": secrets.token_hex(13), "action": form.get("action"), "ok": True}
        )


    async def pid(request):
        return PlainTextResponse(str(os.getpid()))


    app = Starlette(
        routes=[Route("/_consent/decision", decide, methods=["POST"]), Route("/pid", pid)]
    )
    '''
)

_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_TOTAL = re.compile(r"(\d+) requests in")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_ERRORS = re.compile(r"Socket errors:.*")


@dataclass
class Result:
    label: str
    rate: float
    answered: int
    non_2xx: int
    errors: str


def _script(tmp: Path, cookie: str, token: str) -> Path:
    body = urlencode(
        [
            ("action", "custom"),
            ("category", "analytics"),
            ("source", "script"),
            ("next", "/news/1"),
            ("csrf_token", token),
        ]
    )
    script = tmp / "decide.lua"
    script.write_text(
        textwrap.dedent(
            f"""
            wrk.method = "POST"
            wrk.body = "{body}"
            wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
            wrk.headers["Accept"] = "application/json"
            wrk.headers["Cookie"] = "consent_csrf={cookie}"
            """
        )
    )
    return script


def _wrk(label: str, port: int, script: Path, args: argparse.Namespace) -> Result:
    output = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.seconds}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/_consent/decision",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = _RATE.search(output)
    total = _TOTAL.search(output)
    non_2xx = _NON_2XX.search(output)
    errors = _ERRORS.search(output)
    assert rate is not None and total is not None, output
    bad = int(non_2xx.group(1)) if non_2xx else 0
    answered = int(total.group(1)) - bad
    return Result(label, float(rate.group(1)), answered, bad, errors.group(0) if errors else "")


async def _token(port: int) -> tuple[str, str]:
    client = Client(port, Tally(1))
    try:
        return await client._visit()
    finally:
        if client.writer is not None:
            client.writer.close()


def _run_site(
    label: str, url: str, tmp: Path, args: argparse.Namespace, module: str | None = None
) -> Result:
    site = Site(tmp, url, workers=args.workers, module=module or APP_MODULE)
    try:
        asyncio.run(site.wait_ready())
        cookie, token = ("bare", "bare") if module is not None else asyncio.run(_token(site.port))
        script = _script(tmp, cookie, token)
        return _wrk(label, site.port, script, args)
    finally:
        site.stop()


def _report(
    result: Result, bare: Result, stored: int | None, verified: bool | None, connections: int
) -> None:
    share = result.rate / bare.rate if bare.rate else 0.0
    # wrk stops counting with up to one post per connection still in flight: those were
    # stored too, their answers just arrived after the count.
    if stored is not None and not result.answered <= stored <= result.answered + connections:
        raise SystemExit(f"{result.label}: {stored} stored for {result.answered} answered")
    check = "" if stored is None else f"; {stored} stored ({result.answered} answered in time)"
    check += "" if verified is None else (", chain verifies" if verified else ", chain FAILED")
    verdict = ""
    if result is not bare:
        verdict = f", {share:.2f} of bare ({'meets' if share >= TARGET else 'below'} {TARGET})"
    print(
        f"{result.label:<12} {result.rate:>7,.0f} posts/s{verdict};"
        f" {result.non_2xx} non-2xx{check} {result.errors}".rstrip(),
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CONSENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    print(
        f"wrk: {args.connections} connections, {args.threads} threads, {args.seconds} s;"
        f" uvicorn --workers {args.workers}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        bare = _run_site("bare app", "sqlite:///unused.db", Path(tmp), args, BARE_MODULE)
    _report(bare, bare, None, None, args.connections)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'audit.db'}"
        result = _run_site("SQLite", url, Path(tmp), args)
        stored = asyncio.run(inspect_store(url))
        _report(result, bare, stored.count, stored.verified, args.connections)
    if args.no_postgres or not postgres_reachable(args.postgres):
        print("PostgreSQL   skipped (not requested or not reachable)")
        return 0
    schema = f"bench_wrk_{secrets.token_hex(4)}"
    separator = "&" if "?" in args.postgres else "?"
    url = f"{args.postgres}{separator}schema={schema}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = _run_site("PostgreSQL", url, Path(tmp), args)
        stored = asyncio.run(inspect_store(url))
        _report(result, bare, stored.count, stored.verified, args.connections)
    finally:
        drop_schema(args.postgres, schema)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
