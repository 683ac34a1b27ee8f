"""``consent csp report``: the consent policy's violations as every worker counted them.

Rows come from the audit store's ``csp_violations`` table, each blocked host looked up in the
catalogue: a host it does not know, reported from real pages, is one a site loads that the
banner cannot yet name (a live scan of the traffic). The admin view shows the same rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import TextIO

from consent.audit.base import BaseStore
from consent.audit.commands import (
    EXIT_OK,
    EXIT_UNUSABLE,
    AuditKey,
    configured,
    resolve_store,
    run_on_store,
    store_options,
)
from consent.catalogue import Catalogue
from consent.cspreports import ReportRow, report_rows
from consent.errors import ConfigError

DEFAULT_DAYS = 30
DEFAULT_LIMIT = 50


def render_table(rows: list[ReportRow]) -> str:
    if not rows:
        return "no violations reported in this period\n"
    header = ("reports", "directive", "blocked host", "known", "category", "path", "last seen")
    body = [
        (
            str(r.reports),
            r.directive,
            r.blocked_host,
            r.known,
            r.category or "-",
            r.path,
            r.last_day,
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
        for line in (header, *body)
    ]
    unknown = sorted({r.blocked_host for r in rows if r.known == "none"})
    if unknown:
        lines.append("")
        lines.append(f"hosts the catalogue does not know: {', '.join(unknown)}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def report(
    url: str,
    key: AuditKey,
    out: TextIO,
    catalogue: Catalogue,
    *,
    since: date,
    limit: int = DEFAULT_LIMIT,
    as_json: bool = False,
    err: TextIO | None = None,
) -> int:
    """Print the most reported violations last seen on or after ``since``."""

    async def work(store: BaseStore) -> int:
        rows = await report_rows(store, catalogue, since=since, limit=limit)
        if as_json:
            out.write(json.dumps([asdict(row) for row in rows], indent=2) + "\n")
        else:
            out.write(render_table(rows))
        return EXIT_OK

    return run_on_store(url, key, work, err)


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    csp = subparsers.add_parser("csp", help="consent policy tools")
    commands = csp.add_subparsers(title="csp commands", required=True)
    parser = commands.add_parser(
        "report", help="violations by directive, blocked host and page, hosts unknown marked"
    )
    store_options(parser, argparse_default=None)
    parser.add_argument(
        "--since",
        type=date.fromisoformat,
        help=f"last seen on or after this UTC day (default: {DEFAULT_DAYS} days ago)",
    )
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT)
    parser.add_argument("--json", dest="as_json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        url, key = resolve_store(args)
        catalogue = _catalogue(args)
    except (OSError, ConfigError) as exc:
        sys.stderr.write(f"consent csp: {exc}\n")
        return EXIT_UNUSABLE
    if not key:
        sys.stderr.write("consent csp: no audit key: pass --key or --config as for consent audit\n")
        return EXIT_UNUSABLE
    since = args.since or (datetime.now(UTC).date() - timedelta(days=DEFAULT_DAYS))
    return report(
        url, key, sys.stdout, catalogue, since=since, limit=max(1, args.limit), as_json=args.as_json
    )


def _catalogue(args: argparse.Namespace) -> Catalogue:
    """The site's catalogue, its own services included, when its configuration is at hand."""
    config = configured(args)
    if config is None:
        return Catalogue.builtin()
    return Catalogue.from_config(
        config.services, include_builtin=config.use_catalogue, categories=config.category_ids
    )
