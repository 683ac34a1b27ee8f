"""``consent audit ...``: verify, anchor, show, export, stats and purge, for operators and
auditors.

Each command is a plain function taking a store URL and the audit key and writing to a text
stream, returning the process exit code: 0 success, 1 the check failed (or nothing found),
2 the store or the arguments could not be used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TextIO

from consent.audit.anchor import AnchorError, append_anchor, read_anchors
from consent.audit.base import BaseStore
from consent.audit.chain import Keyring, sign_anchor
from consent.audit.export import ExportFormat, export_receipts
from consent.audit.model import Anchor, AuditError, AuditUnavailable, format_time
from consent.audit.stats import GROUPINGS, StatsBy, compute_stats, render_json, render_table
from consent.audit.store import DEFAULT_AUDIT_URL, open_store
from consent.config import ConsentConfig
from consent.errors import ConfigError
from consent.names import ENV_AUDIT_KEY, ENV_AUDIT_URL, ENV_CONFIG, ENV_SECRET_KEY

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNUSABLE = 2

AuditKey = Keyring | bytes | str


def run_on_store(
    url: str,
    key: AuditKey,
    work: Callable[[BaseStore], Awaitable[int]],
    err: TextIO | None,
) -> int:
    err = sys.stderr if err is None else err
    try:
        store = open_store(url, key)
    except AuditError as exc:
        err.write(f"consent audit: {exc}\n")
        return EXIT_UNUSABLE

    async def main() -> int:
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (AuditError, AuditUnavailable) as exc:
        err.write(f"consent audit: {exc}\n")
        return EXIT_UNUSABLE


def verify(
    url: str,
    key: AuditKey,
    out: TextIO,
    *,
    anchor: str | None = None,
    full: bool = False,
    err: TextIO | None = None,
) -> int:
    """Check the chain; exit 1 naming the first bad receipt when anything was changed.

    By default only what was appended since the last verification is walked (the older part
    is checked at its ends); ``full`` walks every receipt.

    With ``anchor`` (a file written by ``anchor`` or the middleware) it also fails when the
    database is behind the newest anchor or differs from any anchor, and when a line of the
    file is not genuine.
    """
    anchors: list[Anchor] = []
    if anchor is not None:
        try:
            anchors = read_anchors(anchor, Keyring.parse(key))
        except AnchorError as exc:
            out.write(f"FAILED: {exc}\n")
            return EXIT_FAILED
        except AuditError as exc:
            (sys.stderr if err is None else err).write(f"consent audit: {exc}\n")
            return EXIT_UNUSABLE

    async def work(store: BaseStore) -> int:
        report = await store.verify(anchors, full=full)
        if report.problem is not None:
            out.write(f"FAILED: first bad {report.problem.describe()}\n")
            out.write(f"{report.checked} receipts verified before it\n")
            return EXIT_FAILED
        span = "" if report.first_seq is None else f" (seq {report.first_seq}-{report.last_seq})"
        since = (
            ""
            if report.resumed_from is None
            else f" since the verified head at seq {report.resumed_from}"
            " (run with --full to reread the older ones)"
        )
        out.write(
            f"OK: {report.checked} receipts verified{span}{since},"
            f" {report.held} held, {report.checkpoints} purge checkpoint(s)\n"
        )
        if anchor is not None:
            newest = max((a.seq for a in anchors), default=0)
            out.write(
                f"anchors: {len(anchors)} in {anchor}, {report.anchors} matched, newest at seq"
                f" {newest}; the rest fall in purged receipts\n"
                if report.anchors < len(anchors)
                else f"anchors: {len(anchors)} in {anchor}, all matched, newest at seq {newest}\n"
            )
        if report.head is not None:
            # Operators may copy this line elsewhere: it pins the chain's end.
            out.write(f"head: seq {report.head.seq} mac {report.head.mac or '-'}\n")
        return EXIT_OK

    return run_on_store(url, key, work, err)


def anchor(url: str, key: AuditKey, to: str, out: TextIO, *, err: TextIO | None = None) -> int:
    """Append a signed anchor of the chain's end to the file ``to``, after verifying the chain.

    A chain that does not verify is not anchored (exit 1): the anchor would vouch for it.
    """

    async def work(store: BaseStore) -> int:
        report = await store.verify()
        if report.problem is not None or report.head is None:
            problem = report.problem.describe() if report.problem else "no chain head"
            out.write(f"REFUSED: the chain does not verify: first bad {problem}\n")
            return EXIT_FAILED
        signed = sign_anchor(
            report.head.seq, report.head.mac, report.checked, datetime.now(UTC), store.keyring
        )
        try:
            await asyncio.to_thread(append_anchor, to, signed)
        except OSError as exc:
            (sys.stderr if err is None else err).write(f"consent audit: cannot write {to}: {exc}\n")
            return EXIT_UNUSABLE
        out.write(f"anchored seq {signed.seq} ({signed.count} receipts) in {to}\n")
        return EXIT_OK

    return run_on_store(url, key, work, err)


def show(
    url: str, key: AuditKey, consent_id: str, out: TextIO, *, err: TextIO | None = None
) -> int:
    """A data subject's full history as JSON: every receipt and the texts each one showed."""

    async def work(store: BaseStore) -> int:
        receipts = await store.receipts_for(consent_id)
        notices = {}
        for texts_hash in dict.fromkeys(receipt.texts_hash for receipt in receipts):
            notices[texts_hash] = await store.notice(texts_hash)
        document = {
            "consent_id": consent_id,
            "receipts": [receipt.to_json() for receipt in receipts],
            "notices": notices,
        }
        json.dump(document, out, indent=2, ensure_ascii=False, sort_keys=True)
        out.write("\n")
        return EXIT_OK if receipts else EXIT_FAILED

    return run_on_store(url, key, work, err)


