"""``consent csp report``: what the store counted, each host looked up in the catalogue."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from consent.audit import open_store
from consent.cli import main
from consent.names import ENV_CONFIG
from tests.conftest import SECRET

KEY = "audit-key-for-tests-0123456789"
ROWS = [
    ("img-src", "www.google-analytics.com", "/news/a", 7),
    ("script-src-elem", "tags.unheard-of.example", "/", 3),
    ("script-src-elem", "code.jquery.com", "/", 2),
    ("script-src-elem", "inline", "/", 1),
]


def fill(url: str, day: str = "2026-11-30") -> None:
    async def work() -> None:
        store = open_store(url, KEY)
        try:
            await store.add_csp_counts(ROWS, day, keep_days=90, keep=100)
        finally:
            await store.close()

    asyncio.run(work())


def test_report_names_known_unknown_and_library_hosts(
    audit_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(audit_url)
    code = main(
        ["csp", "report", "--db", audit_url, "--key", KEY, "--since", "2026-11-01", "--json"]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["blocked_host"], r["reports"], r["known"], r["category"]) for r in rows] == [
        ("www.google-analytics.com", 7, "catalogue", "analytics"),
        ("tags.unheard-of.example", 3, "none", None),
        ("code.jquery.com", 2, "library", None),
        ("inline", 1, "not a host", None),
    ]
    assert main(["csp", "report", "--db", audit_url, "--key", KEY, "--since", "2026-11-01"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == [
        "reports",
        "directive",
        "blocked",
        "host",
        "known",
        "category",
        "path",
        "last",
        "seen",
    ]
    assert table.rstrip().endswith("hosts the catalogue does not know: tags.unheard-of.example")


def test_since_and_limit_and_the_configuration_file(
    audit_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill(audit_url, "2026-10-01")
    config = tmp_path / "consent.toml"
    config.write_text(f'secret_key = "{SECRET}"\naudit_url = "{audit_url}"\naudit_key = "{KEY}"\n')
    monkeypatch.setenv(ENV_CONFIG, str(config))
    assert main(["csp", "report", "--since", "2026-10-02", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["csp", "report", "--since", "2026-10-01", "--limit", "1", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["blocked_host"] == "www.google-analytics.com"
    monkeypatch.delenv(ENV_CONFIG)
    assert main(["csp", "report", "--config", str(config), "--since", "2026-10-01"]) == 0
    assert "www.google-analytics.com" in capsys.readouterr().out
