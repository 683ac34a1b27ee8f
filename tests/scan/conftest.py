"""Runs `consent scan` in this process, against real uvicorn and Debian's Chromium."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from consent.cli import main
from consent.scan.run import find_chromium
from consent.scan.target import ScanSetupError
from tests.conftest import require
from tests.scan.leaky import ENV_DIR

# Every state of a scan of a site with the default purposes, in the order they are visited.
STATE_NAMES = [
    "undecided",
    "rejected",
    "accepted",
    "only-preferences",
    "only-analytics",
    "only-marketing",
    "gpc",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "action")]


def tags_and_addresses(html: str) -> tuple[list[str], list[str]]:
    """The start tags of a page, and every address in its src, href, srcset and action."""
    parsed = _Tags()
    parsed.feed(html)
    parsed.close()
    return parsed.tags, parsed.urls


@pytest.fixture(scope="session")
def chromium() -> str:
    try:
        return find_chromium(None)
    except ScanSetupError as exc:
        if require("browser"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@dataclass
class Scan:
    status: int
    report: dict[str, Any]
    junit: ET.Element
    html: str
    output: str
    errors: str

    def violations(self, kind: str) -> list[dict[str, Any]]:
        return [v for v in self.report["violations"] if v["kind"] == kind]

    def subjects(self, kind: str, state: str | None = None) -> set[str]:
        return {
            str(v["subject"])
            for v in self.report["violations"] + self.report["notices"]
            if v["kind"] == kind and (state is None or v["state"] == state)
        }

    def state(self, name: str) -> dict[str, Any]:
        return next(s for s in self.report["states"] if s["name"] == name)


@pytest.fixture
def scan(
    chromium: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    """Scans a target offline with the given options; returns the exit status and reports."""
    monkeypatch.setenv(ENV_DIR, str(tmp_path))

    def run(target: str, *options: str, before: Sequence[str] = ()) -> Scan:
        """``before``: options of the ``consent`` command itself, such as ``--config``."""
        reports = {kind: tmp_path / f"report.{kind}" for kind in ("json", "html", "xml")}
        for report in reports.values():
            report.unlink(missing_ok=True)
        argv = [
            *before,
            "scan",
            target,
            "--offline",
            "--quiet",
            "--chromium",
            chromium,
            "--json",
            str(reports["json"]),
            "--html",
            str(reports["html"]),
            "--junit",
            str(reports["xml"]),
            *options,
        ]
        status = main(argv)
        output, errors = capsys.readouterr()
        if status == 2:  # the scan did not run: no report is written
            assert not reports["json"].exists()
            return Scan(status, {}, ET.Element("none"), "", output, errors)
        return Scan(
            status=status,
            report=json.loads(reports["json"].read_text("utf-8")),
            junit=ET.parse(reports["xml"]).getroot(),  # noqa: S314 (the report we just wrote)
            html=reports["html"].read_text("utf-8"),
            output=output,
            errors=errors,
        )

    return run