def export(
    url: str,
    key: AuditKey,
    out: TextIO,
    *,
    fmt: ExportFormat = "jsonl",
    since: datetime | None = None,
    until: datetime | None = None,
    progress: bool = False,
    err: TextIO | None = None,
) -> int:
    """Stream receipts in ``[since, until)`` as JSON Lines or CSV; progress on a TTY stderr."""
    err_stream = sys.stderr if err is None else err
    show_progress = progress and err_stream.isatty()

    async def work(store: BaseStore) -> int:
        total = await store.count(since=since, until=until) if show_progress else 0

        started = time.monotonic()

        def on_progress(done: int) -> None:
            err_stream.write("\r" + progress_bar(done, total, time.monotonic() - started))
            err_stream.flush()

        await export_receipts(
            store,
            out,
            fmt=fmt,
            since=since,
            until=until,
            on_progress=on_progress if show_progress else None,
        )
        if show_progress:
            err_stream.write("\n")
        out.flush()
        return EXIT_OK

    return run_on_store(url, key, work, err)


def progress_bar(done: int, total: int, seconds: float, width: int = 30) -> str:
    """``[#######.......]  42%  420,000/1,000,000 receipts  85,000/s``"""
    share = 1.0 if total <= 0 else min(1.0, done / total)
    filled = int(share * width)
    rate = f"  {done / seconds:,.0f}/s" if seconds > 0 else ""
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {share * 100:3.0f}%"
        f"  {done:,}/{total:,} receipts{rate}"
    )


def stats(
    url: str,
    key: AuditKey,
    out: TextIO,
    *,
    by: StatsBy = "day",
    as_json: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    err: TextIO | None = None,
) -> int:
    """Decisions and the acceptance rate of each category per day, locale, method or
    category."""

    async def work(store: BaseStore) -> int:
        rows = await compute_stats(store, by=by, since=since, until=until)
        (render_json if as_json else render_table)(rows, by, out)
        return EXIT_OK

    return run_on_store(url, key, work, err)


