"""Runs `consent scan` in this process, against real uvicorn and Debian's Chromium."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from consent.cli import main
from consent.scan.run import find_chromium
from consent.scan.target import ScanSetupError
from tests.conftest import require
from tests.scan.leaky import ENV_DIR


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

    def run(target: str, *options: str) -> Scan:
        reports = {kind: tmp_path / f"report.{kind}" for kind in ("json", "html", "xml")}
        argv = [
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
        output = capsys.readouterr().out
        return Scan(
            status=status,
            report=json.loads(reports["json"].read_text("utf-8")),
            junit=ET.parse(reports["xml"]).getroot(),  # noqa: S314 (the report we just wrote)
            html=reports["html"].read_text("utf-8"),
            output=output,
        )

    return run
