"""``consent scan``: the command line of the scan (argparse), its progress and its exit status."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from consent.config import ConsentConfig
from consent.names import ENV_CONFIG

EXIT_CLEAN = 0
EXIT_VIOLATIONS = 1
EXIT_SETUP = 2

DESCRIPTION = """\
Visit a site in headless Chromium as an undecided visitor, after Reject all, after Accept all
and a withdrawal, with each purpose alone, and with Global Privacy Control; record every
request, cookie and storage key, and fail on anything that runs ahead of consent.
The operator's declarations are read from the app, or from the TOML file of the global
--config option (consent --config consent.toml scan URL).
Exit status: 0 clean, 1 violations, 2 the scan could not run."""


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scan = subparsers.add_parser(
        "scan",
        help="audit a site in Chromium in every consent state; exit 1 on a violation",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan.add_argument(
        "target", help="an ASGI app as module:attribute (served on 127.0.0.1), or an http(s) URL"
    )
    scan.add_argument(
        "--factory", action="store_true", help="the attribute is a factory: call it for the app"
    )
    scan.add_argument(
        "--path",
        dest="paths",
        action="append",
        metavar="PATH",
        help="a page to visit (repeat; default: the URL's path, or /)",
    )
    scan.add_argument(
        "--depth",
        type=int,
        default=0,
        help="also follow the site's own links this many clicks away (default 0)",
    )
    scan.add_argument(
        "--max-pages", type=int, default=20, help="visit at most this many pages (default 20)"
    )
    scan.add_argument(
        "--states",
        help="comma-separated states besides undecided, which always runs: rejected, accepted, "
        "only-<category>, gpc (default: all)",
    )
    scan.add_argument(
        "--offline",
        action="store_true",
        help="answer every other origin locally with an empty response: nothing leaves the machine",
    )
    scan.add_argument(
        "--header",
        dest="headers",
        action="append",
        metavar="NAME:VALUE",
        help="send this header with every request (repeat), e.g. a location header",
    )
    scan.add_argument("--chromium", metavar="PATH", help="the Chromium to run (default: found)")
    scan.add_argument("--jobs", type=int, default=2, help="states visited at once (default 2)")
    scan.add_argument(
        "--timeout", type=float, default=20.0, help="seconds for a page or a click (default 20)"
    )
    scan.add_argument("--json", metavar="FILE", help="write the JSON report here")
    scan.add_argument("--html", metavar="FILE", help="write the HTML report here")
    scan.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    scan.add_argument(
        "--no-screenshots", action="store_true", help="leave screenshots out of the HTML report"
    )
    scan.add_argument("--quiet", action="store_true", help="no progress on standard error")
    scan.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from consent.scan.report import summary_lines, write_html, write_json, write_junit
    from consent.scan.run import ScanOptions, run_scan
    from consent.scan.target import ScanSetupError

    out = out or sys.stdout
    problem = _check(args)
    if problem:
        print(f"consent scan: {problem}", file=sys.stderr)
        return EXIT_SETUP
    options = ScanOptions(
        target=args.target,
        factory=args.factory,
        paths=args.paths or (),
        depth=args.depth,
        max_pages=args.max_pages,
        states=[s.strip() for s in args.states.split(",") if s.strip()] if args.states else None,
        offline=args.offline,
        chromium=args.chromium,
        jobs=args.jobs,
        timeout_s=args.timeout,
        screenshots=not args.no_screenshots,
        config=_config(args),
        headers=_headers(args.headers or ()),
    )
    try:
        result = run_scan(options, _progress(args.quiet))
    except ScanSetupError as exc:
        print(f"consent scan: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except Exception as exc:
        # A crash must not pass for a verdict: 1 means violations, so this is a 2.
        traceback.print_exc()
        print(f"consent scan: the scan failed: {exc}", file=sys.stderr)
        return EXIT_SETUP
    for option, writer in (("json", write_json), ("html", write_html), ("junit", write_junit)):
        target = getattr(args, option)
        if target:
            writer(result, Path(target))
    for line in summary_lines(result):
        print(line, file=out)
    return EXIT_VIOLATIONS if result.violations else EXIT_CLEAN


def _check(args: argparse.Namespace) -> str | None:
    if args.depth < 0:
        return "--depth must be 0 or more"
    if args.max_pages < 1:
        return "--max-pages must be 1 or more"
    if args.jobs < 1:
        return "--jobs must be 1 or more"
    if args.timeout <= 0:
        return "--timeout must be positive"
    for header in args.headers or ():
        name, sep, _ = header.partition(":")
        if not sep or not name.strip() or any(c in name for c in " \t"):
            return f"--header {header!r}: give NAME:VALUE"
    for path in args.paths or ():
        if not path.startswith("/"):
            return f"--path {path!r}: give a path on the site, starting with /"
    for option in ("json", "html", "junit"):
        target = getattr(args, option)
        if target and not Path(target).resolve().parent.is_dir():
            return f"--{option} {target}: no such directory"
    return None


def _headers(values: Sequence[str]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, _, content = value.partition(":")
        headers[name.strip()] = content.strip()
    return headers


def _config(args: argparse.Namespace) -> ConsentConfig | None:
    """The operator's TOML (the global --config), read for its declarations only: no key is
    needed to judge cookies and hosts, so none is asked for."""
    path = getattr(args, "config", None) or os.environ.get(ENV_CONFIG)
    if not path:
        return None
    with warnings.catch_warnings():
        # The throw-away key that dev_mode warns about never signs anything here.
        warnings.simplefilter("ignore", UserWarning)
        return ConsentConfig.from_toml(path, dev_mode=True)


def _progress(quiet: bool) -> Any:
    def show(message: str) -> None:
        if not quiet:
            print(f"consent scan: {message}", file=sys.stderr, flush=True)

    return show