def purge(
    url: str, key: AuditKey, older_than: timedelta, out: TextIO, *, err: TextIO | None = None
) -> int:
    """Delete receipts older than ``older_than``, leaving a signed checkpoint.

    Refuses (exit 1) when the chain does not verify, so a purge never covers up tampering.
    """
    if older_than < timedelta(0):
        (sys.stderr if err is None else err).write("consent audit: negative retention period\n")
        return EXIT_UNUSABLE
    cutoff = datetime.now(UTC) - older_than

    async def work(store: BaseStore) -> int:
        report, checkpoint = await store.purge(cutoff)
        if report.problem is not None:
            out.write(
                f"REFUSED: the chain does not verify: first bad {report.problem.describe()}\n"
            )
            return EXIT_FAILED
        if checkpoint is None:
            out.write(f"nothing recorded before {format_time(cutoff)} to purge\n")
            return EXIT_OK
        out.write(
            f"purged {checkpoint.deleted} receipts up to seq {checkpoint.seq}"
            f" (recorded before {format_time(cutoff)}); checkpoint {checkpoint.checkpoint_id}\n"
        )
        return EXIT_OK

    return run_on_store(url, key, work, err)


# -- argparse -------------------------------------------------------------------------------
_DURATION = re.compile(r"(\d+)\s*([hdwy]?)")
_UNITS = {
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "y": timedelta(days=365),
}


