"""The ``consent audit`` command functions and their argparse wiring: output and exit codes."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consent.audit import Receipt, purge, register_cli, show, verify
from consent.audit.commands import parse_duration, parse_moment
from consent.audit.export import read_csv
from tests.audit.conftest import KEY, Backend, decision, fill


@pytest.fixture
def stored(backend: Backend) -> list[Receipt]:
    return fill(backend, [decision(f"v{index % 2}") for index in range(5)])


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="consent")
    register_cli(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    code: int = args.handler(args)
    return code


def test_verify_passes_on_a_clean_chain(backend: Backend, stored: list[Receipt]) -> None:
    out = io.StringIO()
    assert verify(backend.url, KEY, out) == 0
    assert out.getvalue().startswith(f"OK: {len(stored)} receipts verified")
    assert stored[-1].mac in out.getvalue()


def test_verify_fails_and_names_the_receipt(backend: Backend, stored: list[Receipt]) -> None:
    backend.execute("UPDATE receipts SET granted = refused WHERE seq = ?", (2,))
    out = io.StringIO()
    assert verify(backend.url, KEY, out) == 1
    assert "seq 2" in out.getvalue()
    assert stored[1].receipt_id in out.getvalue()


def test_verify_with_the_wrong_key_fails(backend: Backend, stored: list[Receipt]) -> None:
    out = io.StringIO()
    assert verify(backend.url, "other:" + "x" * 32, out) == 1
    assert stored[0].receipt_id in out.getvalue()


def test_an_unreachable_store_is_exit_code_two() -> None:
    err = io.StringIO()
    assert verify("postgresql://postgres@127.0.0.1:1/test", KEY, io.StringIO(), err=err) == 2
    assert "consent audit" in err.getvalue()
    assert verify("nosuch://x", KEY, io.StringIO(), err=err) == 2


def test_show_gives_the_full_history_with_texts(backend: Backend, stored: list[Receipt]) -> None:
    out = io.StringIO()
    assert show(backend.url, KEY, "v0", out) == 0
    document = json.loads(out.getvalue())
    mine = [r for r in stored if r.consent_id == "v0"]
    assert [r["receipt_id"] for r in document["receipts"]] == [r.receipt_id for r in mine]
    assert document["notices"] == {mine[0].texts_hash: dict(decision().texts)}
    assert document["receipts"][1]["previous_receipt_id"] == mine[0].receipt_id


def test_show_of_an_unknown_visitor_is_exit_code_one(
    backend: Backend, stored: list[Receipt]
) -> None:
    out = io.StringIO()
    assert show(backend.url, KEY, "nobody", out) == 1
    assert json.loads(out.getvalue())["receipts"] == []


def test_purge_then_verify(backend: Backend, stored: list[Receipt]) -> None:
    out = io.StringIO()
    assert purge(backend.url, KEY, timedelta(days=400), out) == 0
    assert "nothing" in out.getvalue()
    out = io.StringIO()
    assert purge(backend.url, KEY, timedelta(0), out) == 0
    assert f"purged {len(stored)} receipts" in out.getvalue()
    out = io.StringIO()
    assert verify(backend.url, KEY, out) == 0
    assert "1 purge checkpoint" in out.getvalue()


def test_purge_refuses_a_tampered_chain(backend: Backend, stored: list[Receipt]) -> None:
    backend.execute("DELETE FROM receipts WHERE seq = ?", (3,))
    out = io.StringIO()
    assert purge(backend.url, KEY, timedelta(0), out) == 1
    assert "REFUSED" in out.getvalue()
    assert backend.query("SELECT COUNT(*) FROM receipts") == [(len(stored) - 1,)]


def test_cli_verify_reads_url_and_key_from_the_environment(
    backend: Backend,
    stored: list[Receipt],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CONSENT_AUDIT_URL", backend.url)
    monkeypatch.setenv("CONSENT_AUDIT_KEY", KEY)
    assert cli("audit", "verify") == 0
    assert f"{len(stored)} receipts verified" in capsys.readouterr().out


def test_cli_options_before_or_after_the_command(
    backend: Backend, stored: list[Receipt], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("audit", "--db", backend.url, "--key", KEY, "show", "v1") == 0
    first = json.loads(capsys.readouterr().out)
    assert cli("audit", "show", "v1", "--db", backend.url, "--key", KEY) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert len(first["receipts"]) == len([r for r in stored if r.consent_id == "v1"])


def test_cli_export_to_a_file_and_key_file(
    backend: Backend, stored: list[Receipt], tmp_path: Path
) -> None:
    key_file = tmp_path / "audit.key"
    key_file.write_text(KEY + "\n")
    target = tmp_path / "out.csv"
    code = cli(
        "audit",
        "--db",
        backend.url,
        "--key-file",
        str(key_file),
        "export",
        "--format",
        "csv",
        "-o",
        str(target),
        "--since",
        "2000-01-01",
    )
    assert code == 0
    with target.open(newline="") as handle:
        assert list(read_csv(handle)) == stored


def test_cli_stats_and_purge(
    backend: Backend, stored: list[Receipt], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("audit", "--db", backend.url, "--key", KEY, "stats", "--by", "locale", "--json") == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[0]["decisions"] == len(stored)
    assert cli("audit", "--db", backend.url, "--key", KEY, "purge", "--older-than", "0d") == 0
    assert "purged" in capsys.readouterr().out


def test_cli_without_a_key_is_exit_code_two(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("CONSENT_AUDIT_KEY", raising=False)
    assert cli("audit", "--db", f"sqlite:///{tmp_path / 'a.db'}", "verify") == 2
    assert "CONSENT_AUDIT_KEY" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("400d", timedelta(days=400)),
        ("26w", timedelta(weeks=26)),
        ("2y", timedelta(days=730)),
        ("12h", timedelta(hours=12)),
        ("30", timedelta(days=30)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "d", "-3d", "3 months"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_moments_default_to_utc() -> None:
    assert parse_moment("2025-02-03") == datetime(2025, 2, 3, tzinfo=UTC)
    assert parse_moment("2025-02-03T04:05:06Z") == datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_moment("yesterday")
