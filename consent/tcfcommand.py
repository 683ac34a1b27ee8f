"""``consent tcf check-gvl FILE`` and ``consent tcf install-gvl FILE``: a downloaded Global
Vendor List read and checked against the configuration before the site uses it."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from consent.errors import ConfigError
from consent.gvl import VendorList, VendorListError


def register_cli(commands: Any) -> None:
    tcf = commands.add_parser("tcf", help="IAB TCF tools")
    tcf_commands = tcf.add_subparsers(title="tcf commands", required=True)
    check = tcf_commands.add_parser(
        "check-gvl", help="read a downloaded vendor-list.json and compare it with the one in use"
    )
    check.add_argument("file")
    check.set_defaults(handler=_check)
    install = tcf_commands.add_parser(
        "install-gvl", help="check a downloaded vendor-list.json, then put it in place"
    )
    install.add_argument("file")
    install.set_defaults(handler=_install)


def _compare(args: argparse.Namespace, out: TextIO) -> tuple[Path, bool] | None:
    from consent.cli import load_config

    try:
        candidate = VendorList.load(args.file)
    except VendorListError as exc:
        print(f"consent tcf: {exc}", file=sys.stderr)
        return None
    config = load_config(args.config)
    if config.tcf is None:
        raise ConfigError("TCF is not enabled in the configuration ([tcf] enabled = true)")
    current = config.tcf
    try:
        updated = dataclasses.replace(current, vendor_list_file=args.file)
    except ConfigError as exc:
        print(f"consent tcf: {args.file}: {exc}", file=sys.stderr)
        return None
    print(
        f"{args.file}: vendor list {candidate.version} (TCF policy {candidate.policy_version}), "
        f"{len(candidate.vendors)} vendors; in use: {current.vendor_list.version}",
        file=out,
    )
    again = updated.fingerprint != current.fingerprint
    if again:
        print(
            "the site's vendors, their purposes or the TCF policy version change: "
            "visitors will be asked again",
            file=out,
        )
    else:
        print("no change that needs a new choice", file=out)
    return Path(current.vendor_list_file), again


def _check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    return 0 if _compare(args, out or sys.stdout) is not None else 1


def _install(args: argparse.Namespace, out: TextIO | None = None) -> int:
    # sys.stdout of the call, not of the import: a caller may have replaced it since.
    out = out or sys.stdout
    compared = _compare(args, out)
    if compared is None:
        return 1
    target, _ = compared
    # Written beside the target and renamed over it: a server starting meanwhile reads the old
    # file or the new one, never half of one.
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".vendor-list-")
    os.close(handle)
    shutil.copyfile(args.file, temporary)
    # mkstemp makes the file readable by its owner alone: the workers, perhaps another user,
    # must read it as they read the file it replaces.
    if target.exists():
        shutil.copymode(target, temporary)
    else:
        os.chmod(temporary, 0o644)
    os.replace(temporary, target)
    print(f"installed as {target}; restart the site's workers to use it", file=out)
    return 0