def parse_duration(text: str) -> timedelta:
    """``400d``, ``26w``, ``2y``, ``12h``; a bare number counts days."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 400d, 26w, 2y)")
    return int(match.group(1)) * _UNITS[match.group(2) or "d"]


def parse_moment(text: str) -> datetime:
    """An ISO date or date-time; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit verify|anchor|show|export|stats|purge``; ``args.handler(args)`` runs it."""
    audit = subparsers.add_parser(
        "audit",
        help="verify, look up, export, chart and purge consent receipts",
        description="Work with the tamper-evident store of consent receipts.",
    )
    store_options(audit, argparse_default=None)
    # The same options after the sub-command; SUPPRESS keeps them from undoing the first.
    common = argparse.ArgumentParser(add_help=False)
    store_options(common, argparse_default=argparse.SUPPRESS)
    commands = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)

    verify_parser = commands.add_parser(
        "verify", parents=[common], help="check the chain; exit 1 naming the first bad receipt"
    )
    verify_parser.add_argument(
        "--full",
        action="store_true",
        help="walk every receipt, not only those appended since the last verification",
    )
    verify_parser.add_argument(
        "--anchor",
        metavar="FILE",
        help="also check the chain against the signed anchors in FILE (truncation, rollback)",
    )

    anchor_parser = commands.add_parser(
        "anchor",
        parents=[common],
        help="append a signed anchor of the chain's end to a file outside the database",
    )
    anchor_parser.add_argument("--to", required=True, metavar="FILE")

    show_parser = commands.add_parser(
        "show", parents=[common], help="one visitor's receipts as JSON (access requests)"
    )
    show_parser.add_argument("consent_id")

    export_parser = commands.add_parser(
        "export", parents=[common], help="stream receipts as JSON Lines or CSV"
    )
    export_parser.add_argument("--format", dest="fmt", choices=("jsonl", "csv"), default="jsonl")
    _range_options(export_parser)
    export_parser.add_argument("-o", "--output", help="write here instead of standard output")
    export_parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar on stderr"
    )

    stats_parser = commands.add_parser(
        "stats", parents=[common], help="decisions and acceptance rates"
    )
    stats_parser.add_argument("--by", choices=GROUPINGS, default="day")
    stats_parser.add_argument("--json", dest="as_json", action="store_true")
    _range_options(stats_parser)

    purge_parser = commands.add_parser(
        "purge", parents=[common], help="delete receipts past the retention period"
    )
    purge_parser.add_argument(
        "--older-than",
        type=parse_duration,
        required=True,
        metavar="DURATION",
        help="retention period, e.g. 400d, 26w, 2y (a bare number counts days)",
    )
    audit.set_defaults(handler=run, func=run)


def store_options(parser: argparse.ArgumentParser, *, argparse_default: object) -> None:
    parser.add_argument(
        "--config",
        # SUPPRESS at every level: `consent --config FILE audit ...` must survive the sub-parsers.
        default=argparse.SUPPRESS,
        metavar="FILE",
        help=f"read the store URL and audit key from this TOML file (default: ${ENV_CONFIG})",
    )
    parser.add_argument(
        "--db",
        default=argparse_default,
        metavar="URL",
        help=f"store URL (default: the configuration's, else ${ENV_AUDIT_URL}, else {DEFAULT_AUDIT_URL})",
    )
    parser.add_argument(
        "--key",
        default=argparse_default,
        help=f"audit key or keyring (default: the configuration's, else ${ENV_AUDIT_KEY}, else "
        f"derived from ${ENV_SECRET_KEY} as the middleware does)",
    )
    parser.add_argument(
        "--key-file",
        default=argparse_default,
        metavar="PATH",
        help="read the audit key from this file (keeps it out of the process list)",
    )


def _range_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=parse_moment, help="from this UTC date or time (included)")
    parser.add_argument("--until", type=parse_moment, help="up to this UTC date or time (excluded)")


def _explicit_key(args: argparse.Namespace) -> str | None:
    if getattr(args, "key", None):
        return str(args.key)
    key_file = getattr(args, "key_file", None)
    if key_file:
        with open(key_file, encoding="utf-8") as handle:
            return handle.read().strip()
    return None


def configured(args: argparse.Namespace) -> ConsentConfig | None:
    """The middleware's own configuration, when the command line can find one.

    The same object the site builds, so the store URL and the audit key (given, from the
    environment, or derived from the secret key) are the ones the site writes with.
    """
    path = getattr(args, "config", None) or os.environ.get(ENV_CONFIG)
    if path:
        return ConsentConfig.from_toml(path)
    if os.environ.get(ENV_SECRET_KEY):
        return ConsentConfig()
    return None


def resolve_store(args: argparse.Namespace) -> tuple[str, str | None]:
    """(store URL, audit key): options first, then the configuration, then the environment.

    Raises ``OSError`` for an unreadable key file and ``ConfigError`` for a bad configuration.
    """
    key = _explicit_key(args)
    url: str | None = getattr(args, "db", None)
    if key is None or url is None:
        config = configured(args)
        if config is not None:
            key = key or config.resolved_audit_key
            url = url or config.resolved_audit_url
    url = url or os.environ.get(ENV_AUDIT_URL) or DEFAULT_AUDIT_URL
    return url, key or os.environ.get(ENV_AUDIT_KEY) or None


def run(args: argparse.Namespace) -> int:
    """Run the ``consent audit`` command described by ``args``."""
    try:
        url, key = resolve_store(args)
    except OSError as exc:
        sys.stderr.write(f"consent audit: cannot read a file: {exc}\n")
        return EXIT_UNUSABLE
    except ConfigError as exc:
        sys.stderr.write(f"consent audit: {exc}\n")
        return EXIT_UNUSABLE
    if not key:
        sys.stderr.write(
            "consent audit: no audit key: pass --key, --key-file or --config, or set "
            f"{ENV_AUDIT_KEY} or {ENV_SECRET_KEY} as for the site\n"
        )
        return EXIT_UNUSABLE
    out = sys.stdout
    command = args.audit_command
    if command == "verify":
        return verify(url, key, out, anchor=args.anchor, full=args.full)
    if command == "anchor":
        return anchor(url, key, args.to, out)
    if command == "show":
        return show(url, key, args.consent_id, out)
    if command == "stats":
        return stats(
            url, key, out, by=args.by, as_json=args.as_json, since=args.since, until=args.until
        )
    if command == "purge":
        return purge(url, key, args.older_than, out)
    if command == "export":
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as handle:
                return export(
                    url,
                    key,
                    handle,
                    fmt=args.fmt,
                    since=args.since,
                    until=args.until,
                    progress=args.progress,
                )
        return export(
            url, key, out, fmt=args.fmt, since=args.since, until=args.until, progress=args.progress
        )
    sys.stderr.write(f"consent audit: unknown command {command!r}\n")
    return EXIT_UNUSABLE
