"""The `consent` command as an operator runs it: a separate process, the site's own settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from tests.conftest import SECRET, csrf_token, page_app


def _environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENT_")}
    env.update(values)
    return env


def _consent(
    args: list[str], *, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consent", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _decide(config: ConsentConfig) -> str:
    with TestClient(ConsentMiddleware(page_app(), config=config)) as client:
        token = csrf_token(client)
        response = client.post(
            "/_consent/decision",
            data={"action": "accept_all", "csrf_token": token},
            headers={"accept": "application/json"},
        )
        assert response.status_code == 200, response.text
        consent_id: str = response.json()["consent_id"]
    return consent_id


def test_quick_start_user_verifies_receipts_with_only_the_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README's quick start: only CONSENT_SECRET_KEY, the default store under var/.
    for name in ("CONSENT_AUDIT_KEY", "CONSENT_AUDIT_URL", "CONSENT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONSENT_SECRET_KEY", SECRET)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    consent_id = _decide(ConsentConfig(policy_version="2026-11"))

    env = _environment(CONSENT_SECRET_KEY=SECRET)
    verified = _consent(["audit", "verify"], cwd=tmp_path, env=env)
    assert verified.returncode == 0, verified.stderr
    assert "OK: 1 receipts verified" in verified.stdout
    shown = _consent(["audit", "show", consent_id], cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert consent_id in shown.stdout


def test_audit_commands_take_store_and_key_from_the_configuration_file(tmp_path: Path) -> None:
    config_file = tmp_path / "consent.toml"
    database = tmp_path / "receipts.db"
    config_file.write_text(
        f'secret_key = "{SECRET}"\naudit_url = "sqlite:///{database}"\n', encoding="utf-8"
    )
    _decide(ConsentConfig.from_toml(config_file))
    env = _environment()
    for args in (
        ["audit", "verify", "--config", str(config_file)],
        ["audit", "--config", str(config_file), "verify"],
        ["--config", str(config_file), "audit", "verify"],
    ):
        result = _consent(args, cwd=tmp_path, env=env)
        assert result.returncode == 0, (args, result.stderr)
        # The first run walks the receipt; the next ones start after it (verified head).
        assert result.stdout.startswith("OK: ") and ", 1 held," in result.stdout
    from_env = _consent(
        ["audit", "verify"], cwd=tmp_path, env=_environment(CONSENT_CONFIG=str(config_file))
    )
    assert from_env.returncode == 0, from_env.stderr


def test_audit_without_any_key_names_every_way_to_give_one(tmp_path: Path) -> None:
    result = _consent(["audit", "verify"], cwd=tmp_path, env=_environment())
    assert result.returncode == 2
    for way in ("--key", "--config", "CONSENT_AUDIT_KEY", "CONSENT_SECRET_KEY"):
        assert way in result.stderr


def test_a_bad_configuration_file_is_reported_with_its_key(tmp_path: Path) -> None:
    config_file = tmp_path / "consent.toml"
    config_file.write_text(
        f'secret_key = "{SECRET}"\nundeclared_cookies = "blok"\n', encoding="utf-8"
    )
    result = _consent(
        ["audit", "verify", "--config", str(config_file)], cwd=tmp_path, env=_environment()
    )
    assert result.returncode == 2
    assert "undeclared_cookies" in result.stderr
    assert "'allow', 'block'" in result.stderr


def test_demo_without_uvicorn_says_which_extra_to_install(tmp_path: Path) -> None:
    # A None entry in sys.modules makes the import fail as if uvicorn were not installed.
    code = (
        "import sys; sys.modules['uvicorn'] = None; from consent.cli import main; "
        "raise SystemExit(main(['demo', '--data-dir', 'var']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "asgi-consent[demo]" in result.stderr
    assert "Traceback" not in result.stderr
