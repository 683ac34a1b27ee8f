"""The `consent` command: demo site, audit tools, site scan, cookie, locale and catalogue checks.

Reuses the lower layers directly and never the middleware, so every command works on a
machine where only the configuration and the database are at hand.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TextIO

from consent.config import ConsentConfig
from consent.cookie import ConsentCookieCodec
from consent.errors import ConfigError
from consent.names import ENV_CONFIG


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"consent: {exc}", file=sys.stderr)
        return 2
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consent", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", help=f"TOML configuration file (default: ${ENV_CONFIG}, else the environment)"
    )
    commands = parser.add_subparsers(title="commands")

    demo = commands.add_parser("demo", help="serve the demo news site, wrapped, on 127.0.0.1:8000")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--data-dir", default="var", help="where the demo keeps its SQLite files")
    demo.set_defaults(handler=_demo)

    cookie = commands.add_parser("cookie", help="consent cookie tools")
    cookie_commands = cookie.add_subparsers(title="cookie commands", required=True)
    decode = cookie_commands.add_parser("decode", help="verify a consent cookie and print it")
    decode.add_argument("value")
    decode.set_defaults(handler=_cookie_decode)

    locales = commands.add_parser("locales", help="locale catalogue tools")
    locale_commands = locales.add_subparsers(title="locale commands", required=True)
    check = locale_commands.add_parser(
        "check", help="fail when a locale misses a text or placeholder"
    )
    check.set_defaults(handler=_locales_check)

    catalogue = commands.add_parser("catalogue", help="service catalogue tools")
    catalogue_commands = catalogue.add_subparsers(title="catalogue commands", required=True)
    catalogue_check = catalogue_commands.add_parser(
        "check",
        help="fail on a bad entry: hosts, patterns, sources, policies, duplicates",
    )
    catalogue_check.set_defaults(handler=_catalogue_check)

    from consent.audit.commands import register_cli
    from consent.cspcommand import register_cli as register_csp
    from consent.scan.command import register_cli as register_scan
    from consent.tcfcommand import register_cli as register_tcf

    register_cli(commands)
    register_csp(commands)
    register_scan(commands)
    register_tcf(commands)
    return parser


def load_config(path: str | None, **overrides: object) -> ConsentConfig:
    path = path or os.environ.get(ENV_CONFIG)
    if path:
        return ConsentConfig.from_toml(path, **overrides)
    return ConsentConfig(**overrides)  # type: ignore[arg-type]


def _demo(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        # The library never needs a server; only the demo does, so it is an extra.
        print(
            "consent demo needs uvicorn, which is not installed: "
            "pip install 'asgi-consent[demo]' (or pip install uvicorn)",
            file=sys.stderr,
        )
        return 2

    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    demo = _demo_module()
    config = None
    if args.config or os.environ.get(ENV_CONFIG):
        config = load_config(args.config)
    app = demo.create_app(config=config, data_dir=data_dir)
    print(
        f"consent demo: http://{args.host}:{args.port}/  (receipts in {data_dir})", file=sys.stderr
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def _demo_module() -> ModuleType:
    """The demo ships in the wheel as consent/_demo/news and sits in examples/news in a checkout."""
    package_dir = Path(__file__).resolve().parent
    if (package_dir / "_demo" / "news" / "app.py").is_file():
        return importlib.import_module("consent._demo.news.app")
    checkout = package_dir.parent
    if (checkout / "examples" / "news" / "app.py").is_file():
        if str(checkout) not in sys.path:
            sys.path.insert(0, str(checkout))
        return importlib.import_module("examples.news.app")
    raise ConfigError("the demo site is not part of this installation")


def _cookie_decode(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    config = load_config(args.config)
    codec = ConsentCookieCodec(
        config.secret_keys, max_age=config.cookie_max_age, policy_version=config.policy_version
    )
    payload = codec.decode(args.value.strip())
    if payload is None:
        print(
            "invalid: not signed by a configured key, expired, of another policy version, "
            "or unreadable",
            file=sys.stderr,
        )
        return 1
    document: dict[str, object] = {
        "consent_id": payload.consent_id,
        "granted": sorted(payload.granted),
        "policy_version": payload.policy_version,
        "decided_at": payload.decided_datetime.isoformat(),
        "receipt_id": payload.receipt_id,
    }
    if payload.signal:
        document["gpc_recorded"] = True  # a receipt of the browser's GPC signal exists
    print(json.dumps(document, indent=2), file=out)
    return 0


def _locales_check(args: argparse.Namespace) -> int:
    from consent.i18n import LocaleCatalogue

    path = args.config or os.environ.get(ENV_CONFIG)
    if path:
        # Only the locale settings are read: no key is needed to check texts.
        config = ConsentConfig.from_toml(path, dev_mode=True)
        catalogue = LocaleCatalogue.load(
            overrides=config.locale_overrides,
            extra_dirs=tuple(config.locale_dirs),
            default=config.default_locale,
        )
    else:
        catalogue = LocaleCatalogue.load()
    problems = catalogue.check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {len(catalogue.tags)} locales", file=sys.stderr)
        return 1
    print(f"{len(catalogue.tags)} locales complete: {', '.join(catalogue.tags)}")
    return 0


def _catalogue_check(args: argparse.Namespace) -> int:
    from consent.catalogue import Catalogue, CatalogueError, check_data

    problems = check_data()
    path = args.config or os.environ.get(ENV_CONFIG)
    if path and not problems:
        # The operator's [[services]] are checked as start-up would check them.
        try:
            config = ConsentConfig.from_toml(path, dev_mode=True)
            Catalogue.from_config(config.services, categories=config.category_ids)
        except (ConfigError, CatalogueError) as exc:
            problems.append(str(exc))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in the catalogue", file=sys.stderr)
        return 1
    started = time.perf_counter()
    catalogue = Catalogue.builtin()
    loaded = time.perf_counter() - started
    hosts = sum(len(s.hosts) + len(s.urls) for s in catalogue)
    cookies = sum(len(s.cookies) for s in catalogue)
    print(f"{len(catalogue)} services, {hosts} hosts and URL rules, {cookies} cookies: no problems")
    # What the catalogue's size costs: once per process, and per lookup. Each URL is new, so
    # no answer comes from the cache; cookie names are asked twice and the second round is
    # timed, as a running site asks them, after each group of patterns was compiled once.
    urls = [f"https://x{n}.{host}/p?{n}" for n, s in enumerate(catalogue) for host in s.hosts]
    names = [
        c.name.replace("*", "x1").replace("?", "y") + "z" for s in catalogue for c in s.cookies
    ]
    url_time = _mean_seconds(catalogue.match_url, urls)
    _mean_seconds(catalogue.match_cookie, names)
    cookie_time = _mean_seconds(catalogue.match_cookie, names)
    print(
        f"loaded in {loaded * 1000:.0f} ms; a URL matched in {url_time * 1e6:.1f} µs, "
        f"a cookie name in {cookie_time * 1e6:.1f} µs (means of {len(urls)} and {len(names)})"
    )
    return 0


def _mean_seconds(lookup: Callable[[str], object], items: Sequence[str]) -> float:
    started = time.perf_counter()
    for item in items:
        lookup(item)
    return (time.perf_counter() - started) / max(1, len(items))


if __name__ == "__main__":
    raise SystemExit(main())
